use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::services::datasets::{self, CreateDataset};
use crate::state::AppState;
use crate::views::DatasetView;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use civicproof_schema::queries::datasets::CatalogFilter;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CatalogQuery {
    /// Institution slug.
    institution: Option<String>,
    theme: Option<String>,
    keyword: Option<String>,
    /// Text search in title, description and keywords.
    q: Option<String>,
    /// Cursor from `next_cursor`.
    after: Option<String>,
    /// Page size, 1 to the configured maximum (default 100).
    limit: Option<usize>,
}

/// The catalog of datasets visible to the caller.
#[utoipa::path(get, path = "/v1/datasets", tag = "datasets", params(CatalogQuery),
    responses((status = 200, description = "`{\"datasets\": [Dataset], \"next_cursor\"}`"), (status = 400, body = Problem)))]
#[get("/v1/datasets")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let query = web::Query::<CatalogQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("Bad query: {e}")))?
        .into_inner();
    let max = state.config.limits.max_page_size;
    let limit = query.limit.unwrap_or(100);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be an integer from 1 to {max}."
        )));
    }
    let after_id = match &query.after {
        Some(c) => Some(
            decode_cursor(c)
                .ok_or_else(|| ApiError::BadRequest("after is not a valid cursor.".into()))?,
        ),
        None => None,
    };
    let filter = CatalogFilter {
        institution: query.institution.clone(),
        theme: query.theme.clone(),
        keyword: query.keyword.clone(),
        q: query.q.clone(),
        after_id,
    };
    let (items, next) = datasets::list(&state, &caller, filter, limit).await?;
    let next_cursor = next.map(|id| URL_SAFE_NO_PAD.encode(format!("id:{id}")));
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::VARY, "Authorization"));
    resp.insert_header((
        header::CACHE_CONTROL,
        if matches!(caller, Caller::Anonymous) {
            "no-cache"
        } else {
            "private, no-cache"
        },
    ));
    if let Some(c) = &next_cursor {
        let mut pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(req.query_string().as_bytes())
                .filter(|(k, _)| k != "after")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        pairs.push(("after".into(), c.clone()));
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        resp.insert_header((
            header::LINK,
            format!("<{}/v1/datasets?{qs}>; rel=\"next\"", state.public_url),
        ));
    }
    Ok(resp.json(serde_json::json!({ "datasets": items, "next_cursor": next_cursor })))
}

fn decode_cursor(c: &str) -> Option<i64> {
    let s = String::from_utf8(URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    s.strip_prefix("id:")?.parse().ok()
}

/// Create a dataset in the token's institution (the admin names the institution).
#[utoipa::path(post, path = "/v1/datasets", tag = "datasets", request_body = CreateDataset,
    responses((status = 201, body = DatasetView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem, description = "The institution named in the body does not exist, or is not the caller's"),
              (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
#[post("/v1/datasets")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateDataset>,
) -> ApiResult<HttpResponse> {
    let view = datasets::create(&state, &caller, body.into_inner()).await?;
    let location = format!(
        "{}/v1/datasets/{}/{}",
        state.public_url, view.institution, view.slug
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(view))
}

/// A dataset's metadata, counts and verification key.
#[utoipa::path(get, path = "/v1/datasets/{inst}/{ds}", tag = "datasets",
    params(("inst" = String, Path), ("ds" = String, Path)),
    responses((status = 200, body = DatasetView), (status = 404, body = Problem)))]
#[get("/v1/datasets/{inst}/{ds}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (inst, ds) = path.into_inner();
    let view = datasets::get(&state, &caller, &inst, &ds).await?;
    Ok(with_access_headers(
        HttpResponse::Ok(),
        view.access == crate::views::Access::Public,
    )
    .json(view))
}

/// Change metadata; never the slug or the log.
#[utoipa::path(patch, path = "/v1/datasets/{inst}/{ds}", tag = "datasets",
    params(("inst" = String, Path), ("ds" = String, Path)),
    request_body(content = Object, description = "Any of title, description, license, access, themes, keywords, schema (null removes it)"),
    responses((status = 200, body = DatasetView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
#[patch("/v1/datasets/{inst}/{ds}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<Map<String, Value>>,
) -> ApiResult<HttpResponse> {
    let (inst, ds) = path.into_inner();
    Ok(HttpResponse::Ok()
        .json(datasets::update(&state, &caller, &inst, &ds, body.into_inner()).await?))
}

/// Caching headers for data that depends on a dataset's access: restricted data is always
/// private and varies by credentials.
pub fn with_access_headers(
    mut resp: actix_web::HttpResponseBuilder,
    public: bool,
) -> actix_web::HttpResponseBuilder {
    if public {
        resp.insert_header((header::CACHE_CONTROL, "no-cache"));
    } else {
        resp.insert_header((header::CACHE_CONTROL, "private, no-cache"));
        resp.insert_header((header::VARY, "Authorization"));
    }
    resp
}
