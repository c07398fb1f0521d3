//! The `/graphql` endpoints: `POST` executes a query or mutation, `GET` serves GraphiQL (its
//! vendored assets under `/graphql/assets/`), and a `GET` WebSocket upgrade speaking
//! `graphql-transport-ws` carries subscriptions.
//!
//! Transport rules:
//! - `POST` takes `application/json` only (so a browser form cannot post cross-site), one
//!   request object (no batches), at most `CIVICPROOF_MAX_BODY_BYTES`.
//! - The token comes from `Authorization: Bearer`, resolved exactly as for REST: a
//!   malformed, unknown or revoked token is 401, never anonymous. A WebSocket takes it from
//!   the `connection_init` payload `{"Authorization": "Bearer …"}`, never from the URL, and
//!   checks it again for every operation (`ws`).
//! - Executed requests answer 200 with `data` and `errors`; transport failures (401, 400,
//!   413, 415) answer their status with a GraphQL error body carrying the same code.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::graphql::errors::response_for;
use crate::graphql::graphiql;
use crate::graphql::loaders::Loaders;
use crate::graphql::raw;
use crate::graphql::schema::CivicSchema;
use crate::graphql::ws;
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

/// Registers `/graphql` with its schema.
pub fn configure(schema: CivicSchema) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(schema))
            .service(
                web::resource("/graphql")
                    .route(web::post().to(post))
                    .route(web::get().to(get)),
            )
            .route("/graphql/assets/{file}", web::get().to(graphiql::asset));
    }
}

async fn post(
    schema: web::Data<CivicSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
    caller: Result<Caller, ApiError>,
) -> HttpResponse {
    match execute(&schema, &state, &req, payload, caller).await {
        Ok(resp) => json(StatusCode::OK, &resp),
        Err(err) => {
            let mut resp = json(err.status_code(), &response_for(&err));
            if matches!(err, ApiError::Unauthorized(_)) {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            resp
        }
    }
}

async fn execute(
    schema: &CivicSchema,
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    caller: Result<Caller, ApiError>,
) -> ApiResult<async_graphql::Response> {
    let essence = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if essence.as_deref() != Some("application/json") {
        return Err(ApiError::UnsupportedMediaType(
            "Send GraphQL requests as application/json.".into(),
        ));
    }
    let body = crate::edge::body::read(req, payload, state.config.limits.max_body_bytes).await?;
    let caller = caller?;
    let request = serde_json::from_slice::<async_graphql::Request>(&body)
        .ok()
        .filter(|r| !r.query.trim().is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "The body must be one JSON object {\"query\", \"variables\"?, \"operationName\"?}."
                    .into(),
            )
        })?;
    let request = request.data(caller).data(Loaders::new(state));
    Ok(crate::db::scoped(schema.execute_raw(request)).await)
}

fn json(status: StatusCode, resp: &async_graphql::Response) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "application/json"))
        // Answers may hold restricted data or a freshly issued token.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::VARY, "Authorization"))
        .body(raw::to_json(resp).unwrap_or_else(|e| {
            tracing::error!(error = %e, "GraphQL response not serializable");
            serde_json::to_vec(&response_for(&ApiError::internal(anyhow::anyhow!("{e}"))))
                .unwrap_or_default()
        }))
}

async fn get(
    schema: web::Data<CivicSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade {
        return Ok(graphiql::page());
    }
    let offered = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').map(str::trim).collect::<Vec<_>>())
        .unwrap_or_default();
    if offered.first() != Some(&ws::PROTOCOL) {
        let err = ApiError::BadRequest(format!(
            "Subscriptions speak {}: offer it (first) in Sec-WebSocket-Protocol.",
            ws::PROTOCOL
        ));
        return Ok(json(err.status_code(), &response_for(&err)));
    }
    ws::serve(
        schema.get_ref().clone(),
        state.get_ref().clone(),
        &req,
        payload,
    )
}
