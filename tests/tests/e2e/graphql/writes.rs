//! Mutations follow REST's authorization matrix and idempotency.

use super::{code_of, data, first_code, gql, seqs};
use crate::support::{ADMIN_TOKEN, World};
use reqwest::Method;
use serde_json::{Value, json};

const CREATE: &str = r#"mutation($inst: String, $slug: String!) { createDataset(input: {slug: $slug, title: "T", description: "D",
    license: "CC0-1.0", access: PUBLIC, themes: ["TRAN"], institution: $inst}) { slug origin institution { slug } checkpoint { size } } }"#;
pub(crate) const UPDATE: &str = r#"mutation($ds: String!) { updateDataset(institution: "city", slug: $ds, input: {title: "New title", keywords: ["k"]}) { title keywords } }"#;
pub(crate) const PUBLISH: &str = r#"mutation($ds: String!, $records: [RecordInput!]!, $key: String) {
    publishRecords(institution: "city", dataset: $ds, records: $records, idempotencyKey: $key) { replayed entries { seq leafHash } } }"#;
pub(crate) const ERASE: &str = r#"mutation($ds: String!, $seq: Seq!) { erasePayload(institution: "city", dataset: $ds, seq: $seq, reason: PUBLISHER_ERROR, note: "typo") {
    seq kind erases reason leafHash envelope } }"#;
pub(crate) const ISSUE: &str = r#"mutation($role: TokenRole!) { issueToken(institution: "city", role: $role, label: "app") { id token role institution label } }"#;

#[tokio::test(flavor = "multi_thread")]
async fn mutations_follow_the_rest_authorization_matrix() {
    let w = World::new().await;
    let app = &w.app;
    let (pb, rd, op, orr) = (
        w.publisher.as_str(),
        w.reader.as_str(),
        w.other_publisher.as_str(),
        w.other_reader.as_str(),
    );
    // Who may do what to the public dataset `air` (the same outcomes as REST).
    let cases: Vec<(Option<&str>, &str)> = vec![
        (None, "unauthorized"),
        (Some(rd), "forbidden"),
        (Some(orr), "forbidden"),
        (Some(op), "forbidden"),
    ];
    let one = json!([{"payload": {"pm10": 1}}]);
    for (token, code) in &cases {
        let who = format!("{token:?}");
        let create_inst = if token == &Some(op) {
            json!("city")
        } else {
            Value::Null
        };
        assert_eq!(
            code_of(
                app,
                *token,
                CREATE,
                json!({"slug": "new", "inst": create_inst})
            )
            .await,
            *code,
            "create {who}"
        );
        assert_eq!(
            code_of(app, *token, UPDATE, json!({"ds": "air"})).await,
            *code,
            "update {who}"
        );
        assert_eq!(
            code_of(app, *token, PUBLISH, json!({"ds": "air", "records": one})).await,
            *code,
            "publish {who}"
        );
        assert_eq!(
            code_of(app, *token, ERASE, json!({"ds": "air", "seq": 0})).await,
            *code,
            "erase {who}"
        );
        assert_eq!(
            code_of(app, *token, ISSUE, json!({"role": "READER"})).await,
            *code,
            "issue {who}"
        );
    }
    assert_eq!(app.entry_count("air"), 1, "nothing was appended");
    // The restricted dataset is missing for outsiders, as on REST.
    for token in [op, orr] {
        for (q, vars) in [
            (UPDATE, json!({"ds": "cards"})),
            (PUBLISH, json!({"ds": "cards", "records": one})),
            (ERASE, json!({"ds": "cards", "seq": 0})),
        ] {
            let body = gql(app, Some(token), q, vars).await;
            assert_eq!(first_code(&body), "not-found", "{body}");
            assert_eq!(body["errors"][0]["extensions"]["status"], 404);
            assert!(!body.to_string().contains("restricted"), "{body}");
        }
    }
    assert_eq!(app.entry_count("cards"), 1);
    // The own publisher and the admin may.
    for (token, slug) in [(pb, "new-a"), (ADMIN_TOKEN, "new-b")] {
        let inst = if token == ADMIN_TOKEN {
            json!("city")
        } else {
            Value::Null
        };
        let d = data(
            app,
            Some(token),
            CREATE,
            json!({"slug": slug, "inst": inst}),
        )
        .await;
        assert_eq!(
            d["createDataset"]["origin"],
            format!("test.civicproof.example/city/{slug}")
        );
        assert_eq!(d["createDataset"]["institution"]["slug"], "city");
        assert_eq!(d["createDataset"]["checkpoint"]["size"], 0);
        let d = data(app, Some(token), UPDATE, json!({"ds": "air"})).await;
        assert_eq!(
            d["updateDataset"],
            json!({"title": "New title", "keywords": ["k"]})
        );
        let d = data(
            app,
            Some(token),
            PUBLISH,
            json!({"ds": "air", "records": one}),
        )
        .await;
        assert_eq!(d["publishRecords"]["replayed"], false);
        data(
            app,
            Some(token),
            PUBLISH,
            json!({"ds": "cards", "records": one}),
        )
        .await;
    }
    assert_eq!(app.entry_count("air"), 3);
    assert_eq!(app.entry_count("cards"), 3);
    // The admin must name the institution; a duplicate slug conflicts; bad input is 422.
    assert_eq!(
        code_of(app, Some(ADMIN_TOKEN), CREATE, json!({"slug": "x"})).await,
        "validation-failed"
    );
    assert_eq!(
        code_of(app, Some(pb), CREATE, json!({"slug": "air"})).await,
        "conflict"
    );
    let body = gql(app, Some(pb), CREATE, json!({"slug": "Bad Slug"})).await;
    assert_eq!(first_code(&body), "validation-failed");
    assert_eq!(
        body["errors"][0]["extensions"]["errors"][0]["pointer"],
        "/slug"
    );
    assert_eq!(
        code_of(app, Some(pb), r#"mutation { updateDataset(institution: "city", slug: "air", input: {title: ""}) { title } }"#, json!({})).await,
        "validation-failed"
    );
    // Schema changes: set, then remove with null.
    let d = data(app, Some(pb), r#"mutation { updateDataset(institution: "city", slug: "air", input: {schema: {type: "object"}}) { schema } }"#, json!({})).await;
    assert_eq!(d["updateDataset"]["schema"], json!({"type": "object"}));
    let d = data(app, Some(pb), r#"mutation { updateDataset(institution: "city", slug: "air", input: {schema: null}) { schema } }"#, json!({})).await;
    assert!(d["updateDataset"]["schema"].is_null());
    // Tokens: a publisher issues readers only; the admin issues publishers.
    let d = data(app, Some(pb), ISSUE, json!({"role": "READER"})).await;
    let issued = &d["issueToken"];
    assert_eq!(issued["role"], "READER");
    assert_eq!(issued["institution"], "city");
    assert_eq!(issued["label"], "app");
    let reader = issued["token"].as_str().unwrap().to_owned();
    assert!(reader.starts_with("cp_"));
    let d = data(
        app,
        Some(&reader),
        r#"{ dataset(institution: "city", slug: "cards") { slug } }"#,
        json!({}),
    )
    .await;
    assert_eq!(d["dataset"]["slug"], "cards", "the new reader token works");
    assert_eq!(
        code_of(app, Some(pb), ISSUE, json!({"role": "PUBLISHER"})).await,
        "forbidden"
    );
    let d = data(app, Some(ADMIN_TOKEN), ISSUE, json!({"role": "PUBLISHER"})).await;
    assert_eq!(d["issueToken"]["role"], "PUBLISHER");
    // Erasure by the own publisher and the admin.
    let d = data(app, Some(pb), ERASE, json!({"ds": "air", "seq": 0})).await;
    assert_eq!(d["erasePayload"]["kind"], "ERASURE");
    let d = data(
        app,
        Some(ADMIN_TOKEN),
        ERASE,
        json!({"ds": "air", "seq": 1}),
    )
    .await;
    assert_eq!(d["erasePayload"]["erases"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_records_shares_rest_rules_and_idempotency() {
    let w = World::new().await;
    let app = &w.app;
    let pb = w.publisher.as_str();
    let records = json!([{"key": "s9", "payload": {"pm10": 3.5, "sensor": "s9"}}, {"payload": {"b": [1, "x", null]}}]);
    let d = data(
        app,
        Some(pb),
        PUBLISH,
        json!({"ds": "air", "records": records, "key": "gql-1"}),
    )
    .await;
    let first = d["publishRecords"].clone();
    assert_eq!(first["replayed"], false);
    assert_eq!(seqs(&first["entries"]), [1, 2]);
    // The stored records are exactly what REST would store, and the leaf hashes agree.
    let rest: Value = app.get_json("/v1/datasets/city/air/records/1", None).await;
    assert_eq!(rest["payload"], json!({"pm10": 3.5, "sensor": "s9"}));
    assert_eq!(rest["leaf_hash"], first["entries"][0]["leafHash"]);
    // A retry replays; the same key with other records is refused.
    let d = data(
        app,
        Some(pb),
        PUBLISH,
        json!({"ds": "air", "records": records, "key": "gql-1"}),
    )
    .await;
    assert_eq!(d["publishRecords"]["replayed"], true);
    assert_eq!(d["publishRecords"]["entries"], first["entries"]);
    let other = json!([{"payload": {"pm10": 4}}]);
    assert_eq!(
        code_of(
            app,
            Some(pb),
            PUBLISH,
            json!({"ds": "air", "records": other, "key": "gql-1"})
        )
        .await,
        "idempotency-key-reused"
    );
    assert_eq!(app.entry_count("air"), 3);
    // One namespace with REST: the same key and the same canonical body replay across.
    let r = app
        .request(Method::POST, "/v1/datasets/city/air/records", Some(pb))
        .header("content-type", "application/json")
        .header("idempotency-key", "gql-1")
        .body(
            r#"[{"key":"s9","payload":{"pm10":3.5,"sensor":"s9"}},{"payload":{"b":[1,"x",null]}}]"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let r = app
        .request(Method::POST, "/v1/datasets/city/air/records", Some(pb))
        .header("idempotency-key", "rest-1")
        .json(&json!([{"payload": {"z": 1}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let d = data(
        app,
        Some(pb),
        PUBLISH,
        json!({"ds": "air", "records": [{"payload": {"z": 1}}], "key": "rest-1"}),
    )
    .await;
    assert_eq!(d["publishRecords"]["replayed"], true);
    assert_eq!(app.entry_count("air"), 4);
    // All-or-nothing with REST's validation: each bad record by index.
    let bad = json!([
        {"payload": {"ok": 1}},
        {"payload": [1]},
        {"key": "k\u{1}", "payload": {}},
        {"payload": {"big": 9007199254740993u64}},
    ]);
    let body = gql(
        app,
        Some(pb),
        PUBLISH,
        json!({"ds": "air", "records": bad, "key": "bad-1"}),
    )
    .await;
    assert_eq!(first_code(&body), "validation-failed", "{body}");
    let errors = body["errors"][0]["extensions"]["errors"]
        .as_array()
        .unwrap();
    let indexes: Vec<u64> = errors
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    // Every problem of every record, so a publisher fixes the batch in one go.
    assert_eq!(indexes, [1, 2, 3], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["status"], 422);
    // A client error is the key's final answer too.
    let body = gql(
        app,
        Some(pb),
        PUBLISH,
        json!({"ds": "air", "records": bad, "key": "bad-1"}),
    )
    .await;
    assert_eq!(first_code(&body), "validation-failed");
    assert_eq!(
        body["errors"][0]["extensions"]["errors"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        code_of(app, Some(pb), PUBLISH, json!({"ds": "air", "records": []})).await,
        "validation-failed"
    );
    assert_eq!(
        app.entry_count("air"),
        4,
        "nothing of a bad batch was appended"
    );
    // Erasure: returns the erasure entry; erasing twice conflicts; erasures cannot be erased.
    let d = data(app, Some(pb), ERASE, json!({"ds": "air", "seq": 1})).await;
    let e = &d["erasePayload"];
    assert_eq!(e["seq"], 4);
    assert_eq!(e["erases"], 1);
    assert_eq!(e["reason"], "PUBLISHER_ERROR");
    assert_eq!(e["envelope"]["reason"], "publisher-error");
    let leaf: Value = app.get_json("/v1/datasets/city/air/records/4", None).await;
    assert_eq!(e["leafHash"], leaf["leaf_hash"]);
    assert_eq!(
        code_of(app, Some(pb), ERASE, json!({"ds": "air", "seq": 1})).await,
        "conflict"
    );
    assert_eq!(
        code_of(app, Some(pb), ERASE, json!({"ds": "air", "seq": 4})).await,
        "validation-failed"
    );
    assert_eq!(
        code_of(app, Some(pb), ERASE, json!({"ds": "air", "seq": 77})).await,
        "not-found"
    );
    let d = data(
        app,
        None,
        r#"{ record(institution: "city", dataset: "air", seq: 1) { erased payload salt key } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        d["record"],
        json!({"erased": true, "payload": null, "salt": null, "key": "s9"})
    );
    // Seq is a number from 0 to 2^53-1.
    for bad in [
        json!(-1),
        json!(9007199254740992u64),
        json!("1"),
        json!(1.5),
    ] {
        assert_eq!(
            code_of(app, Some(pb), ERASE, json!({"ds": "air", "seq": bad})).await,
            "bad-request",
            "{bad}"
        );
    }
}
