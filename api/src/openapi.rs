//! The OpenAPI document, generated from the handlers' annotations. It is committed as
//! `openapi/openapi.json`; a test fails when the two differ
//! (regenerate with `cargo run -p civicproof-api -- openapi > openapi/openapi.json`).

use crate::routes;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "civicproof",
        description = "Append-only, verifiable open data for cities. Verifiable formats: PROTOCOL.md.",
        license(name = "Apache-2.0")
    ),
    paths(
        routes::system::healthz,
        routes::system::readyz,
        routes::system::metrics,
        routes::system::openapi_json,
        routes::system::well_known,
        routes::system::catalog_jsonld,
        routes::institutions::create,
        routes::institutions::list,
        routes::institutions::get,
        routes::institutions::ingest_errors,
        routes::records::arrivals,
        routes::ngsi_ld::upsert,
        routes::ngsi_ld::notification,
        routes::ngsi_ld::list_types,
        routes::ngsi_ld::set_type,
        routes::ngsi_ld::delete_type,
        routes::tokens::issue,
        routes::tokens::list,
        routes::tokens::revoke,
        routes::tokens::list_admin,
        routes::tokens::revoke_admin,
        routes::datasets::list,
        routes::datasets::create,
        routes::datasets::get,
        routes::datasets::update,
        routes::records::publish,
        routes::records::feed,
        routes::records::get,
        routes::records::leaf,
        routes::records::erase,
        routes::events::events,
        routes::proofs::proof,
        routes::proofs::checkpoint,
        routes::proofs::checkpoint_at,
        routes::proofs::tile,
        routes::proofs::consistency,
        routes::anchors::list,
        routes::anchors::get,
    ),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    modifiers(&BearerAuth, &ProblemResponses),
    tags(
        (name = "institutions"), (name = "tokens"), (name = "datasets"), (name = "records"), (name = "proofs"), (name = "anchors"), (name = "ngsi-ld"), (name = "system")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Errors as the server sends them, on every operation: each error response is
/// `application/problem+json` (RFC 9457), and the statuses any operation can answer are
/// documented where its annotations leave them out: 400 (a malformed request or an unknown
/// query parameter), 404 (a path naming nothing visible), 415 (a body of another media type),
/// 429 (rate limited) and 503 (a dependency unavailable or a statement over its time). Found
/// missing by schemathesis (bench/faults/schemathesis/).
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{Operation, ParameterIn};
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let problem = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build()
        };
        let add = |op: &mut Operation, status: &str, description: &str| {
            op.responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| {
                    RefOr::T(
                        ResponseBuilder::new()
                            .description(description)
                            .content("application/problem+json", problem())
                            .build(),
                    )
                });
        };
        for item in openapi.paths.paths.values_mut() {
            let path_params = item
                .parameters
                .iter()
                .flatten()
                .any(|p| p.parameter_in == ParameterIn::Path);
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                for (status, response) in op.responses.responses.iter_mut() {
                    if let (false, RefOr::T(r)) = (status.starts_with(['1', '2', '3']), response)
                        && let Some(content) = r.content.shift_remove("application/json")
                    {
                        r.content.insert("application/problem+json".into(), content);
                    }
                }
                add(op, "400", "Malformed request");
                let named = path_params
                    || op
                        .parameters
                        .iter()
                        .flatten()
                        .any(|p| p.parameter_in == ParameterIn::Path);
                if named {
                    add(
                        op,
                        "404",
                        "No such resource, or it is not visible to this caller",
                    );
                }
                if op.request_body.is_some() {
                    add(op, "415", "Unsupported media type");
                }
                add(
                    op,
                    "429",
                    "Rate limited (see the RateLimit and Retry-After headers)",
                );
                add(
                    op,
                    "503",
                    "Service unavailable (a dependency is down, or a statement timed out)",
                );
            }
        }
    }
}

/// The document as pretty JSON with a trailing newline: exactly what is committed.
pub fn document_json() -> String {
    let mut s = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    s.push('\n');
    s
}
