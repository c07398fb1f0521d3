//! The GraphQL API over real HTTP and WebSocket: reads agree with REST, connections page
//! without gaps both ways, every feed filter works, mutations follow REST's authorization
//! matrix and idempotency, subscriptions deliver every append in order, and hostile queries
//! are refused before they cost anything.

use crate::support::{ADMIN_TOKEN, TestApp, World, pinned_trust};
use civicproof_verify::bundle::{Expect, verify_bundle};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const ORIGIN: &str = "test.civicproof.example/city/air";

/// Posts a GraphQL request and returns the body (asserting HTTP 200).
async fn gql(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> Value {
    let r = app
        .request(Method::POST, "/graphql", token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The `data` of an answer that must have no errors.
async fn data(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> Value {
    let body = gql(app, token, query, variables).await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

/// The `extensions.code` of the first error (and checks that every error has one).
fn first_code(body: &Value) -> String {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected errors: {body}"));
    for e in errors {
        assert!(
            e["extensions"]["code"].is_string(),
            "error without code: {body}"
        );
    }
    errors[0]["extensions"]["code"].as_str().unwrap().to_owned()
}

async fn code_of(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> String {
    first_code(&gql(app, token, query, variables).await)
}

fn seqs(nodes: &Value) -> Vec<u64> {
    nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["seq"].as_u64().expect("seq is a JSON number"))
        .collect()
}

fn edge_seqs(conn: &Value) -> Vec<u64> {
    conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["seq"].as_u64().unwrap())
        .collect()
}

/// Waits until the newest signed checkpoint covers `size` entries (the REST proof route
/// waits for the signer).
async fn wait_checkpointed(app: &TestApp, seq: u64) {
    let r = app
        .get(&format!("/v1/datasets/city/air/records/{seq}/proof"), None)
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn publish_many(app: &TestApp, token: &str, ds: &str, n: usize, offset: usize) {
    let batch: Vec<Value> = (0..n)
        .map(|i| json!({"key": format!("k{}", (offset + i) % 7), "payload": {"i": offset + i, "sensor": format!("s{}", (offset + i) % 3)}}))
        .collect();
    app.publish_ok(token, "city", ds, &Value::from(batch)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dataset_and_records_read_like_rest() {
    let w = World::new().await;
    let app = &w.app;
    app.publish_ok(
        &w.publisher,
        "city",
        "air",
        &json!([{"key": "s2", "payload": {"pm10": 9, "sensor": "s2", "ok": true}}, {"payload": {"note": "no key"}}]),
    )
    .await;
    wait_checkpointed(app, 2).await;
    let d = data(
        app,
        None,
        r#"query($i: String!, $d: String!) { dataset(institution: $i, slug: $d) {
            slug origin vkey title description license access themes keywords schema
            recordCount entryCount createdAt updatedAt latestAnchor { batchSeq }
            institution { slug name datasets { totalCount nodes { slug } } }
            checkpoint { origin size rootHash note }
            records(first: 10) { totalCount pageInfo { hasNextPage hasPreviousPage }
              nodes { seq kind key publishedAt payload salt payloadDigest leafHash envelope supersedes erases reason erased } } } }"#,
        json!({"i": "city", "d": "air"}),
    )
    .await;
    let ds = &d["dataset"];
    let rest: Value = app.get_json("/v1/datasets/city/air", None).await;
    for (g, r) in [
        ("slug", "slug"),
        ("origin", "origin"),
        ("vkey", "vkey"),
        ("title", "title"),
        ("description", "description"),
        ("license", "license"),
        ("themes", "themes"),
        ("keywords", "keywords"),
        ("schema", "schema"),
        ("recordCount", "record_count"),
        ("entryCount", "entry_count"),
        ("createdAt", "created_at"),
    ] {
        assert_eq!(ds[g], rest[r], "{g}");
    }
    assert_eq!(ds["access"], "PUBLIC");
    assert_eq!(ds["entryCount"], 3);
    assert!(ds["latestAnchor"].is_null());
    assert_eq!(ds["institution"]["slug"], "city");
    assert_eq!(ds["institution"]["name"], "city city office");
    // Outsiders see only the public dataset of the institution, and count only it.
    assert_eq!(ds["institution"]["datasets"]["totalCount"], 1);
    assert_eq!(ds["checkpoint"]["note"], rest["checkpoint"]);
    assert_eq!(ds["checkpoint"]["origin"], ORIGIN);
    assert_eq!(ds["checkpoint"]["size"], 3);
    assert_eq!(ds["checkpoint"]["rootHash"].as_str().unwrap().len(), 64);

    let records = &ds["records"];
    assert_eq!(records["totalCount"], 3);
    assert_eq!(records["pageInfo"]["hasNextPage"], false);
    let feed: Value = app.get_json("/v1/datasets/city/air/records", None).await;
    let nodes = records["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    for (n, r) in nodes.iter().zip(feed["records"].as_array().unwrap()) {
        assert_eq!(n["envelope"], r["envelope"]);
        assert_eq!(n["payload"], r["payload"]);
        assert_eq!(n["salt"], r["salt"]);
        assert_eq!(n["leafHash"], r["leaf_hash"]);
        assert_eq!(n["seq"], r["envelope"]["seq"]);
        assert_eq!(n["key"], r["envelope"]["key"]);
        assert_eq!(n["publishedAt"], r["envelope"]["published_at"]);
        assert_eq!(n["payloadDigest"], r["envelope"]["payload_digest"]);
        assert_eq!(n["kind"], "RECORD");
        assert_eq!(n["erased"], false);
    }
    assert_eq!(
        nodes[1]["payload"],
        json!({"pm10": 9, "sensor": "s2", "ok": true})
    );
    assert!(nodes[2]["key"].is_null());

    // One record with its proof: `raw` is the REST bundle and verifies on its own.
    let d = data(
        app,
        None,
        r#"{ record(institution: "city", dataset: "air", seq: 1) { seq leafHash
             proof { raw format treeSize path leafHash checkpoint { size note } erasure { path } anchor { batchSeq } } } }"#,
        json!({}),
    )
    .await;
    let proof = &d["record"]["proof"];
    let rest_bundle: Value = app
        .get_json("/v1/datasets/city/air/records/1/proof", None)
        .await;
    assert_eq!(proof["raw"], rest_bundle);
    assert_eq!(proof["format"], "civicproof/bundle/v1");
    assert_eq!(proof["treeSize"], 3);
    assert_eq!(proof["path"], rest_bundle["inclusion"]["path"]);
    assert_eq!(proof["checkpoint"]["note"], rest_bundle["checkpoint"]);
    assert_eq!(proof["leafHash"], d["record"]["leafHash"]);
    assert!(proof["erasure"].is_null() && proof["anchor"].is_null());
    let trust = pinned_trust(app).await;
    let report = verify_bundle(
        &serde_json::to_vec(&proof["raw"]).unwrap(),
        &trust,
        &Expect {
            origin: ORIGIN.into(),
            seq: Some(1),
        },
        None,
    );
    assert_eq!(report.failed_step, None, "{report:?}");

    // Missing things are null, not errors.
    let d = data(
        app,
        None,
        r#"{ a: record(institution: "city", dataset: "air", seq: 99) { seq }
             b: dataset(institution: "city", slug: "nothing") { slug }
             c: institution(slug: "nobody") { slug }
             d: institution(slug: "city") { slug name }
             anchors(first: 5) { totalCount edges { cursor } nodes { batchSeq } pageInfo { hasNextPage } } }"#,
        json!({}),
    )
    .await;
    assert!(d["a"].is_null() && d["b"].is_null() && d["c"].is_null());
    assert_eq!(d["d"]["slug"], "city");
    assert_eq!(d["anchors"]["totalCount"], 0);
    assert_eq!(d["anchors"]["nodes"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn restricted_datasets_are_invisible_to_outsiders_everywhere() {
    let w = World::new().await;
    let app = &w.app;
    let q = r#"{ dataset(institution: "city", slug: "cards") { slug entryCount }
        record(institution: "city", dataset: "cards", seq: 0) { seq payload }
        datasets { totalCount nodes { slug } }
        filtered: datasets(institution: "city", q: "cards") { totalCount nodes { slug } }
        institution(slug: "city") { datasets { totalCount nodes { slug } } } }"#;
    for (who, token) in [
        ("anonymous", None),
        ("other reader", Some(w.other_reader.as_str())),
        ("other publisher", Some(w.other_publisher.as_str())),
    ] {
        let d = data(app, token, q, json!({})).await;
        assert!(d["dataset"].is_null(), "{who}: {d}");
        assert!(d["record"].is_null(), "{who}: {d}");
        assert!(!d.to_string().contains("cards"), "{who} sees a trace: {d}");
        assert_eq!(d["datasets"]["totalCount"], 1, "{who}");
        assert_eq!(d["filtered"]["totalCount"], 0, "{who}");
        assert_eq!(d["institution"]["datasets"]["totalCount"], 1, "{who}");
    }
    for token in [w.reader.as_str(), w.publisher.as_str(), ADMIN_TOKEN] {
        let d = data(app, Some(token), q, json!({})).await;
        assert_eq!(d["dataset"]["slug"], "cards");
        assert_eq!(d["record"]["payload"], json!({"topups": 3}));
        assert_eq!(d["datasets"]["totalCount"], 2);
        assert_eq!(d["filtered"]["nodes"], json!([{"slug": "cards"}]));
        assert_eq!(d["institution"]["datasets"]["totalCount"], 2);
    }
    // A dataset made restricted disappears at once for outsiders.
    let d = data(
        app,
        Some(&w.publisher),
        r#"mutation { updateDataset(institution: "city", slug: "air", input: {access: RESTRICTED}) { access } }"#,
        json!({}),
    )
    .await;
    assert_eq!(d["updateDataset"]["access"], "RESTRICTED");
    let d = data(
        app,
        None,
        r#"{ dataset(institution: "city", slug: "air") { slug } datasets { totalCount } }"#,
        json!({}),
    )
    .await;
    assert!(d["dataset"].is_null());
    assert_eq!(d["datasets"]["totalCount"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn records_page_forward_and_backward_without_gaps_or_duplicates() {
    let w = World::new().await;
    let app = &w.app;
    publish_many(app, &w.publisher, "air", 24, 0).await; // seqs 1..=24 after World's seq 0
    let q = r#"query($first: Int, $after: String, $last: Int, $before: String) {
        dataset(institution: "city", slug: "air") {
          records(first: $first, after: $after, last: $last, before: $before) {
            totalCount edges { cursor node { seq } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"#;
    // Forward in pages of 7.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let d = data(app, None, q, json!({"first": 7, "after": after})).await;
        let conn = &d["dataset"]["records"];
        assert_eq!(conn["totalCount"], 25);
        let edges = conn["edges"].as_array().unwrap();
        for e in edges {
            seen.push(e["node"]["seq"].as_u64().unwrap());
        }
        assert_eq!(
            conn["pageInfo"]["endCursor"],
            edges.last().unwrap()["cursor"]
        );
        pages += 1;
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 4);
    assert_eq!(seen, (0..25).collect::<Vec<u64>>());
    // Backward in pages of 6.
    let mut seen = Vec::new();
    let mut before = Value::Null;
    let mut pages = 0;
    loop {
        let d = data(app, None, q, json!({"last": 6, "before": before})).await;
        let conn = &d["dataset"]["records"];
        let mut page = edge_seqs(conn);
        assert!(
            page.windows(2).all(|p| p[0] < p[1]),
            "ascending within a page"
        );
        page.extend(seen);
        seen = page;
        pages += 1;
        if conn["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = conn["pageInfo"]["startCursor"].clone();
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, (0..25).collect::<Vec<u64>>());
    // A window between two cursors, from either end.
    let c = |seq: u64| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
    };
    let d = data(
        app,
        None,
        q,
        json!({"first": 3, "after": c(4), "before": c(9)}),
    )
    .await;
    let conn = &d["dataset"]["records"];
    assert_eq!(edge_seqs(conn), [5, 6, 7]);
    assert_eq!(conn["pageInfo"]["hasNextPage"], true);
    let d = data(
        app,
        None,
        q,
        json!({"first": 10, "after": c(4), "before": c(9)}),
    )
    .await;
    assert_eq!(
        d["dataset"]["records"]["edges"].as_array().unwrap().len(),
        4
    );
    assert_eq!(d["dataset"]["records"]["pageInfo"]["hasNextPage"], false);
    let d = data(
        app,
        None,
        q,
        json!({"last": 3, "after": c(4), "before": c(9)}),
    )
    .await;
    let conn = &d["dataset"]["records"];
    assert_eq!(conn["edges"][0]["node"]["seq"], 6);
    assert_eq!(conn["pageInfo"]["hasPreviousPage"], true);
    // Cursors are REST's: a REST next_cursor continues a GraphQL page and vice versa.
    let rest: Value = app
        .get_json("/v1/datasets/city/air/records?limit=5", None)
        .await;
    let d = data(
        app,
        None,
        q,
        json!({"first": 2, "after": rest["next_cursor"]}),
    )
    .await;
    assert_eq!(d["dataset"]["records"]["edges"][0]["node"]["seq"], 5);
    let cursor = d["dataset"]["records"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let rest: Value = app
        .get_json(
            &format!("/v1/datasets/city/air/records?limit=1&after={cursor}"),
            None,
        )
        .await;
    assert_eq!(rest["records"][0]["envelope"]["seq"], 7);
    // Bad arguments are request errors.
    for vars in [
        json!({"first": 0}),
        json!({"first": 1001}),
        json!({"last": -1}),
        json!({"first": 1, "last": 1}),
        json!({"after": "not a cursor"}),
        json!({"before": "c2VxOng"}),
    ] {
        assert_eq!(
            code_of(app, None, q, vars.clone()).await,
            "bad-request",
            "{vars}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn datasets_page_and_filter_like_the_catalog() {
    let w = World::new().await;
    let app = &w.app;
    for (slug, themes, keywords) in [
        ("trams", json!(["TRAN"]), json!(["tram", "mobility"])),
        ("buses", json!(["TRAN"]), json!(["bus"])),
        ("water", json!(["ENVI"]), json!(["river"])),
    ] {
        app.dataset(
            &w.publisher,
            slug,
            "public",
            json!({"themes": themes, "keywords": keywords, "description": format!("All about {slug}")}),
        )
        .await;
    }
    app.dataset(
        &w.other_publisher,
        "parks",
        "public",
        json!({"themes": ["ENVI"]}),
    )
    .await;
    let q = r#"query($first: Int, $after: String, $inst: String, $theme: String, $kw: String, $q: String) {
        datasets(first: $first, after: $after, institution: $inst, theme: $theme, keyword: $kw, q: $q) {
          totalCount edges { cursor node { slug institution { slug } } } pageInfo { hasNextPage endCursor } } }"#;
    let slugs = |d: &Value| -> Vec<String> {
        d["datasets"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["slug"].as_str().unwrap().to_owned())
            .collect()
    };
    // All public datasets in creation order, two a page.
    let mut all = Vec::new();
    let mut after = Value::Null;
    loop {
        let d = data(app, None, q, json!({"first": 2, "after": after})).await;
        assert_eq!(d["datasets"]["totalCount"], 5);
        all.extend(slugs(&d));
        if d["datasets"]["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = d["datasets"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(all, ["air", "trams", "buses", "water", "parks"]);
    for (vars, want) in [
        (json!({"inst": "other"}), vec!["parks"]),
        (json!({"theme": "TRAN"}), vec!["trams", "buses"]),
        (
            json!({"theme": "ENVI", "inst": "city"}),
            vec!["air", "water"],
        ),
        (json!({"kw": "mobility"}), vec!["trams"]),
        (json!({"q": "about BUS"}), vec!["buses"]),
        (json!({"q": "%"}), vec![]),
    ] {
        let d = data(app, None, q, vars.clone()).await;
        assert_eq!(slugs(&d), want, "{vars}");
        assert_eq!(d["datasets"]["totalCount"], want.len(), "{vars}");
    }
    // The REST catalog's cursor works here too.
    let rest: Value = app.get_json("/v1/datasets?limit=2", None).await;
    let d = data(
        app,
        None,
        q,
        json!({"first": 1, "after": rest["next_cursor"]}),
    )
    .await;
    assert_eq!(slugs(&d), ["buses"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_feed_filter_matches_rest() {
    let w = World::new().await;
    let app = &w.app;
    app.publish_ok(
        &w.publisher,
        "city",
        "air",
        &json!([
            {"key": "s1", "payload": {"pm10": 20, "sensor": "s1", "code": "007", "ok": true}},
            {"key": "s2", "payload": {"pm10": 17.2, "sensor": "s2", "code": "7", "ok": false}},
            {"payload": {"pm10": "17.2", "sensor": "s3"}},
        ]),
    )
    .await;
    let middle: Value = app.get_json("/v1/datasets/city/air/records/2", None).await;
    let t = middle["envelope"]["published_at"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(5)).await;
    app.publish_ok(
        &w.publisher,
        "city",
        "air",
        &json!([{"key": "s2", "payload": {"pm10": 1, "sensor": "s2"}}]),
    )
    .await;
    let q = r#"query($key: String, $pa: String, $pb: String, $payload: JSON, $current: Boolean) {
        dataset(institution: "city", slug: "air") {
          records(key: $key, publishedAfter: $pa, publishedBefore: $pb, payload: $payload, current: $current) {
            totalCount nodes { seq } } } }"#;
    let te = urlencoding(&t);
    let cases: Vec<(Value, String, Vec<u64>)> = vec![
        (json!({"key": "s2"}), "key=s2".into(), vec![2, 4]),
        (json!({"pa": t}), format!("published_after={te}"), vec![4]),
        (json!({"pb": t}), format!("published_before={te}"), vec![0]),
        (
            json!({"payload": {"pm10": 17.2}}),
            "payload.pm10=17.2".into(),
            vec![0, 2, 3],
        ),
        (
            json!({"payload": {"pm10": "17.2"}}),
            "payload.pm10=17.2".into(),
            vec![0, 2, 3],
        ),
        (
            json!({"payload": {"code": "7"}}),
            "payload.code=7".into(),
            vec![2],
        ),
        (
            json!({"payload": {"code": "007"}}),
            "payload.code=007".into(),
            vec![1],
        ),
        (
            json!({"payload": {"ok": true}}),
            "payload.ok=true".into(),
            vec![1],
        ),
        (
            json!({"payload": {"sensor": "s2", "pm10": 1}}),
            "payload.sensor=s2&payload.pm10=1".into(),
            vec![4],
        ),
        (
            json!({"current": true}),
            "current=true".into(),
            vec![1, 3, 4],
        ),
        (
            json!({"current": true, "key": "s2"}),
            "current=true&key=s2".into(),
            vec![4],
        ),
    ];
    for (vars, qs, expected) in cases {
        let d = data(app, None, q, vars.clone()).await;
        let got = seqs(&d["dataset"]["records"]["nodes"]);
        let rest: Value = app
            .get_json(&format!("/v1/datasets/city/air/records?{qs}"), None)
            .await;
        let want: Vec<u64> = rest["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["envelope"]["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(want, expected, "REST {qs}");
        assert_eq!(got, want, "{vars} vs {qs}");
        assert_eq!(d["dataset"]["records"]["totalCount"], want.len(), "{vars}");
    }
    // Erased records never match payload filters.
    let r = app
        .post_json(
            "/v1/datasets/city/air/records/2/erasure",
            Some(&w.publisher),
            &json!({"reason": "other"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let d = data(app, None, q, json!({"payload": {"sensor": "s2"}})).await;
    assert_eq!(seqs(&d["dataset"]["records"]["nodes"]), [4]);
    for bad in [
        json!({"payload": [1, 2]}),
        json!({"payload": {"a": {"nested": 1}}}),
        json!({"payload": {"": 1}}),
        json!({"pa": "yesterday"}),
        json!({"payload": (0..11).map(|i| (format!("f{i}"), json!(1))).collect::<serde_json::Map<_, _>>()}),
    ] {
        assert_eq!(
            code_of(app, None, q, bad.clone()).await,
            "bad-request",
            "{bad}"
        );
    }
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn payload_filters_that_try_sql_injection_do_nothing() {
    let w = World::new().await;
    let app = &w.app;
    let before = app.entry_count("air");
    let q = r#"query($payload: JSON, $key: String) { dataset(institution: "city", slug: "air") {
        records(payload: $payload, key: $key) { totalCount nodes { seq } } } }"#;
    for vars in [
        json!({"payload": {"pm10') OR 1=1; DROP TABLE entries; --": "1"}}),
        json!({"payload": {"pm10": "1' OR '1'='1"}}),
        json!({"payload": {"pm10": "17.2); DELETE FROM entries; --"}}),
        json!({"payload": {"sensor\u{0}": "x"}, "key": "s1' OR 'a'='a"}),
        json!({"key": "'; TRUNCATE entries CASCADE; --"}),
    ] {
        let body = gql(app, None, q, vars.clone()).await;
        if body.get("errors").is_none() {
            assert_eq!(
                body["data"]["dataset"]["records"]["nodes"],
                json!([]),
                "{vars}"
            );
            assert_eq!(
                body["data"]["dataset"]["records"]["totalCount"], 0,
                "{vars}"
            );
        } else {
            assert_eq!(first_code(&body), "bad-request", "{body}");
        }
    }
    assert_eq!(app.entry_count("air"), before, "nothing was deleted");
    assert_eq!(app.db.count("SELECT count(*) FROM datasets"), 2);
    let d = data(app, None, q, json!({"payload": {"pm10": 17.2}})).await;
    assert_eq!(seqs(&d["dataset"]["records"]["nodes"]), [0]);
}

const CREATE: &str = r#"mutation($inst: String, $slug: String!) { createDataset(input: {slug: $slug, title: "T", description: "D",
    license: "CC0-1.0", access: PUBLIC, themes: ["TRAN"], institution: $inst}) { slug origin institution { slug } checkpoint { size } } }"#;
const UPDATE: &str = r#"mutation($ds: String!) { updateDataset(institution: "city", slug: $ds, input: {title: "New title", keywords: ["k"]}) { title keywords } }"#;
const PUBLISH: &str = r#"mutation($ds: String!, $records: [RecordInput!]!, $key: String) {
    publishRecords(institution: "city", dataset: $ds, records: $records, idempotencyKey: $key) { replayed entries { seq leafHash } } }"#;
const ERASE: &str = r#"mutation($ds: String!, $seq: Seq!) { erasePayload(institution: "city", dataset: $ds, seq: $seq, reason: PUBLISHER_ERROR, note: "typo") {
    seq kind erases reason leafHash envelope } }"#;
const ISSUE: &str = r#"mutation($role: TokenRole!) { issueToken(institution: "city", role: $role, label: "app") { id token role institution label } }"#;

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

/// A `graphql-transport-ws` client.
pub(crate) struct Ws {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ws {
    async fn open(app: &TestApp) -> Self {
        let url = format!("{}/graphql", app.base.replacen("http", "ws", 1));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (stream, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
        assert_eq!(
            resp.headers()["sec-websocket-protocol"],
            "graphql-transport-ws"
        );
        Self { stream }
    }

    /// Opens and initializes a connection (with a token, if given).
    pub(crate) async fn connect(app: &TestApp, token: Option<&str>) -> Self {
        let mut ws = Self::open(app).await;
        let payload = match token {
            Some(t) => json!({"Authorization": format!("Bearer {t}")}),
            None => json!({}),
        };
        ws.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        assert_eq!(ws.recv().await.unwrap()["type"], "connection_ack");
        ws
    }

    pub(crate) async fn send(&mut self, msg: Value) {
        self.stream
            .send(Message::text(msg.to_string()))
            .await
            .unwrap();
    }

    /// The next protocol message (answering pings), or `None` once the server closed.
    async fn recv(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(15), self.stream.next())
                .await
                .expect("a message within 15 s")?;
            match msg.ok()? {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if v["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await;
                        continue;
                    }
                    return Some(v);
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    pub(crate) async fn subscribe(&mut self, id: &str, dataset: &str, after_seq: Option<u64>) {
        self.send(json!({"id": id, "type": "subscribe", "payload": {
            "query": "subscription($d: String!, $a: Seq) { recordPublished(institution: \"city\", dataset: $d, afterSeq: $a) { seq kind key payload leafHash erases } }",
            "variables": {"d": dataset, "a": after_seq},
        }}))
        .await;
    }

    /// Reads until the server closes; its close code, and the messages before it.
    pub(crate) async fn until_closed(&mut self) -> (Option<u16>, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(15), self.stream.next())
                .await
                .expect("closed within 15 s");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    before.push(serde_json::from_str(t.as_str()).unwrap())
                }
                Some(Ok(Message::Close(frame))) => {
                    return (frame.map(|f| u16::from(f.code)), before);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return (None, before),
            }
        }
    }

    /// Sends a query or mutation as operation `id` and returns its first answer.
    pub(crate) async fn operation(&mut self, id: &str, query: &str, variables: Value) -> Value {
        self.send(json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}))
            .await;
        loop {
            let msg = self.recv().await.expect("connection open");
            if msg["id"] == id {
                return msg;
            }
        }
    }

    /// The next `n` records of subscription `id`.
    pub(crate) async fn records(&mut self, id: &str, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        while out.len() < n {
            let msg = self.recv().await.expect("connection open");
            assert_eq!(msg["id"], id, "{msg}");
            assert_eq!(msg["type"], "next", "{msg}");
            assert!(msg["payload"].get("errors").is_none(), "{msg}");
            out.push(msg["payload"]["data"]["recordPublished"].clone());
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn subscription_delivers_rest_and_graphql_publishes_in_order() {
    let w = World::new().await;
    let app = &w.app;
    let mut ws = Ws::connect(app, None).await;
    ws.subscribe("1", "air", Some(0)).await;
    // Published through REST, through GraphQL, an erasure, and a batch too large to travel
    // with its notice: every entry arrives once, in seq order.
    app.publish_ok(
        &w.publisher,
        "city",
        "air",
        &json!([{"key": "a", "payload": {"n": 1}}, {"key": "b", "payload": {"n": 2}}]),
    )
    .await;
    let d = data(
        app,
        Some(&w.publisher),
        PUBLISH,
        json!({"ds": "air", "records": [{"key": "c", "payload": {"n": 3}}]}),
    )
    .await;
    let graphql_leaf = d["publishRecords"]["entries"][0]["leafHash"].clone();
    data(
        app,
        Some(&w.publisher),
        ERASE,
        json!({"ds": "air", "seq": 1}),
    )
    .await;
    publish_many(app, &w.publisher, "air", 150, 0).await;
    let got = ws.records("1", 154).await;
    assert_eq!(
        seqs(&Value::from(got.clone())),
        (1..=154).collect::<Vec<u64>>()
    );
    assert_eq!(got[0]["key"], "a");
    // (seq 1 was erased meanwhile: whether its payload still travelled is a race.)
    assert_eq!(got[1]["payload"], json!({"n": 2}));
    assert_eq!(got[2]["leafHash"], graphql_leaf);
    assert_eq!(got[3]["kind"], "ERASURE");
    assert_eq!(got[3]["erases"], 1);
    assert_eq!(got[153]["payload"]["i"], 149);
    // Concurrent publishers: still gapless and ordered.
    let mut tasks = Vec::new();
    for t in 0..4 {
        let (base, token) = (app.base.clone(), w.publisher.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..5 {
                let r = client
                    .post(format!("{base}/v1/datasets/city/air/records"))
                    .bearer_auth(&token)
                    .json(&json!([{"payload": {"t": t, "i": i}}]))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let got = ws.records("1", 20).await;
    assert_eq!(seqs(&Value::from(got)), (155..175).collect::<Vec<u64>>());
    // Other datasets' appends are not delivered here.
    app.publish_ok(
        &w.publisher,
        "city",
        "cards",
        &json!([{"payload": {"x": 1}}]),
    )
    .await;
    app.publish_ok(
        &w.publisher,
        "city",
        "air",
        &json!([{"payload": {"last": true}}]),
    )
    .await;
    let got = ws.records("1", 1).await;
    assert_eq!(got[0]["seq"], 175);
    // Completing the subscription.
    ws.send(json!({"id": "1", "type": "complete"})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subscription_without_after_seq_starts_now_and_respects_visibility() {
    let w = World::new().await;
    let app = &w.app;
    // Without afterSeq: only what is appended after subscribing.
    let mut ws = Ws::connect(app, None).await;
    ws.subscribe("live", "air", None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.publish_ok(
        &w.publisher,
        "city",
        "air",
        &json!([{"payload": {"new": 1}}]),
    )
    .await;
    let got = ws.records("live", 1).await;
    assert_eq!(got[0]["seq"], 1);
    // Outsiders cannot follow a restricted dataset: it does not exist for them.
    for token in [
        None,
        Some(w.other_reader.as_str()),
        Some(w.other_publisher.as_str()),
    ] {
        let mut ws = Ws::connect(app, token).await;
        ws.subscribe("x", "cards", Some(0)).await;
        let msg = ws.recv().await.unwrap();
        assert_eq!(msg["type"], "next", "{msg}");
        assert!(msg["payload"]["data"].is_null(), "{msg}");
        assert_eq!(
            msg["payload"]["errors"][0]["extensions"]["code"], "not-found",
            "{msg}"
        );
        assert_eq!(ws.recv().await.unwrap()["type"], "complete");
        assert!(!msg.to_string().contains("topups"));
    }
    // Insiders can, from the beginning.
    let mut ws = Ws::connect(app, Some(&w.reader)).await;
    ws.subscribe("in", "cards", None).await;
    let mut replay = Ws::connect(app, Some(&w.reader)).await;
    replay
        .send(json!({"id": "r", "type": "subscribe", "payload": {
            "query": "subscription { recordPublished(institution: \"city\", dataset: \"cards\", afterSeq: 0) { seq payload } }"}}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.publish_ok(
        &w.publisher,
        "city",
        "cards",
        &json!([{"payload": {"topups": 4}}, {"payload": {"topups": 5}}]),
    )
    .await;
    let got = ws.records("in", 2).await;
    assert_eq!(seqs(&Value::from(got)), [1, 2]);
    let mut got = Vec::new();
    while got.len() < 2 {
        let msg = replay.recv().await.unwrap();
        got.push(
            msg["payload"]["data"]["recordPublished"]["seq"]
                .as_u64()
                .unwrap(),
        );
    }
    assert_eq!(got, [1, 2]);
    // A dataset that becomes restricted stops reaching an outsider's subscription.
    let mut outsider = Ws::connect(app, None).await;
    outsider.subscribe("o", "air", Some(1)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    data(app, Some(&w.publisher), r#"mutation { updateDataset(institution: "city", slug: "air", input: {access: RESTRICTED}) { access } }"#, json!({})).await;
    app.publish_ok(
        &w.publisher,
        "city",
        "air",
        &json!([{"payload": {"secret": 1}}]),
    )
    .await;
    let msg = outsider.recv().await.unwrap();
    assert!(!msg.to_string().contains("secret"), "{msg}");
    assert_eq!(
        msg["payload"]["errors"][0]["extensions"]["code"], "not-found",
        "{msg}"
    );
    // A bad token in connection_init closes the connection; the URL is never read.
    let mut ws = Ws::open(app).await;
    ws.send(json!({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}}))
        .await;
    assert!(ws.recv().await.is_none(), "closed without an ack");
    let url = format!(
        "{}/graphql?token={}",
        app.base.replacen("http", "ws", 1),
        w.reader
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (stream, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut ws = Ws { stream };
    ws.send(json!({"type": "connection_init"})).await;
    assert_eq!(ws.recv().await.unwrap()["type"], "connection_ack");
    ws.subscribe("u", "cards", Some(0)).await;
    assert_eq!(
        ws.recv().await.unwrap()["payload"]["errors"][0]["extensions"]["code"],
        "not-found"
    );
    // A revoked token stops its subscription within a second.
    let d = data(app, Some(ADMIN_TOKEN), ISSUE, json!({"role": "READER"})).await;
    let id = d["issueToken"]["id"].as_str().unwrap().to_owned();
    let token = d["issueToken"]["token"].as_str().unwrap().to_owned();
    let mut ws = Ws::connect(app, Some(&token)).await;
    ws.subscribe("rv", "cards", None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.publish_ok(
        &w.publisher,
        "city",
        "cards",
        &json!([{"payload": {"topups": 6}}]),
    )
    .await;
    assert_eq!(ws.records("rv", 1).await[0]["seq"], 3);
    let r = app
        .request(
            Method::DELETE,
            &format!("/v1/institutions/city/tokens/{id}"),
            Some(ADMIN_TOKEN),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.publish_ok(
        &w.publisher,
        "city",
        "cards",
        &json!([{"payload": {"topups": 7}}]),
    )
    .await;
    // The socket closes at once (4403), and nothing published after the revocation arrives.
    let (code, before) = ws.until_closed().await;
    assert_eq!(code, Some(4403), "{before:?}");
    assert!(
        !before.iter().any(|m| m.to_string().contains("topups")),
        "{before:?}"
    );
    // Only graphql-transport-ws is spoken.
    let r = app
        .request(Method::GET, "/graphql", None)
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", "graphql-ws")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn depth_and_complexity_bombs_are_rejected_quickly() {
    let w = World::new().await;
    let app = &w.app;
    let quick = |started: Instant| {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    };
    // Depth: 11 levels.
    let mut deep = "slug".to_owned();
    for _ in 0..3 {
        deep = format!("institution {{ datasets {{ nodes {{ {deep} }} }} }}");
    }
    let q = format!(r#"{{ dataset(institution: "city", slug: "air") {{ {deep} }} }}"#);
    let started = Instant::now();
    let body = gql(app, None, &q, json!({})).await;
    quick(started);
    assert_eq!(first_code(&body), "bad-request");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deeply"),
        "{body}"
    );
    assert!(body["data"].is_null());
    // The same through fragments.
    let q = r#"{ dataset(institution: "city", slug: "air") { ...A } }
        fragment A on Dataset { institution { datasets { nodes { ...B } } } }
        fragment B on Dataset { institution { datasets { nodes { ...C } } } }
        fragment C on Dataset { institution { datasets { nodes { slug } } } }"#;
    assert_eq!(code_of(app, None, q, json!({})).await, "bad-request");
    // Complexity: a thousand pages of a thousand records.
    let started = Instant::now();
    let body = gql(
        app,
        None,
        "{ datasets(first: 1000) { nodes { records(first: 1000) { nodes { seq payload } } } } }",
        json!({}),
    )
    .await;
    quick(started);
    assert_eq!(first_code(&body), "bad-request");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{body}"
    );
    // Proofs are expensive, and so are counts.
    let body = gql(app, None, r#"{ dataset(institution: "city", slug: "air") { records(first: 1000) { nodes { proof { raw } } } } }"#, json!({})).await;
    assert_eq!(first_code(&body), "bad-request");
    // A fragment bomb (2^40 fields once expanded) fails before validation expands it.
    let mut q = String::from("{ ...F0 }\n");
    for i in 0..40 {
        q.push_str(&format!(
            "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
            i + 1,
            i + 1
        ));
    }
    q.push_str("fragment F40 on Query { anchors { totalCount } }\n");
    let started = Instant::now();
    let body = gql(app, None, &q, json!({})).await;
    quick(started);
    assert_eq!(first_code(&body), "bad-request");
    // An alias bomb.
    let q = format!(
        "{{ {} }}",
        (0..1500)
            .map(|i| format!("a{i}: anchors {{ totalCount }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let started = Instant::now();
    assert_eq!(code_of(app, None, &q, json!({})).await, "bad-request");
    quick(started);
    // An oversized document.
    let q = format!("{{ anchors {{ totalCount }} }} #{}", "x".repeat(70_000));
    assert_eq!(code_of(app, None, &q, json!({})).await, "payload-too-large");
    // Introspection nests deeper than data queries and stays allowed (GraphiQL needs it).
    let d = data(
        app,
        None,
        "{ __schema { types { name fields { name type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } } } }",
        json!({}),
    )
    .await;
    assert!(
        d["__schema"]["types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "Seq")
    );
    // A reasonable query within every bound works.
    let d = data(app, None, r#"{ datasets(first: 100) { nodes { slug checkpoint { size } institution { name } records(first: 20) { nodes { seq key payload } } } } }"#, json!({})).await;
    assert_eq!(d["datasets"]["nodes"][0]["records"]["nodes"][0]["seq"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn transport_errors_carry_codes() {
    let app = TestApp::spawn_with(|c| c.limits.max_body_bytes = 4096).await;
    let q = json!({"query": "{ anchors { totalCount } }"});
    // A bad token is 401, never anonymous.
    let r = app
        .request(Method::POST, "/graphql", Some("cp_unknown"))
        .json(&q)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().await.unwrap();
    assert_eq!(first_code(&body), "unauthorized");
    // Media type, body shape and size.
    let r = app
        .post_raw("/graphql", None, "text/plain", q.to_string())
        .await;
    assert_eq!(r.status(), 415);
    assert_eq!(
        first_code(&r.json().await.unwrap()),
        "unsupported-media-type"
    );
    for bad in [
        "{not json",
        "[{\"query\": \"{ anchors { totalCount } }\"}]",
        "{}",
    ] {
        let r = app
            .post_raw("/graphql", None, "application/json", bad)
            .await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(first_code(&r.json().await.unwrap()), "bad-request");
    }
    let big =
        json!({"query": "{ anchors { totalCount } }", "variables": {"pad": "x".repeat(5000)}});
    let r = app
        .post_raw("/graphql", None, "application/json", big.to_string())
        .await;
    assert_eq!(r.status(), 413);
    assert_eq!(first_code(&r.json().await.unwrap()), "payload-too-large");
    // Syntax and unknown fields are request errors with a code, and internal text never leaks.
    for query in [
        "{ anchors {",
        "{ nothing }",
        "{ record(institution: \"a\", dataset: \"b\") { seq } }",
    ] {
        let body = gql(&app, None, query, json!({})).await;
        assert_eq!(first_code(&body), "bad-request", "{body}");
    }
    // GraphiQL.
    let r = app.get("/graphql", None).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("graphiql"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_datasets_list_with_checkpoints_and_institutions() {
    let app = TestApp::spawn().await;
    app.institution("city").await;
    app.institution("other").await;
    let city = app.token("city", "publisher").await;
    let other = app.token("other", "publisher").await;
    for i in 0..100 {
        let token = if i % 2 == 0 { &city } else { &other };
        app.dataset(token, &format!("d{i:03}"), "public", serde_json::json!({}))
            .await;
    }
    let started = Instant::now();
    let d = data(
        &app,
        None,
        "{ datasets(first: 100) { totalCount nodes { slug entryCount checkpoint { size rootHash origin } institution { slug name } } } }",
        json!({}),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let nodes = d["datasets"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 100);
    assert_eq!(d["datasets"]["totalCount"], 100);
    for (i, n) in nodes.iter().enumerate() {
        let inst = if i % 2 == 0 { "city" } else { "other" };
        assert_eq!(n["slug"], format!("d{i:03}"));
        assert_eq!(n["checkpoint"]["size"], 0);
        assert_eq!(
            n["checkpoint"]["origin"],
            format!("test.civicproof.example/{inst}/d{i:03}")
        );
        assert_eq!(n["institution"]["slug"], inst);
        assert_eq!(n["institution"]["name"], format!("{inst} city office"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn graphiql_loads_only_local_assets() {
    let app = TestApp::spawn().await;
    let r = app.get("/graphql", None).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().await.unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    assert!(page.contains("GraphiQL.createFetcher"), "{page}");
    let urls: Vec<&str> = ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| page.split(attr).skip(1))
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert_eq!(urls.len(), 4, "{urls:?}");
    for url in urls {
        assert!(url.starts_with("/graphql/assets/"), "{url}");
        let r = app.get(url, None).await;
        assert_eq!(r.status(), 200, "{url}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        let expected = if url.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(ct.starts_with(expected), "{url}: {ct}");
        let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
        assert!(
            cache.contains("immutable") && cache.contains("max-age=31536000"),
            "{cache}"
        );
        assert!(r.bytes().await.unwrap().len() > 1000, "{url}");
    }
    let r = app.get("/graphql/assets/nothing.js", None).await;
    assert_eq!(r.status(), 404);
}

/// `civicproof_db_queries_total` from `/metrics`.
async fn db_queries(app: &TestApp) -> u64 {
    let text = app
        .get("/metrics", Some(ADMIN_TOKEN))
        .await
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("civicproof_db_queries_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no civicproof_db_queries_total in:\n{text}"))
}

/// The statements one request costs: the fewest over three tries, since background work
/// (the signer) can only add to the counter.
async fn queries_per_request(app: &TestApp, request: impl AsyncFn()) -> u64 {
    let mut fewest = u64::MAX;
    for _ in 0..3 {
        let before = db_queries(app).await;
        request().await;
        fewest = fewest.min(db_queries(app).await - before);
    }
    fewest
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_datasets_costs_the_same_queries_for_10_and_100() {
    // The signer only wakes on appends; none happen here.
    let app = TestApp::spawn_with(|c| c.checkpoint_interval_ms = 3_600_000).await;
    app.institution("city").await;
    app.institution("other").await;
    let city = app.token("city", "publisher").await;
    let other = app.token("other", "publisher").await;
    let create = async |from: usize, to: usize| {
        for i in from..to {
            let token = if i % 2 == 0 { &city } else { &other };
            app.dataset(token, &format!("d{i:03}"), "public", json!({}))
                .await;
        }
    };
    let graphql = async |n: usize| {
        let d = data(
            &app,
            None,
            "query($n: Int) { datasets(first: $n) { nodes { slug checkpoint { size rootHash } institution { slug name } } } }",
            json!({"n": n}),
        )
        .await;
        let nodes = d["datasets"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), n);
        assert!(
            nodes
                .iter()
                .all(|n| n["checkpoint"]["size"] == 0 && n["institution"]["name"].is_string()),
            "{d}"
        );
    };
    let rest = async |n: usize| {
        let r = app.get(&format!("/v1/datasets?limit={n}"), None).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["datasets"].as_array().unwrap().len(), n);
    };
    create(0, 10).await;
    let graphql_10 = queries_per_request(&app, async || graphql(10).await).await;
    let rest_10 = queries_per_request(&app, async || rest(10).await).await;
    create(10, 100).await;
    let graphql_100 = queries_per_request(&app, async || graphql(100).await).await;
    let rest_100 = queries_per_request(&app, async || rest(100).await).await;
    assert!(graphql_10 > 0 && rest_10 > 0, "the counter counts");
    assert_eq!(
        graphql_10, graphql_100,
        "GraphQL queries grow with the page"
    );
    assert_eq!(rest_10, rest_100, "REST queries grow with the page");
    eprintln!("statements per request: GraphQL {graphql_10}, REST {rest_10}");
}

#[test]
fn the_committed_sdl_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == civicproof_api::graphql::sdl(),
        "openapi/schema.graphql is stale; regenerate it with:\n  ./run graphql   (or: cargo run -p civicproof-api -- graphql-sdl > openapi/schema.graphql)"
    );
}

/// A token revoked without any notice reaching this process (here: straight in the
/// database, as a replica cut off from the bus would see it) still loses the socket at its
/// next operation: every operation resolves the token again, `issueToken` included.
#[tokio::test(flavor = "multi_thread")]
async fn every_websocket_operation_checks_the_token_again() {
    let w = World::new().await;
    let app = &w.app;
    let d = data(app, Some(ADMIN_TOKEN), ISSUE_PUBLISHER, json!({})).await;
    let token = d["issueToken"]["token"].as_str().unwrap().to_owned();
    let mut ws = Ws::connect(app, Some(&token)).await;
    let first = ws.operation("a", ISSUE, json!({"role": "READER"})).await;
    assert_eq!(first["type"], "next", "{first}");
    assert!(first["payload"]["data"]["issueToken"]["token"].is_string());
    app.db.execute(&format!(
        "UPDATE tokens SET revoked_at = {} WHERE id = '{}'",
        app.db.timestamp(chrono::Utc::now()),
        d["issueToken"]["id"].as_str().unwrap()
    ));
    ws.send(json!({"id": "b", "type": "subscribe", "payload": {"query": ISSUE, "variables": {"role": "READER"}}}))
        .await;
    let (code, before) = ws.until_closed().await;
    assert_eq!(code, Some(4403), "{before:?}");
    for m in &before {
        assert!(m["payload"]["data"]["issueToken"].is_null(), "minted: {m}");
    }
}

const ISSUE_PUBLISHER: &str =
    r#"mutation { issueToken(institution: "city", role: PUBLISHER, label: "ws") { id token } }"#;

/// Each operation on a socket counts against the token's rate limit like an HTTP request.
#[tokio::test(flavor = "multi_thread")]
async fn websocket_operations_count_against_the_rate_limit() {
    let app = TestApp::spawn_with(|c| {
        c.cluster.rate_limit_reader =
            civicproof_api::cluster::config::RateSpec::per(3, Duration::from_secs(60));
    })
    .await;
    app.institution("city").await;
    let reader = app.token("city", "reader").await;
    let mut ws = Ws::connect(&app, Some(&reader)).await;
    let mut codes = Vec::new();
    for i in 0..6 {
        let m = ws
            .operation(&format!("q{i}"), "{ __typename }", json!({}))
            .await;
        codes.push(
            m["payload"]["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("ok")
                .to_owned(),
        );
    }
    assert_eq!(codes[..3], ["ok", "ok", "ok"], "{codes:?}");
    assert!(codes[3..].iter().all(|c| c == "rate-limited"), "{codes:?}");
}

/// A connection holds at most 16 live subscriptions; completing one frees its place.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_holds_a_bounded_number_of_subscriptions() {
    let w = World::new().await;
    let mut ws = Ws::connect(&w.app, None).await;
    for i in 0..16 {
        ws.subscribe(&format!("s{i}"), "air", None).await;
    }
    ws.subscribe("extra", "air", None).await;
    let refused = loop {
        let m = ws.recv().await.expect("open");
        if m["id"] == "extra" {
            break m;
        }
    };
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "rate-limited",
        "{refused}"
    );
    ws.send(json!({"id": "s0", "type": "complete"})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    ws.subscribe("again", "air", None).await;
    w.app
        .publish_ok(&w.publisher, "city", "air", &json!([{"payload": {"n": 1}}]))
        .await;
    let mut got_again = false;
    for _ in 0..40 {
        let m = ws.recv().await.expect("open");
        if m["id"] == "again" {
            assert_eq!(m["type"], "next", "{m}");
            got_again = true;
            break;
        }
    }
    assert!(
        got_again,
        "the freed place was not given to a new subscription"
    );
}

/// The defect: one anonymous document of ~600 aliased `records(payload: …) { totalCount }`
/// fields ran 600 scans at once, took the whole pool, and everyone else got 503. Aliases
/// now pay for their filters statically, and at run time one operation uses at most two
/// connections at once and ten scans in all, so other callers are served throughout.
#[tokio::test(flavor = "multi_thread")]
async fn aliased_scans_cannot_take_the_pool_from_other_callers() {
    let app = TestApp::spawn_with(|c| c.db_pool_size = 4).await;
    app.institution("city").await;
    let p = app.token("city", "publisher").await;
    app.dataset(&p, "air", "public", json!({})).await;
    for chunk in 0..4 {
        let batch: Vec<Value> = (0..2_500)
            .map(|i| json!({"payload": {"sensor": format!("s{}", i % 7), "n": chunk * 2_500 + i}}))
            .collect();
        app.publish_ok(&p, "city", "air", &Value::from(batch)).await;
    }
    let fields = |n: usize, with_payload: bool| {
        (0..n)
            .map(|i| {
                let filter = if with_payload {
                    format!(r#", payload: {{sensor: "s{}"}}"#, i % 7)
                } else {
                    String::new()
                };
                format!("a{i}: records(first: 1{filter}) {{ totalCount }}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    // 600 payload-filtered aliases: refused before anything runs.
    let q = format!(
        r#"{{ dataset(institution: "city", slug: "air") {{ {} }} }}"#,
        fields(600, true)
    );
    assert!(q.len() < 64 * 1024);
    let body = gql(&app, None, &q, json!({})).await;
    assert_eq!(
        first_code(&body),
        "bad-request",
        "{}",
        &body.to_string()[..300]
    );
    assert!(body["data"].is_null());

    // 300 plain counts fit the static cost; at run time only ten counts run, two at a time,
    // and the REST reads of another caller meanwhile all succeed.
    let q = format!(
        r#"{{ dataset(institution: "city", slug: "air") {{ {} }} }}"#,
        fields(300, false)
    );
    let heavy = gql(&app, None, &q, json!({}));
    let others = async {
        let mut statuses = Vec::new();
        for _ in 0..40 {
            let r = app.get("/v1/datasets/city/air/records?limit=5", None).await;
            statuses.push(r.status().as_u16());
        }
        statuses
    };
    let (body, statuses) = tokio::join!(heavy, others);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let counted = (0..300)
        .filter(|i| body["data"]["dataset"][format!("a{i}")]["totalCount"] == 10_000)
        .count();
    assert_eq!(counted, 10, "ten counts ran");
    let refused = body["errors"].as_array().unwrap();
    assert_eq!(refused.len(), 290);
    assert!(
        refused[0]["message"]
            .as_str()
            .unwrap()
            .contains("asks too much of the database"),
        "{}",
        refused[0]
    );
}
