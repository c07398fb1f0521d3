//! Reads over GraphQL agree with REST.

use super::{
    ORIGIN, code_of, data, edge_seqs, first_code, gql, publish_many, seqs, wait_checkpointed,
};
use crate::support::{ADMIN_TOKEN, World, pinned_trust};
use civicproof_verify::bundle::{Expect, verify_bundle};
use serde_json::{Value, json};
use std::time::Duration;

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
    // The next record must be published strictly after `t` (millisecond timestamps).
    let t_ms = civicproof_verify::envelope::parse_published_at(&t).unwrap();
    while chrono::Utc::now().timestamp_millis() <= t_ms {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
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
