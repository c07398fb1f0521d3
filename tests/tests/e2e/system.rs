//! Health, readiness, the OpenAPI contract, Swagger UI and the DCAT-AP catalog.

use crate::support::{TestApp, World};
use serde_json::{Value, json};
use std::path::PathBuf;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn shared_dir() -> PathBuf {
    std::env::var("CIVICPROOF_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo("../shared"))
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status(), 200);
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["database"], "up");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pg_only_readiness_reflects_the_database() {
    // A PostgreSQL server can go away under a running server; a SQLite file cannot.
    crate::support::require_backend(civicproof_schema::Backend::Postgres);
    let app = TestApp::spawn_with(|c| c.db_pool_size = 2).await;
    assert_eq!(app.get("/readyz", None).await.status(), 200);
    // The database goes away under the running server.
    let url = crate::support::database_url("postgres");
    let sql = format!("DROP DATABASE {} WITH (FORCE)", app.db.name);
    tokio::task::spawn_blocking(move || {
        use diesel::{Connection, RunQueryDsl};
        let mut admin = diesel::PgConnection::establish(&url).unwrap();
        diesel::sql_query(sql).execute(&mut admin).unwrap();
    })
    .await
    .unwrap();
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["database"], "down");
    // Liveness does not depend on the database; data routes answer 503, not 500.
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    let r = app.get("/v1/datasets", None).await;
    crate::support::assert_problem(r, 503, "unavailable").await;
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let committed = std::fs::read_to_string(repo("openapi/openapi.json")).unwrap_or_default();
    let generated = civicproof_api::openapi::document_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale; regenerate it with:\n  cargo run -p civicproof-api -- openapi > openapi/openapi.json"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_and_swagger_ui_are_served_without_downloads() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/datasets/{inst}/{ds}/records",
        "/v1/institutions/{inst}/tokens",
        "/v1/catalog.jsonld",
        "/.well-known/civicproof.json",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let r = app.get("/docs/", None).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("swagger"));
    let r = app.get("/docs/swagger-ui-bundle.js", None).await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().len() > 100_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dcat_catalog_validates_against_the_dcat_ap_3_shapes() {
    let w = World::new().await;
    let app = &w.app;
    app.dataset(&w.publisher, "trams", "public", json!({"themes": ["TRAN", "mobility"], "keywords": ["tram"], "license": "https://example.org/licence"})).await;
    let r = app.get("/v1/catalog.jsonld", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/ld+json");
    let text = r.text().await.unwrap();
    assert!(text.contains("/v1/datasets/city/air/records?format=csv"));
    assert!(
        !text.contains("cards"),
        "restricted datasets are not in the public catalog"
    );
    let file = std::env::temp_dir().join(format!("catalog-{}.jsonld", std::process::id()));
    std::fs::write(&file, &text).unwrap();
    let python = std::env::var("CIVICPROOF_PYTHON")
        .unwrap_or_else(|_| repo(".venv/bin/python").to_string_lossy().into_owned());
    let out = std::process::Command::new(&python)
        .arg(repo("tests/dcat/validate_dcat.py"))
        .arg(&file)
        .arg(shared_dir().join("vectors/dcat-ap"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (run .ci/run or `python3 -m venv .venv && .venv/bin/pip install pyshacl`): {e}"));
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "SHACL validation failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_served_without_a_token_on_their_own_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let app = TestApp::spawn_with(|c| c.metrics_bind = Some(addr)).await;
    let r = app
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("civicproof_http_requests_total")
    );
    // The public address still wants the admin token.
    assert_eq!(app.get("/metrics", None).await.status(), 401);
    app.stop().await;
}
