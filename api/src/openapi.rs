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
        description = "Append-only, verifiable open data for cities. Verifiable formats: PROOFS.md.",
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
        routes::proofs::consistency,
        routes::anchors::list,
        routes::anchors::get,
    ),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "institutions"), (name = "tokens"), (name = "datasets"), (name = "records"), (name = "proofs"), (name = "anchors"), (name = "system")
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

/// The document as pretty JSON with a trailing newline: exactly what is committed.
pub fn document_json() -> String {
    let mut s = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    s.push('\n');
    s
}
