//! Hostile input and defensive headers (issue 12's defects): NUL bytes in every text a
//! caller can send for comparison, bodies built to exhaust memory, headers that keep
//! restricted streams out of shared caches and the tool pages out of frames, and erased
//! bytes that must not stay on disk.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

/// Every REST text filter with a NUL answers 400 (never 500); a NUL in a path names nothing.
#[tokio::test(flavor = "multi_thread")]
async fn nul_bytes_in_filters_are_400_and_in_paths_404_never_500() {
    let w = World::new().await;
    let app = &w.app;
    for path in [
        "/v1/datasets/city/air/records?key=%00",
        "/v1/datasets/city/air/records?key=a%00b&format=ndjson",
        "/v1/datasets/city/air/records?payload.x=%00",
        "/v1/datasets/city/air/records?payload.%00=1",
        "/v1/datasets/city/air/records?payload.pm10=1%00&format=csv",
        "/v1/datasets?q=%00",
        "/v1/datasets?theme=%00",
        "/v1/datasets?keyword=x%00",
        "/v1/datasets?institution=%00",
    ] {
        let r = app.get(path, None).await;
        assert_eq!(r.status(), 400, "{path}");
        assert_problem(r, 400, "bad-request").await;
    }
    for path in [
        "/v1/datasets/%00/air",
        "/v1/datasets/city/%00",
        "/v1/datasets/city/a%00ir/records",
        "/v1/datasets/city/air%00/records/0/proof",
        "/v1/datasets/city/air%00/events",
        "/v1/institutions/%00",
    ] {
        let r = app.get(path, None).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_problem(r, 404, "not-found").await;
    }
    let r = app
        .request(
            Method::GET,
            "/v1/institutions/c%00ity/tokens",
            Some(ADMIN_TOKEN),
        )
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not-found").await;
}

/// The same texts over GraphQL: a bad-request error, never an internal one.
#[tokio::test(flavor = "multi_thread")]
async fn nul_bytes_in_graphql_arguments_are_bad_requests() {
    let w = World::new().await;
    for (query, variables) in [
        (
            "query($k: String) { dataset(institution: \"city\", slug: \"air\") { records(first: 5, key: $k) { nodes { seq } } } }",
            json!({"k": "a\u{0}"}),
        ),
        (
            "query($p: JSON) { dataset(institution: \"city\", slug: \"air\") { records(first: 5, payload: $p) { totalCount } } }",
            json!({"p": {"pm10": "\u{0}"}}),
        ),
        (
            "query($q: String) { datasets(first: 5, q: $q) { nodes { slug } } }",
            json!({"q": "\u{0}"}),
        ),
    ] {
        let r = w
            .app
            .request(Method::POST, "/graphql", None)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "bad-request",
            "{query}: {body}"
        );
    }
    let r = w
        .app
        .request(Method::POST, "/graphql", None)
        .json(
            &json!({"query": "{ dataset(institution: \"ci\\u0000ty\", slug: \"air\") { slug } }"}),
        )
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["dataset"], Value::Null, "{body}");
    assert!(
        body["errors"]
            .as_array()
            .is_none_or(|e| e[0]["extensions"]["code"] == "not-found"),
        "{body}"
    );
}

/// A body of millions of tiny bad records answers with at most 100 problems (not one per
/// element), and the answer kept for its Idempotency-Key is as small; millions of tiny
/// valid records stop at the record limit.
#[tokio::test(flavor = "multi_thread")]
async fn bodies_of_millions_of_records_stop_at_the_caps() {
    let w = World::new().await;
    let app = &w.app;
    let path = "/v1/datasets/city/air/records";
    let mut ones = b"[1".to_vec();
    ones.extend(std::iter::repeat_n(*b",1", 4_000_000).flatten());
    ones.push(b']');
    let r = app
        .request(Method::POST, path, Some(&w.publisher))
        .header("content-type", "application/json")
        .header("idempotency-key", "hostile-ones")
        .body(ones.clone())
        .send()
        .await
        .unwrap();
    let bytes = r.headers()["content-length"].to_str().unwrap().to_owned();
    let problem = assert_problem(r, 422, "validation-failed").await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 100, "{bytes}");
    assert!(bytes.parse::<usize>().unwrap() < 20_000, "{bytes} bytes");
    let again = app
        .request(Method::POST, path, Some(&w.publisher))
        .header("content-type", "application/json")
        .header("idempotency-key", "hostile-ones")
        .body(ones)
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_problem(again, 422, "validation-failed").await;

    let tiny = "{\"payload\":{}}\n".repeat(1_000_000);
    let r = app
        .post_raw(path, Some(&w.publisher), "application/x-ndjson", tiny)
        .await;
    let problem = assert_problem(r, 422, "validation-failed").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("limit is 10000"),
        "{problem}"
    );
    assert_eq!(app.entry_count("air"), 1, "nothing was appended");
}

/// A restricted live stream is private; GraphiQL and Swagger UI carry a CSP that forbids
/// framing; every answer says `nosniff`.
#[tokio::test(flavor = "multi_thread")]
async fn restricted_streams_are_private_and_tool_pages_cannot_be_framed() {
    let w = World::new().await;
    let app = &w.app;
    let r = app
        .request(
            Method::GET,
            "/v1/datasets/city/cards/events",
            Some(&w.reader),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cc = r.headers()["cache-control"].to_str().unwrap();
    assert!(cc.contains("private") && cc.contains("no-store"), "{cc}");
    drop(r);
    let r = app.get("/v1/datasets/city/air/events", None).await;
    assert_eq!(r.headers()["cache-control"], "no-cache");
    drop(r);
    for path in ["/graphql", "/docs/"] {
        let r = app
            .request(Method::GET, path, None)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(!csp.contains("script-src 'unsafe-inline'"), "{path}: {csp}");
        assert_eq!(r.headers()["x-frame-options"], "DENY");
    }
    for path in ["/healthz", "/v1/datasets", "/v1/nothing"] {
        let r = app.get(path, None).await;
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
    }
}

/// SQLite: an erased payload leaves no bytes in the database file or its write-ahead log.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_only_erased_payload_bytes_leave_the_database_files() {
    require_backend(civicproof_schema::Backend::Sqlite);
    let w = World::new().await;
    let app = &w.app;
    let marker = format!("ERASE-ME-{}", std::process::id());
    app.publish_ok(
        &w.publisher,
        "city",
        "air",
        &json!([{"key": "victim", "payload": {"secret": marker}}]),
    )
    .await;
    let files = || {
        let mut all = Vec::new();
        for suffix in ["", "-wal"] {
            all.extend(std::fs::read(format!("{}{suffix}", app.db.url)).unwrap_or_default());
        }
        all
    };
    let present = |bytes: &[u8]| bytes.windows(marker.len()).any(|w| w == marker.as_bytes());
    assert!(
        present(&files()),
        "the payload is on disk before the erasure"
    );
    let r = app
        .post_json(
            "/v1/datasets/city/air/records/1/erasure",
            Some(&w.publisher),
            &json!({"reason": "legal-erasure"}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert!(
        !present(&files()),
        "erased bytes remain in the database files"
    );
}

/// PostgreSQL: a statement that waits too long (here on a row lock another session holds)
/// is cancelled after the statement timeout: the request answers 503 and its connection
/// goes back to the pool, instead of waiting indefinitely.
#[tokio::test(flavor = "multi_thread")]
async fn pg_only_a_statement_past_the_timeout_is_cancelled_with_503() {
    require_backend(civicproof_schema::Backend::Postgres);
    let app = TestApp::spawn_with(|c| c.db_statement_timeout_ms = 500).await;
    app.institution("city").await;
    let p = app.token("city", "publisher").await;
    app.dataset(&p, "air", "public", json!({})).await;
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let url = app.db.url.clone();
    let holder = std::thread::spawn(move || {
        use diesel::connection::SimpleConnection;
        let mut conn = civicproof_schema::establish(&url).unwrap();
        conn.batch_execute("BEGIN; SELECT * FROM datasets FOR UPDATE;")
            .unwrap();
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        conn.batch_execute("ROLLBACK;").unwrap();
    });
    locked_rx.recv().unwrap();
    let started = std::time::Instant::now();
    let r = app
        .publish(&p, "city", "air", &json!([{"payload": {"a": 1}}]))
        .await;
    let waited = started.elapsed();
    assert_problem(r, 503, "unavailable").await;
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    app.publish_ok(&p, "city", "air", &json!([{"payload": {"a": 2}}]))
        .await;
}
