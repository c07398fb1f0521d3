//! Headers every response carries, set once for the whole app (in the server's outermost
//! middleware) rather than route by route.

use actix_web::http::header::{self, HeaderMap, HeaderValue};

/// Swagger UI (`/docs/…`, served by utoipa-swagger-ui): its own scripts and styles only, the
/// OpenAPI document from this origin, never framed. Swagger UI styles elements inline and
/// draws icons from `data:` URIs.
const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `nosniff` on every response (no body is ever to be read as another type); the Swagger
/// UI policy on `/docs`.
pub fn secure(headers: &mut HeaderMap, docs: bool) {
    if !headers.contains_key(header::X_CONTENT_TYPE_OPTIONS) {
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    if docs {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCS_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
}
