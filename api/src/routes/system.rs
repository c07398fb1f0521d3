use crate::auth::Caller;
use crate::db;
use crate::dcat;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use diesel::RunQueryDsl;
use serde_json::json;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, description = "alive")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"status": "ok"}))
}

/// Readiness reflects the database only; other dependencies are reported in the body.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, description = "ready"), (status = 503, description = "database down")))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db_ok = db::run(&state.pool, |conn| {
        diesel::sql_query("SELECT 1").execute(conn)?;
        Ok(())
    })
    .await
    .is_ok();
    let body = json!({
        "status": if db_ok { "ready" } else { "unavailable" },
        "database": if db_ok { "up" } else { "down" },
        "cache": state.cluster.describe(),
        "chain": state.anchoring.as_ref().map_or_else(|| "disabled".to_owned(), |a| a.health()),
    });
    let mut resp = if db_ok {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    resp.insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// Prometheus metrics; needs the admin token (or use the separate metrics address).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format"), (status = 401), (status = 403)),
    security(("bearer" = [])))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    Ok(metrics_response(&state))
}

pub fn metrics_response(state: &AppState) -> HttpResponse {
    let followers = i64::try_from(state.fanout.followers()).unwrap_or(i64::MAX);
    state.metrics.live_followers.set(followers);
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(state.metrics.render())
}

/// The OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "system", responses((status = 200, description = "OpenAPI document")))]
#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(crate::openapi::document_json())
}

/// Instance identity: what verifiers pin.
#[utoipa::path(get, path = "/.well-known/civicproof.json", tag = "system",
    responses((status = 200, description = "`{\"origin_prefix\", \"log_public_key\", \"anchor\"}`")))]
#[get("/.well-known/civicproof.json")]
pub async fn well_known(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(json!({
            "origin_prefix": state.config.origin_prefix,
            "log_public_key": state.log_key.public_base64(),
            "anchor": state.anchoring.as_ref().map(|a| a.well_known()),
        }))
}

/// The public catalog as DCAT-AP 3 JSON-LD, for EU open-data portals to harvest.
#[utoipa::path(get, path = "/v1/catalog.jsonld", tag = "datasets",
    responses((status = 200, description = "DCAT-AP 3 catalog", content_type = "application/ld+json")))]
#[get("/v1/catalog.jsonld")]
pub async fn catalog_jsonld(
    state: web::Data<AppState>,
    _caller: Caller,
) -> ApiResult<HttpResponse> {
    let (info, items) = crate::services::datasets::dcat_catalog(&state).await?;
    let doc = dcat::catalog_jsonld(&info, &items);
    let body = serde_json::to_vec(&doc).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/ld+json"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .body(body))
}
