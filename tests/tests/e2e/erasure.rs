//! Erasure keeps the envelope and leaf hash, removes payload and salt, appends an erasure
//! entry, and happens at most once.

use crate::support::{TestApp, assert_problem, sha256};
use reqwest::Method;
use serde_json::{Value, json};

async fn erase(app: &TestApp, token: &str, seq: u64, body: Value) -> reqwest::Response {
    app.request(
        Method::POST,
        &format!("/v1/datasets/city/air/records/{seq}/erasure"),
        Some(token),
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn erasure_keeps_the_leaf_removes_payload_and_salt_and_appends_an_entry() {
    let app = TestApp::spawn().await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    app.publish_ok(
        &token,
        "city",
        "air",
        &json!([{"key": "s1", "payload": {"name": "Jan Kowalski"}}, {"payload": {"x": 1}}]),
    )
    .await;
    let before: Value = app.get_json("/v1/datasets/city/air/records/0", None).await;
    let leaf_before = app
        .get("/v1/datasets/city/air/records/0/leaf", None)
        .await
        .bytes()
        .await
        .unwrap();
    let etag_before = app
        .get("/v1/datasets/city/air/records/0", None)
        .await
        .headers()["etag"]
        .clone();

    let r = erase(
        &app,
        &token,
        0,
        json!({"reason": "legal-erasure", "note": "request 2026/17 from the data subject"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let erased: Value = r.json().await.unwrap();
    assert_eq!(
        (erased["seq"].as_u64(), erased["erases"].as_u64()),
        (Some(2), Some(0))
    );

    let after: Value = app.get_json("/v1/datasets/city/air/records/0", None).await;
    assert_eq!(
        after["envelope"], before["envelope"],
        "the envelope never changes"
    );
    assert_eq!(after["leaf_hash"], before["leaf_hash"]);
    assert_eq!(
        (after["payload"].clone(), after["salt"].clone()),
        (Value::Null, Value::Null)
    );
    let leaf_after = app
        .get("/v1/datasets/city/air/records/0/leaf", None)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(leaf_after, leaf_before);
    assert_eq!(
        hex::encode(sha256(&[&[0], &leaf_after])),
        after["leaf_hash"].as_str().unwrap()
    );
    // A cached copy is invalidated: the old ETag no longer matches.
    let r = app
        .request(Method::GET, "/v1/datasets/city/air/records/0", None)
        .header("if-none-match", etag_before)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Nothing of the payload remains in the database.
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM entries WHERE payload LIKE '%Kowalski%'"),
        0
    );
    assert_eq!(
        app.db.count(
            "SELECT count(*) FROM entries WHERE seq = 0 AND salt IS NULL AND payload IS NULL"
        ),
        1
    );

    let entry: Value = app.get_json("/v1/datasets/city/air/records/2", None).await;
    let env = &entry["envelope"];
    assert_eq!(env["kind"], "erasure");
    assert_eq!(env["erases"], 0);
    assert_eq!(env["reason"], "legal-erasure");
    assert_eq!(env["dataset"], "test.civicproof.example/city/air");
    let keys: Vec<&String> = env.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "dataset",
            "erases",
            "kind",
            "published_at",
            "reason",
            "seq",
            "v"
        ]
    );
    assert_eq!(entry["leaf_hash"], erased["leaf_hash"]);
    assert!(
        !entry.to_string().contains("2026/17"),
        "the note is never served"
    );

    // At most once; erasure entries cannot be erased; unknown seqs are 404.
    assert_problem(
        erase(&app, &token, 0, json!({"reason": "other"})).await,
        409,
        "conflict",
    )
    .await;
    assert_problem(
        erase(&app, &token, 2, json!({"reason": "other"})).await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        erase(&app, &token, 9, json!({"reason": "other"})).await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        erase(&app, &token, 1, json!({"reason": "because"})).await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        erase(&app, &token, 1, json!({"why": "other"})).await,
        422,
        "validation-failed",
    )
    .await;
    let ds: Value = app.get_json("/v1/datasets/city/air", None).await;
    assert_eq!(
        (ds["record_count"].as_u64(), ds["entry_count"].as_u64()),
        (Some(2), Some(3))
    );
}
