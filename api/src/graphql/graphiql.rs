//! GraphiQL without a CDN: the page at `GET /graphql` loads only the assets vendored in
//! `api/assets/graphiql/` (versions and SHA-256s in its README), embedded in the binary and
//! served under `/graphql/assets/<file>`. Asset names carry their version, so they are
//! cached as immutable.

use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError, web};

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The vendored files: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "react-18.3.1.production.min.js",
        JS,
        include_bytes!("../../assets/graphiql/react-18.3.1.production.min.js"),
    ),
    (
        "react-dom-18.3.1.production.min.js",
        JS,
        include_bytes!("../../assets/graphiql/react-dom-18.3.1.production.min.js"),
    ),
    (
        "graphiql-3.8.3.min.js",
        JS,
        include_bytes!("../../assets/graphiql/graphiql-3.8.3.min.js"),
    ),
    (
        "graphiql-3.8.3.min.css",
        CSS,
        include_bytes!("../../assets/graphiql/graphiql-3.8.3.min.css"),
    ),
];

/// The page: the assets above, then a bootstrap pointing GraphiQL at `/graphql` for
/// queries and at the same path over WebSocket for subscriptions.
const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="robots" content="noindex">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>civicproof GraphQL</title>
    <style>
      body { height: 100%; margin: 0; width: 100%; overflow: hidden; }
      #graphiql { height: 100vh; }
    </style>
    <link rel="stylesheet" href="/graphql/assets/graphiql-3.8.3.min.css">
    <script src="/graphql/assets/react-18.3.1.production.min.js"></script>
    <script src="/graphql/assets/react-dom-18.3.1.production.min.js"></script>
    <script src="/graphql/assets/graphiql-3.8.3.min.js"></script>
  </head>
  <body>
    <div id="graphiql">Loading…</div>
    <script>
      const http = new URL("/graphql", window.location.href);
      const ws = new URL(http);
      ws.protocol = http.protocol === "https:" ? "wss:" : "ws:";
      ReactDOM.createRoot(document.getElementById("graphiql")).render(
        React.createElement(GraphiQL, {
          fetcher: GraphiQL.createFetcher({
            url: http.toString(),
            subscriptionUrl: ws.toString(),
          }),
          defaultEditorToolsVisibility: true,
        }),
      );
    </script>
  </body>
</html>
"#;

/// The page's Content-Security-Policy: its own assets, its one inline script by hash, and
/// requests to this origin only (`'self'` covers the WebSocket); never framed. GraphiQL sets
/// inline styles as it renders, hence `'unsafe-inline'` for styles only.
static POLICY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use base64::Engine;
    use sha2::Digest;
    let start = PAGE.rfind("<script>").expect("inline script") + "<script>".len();
    let end = PAGE.rfind("</script>").expect("inline script end");
    let hash = sha2::Sha256::digest(&PAGE.as_bytes()[start..end]);
    format!(
        "default-src 'none'; script-src 'self' 'sha256-{}'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
});

/// `GET /graphql` without a WebSocket upgrade.
pub fn page() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY.as_str()))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(PAGE)
}

/// `GET /graphql/assets/{file}`.
pub async fn asset(file: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(name, _, _)| *name == file.as_str()) {
        Some((_, content_type, bytes)) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, *content_type))
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(*bytes),
        None => ApiError::NotFound.error_response(),
    }
}
