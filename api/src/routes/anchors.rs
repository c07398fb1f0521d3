//! Anchor batches (API.md, "An anchor batch"). Confirmed batches are immutable; members whose
//! dataset the caller may not see show `checkpoint: null`.

use crate::auth::Caller;
use crate::domain::Seq;
use crate::error::{ApiError, ApiResult, Problem};
use crate::routes::proofs::{Freshness, conditional};
use crate::services::anchors::{self, AnchorBatch};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AnchorPage {
    pub anchors: Vec<AnchorBatch>,
    /// Pass as `after` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Anchor batches in batch order (oldest first), paged by cursor.
#[utoipa::path(get, path = "/v1/anchors", tag = "anchors",
    params(("after" = Option<String>, Query, description = "cursor from `next_cursor`"),
           ("limit" = Option<u32>, Query, description = "page size, default 100")),
    responses((status = 200, body = AnchorPage), (status = 400, body = Problem), (status = 422, body = Problem)))]
#[get("/v1/anchors")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (mut after, mut limit) = (None, None);
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match k.as_ref() {
            "after" => after = Some(v.into_owned()),
            "limit" => limit = Some(v.into_owned()),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unknown query parameter {other:?}."
                )));
            }
        }
    }
    let (anchors, next_cursor, public) =
        anchors::list(&state, &caller, after.as_deref(), limit.as_deref()).await?;
    let mut resp = crate::routes::datasets::with_access_headers(HttpResponse::Ok(), public);
    if let Some(next) = &next_cursor {
        let mut url = format!("{}/v1/anchors?after={next}", state.public_url);
        if let Some(l) = &limit {
            // `limit` was validated as a decimal number.
            url.push_str(&format!("&limit={l}"));
        }
        resp.insert_header((header::LINK, format!("<{url}>; rel=\"next\"")));
    }
    Ok(resp.json(AnchorPage {
        anchors,
        next_cursor,
    }))
}

/// One anchor batch with its members in batch order.
#[utoipa::path(get, path = "/v1/anchors/{batch_seq}", tag = "anchors",
    params(("batch_seq" = u64, Path)),
    responses((status = 200, body = AnchorBatch), (status = 304, description = "Not modified"),
              (status = 404, body = Problem)))]
#[get("/v1/anchors/{batch_seq}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Seq>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (batch, cache) = anchors::get(&state, &caller, path.into_inner()).await?;
    let body = serde_json::to_vec(&batch).map_err(ApiError::internal)?;
    Ok(conditional(
        &req,
        None,
        cache.public,
        "application/json",
        body,
        Freshness::immutable_if(cache.immutable),
    ))
}
