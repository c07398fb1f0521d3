//! Per-record dedup keys (API.md, publishing: `dedup_key`): a record sent again under its
//! name, in any batch, is answered with the record appended before and appends nothing.

use crate::support::{TestApp, assert_problem};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    (app, token)
}

async fn post(app: &TestApp, token: &str, records: Value) -> (StatusCode, Value) {
    let r = app.publish(token, "city", "air", &records).await;
    let status = r.status();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn a_record_sent_again_in_another_batch_is_replayed_not_appended() {
    let (app, token) = setup().await;
    let (status, first) = post(
        &app,
        &token,
        json!([
            {"key": "s1", "dedup_key": "m-1", "payload": {"n": 1}},
            {"key": "s1", "dedup_key": "m-2", "payload": {"n": 2}},
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(first["entries"][0].get("replayed").is_none(), "{first}");
    // A redelivery composes the batch differently: m-2 again, then a new m-3.
    let (status, second) = post(
        &app,
        &token,
        json!([
            {"key": "s1", "dedup_key": "m-2", "payload": {"n": 2}},
            {"key": "s1", "dedup_key": "m-3", "payload": {"n": 3}},
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(second["entries"][0]["seq"], first["entries"][1]["seq"]);
    assert_eq!(
        second["entries"][0]["leaf_hash"],
        first["entries"][1]["leaf_hash"]
    );
    assert_eq!(second["entries"][0]["replayed"], true);
    assert_eq!(second["entries"][1]["seq"], 2);
    assert_eq!(app.entry_count("air"), 3);
    // The new record superseded the last *appended* version of its key.
    let rec = app.get_json("/v1/datasets/city/air/records/2", None).await;
    assert_eq!(rec["envelope"]["supersedes"], 1, "{rec}");
    // All replays: 200, nothing appended.
    let (status, third) = post(
        &app,
        &token,
        json!([{"key": "s1", "dedup_key": "m-1", "payload": {"n": 1}}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(third["entries"][0]["seq"], 0);
    assert_eq!(app.entry_count("air"), 3);
    assert!(
        app.metrics_text()
            .await
            .contains("civicproof_records_replayed_total 2")
    );
}

#[tokio::test]
async fn a_name_repeated_within_a_batch_is_one_record() {
    let (app, token) = setup().await;
    let (status, out) = post(
        &app,
        &token,
        json!([
            {"dedup_key": "x", "payload": {"v": 1}},
            {"payload": {"v": 1}},
            {"dedup_key": "x", "payload": {"v": 1}},
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let seqs: Vec<&Value> = out["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["seq"])
        .collect();
    assert_eq!(seqs, [&json!(0), &json!(1), &json!(0)]);
    assert_eq!(out["entries"][2]["replayed"], true);
    assert_eq!(app.entry_count("air"), 2);
}

#[tokio::test]
async fn a_name_reused_for_other_content_is_refused_and_the_batch_appends_nothing() {
    let (app, token) = setup().await;
    post(
        &app,
        &token,
        json!([{"key": "a", "dedup_key": "m", "payload": {"v": 1}}]),
    )
    .await;
    for records in [
        json!([{"payload": {"ok": 1}}, {"key": "a", "dedup_key": "m", "payload": {"v": 2}}]),
        json!([{"payload": {"ok": 1}}, {"key": "b", "dedup_key": "m", "payload": {"v": 1}}]),
        json!([{"dedup_key": "n", "payload": {"v": 1}}, {"dedup_key": "n", "payload": {"v": 2}}]),
    ] {
        let r = app.publish(&token, "city", "air", &records).await;
        let problem = assert_problem(r, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["index"], 1, "{problem}");
        assert_eq!(problem["errors"][0]["pointer"], "/1/dedup_key", "{problem}");
    }
    assert_eq!(app.entry_count("air"), 1);
}

#[tokio::test]
async fn dedup_keys_are_checked_like_idempotency_keys() {
    let (app, token) = setup().await;
    for bad in [
        json!(""),
        json!("a b"),
        json!("é"),
        json!("x".repeat(256)),
        json!(7),
    ] {
        let r = app
            .publish(
                &token,
                "city",
                "air",
                &json!([{"dedup_key": bad, "payload": {}}]),
            )
            .await;
        assert_problem(r, 422, "validation-failed").await;
    }
    // NDJSON carries them too.
    let r = app
        .post_raw(
            "/v1/datasets/city/air/records",
            Some(&token),
            "application/x-ndjson",
            b"{\"dedup_key\":\"n1\",\"payload\":{}}\n{\"dedup_key\":\"n1\",\"payload\":{}}\n"
                .to_vec(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.entry_count("air"), 1);
}

#[tokio::test]
async fn graphql_publishes_with_dedup_keys() {
    let (app, token) = setup().await;
    let query = r#"mutation { publishRecords(institution: "city", dataset: "air",
        records: [{dedupKey: "g1", payload: {v: 1}}, {dedupKey: "g1", payload: {v: 1}}]) {
        entries { seq replayed } } }"#;
    let r = app
        .post_json("/graphql", Some(&token), &json!({"query": query}))
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["data"]["publishRecords"]["entries"],
        json!([{"seq": 0, "replayed": false}, {"seq": 0, "replayed": true}]),
        "{body}"
    );
}
