//! Publishing batches: formats, canonical storage, and every bad input we could think of,
//! each with its precise status and problem, and with the database unchanged.

use crate::support::{TestApp, assert_problem};
use serde_json::{Value, json};

/// A publisher with public dataset `city/air` (no schema) and `city/typed` (with a schema).
async fn setup() -> (TestApp, String) {
    setup_with(|_| {}).await
}

async fn setup_with(tweak: impl FnOnce(&mut civicproof_api::Config)) -> (TestApp, String) {
    let app = TestApp::spawn_with(tweak).await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    let schema = json!({
        "type": "object",
        "required": ["pm10"],
        "properties": {"pm10": {"type": "number", "minimum": 0}, "station": {"type": "string"}, "ok": {"type": "boolean"}},
        "additionalProperties": false
    });
    app.dataset(&token, "typed", "public", json!({"schema": schema}))
        .await;
    (app, token)
}

const RECORDS: &str = "/v1/datasets/city/air/records";

#[tokio::test(flavor = "multi_thread")]
async fn json_ndjson_and_csv_batches_are_stored_canonically() {
    let (app, token) = setup().await;
    let entries = app
        .publish_ok(&token, "city", "air", &json!([{"key": "a", "payload": {"z": 1, "a": 17.20}}, {"payload": {"n": {"x": [1e21, -0.0]}}}]))
        .await;
    assert_eq!(
        entries
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [0, 1]
    );
    // Exact bytes matter here, so send them raw: 17.20 and key order are normalized.
    let r = app
        .post_raw(
            RECORDS,
            Some(&token),
            "application/x-ndjson",
            "{\"payload\":{\"b\":17.20,\"a\":\"\u{017c}\"}}\n\n{\"key\":\"a\",\"payload\":{}}\n",
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = app
        .post_raw(
            RECORDS,
            Some(&token),
            "text/csv; charset=utf-8",
            "key,pm10,station\nb,17.20,007\n,,x\n",
        )
        .await;
    assert_eq!(r.status(), 201);
    let payload = |seq: u64| {
        let app = &app;
        async move {
            let r: Value = app.get_json(&format!("{RECORDS}/{seq}"), None).await;
            r["payload"].clone()
        }
    };
    let raw = app
        .get(&format!("{RECORDS}/2"), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(raw.contains(r#""payload":{"a":"ż","b":17.2}"#), "{raw}");
    let raw = app
        .get(&format!("{RECORDS}/1"), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(raw.contains(r#""payload":{"n":{"x":[1e+21,0]}}"#), "{raw}");
    assert_eq!(payload(4).await, json!({"pm10": 17.2, "station": "007"}));
    assert_eq!(payload(5).await, json!({"pm10": null, "station": "x"}));
    // Keys make versions: seq 3 (key a) supersedes seq 0; CSV key b is new.
    let r: Value = app.get_json(&format!("{RECORDS}/3"), None).await;
    assert_eq!(r["envelope"]["supersedes"], 0);
    assert_eq!(r["envelope"]["key"], "a");
    let r: Value = app.get_json(&format!("{RECORDS}/4"), None).await;
    assert_eq!(r["envelope"]["key"], "b");
    assert_eq!(r["envelope"]["supersedes"], Value::Null);
    let ds: Value = app.get_json("/v1/datasets/city/air", None).await;
    assert_eq!(
        (ds["record_count"].as_u64(), ds["entry_count"].as_u64()),
        (Some(6), Some(6))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn within_one_batch_a_later_record_supersedes_an_earlier_one_with_the_same_key() {
    let (app, token) = setup().await;
    app.publish_ok(
        &token,
        "city",
        "air",
        &json!([{"key": "k", "payload": {"v": 1}}, {"key": "k", "payload": {"v": 2}}]),
    )
    .await;
    let r: Value = app.get_json(&format!("{RECORDS}/1"), None).await;
    assert_eq!(r["envelope"]["supersedes"], 0);
}

/// (what, content type, body, status, problem code, index of the record named).
type BadBody = (
    &'static str,
    &'static str,
    Vec<u8>,
    u16,
    &'static str,
    Option<u64>,
);

fn bad_bodies() -> Vec<BadBody> {
    let deep = format!(
        "[{{\"payload\":{}1{}}}]",
        "{\"a\":".repeat(65),
        "}".repeat(65)
    );
    vec![
        (
            "malformed JSON",
            "application/json",
            b"[{\"payload\": {}".to_vec(),
            400,
            "bad-request",
            None,
        ),
        (
            "not an array",
            "application/json",
            b"{\"payload\": {}}".to_vec(),
            400,
            "bad-request",
            None,
        ),
        (
            "empty batch",
            "application/json",
            b"[]".to_vec(),
            422,
            "validation-failed",
            None,
        ),
        (
            "non-object payload",
            "application/json",
            br#"[{"payload": {}}, {"payload": [1]}]"#.to_vec(),
            422,
            "validation-failed",
            Some(1),
        ),
        (
            "missing payload",
            "application/json",
            br#"[{"key": "a"}]"#.to_vec(),
            422,
            "validation-failed",
            Some(0),
        ),
        (
            "unknown field",
            "application/json",
            br#"[{"payload": {}, "seq": 5}]"#.to_vec(),
            422,
            "validation-failed",
            Some(0),
        ),
        (
            "record not an object",
            "application/json",
            br#"[{"payload": {}}, 5]"#.to_vec(),
            422,
            "validation-failed",
            Some(1),
        ),
        (
            "integer beyond 2^53",
            "application/json",
            br#"[{"payload": {"n": 9007199254740993}}]"#.to_vec(),
            422,
            "validation-failed",
            Some(0),
        ),
        (
            "huge integer",
            "application/json",
            br#"[{"payload": {"n": 123456789012345678901234567890}}]"#.to_vec(),
            422,
            "validation-failed",
            Some(0),
        ),
        (
            "infinite number",
            "application/json",
            br#"[{"payload": {"n": 1e400}}]"#.to_vec(),
            422,
            "validation-failed",
            Some(0),
        ),
        (
            "a value whose canonical form is an unsafe integer",
            "application/json",
            br#"[{"payload": {"n": 1e16}}]"#.to_vec(),
            422,
            "validation-failed",
            Some(0),
        ),
        (
            "NUL escape",
            "application/json",
            br#"[{"payload": {"s": "a\u0000b"}}]"#.to_vec(),
            422,
            "validation-failed",
            Some(0),
        ),
        (
            "NUL in a name",
            "application/json",
            br#"[{"payload": {"a\u0000": 1}}]"#.to_vec(),
            422,
            "validation-failed",
            Some(0),
        ),
        (
            "lone surrogate",
            "application/json",
            br#"[{"payload": {}}, {"payload": {"s": "\ud800"}}]"#.to_vec(),
            422,
            "validation-failed",
            Some(1),
        ),
        (
            "duplicate names",
            "application/json",
            br#"[{"payload": {"a": 1, "a": 2}}]"#.to_vec(),
            422,
            "validation-failed",
            Some(0),
        ),
        (
            "duplicate record fields",
            "application/json",
            br#"[{"payload": {}, "payload": {}}]"#.to_vec(),
            422,
            "validation-failed",
            Some(0),
        ),
        (
            "deep nesting",
            "application/json",
            deep.into_bytes(),
            422,
            "validation-failed",
            Some(0),
        ),
        (
            "key with control characters",
            "application/json",
            br#"[{"key": "a\nb", "payload": {}}]"#.to_vec(),
            422,
            "validation-failed",
            Some(0),
        ),
        (
            "key too long",
            "application/json",
            format!("[{{\"key\": \"{}\", \"payload\": {{}}}}]", "k".repeat(257)).into_bytes(),
            422,
            "validation-failed",
            Some(0),
        ),
        (
            "key not a string",
            "application/json",
            br#"[{"key": 5, "payload": {}}]"#.to_vec(),
            422,
            "validation-failed",
            Some(0),
        ),
        (
            "invalid UTF-8",
            "application/json",
            b"[{\"payload\": {\"s\": \"\xff\"}}]".to_vec(),
            400,
            "bad-request",
            None,
        ),
        (
            "NDJSON syntax",
            "application/x-ndjson",
            b"{\"payload\":{}}\n{\"payload\":\n".to_vec(),
            400,
            "bad-request",
            None,
        ),
        (
            "NDJSON bad record",
            "application/x-ndjson",
            b"{\"payload\":{}}\n{\"payload\":{\"a\":1,\"a\":1}}\n".to_vec(),
            422,
            "validation-failed",
            Some(1),
        ),
        (
            "CSV ragged row",
            "text/csv",
            b"a,b\n1,2\n3\n".to_vec(),
            400,
            "bad-request",
            None,
        ),
        (
            "CSV duplicate header",
            "text/csv",
            b"a,a\n1,2\n".to_vec(),
            422,
            "validation-failed",
            None,
        ),
        (
            "CSV empty header",
            "text/csv",
            b"a,\n1,2\n".to_vec(),
            422,
            "validation-failed",
            None,
        ),
        (
            "wrong media type",
            "text/plain",
            b"[]".to_vec(),
            415,
            "unsupported-media-type",
            None,
        ),
        (
            "form media type",
            "application/x-www-form-urlencoded",
            b"a=1".to_vec(),
            415,
            "unsupported-media-type",
            None,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_batch_gets_a_precise_problem_and_changes_nothing() {
    let (app, token) = setup().await;
    app.publish_ok(
        &token,
        "city",
        "air",
        &json!([{"payload": {"first": true}}]),
    )
    .await;
    for (what, ct, body, status, code, index) in bad_bodies() {
        let r = app.post_raw(RECORDS, Some(&token), ct, body).await;
        let problem = assert_problem(r, status, code).await;
        if let Some(i) = index {
            let errors = problem["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: no errors in {problem}"));
            assert!(
                errors.iter().any(|e| e["index"] == i),
                "{what}: record {i} not named in {problem}"
            );
        }
        assert!(
            !problem.to_string().to_lowercase().contains("diesel"),
            "{what}: internal text leaked"
        );
        assert_eq!(app.entry_count("air"), 1, "{what}: the database changed");
    }
    let ds: Value = app.get_json("/v1/datasets/city/air", None).await;
    assert_eq!(ds["entry_count"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schema_invalid_record_in_the_middle_fails_the_whole_batch() {
    let (app, token) = setup().await;
    let path = "/v1/datasets/city/typed/records";
    let batch = json!([
        {"payload": {"pm10": 1}}, {"payload": {"pm10": 2}},
        {"payload": {"pm10": -5, "station": 7}},
        {"payload": {"pm10": 4}}
    ]);
    let r = app.post_json(path, Some(&token), &batch).await;
    let problem = assert_problem(r, 422, "validation-failed").await;
    let errors = problem["errors"].as_array().unwrap();
    assert!(errors.iter().all(|e| e["index"] == 2), "{problem}");
    assert!(
        errors.iter().any(|e| e["pointer"] == "/2/payload/pm10"),
        "{problem}"
    );
    assert!(
        errors.iter().any(|e| e["pointer"] == "/2/payload/station"),
        "{problem}"
    );
    assert_eq!(app.entry_count("typed"), 0);
    // CSV cells are coerced to the schema's types; one that cannot be fails with its index.
    let r = app
        .post_raw(
            path,
            Some(&token),
            "text/csv",
            "pm10,station,ok\n1.5,007,true\n",
        )
        .await;
    assert_eq!(r.status(), 201);
    let rec: Value = app
        .get_json("/v1/datasets/city/typed/records/0", None)
        .await;
    assert_eq!(
        rec["payload"],
        json!({"pm10": 1.5, "station": "007", "ok": true})
    );
    let r = app
        .post_raw(path, Some(&token), "text/csv", "pm10,ok\n1,true\n2,maybe\n")
        .await;
    let problem = assert_problem(r, 422, "validation-failed").await;
    assert_eq!(problem["errors"][0]["index"], 1);
    assert_eq!(app.entry_count("typed"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn size_limits_answer_413_for_the_body_and_422_for_a_record() {
    let (app, token) = setup_with(|c| c.limits.max_body_bytes = 256 * 1024).await;
    // Body over the limit: 413, whether announced by Content-Length or streamed.
    let big = format!(
        "[{{\"payload\": {{\"s\": \"{}\"}}}}]",
        "x".repeat(300 * 1024)
    );
    assert_problem(
        app.post_raw(RECORDS, Some(&token), "application/json", big.clone())
            .await,
        413,
        "payload-too-large",
    )
    .await;
    let stream = futures_util::stream::iter(
        big.into_bytes()
            .chunks(8192)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let r = app
        .post_raw(
            RECORDS,
            Some(&token),
            "application/json",
            reqwest::Body::wrap_stream(stream),
        )
        .await;
    assert_problem(r, 413, "payload-too-large").await;
    // One record over 64 KiB canonical: 422 naming it.
    let record = format!(
        "[{{\"payload\": {{}}}}, {{\"payload\": {{\"s\": \"{}\"}}}}]",
        "y".repeat(65 * 1024)
    );
    let problem = assert_problem(
        app.post_raw(RECORDS, Some(&token), "application/json", record)
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["index"], 1);
    assert_eq!(app.entry_count("air"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_record_limit_is_enforced() {
    let (app, token) = setup_with(|c| c.limits.max_batch_records = 3).await;
    let batch: Vec<Value> = (0..4).map(|i| json!({"payload": {"i": i}})).collect();
    let problem = assert_problem(
        app.publish(&token, "city", "air", &Value::from(batch))
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("limit is 3"));
    assert_eq!(app.entry_count("air"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_dataset_and_bad_paths_are_404() {
    let (app, token) = setup().await;
    assert_problem(
        app.publish(&token, "city", "nope", &json!([{"payload": {}}]))
            .await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.publish(&token, "nowhere", "air", &json!([{"payload": {}}]))
            .await,
        404,
        "not-found",
    )
    .await;
    for path in [
        "/v1/datasets/city/air/records/99",
        "/v1/datasets/city/air/records/-1",
        "/v1/datasets/city/air/records/01",
        "/v1/datasets/city/air/records/x",
        "/v1/nothing",
    ] {
        assert_problem(app.get(path, None).await, 404, "not-found").await;
    }
}
