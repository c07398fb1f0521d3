//! Subscriptions, and the rules of a WebSocket: every operation checks its token and
//! counts against the rate limit; a connection's subscriptions are bounded.

use super::Ws;
use super::writes::{ERASE, ISSUE, PUBLISH};
use super::{data, publish_many, seqs};
use crate::support::{ADMIN_TOKEN, TestApp, World};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

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
    let base = app.live_followers().await;
    let mut ws = Ws::connect(app, None).await;
    ws.subscribe("live", "air", None).await;
    app.until_followers(base + 1).await;
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
    let base = app.live_followers().await;
    let mut ws = Ws::connect(app, Some(&w.reader)).await;
    ws.subscribe("in", "cards", None).await;
    let mut replay = Ws::connect(app, Some(&w.reader)).await;
    replay
        .send(json!({"id": "r", "type": "subscribe", "payload": {
            "query": "subscription { recordPublished(institution: \"city\", dataset: \"cards\", afterSeq: 0) { seq payload } }"}}))
        .await;
    app.until_followers(base + 2).await;
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
    let base = app.live_followers().await;
    let mut outsider = Ws::connect(app, None).await;
    outsider.subscribe("o", "air", Some(1)).await;
    app.until_followers(base + 1).await;
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
    let base = app.live_followers().await;
    let mut ws = Ws::connect(app, Some(&token)).await;
    ws.subscribe("rv", "cards", None).await;
    app.until_followers(base + 1).await;
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

pub(crate) const ISSUE_PUBLISHER: &str =
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
    let base = w.app.live_followers().await;
    let mut ws = Ws::connect(&w.app, None).await;
    for i in 0..16 {
        ws.subscribe(&format!("s{i}"), "air", None).await;
    }
    w.app.until_followers(base + 16).await;
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
    w.app.until_followers_at_most(base + 15).await;
    ws.subscribe("again", "air", None).await;
    w.app.until_followers(base + 16).await;
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
