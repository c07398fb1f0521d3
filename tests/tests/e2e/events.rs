//! Server-Sent Events in one process (no Redis): the format of API.md, resuming, heartbeats,
//! access rules.

use crate::support::*;
use serde_json::{Value, json};

fn batch(from: usize, n: usize) -> Value {
    Value::from(
        (from..from + n)
            .map(|i| json!({"key": format!("k{i}"), "payload": {"i": i}}))
            .collect::<Vec<_>>(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn events_follow_the_log_in_the_api_format_and_resume() {
    let w = World::new().await; // air holds seq 0
    let app = &w.app;
    let mut live = Sse::open(app, "/v1/datasets/city/air/events", None, &[]).await;
    let published = app
        .publish_ok(&w.publisher, "city", "air", &batch(1, 3))
        .await;
    let got = live.entries(3).await;
    assert_eq!(got.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [1, 2, 3]);
    for ((seq, record), entry) in got.iter().zip(&published) {
        // The record as read, exactly as `GET …/records/{seq}` serves it.
        let single: Value = app
            .get_json(&format!("/v1/datasets/city/air/records/{seq}"), None)
            .await;
        assert_eq!(record, &single);
        assert_eq!(record["leaf_hash"], entry["leaf_hash"]);
    }
    drop(live);
    // Resuming with Last-Event-ID or ?after= replays from the next seq, then goes live.
    app.publish_ok(&w.publisher, "city", "air", &batch(4, 2))
        .await;
    let mut resumed = Sse::open(
        app,
        "/v1/datasets/city/air/events",
        None,
        &[("last-event-id", "2")],
    )
    .await;
    let seqs: Vec<u64> = resumed.entries(3).await.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, [3, 4, 5]);
    app.publish_ok(&w.publisher, "city", "air", &batch(6, 1))
        .await;
    assert_eq!(resumed.entries(1).await[0].0, 6);
    let mut from_query = Sse::open(app, "/v1/datasets/city/air/events?after=0", None, &[]).await;
    let seqs: Vec<u64> = from_query
        .entries(6)
        .await
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    // An erasure is an entry too.
    let r = app
        .post_json(
            "/v1/datasets/city/air/records/1/erasure",
            Some(&w.publisher),
            &json!({"reason": "publisher-error"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let (seq, erasure) = from_query.entries(1).await.remove(0);
    assert_eq!(seq, 7);
    assert_eq!(erasure["envelope"]["kind"], "erasure");
    assert_eq!(erasure["envelope"]["erases"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_streams_carry_heartbeats() {
    let app = TestApp::spawn_with(|c| c.cluster.sse_heartbeat_ms = 200).await;
    app.institution("city").await;
    let p = app.token("city", "publisher").await;
    app.dataset(&p, "air", "public", json!({})).await;
    let mut s = Sse::open(&app, "/v1/datasets/city/air/events", None, &[]).await;
    // Two heartbeats (every 200 ms) on the idle stream, well within a second.
    tokio::time::timeout(std::time::Duration::from_secs(1), async {
        s.wait_for_comment().await;
        s.wait_for_comment().await;
    })
    .await
    .expect("two heartbeats within a second");
    // And the stream is still live.
    app.publish_ok(&p, "city", "air", &batch(0, 1)).await;
    assert_eq!(s.entries(1).await[0].0, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn restricted_events_need_a_reader_token_in_the_header() {
    let w = World::new().await;
    let app = &w.app;
    for token in [
        None,
        Some(w.other_reader.as_str()),
        Some(w.other_publisher.as_str()),
    ] {
        let r = app.get("/v1/datasets/city/cards/events", token).await;
        assert_problem(r, 404, "not-found").await;
    }
    // A token in the URL is never read.
    let r = app
        .get(
            &format!("/v1/datasets/city/cards/events?access_token={}", w.reader),
            None,
        )
        .await;
    assert_problem(r, 400, "bad-request").await;
    let r = app.get("/v1/datasets/city/air/events?after=x", None).await;
    assert_problem(r, 400, "bad-request").await;
    let r = app
        .request(reqwest::Method::GET, "/v1/datasets/city/air/events", None)
        .header("last-event-id", "nope")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "bad-request").await;
    let mut s = Sse::open(app, "/v1/datasets/city/cards/events", Some(&w.reader), &[]).await;
    app.publish_ok(&w.publisher, "city", "cards", &batch(0, 1))
        .await;
    assert_eq!(s.entries(1).await[0].0, 1);
}

/// Revoking a reader token ends its live streams at once, before anything more is
/// delivered, and the token is refused from then on.
#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_ends_its_streams_at_once() {
    let w = World::new().await;
    let app = &w.app;
    let issued: Value = app
        .post_json(
            "/v1/institutions/city/tokens",
            Some(&w.publisher),
            &json!({"role": "reader"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = issued["token"].as_str().unwrap();
    let mut s = Sse::open(app, "/v1/datasets/city/cards/events", Some(token), &[]).await;
    let r = app
        .request(
            reqwest::Method::DELETE,
            &format!(
                "/v1/institutions/city/tokens/{}",
                issued["id"].as_str().unwrap()
            ),
            Some(&w.publisher),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.publish_ok(&w.publisher, "city", "cards", &batch(0, 1))
        .await;
    let started = std::time::Instant::now();
    assert!(
        s.next().await.is_none(),
        "the stream delivered after revocation"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let r = app.get("/v1/datasets/city/cards/events", Some(token)).await;
    assert_problem(r, 401, "unauthorized").await;
}

/// One client holds at most `CIVICPROOF_MAX_STREAMS_PER_CLIENT` live streams per replica;
/// closing one frees its place.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_holds_a_bounded_number_of_live_streams() {
    let app = TestApp::spawn_with(|c| {
        c.cluster.max_streams_per_client = 3;
        // A closed stream is noticed at its next write.
        c.cluster.sse_heartbeat_ms = 200;
    })
    .await;
    app.institution("city").await;
    let p = app.token("city", "publisher").await;
    app.dataset(&p, "air", "public", json!({})).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(Sse::open(&app, "/v1/datasets/city/air/events", Some(&p), &[]).await);
    }
    let r = app.get("/v1/datasets/city/air/events", Some(&p)).await;
    assert_problem(r, 429, "rate-limited").await;
    // Another client (anonymous, by address) has its own places.
    let other = Sse::open(&app, "/v1/datasets/city/air/events", None, &[]).await;
    drop(open.pop());
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = app.get("/v1/datasets/city/air/events", Some(&p)).await;
        if r.status() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < until, "the place was not freed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(other);
}
