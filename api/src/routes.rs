//! HTTP routes: thin handlers that extract, call one service function and shape the
//! response (status, headers, caching). The rules live in `services`.

pub mod anchors;
pub mod datasets;
pub mod events;
pub mod explorer;
pub mod institutions;
pub mod ngsi_ld;
pub mod proofs;
pub mod records;
pub mod system;
pub mod tokens;

use crate::error::ApiError;
use actix_web::error::JsonPayloadError;
use actix_web::web;

/// Registers every route; `body_limit` is the configured request body limit (413 above it).
pub fn configure(cfg: &mut web::ServiceConfig, body_limit: usize) {
    cfg.app_data(json_config(body_limit))
        // A path parameter that does not parse (a seq, say) names nothing.
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
        // Hot read routes first: actix tries routes in order, a regex per dynamic pattern.
        // No two patterns here overlap, so the order changes nothing but the cost.
        .service(proofs::proof)
        .service(records::feed)
        .service(records::get)
        .service(proofs::checkpoint)
        .service(proofs::checkpoint_at)
        .service(proofs::tile)
        .service(system::healthz)
        .service(system::readyz)
        .service(system::metrics)
        .service(system::openapi_json)
        .service(system::well_known)
        .service(system::catalog_jsonld)
        .service(institutions::create)
        .service(institutions::list)
        .service(institutions::get)
        .service(institutions::ingest_errors)
        .service(ngsi_ld::upsert)
        .service(ngsi_ld::notification)
        .service(ngsi_ld::list_types)
        .service(ngsi_ld::set_type)
        .service(ngsi_ld::delete_type)
        .service(tokens::issue)
        .service(tokens::list)
        .service(tokens::revoke)
        .service(tokens::list_admin)
        .service(tokens::revoke_admin)
        .service(datasets::list)
        .service(datasets::create)
        .service(datasets::get)
        .service(datasets::update)
        .service(records::publish)
        .service(records::leaf)
        .service(records::arrivals)
        .service(records::erase)
        .service(events::events)
        .service(proofs::consistency)
        .service(anchors::list)
        .service(anchors::get)
        .configure(explorer::configure);
}

/// JSON bodies of metadata routes: precise problems for each way a body can be wrong.
fn json_config(body_limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(body_limit)
        .error_handler(|err, _req| {
            match &err {
                JsonPayloadError::ContentType => {
                    ApiError::UnsupportedMediaType("Send this body as application/json.".into())
                }
                JsonPayloadError::Overflow { limit }
                | JsonPayloadError::OverflowKnownLength { limit, .. } => {
                    ApiError::PayloadTooLarge(*limit)
                }
                JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::validation("", first_line(&e.to_string()))
                }
                JsonPayloadError::Deserialize(e) => ApiError::BadRequest(format!(
                    "The body is not valid JSON (line {}, column {}).",
                    e.line(),
                    e.column()
                )),
                _ => ApiError::BadRequest("The body could not be read.".into()),
            }
            .into()
        })
}

/// serde's message for a data error names the field and expectation; keep it to one line.
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("invalid body").to_owned()
}
