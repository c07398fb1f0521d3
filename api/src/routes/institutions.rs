use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::services::ingest_errors::{self as errors_svc, IngestErrors};
use crate::services::institutions::{self, CreateInstitution};
use crate::state::AppState;
use crate::views::{InstitutionList, InstitutionView};
use actix_web::{HttpResponse, get, post, web};

/// Create an institution (admin).
#[utoipa::path(
    post, path = "/v1/institutions", tag = "institutions", request_body = CreateInstitution,
    responses((status = 201, body = InstitutionView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
#[post("/v1/institutions")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateInstitution>,
) -> ApiResult<HttpResponse> {
    let inst = institutions::create(&state, &caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(inst))
}

/// List institutions.
#[utoipa::path(get, path = "/v1/institutions", tag = "institutions",
    responses((status = 200, body = InstitutionList)))]
#[get("/v1/institutions")]
pub async fn list(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let institutions = institutions::list(&state).await?;
    Ok(HttpResponse::Ok().json(InstitutionList { institutions }))
}

/// One institution.
#[utoipa::path(get, path = "/v1/institutions/{inst}", tag = "institutions",
    params(("inst" = String, Path, description = "institution slug")),
    responses((status = 200, body = InstitutionView), (status = 404, body = Problem)))]
#[get("/v1/institutions/{inst}")]
pub async fn get(state: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(institutions::get(&state, &path).await?))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestErrorsParams {
    reason: Option<String>,
    before: Option<u64>,
    limit: Option<usize>,
}

/// What the institution's ingestion refused (MQTT dead letters), newest first, with counts
/// by reason over the last hour and day. For the institution's tokens and the admin.
#[utoipa::path(get, path = "/v1/institutions/{inst}/ingest/errors", tag = "institutions",
    params(("inst" = String, Path, description = "institution slug"),
           ("reason" = Option<String>, Query, description = "only this reason (non-json, non-object, oversized, schema, payload-rules, key, dedup-conflict)"),
           ("before" = Option<u64>, Query, description = "older than this seq (the previous page's next_before)"),
           ("limit" = Option<usize>, Query, description = "page size, default 100")),
    responses((status = 200, body = IngestErrors), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
#[get("/v1/institutions/{inst}/ingest/errors")]
pub async fn ingest_errors(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: actix_web::HttpRequest,
) -> ApiResult<HttpResponse> {
    let q = web::Query::<IngestErrorsParams>::from_query(req.query_string())
        .map_err(|e| crate::error::ApiError::BadRequest(format!("Bad query: {e}")))?
        .into_inner();
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > state.config.limits.max_page_size {
        return Err(crate::error::ApiError::BadRequest(format!(
            "limit must be between 1 and {}.",
            state.config.limits.max_page_size
        )));
    }
    let before =
        match q.before {
            Some(b) => Some(i64::try_from(b).map_err(|_| {
                crate::error::ApiError::BadRequest("before is out of range.".into())
            })?),
            None => None,
        };
    let query = errors_svc::Query {
        reason: q.reason,
        before,
        limit,
    };
    Ok(HttpResponse::Ok().json(errors_svc::list(&state, &caller, &path, query).await?))
}
