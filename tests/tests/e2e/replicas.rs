//! Two replicas on one PostgreSQL and one Redis (a redis-server of the test's own): replica A
//! runs in this test process, replica B is a `civicproof serve` OS process of its own
//! ([`TestApp::replica`]). Nothing but PostgreSQL and Redis is shared between them.

use crate::graphql::Ws;
use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

fn batch(from: usize, n: usize) -> Value {
    Value::from(
        (from..from + n)
            .map(|i| json!({"key": format!("k{}", i % 50), "payload": {"i": i}}))
            .collect::<Vec<_>>(),
    )
}

/// Replica A (with `tweak`) and replica B, both on `redis`, both subscribed to the bus.
async fn pair(
    redis: &RedisServer,
    tweak: impl FnOnce(&mut civicproof_api::Config),
) -> (TestApp, TestApp) {
    let url = redis.url();
    let a = TestApp::spawn_with(|c| {
        c.cluster.redis_url = Some(url);
        tweak(c);
    })
    .await;
    let b = a.replica().await;
    wait_redis(&a, true).await;
    wait_redis(&b, true).await;
    (a, b)
}

/// Waits until `/readyz` reports Redis up and the bus subscribed (or, `false`, down).
async fn wait_redis(app: &TestApp, up: bool) {
    for _ in 0..200 {
        let r = app.get("/readyz", None).await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "readiness follows the database only"
        );
        let body: Value = r.json().await.unwrap();
        let is_up = body["cache"]["redis"] == "up" && body["cache"]["subscribed"] == true;
        let is_down = body["cache"]["redis"] == "down";
        if (up && is_up) || (!up && is_down) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("redis did not become {}", if up { "up" } else { "down" });
}

/// Replica A reaches `redis` through a link the test can cut; replica B directly.
async fn cut_off_a(redis: &RedisServer) -> (TcpCut, TestApp, TestApp) {
    let cut = TcpCut::start(redis.port).await;
    let a = TestApp::spawn_with(|c| c.cluster.redis_url = Some(cut.redis_url())).await;
    let b = a
        .replica_with(|c| c.cluster.redis_url = Some(redis.url()))
        .await;
    (cut, a, b)
}

async fn city(app: &TestApp) -> String {
    app.institution("city").await;
    let p = app.token("city", "publisher").await;
    app.dataset(&p, "air", "public", json!({})).await;
    p
}

/// Publishes `batches` batches of 100 through `app` in a background task; returns the
/// leaf hashes in seq order.
fn publish_in_background(
    app: TestApp,
    token: String,
    batches: usize,
) -> tokio::task::JoinHandle<(TestApp, Vec<String>)> {
    tokio::spawn(async move {
        let mut hashes = Vec::new();
        for i in 0..batches {
            let entries = app
                .publish_ok(&token, "city", "air", &batch(i * 100, 100))
                .await;
            hashes.extend(
                entries
                    .iter()
                    .map(|e| e["leaf_hash"].as_str().unwrap().to_owned()),
            );
        }
        (app, hashes)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_on_one_replica_delivers_10000_entries_published_through_the_other_and_resumes() {
    let redis = RedisServer::start().await;
    let (a, b) = pair(&redis, |_| {}).await;
    let p = city(&a).await;
    let mut sse = Sse::open(&a, "/v1/datasets/city/air/events", None, &[]).await;
    let publisher = publish_in_background(b, p, 100);
    let first = sse.entries(4_000).await;
    drop(sse);
    let last = first.last().unwrap().0;
    let mut resumed = Sse::open(
        &a,
        "/v1/datasets/city/air/events",
        None,
        &[("last-event-id", &last.to_string())],
    )
    .await;
    let rest = resumed.entries(6_000).await;
    let (_b, hashes) = publisher.await.unwrap();
    let all: Vec<(u64, Value)> = first.into_iter().chain(rest).collect();
    assert_eq!(hashes.len(), 10_000);
    for (i, (seq, record)) in all.iter().enumerate() {
        assert_eq!(*seq, i as u64, "in order, without gaps or repeats");
        assert_eq!(record["leaf_hash"], hashes[i], "seq {i}");
        assert_eq!(record["envelope"]["seq"], i);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn graphql_subscription_on_one_replica_follows_the_other_and_resumes() {
    let redis = RedisServer::start().await;
    let (a, b) = pair(&redis, |_| {}).await;
    let p = city(&a).await;
    let mut ws = Ws::connect(&a, None).await;
    ws.subscribe("1", "air", None).await;
    // Live once A counts its follower: an entry appended before that would fall before the
    // subscription's start and never come (seen under load on SQLite).
    a.until_followers(1).await;
    let entries = b.publish_ok(&p, "city", "air", &batch(0, 1)).await;
    assert_eq!(ws.records("1", 1).await[0]["seq"], 0);
    let _ = entries;
    let publisher = publish_in_background(b, p, 100);
    let first = ws.records("1", 4_000).await;
    drop(ws);
    let last = first.last().unwrap()["seq"].as_u64().unwrap();
    let mut ws = Ws::connect(&a, None).await;
    ws.subscribe("2", "air", Some(last)).await;
    let rest = ws.records("2", 10_000 - first.len()).await;
    let (_b, hashes) = publisher.await.unwrap();
    for (i, record) in first.iter().chain(&rest).enumerate() {
        assert_eq!(
            record["seq"],
            i as u64 + 1,
            "in order, without gaps or repeats"
        );
        assert_eq!(record["leafHash"], hashes[i]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_hold_across_replicas() {
    let redis = RedisServer::start().await;
    let (a, b) = pair(&redis, |c| {
        c.cluster.rate_limit_anonymous = "10/m".parse().unwrap();
        c.cluster.rate_limit_reader = "4/h".parse().unwrap();
    })
    .await;
    a.institution("city").await;
    let reader = a.token("city", "reader").await;
    let (mut ok, mut limited) = (0, 0);
    for i in 0..16 {
        let app = if i % 2 == 0 { &a } else { &b };
        let r = app.get("/v1/datasets", None).await;
        match r.status().as_u16() {
            200 => {
                ok += 1;
                assert_eq!(r.headers()["ratelimit-limit"], "10");
                assert_eq!(r.headers()["ratelimit-policy"], "10;w=60");
            }
            429 => {
                limited += 1;
                let retry: u64 = r.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=6).contains(&retry), "retry after {retry}");
                assert_eq!(r.headers()["ratelimit-remaining"], "0");
                assert!(r.headers().contains_key("ratelimit-reset"));
                assert_problem(r, 429, "rate-limited").await;
            }
            other => panic!("status {other}"),
        }
    }
    assert_eq!((ok, limited), (10, 6), "one budget for both replicas");
    // Tokens have their own budget per role, also shared.
    let statuses: Vec<u16> = futures_util::future::join_all((0..6).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let reader = reader.clone();
        async move {
            app.get("/v1/datasets", Some(&reader))
                .await
                .status()
                .as_u16()
        }
    }))
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
    // Health, readiness and metrics are never limited.
    for _ in 0..20 {
        assert_eq!(a.get("/healthz", None).await.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_idempotency_key_sent_to_both_replicas_at_once_appends_once() {
    let redis = RedisServer::start().await;
    let (a, b) = pair(&redis, |_| {}).await;
    let p = city(&a).await;
    for k in 0..20 {
        let key = format!("key-{k}");
        let body = batch(k, 3);
        let send = |app: &TestApp| {
            app.request(
                reqwest::Method::POST,
                "/v1/datasets/city/air/records",
                Some(&p),
            )
            .header("idempotency-key", &key)
            .json(&body)
            .send()
        };
        let (ra, rb) = tokio::join!(send(&a), send(&b));
        let mut created = Vec::new();
        for r in [ra.unwrap(), rb.unwrap()] {
            match r.status().as_u16() {
                201 => created.push(r.text().await.unwrap()),
                409 => {
                    assert_eq!(r.headers()["retry-after"], "1");
                    assert_problem(r, 409, "idempotency-key-in-flight").await;
                }
                other => panic!("status {other}: {}", r.text().await.unwrap()),
            }
        }
        assert!(!created.is_empty());
        if created.len() == 2 {
            assert_eq!(created[0], created[1], "the retry replays the first answer");
        }
        // Afterwards both replicas replay it.
        let replay_a = send(&a).await.unwrap();
        let replay_b = send(&b).await.unwrap();
        assert_eq!(replay_a.status(), 201);
        assert_eq!(replay_b.status(), 201);
        assert_eq!(replay_a.text().await.unwrap(), created[0]);
        assert_eq!(replay_b.text().await.unwrap(), created[0]);
    }
    assert_eq!(a.entry_count("air"), 60, "every key appended exactly once");
}

/// Reads events up to `seq` (others publish too), asserting they are consecutive from
/// `from` (or from the first one seen); returns the next seq expected.
async fn until(sse: &mut Sse, seq: u64, from: Option<u64>) -> u64 {
    let mut next = from;
    loop {
        let (s, _) = sse.entries(1).await.remove(0);
        if let Some(n) = next {
            assert_eq!(s, n, "no gaps or repeats");
        }
        next = Some(s + 1);
        if s == seq {
            return s + 1;
        }
    }
}

fn metric(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{{labels}}}")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn metrics(app: &TestApp) -> String {
    app.get("/metrics", Some(ADMIN_TOKEN))
        .await
        .text()
        .await
        .unwrap()
}

async fn bundle_hits(app: &TestApp) -> f64 {
    let m = metrics(app).await;
    metric(
        &m,
        "civicproof_cache_requests_total",
        "cache=\"bundles\",result=\"local\"",
    ) + metric(
        &m,
        "civicproof_cache_requests_total",
        "cache=\"bundles\",result=\"redis\"",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_redis_under_load_fails_no_request_and_everything_resumes() {
    let mut redis = RedisServer::start().await;
    let (a, b) = pair(&redis, |_| {}).await;
    let p = city(&a).await;
    a.publish_ok(&p, "city", "air", &batch(0, 10)).await;
    assert_eq!(
        a.get("/v1/datasets/city/air/records/9/proof", None)
            .await
            .status(),
        200
    );
    let a = std::sync::Arc::new(a);
    let b = std::sync::Arc::new(b);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut load = Vec::new();
    for (n, app) in [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
    {
        let (stop, done, p) = (stop.clone(), done.clone(), p.clone());
        load.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let r = match i % 4 {
                    0 => app
                        .request(
                            reqwest::Method::POST,
                            "/v1/datasets/city/air/records",
                            Some(&p),
                        )
                        .header("idempotency-key", format!("load-{n}-{i}"))
                        .json(&batch(i, 1))
                        .send()
                        .await
                        .unwrap(),
                    1 => {
                        app.get(
                            &format!("/v1/datasets/city/air/records/{}/proof", i % 10),
                            None,
                        )
                        .await
                    }
                    2 => app.get("/v1/datasets/city/air/records?limit=5", None).await,
                    _ => app.get("/v1/datasets/city/air", Some(&p)).await,
                };
                if !r.status().is_success() {
                    failures.push(format!("{} {}", r.status(), r.text().await.unwrap()));
                }
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            (i, failures)
        }));
    }
    // Each phase runs under at least 50 more requests of the load.
    let under_load = || async {
        let target = done.load(std::sync::atomic::Ordering::Relaxed) + 50;
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while done.load(std::sync::atomic::Ordering::Relaxed) < target {
            assert!(std::time::Instant::now() < until, "the load stalled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    under_load().await;
    redis.kill();
    wait_redis(&a, false).await;
    wait_redis(&b, false).await;
    // Live feeds keep flowing across replicas from PostgreSQL while the bus is down.
    let mut sse = Sse::open(&a, "/v1/datasets/city/air/events", None, &[]).await;
    let published = b.publish_ok(&p, "city", "air", &batch(0, 1)).await;
    let mut expect = until(&mut sse, published[0]["seq"].as_u64().unwrap(), None).await;
    under_load().await;
    redis.resume().await;
    wait_redis(&a, true).await;
    wait_redis(&b, true).await;
    under_load().await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for task in load {
        let (n, failures) = task.await.unwrap();
        total += n;
        assert!(failures.is_empty(), "failed requests: {failures:?}");
    }
    assert!(total > 100, "load ran ({total} requests)");
    // Fan-out over the bus resumed.
    let published = b.publish_ok(&p, "city", "air", &batch(0, 1)).await;
    expect = until(
        &mut sse,
        published[0]["seq"].as_u64().unwrap(),
        Some(expect),
    )
    .await;
    let _ = expect;
    // Caching resumed: a bundle computed on A is then served from a cache on B and A.
    let before_a = bundle_hits(&a).await;
    let before_b = bundle_hits(&b).await;
    // At a fixed signed size (replicas may know different newest checkpoints for a moment).
    let newest: Value = a
        .get_json("/v1/datasets/city/air/records/3/proof", None)
        .await;
    let path = format!(
        "/v1/datasets/city/air/records/3/proof?tree_size={}",
        newest["inclusion"]["tree_size"]
    );
    let first = a.get(&path, None).await.text().await.unwrap();
    // A stores what it computed in Redis after answering: B serves it from there once it is.
    let until = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        assert_eq!(b.get(&path, None).await.text().await.unwrap(), first);
        if bundle_hits(&b).await > before_b {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "B never served A's bundle from a cache"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(a.get(&path, None).await.text().await.unwrap(), first);
    assert!(bundle_hits(&a).await > before_a);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_an_erasure_no_replica_serves_the_payload_from_any_cache() {
    let redis = RedisServer::start().await;
    let (a, b) = pair(&redis, |_| {}).await;
    let p = city(&a).await;
    a.publish_ok(
        &p,
        "city",
        "air",
        &json!([{"key": "x", "payload": {"secret": "erase-me"}}, {"payload": {"n": 1}}]),
    )
    .await;
    let proof = "/v1/datasets/city/air/records/0/proof";
    let tlog = "/v1/datasets/city/air/records/0/proof?format=tlog-proof";
    let feed = "/v1/datasets/city/air/records?limit=10";
    for app in [&a, &b, &a, &b] {
        for path in [proof, tlog, feed, "/v1/datasets/city/air/records/0"] {
            let r = app.get(path, None).await;
            assert_eq!(r.status(), 200, "{path}");
        }
    }
    assert!(
        bundle_hits(&a).await >= 2.0 && bundle_hits(&b).await >= 2.0,
        "bundles were cached"
    );
    let old_tlog = a.get(tlog, None).await.text().await.unwrap();
    let r = a
        .post_json(
            "/v1/datasets/city/air/records/0/erasure",
            Some(&p),
            &json!({"reason": "legal-erasure"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    // A third replica starting now would see Redis only.
    let c = a.replica().await;
    for app in [&b, &a, &c] {
        let bundle: Value = app.get(proof, None).await.json().await.unwrap();
        assert!(
            bundle["payload"].is_null() && bundle["salt"].is_null(),
            "{bundle}"
        );
        assert_eq!(bundle["erasure"]["envelope"]["erases"], 0);
        let page = app.get(feed, None).await.text().await.unwrap();
        assert!(!page.contains("erase-me"), "{page}");
        let one = app
            .get("/v1/datasets/city/air/records/0", None)
            .await
            .text()
            .await
            .unwrap();
        assert!(!one.contains("erase-me"));
        // The tlog-proof of the record is the same proof against a newer checkpoint.
        let t = app.get(tlog, None).await.text().await.unwrap();
        assert!(t.starts_with("c2sp.org/tlog-proof@v1\nindex 0\n"));
        let _ = &old_tlog;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cached_proof_never_differs_from_a_freshly_computed_one() {
    let redis = RedisServer::start().await;
    let (a, b) = pair(&redis, |_| {}).await;
    let p = city(&a).await;
    a.publish_ok(&p, "city", "air", &batch(0, 37)).await;
    a.publish_ok(&p, "city", "air", &batch(37, 20)).await;
    assert_eq!(
        a.get("/v1/datasets/city/air/records/56/proof", None)
            .await
            .status(),
        200
    );
    a.post_json(
        "/v1/datasets/city/air/records/5/erasure",
        Some(&p),
        &json!({"reason": "other"}),
    )
    .await;
    assert_eq!(
        a.get("/v1/datasets/city/air/records/57/proof", None)
            .await
            .status(),
        200
    );
    // A server with no cache at all, on the same database.
    let fresh = a
        .replica_with(|c| {
            c.cluster.redis_url = None;
            c.cluster.bundle_cache_entries = 0;
        })
        .await;
    let before = bundle_hits(&a).await + bundle_hits(&b).await;
    for seq in [0, 5, 17, 36, 37, 56, 57] {
        for q in ["", "?format=tlog-proof", "?tree_size=57"] {
            let path = format!("/v1/datasets/city/air/records/{seq}/proof{q}");
            let want = fresh.get(&path, None).await;
            let want_status = want.status();
            let want_etag = want.headers().get("etag").cloned();
            let want_body = want.bytes().await.unwrap();
            // Twice on each replica: computed or from Redis, then from memory.
            for app in [&a, &b, &a, &b] {
                let got = app.get(&path, None).await;
                assert_eq!(got.status(), want_status, "{path}");
                assert_eq!(got.headers().get("etag").cloned(), want_etag, "{path}");
                assert_eq!(got.bytes().await.unwrap(), want_body, "{path}");
            }
        }
    }
    assert!(bundle_hits(&a).await + bundle_hits(&b).await > before + 30.0);
}

async fn feed_hits(app: &TestApp) -> f64 {
    let m = metrics(app).await;
    metric(
        &m,
        "civicproof_cache_requests_total",
        "cache=\"feed_pages\",result=\"local\"",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn cached_feed_pages_follow_appends_on_any_replica() {
    let redis = RedisServer::start().await;
    let (a, b) = pair(&redis, |_| {}).await;
    let p = city(&a).await;
    a.publish_ok(&p, "city", "air", &batch(0, 5)).await;
    let page = "/v1/datasets/city/air/records?limit=100";
    let first = a.get(page, None).await.text().await.unwrap();
    let hits = feed_hits(&a).await;
    assert_eq!(a.get(page, None).await.text().await.unwrap(), first);
    assert_eq!(
        feed_hits(&a).await,
        hits + 1.0,
        "the second read is a cache hit"
    );
    for round in 0..5 {
        // Appended through B: A's next read of the same page includes it at once.
        let entries = b.publish_ok(&p, "city", "air", &batch(5 + round, 1)).await;
        let seq = entries[0]["seq"].as_u64().unwrap();
        let mut seen = false;
        for _ in 0..50 {
            let body: Value = a.get(page, None).await.json().await.unwrap();
            let seqs: Vec<u64> = body["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["envelope"]["seq"].as_u64().unwrap())
                .collect();
            assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
            if seqs.contains(&seq) {
                seen = true;
                break;
            }
            // Only for as long as the bus takes to say B appended.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(seen, "seq {seq} on A's page");
    }
}

/// The defect of a long run: the erasing replica could not reach Redis and then restarted,
/// so its queued purge was lost, and the other replica kept serving the erased payload from
/// process memory (no expiry) and Redis (24 h). The invalidation outbox reaches every cache
/// of every replica anyway.
#[tokio::test(flavor = "multi_thread")]
async fn an_erasure_reaches_every_replica_when_the_eraser_lost_redis_and_restarted() {
    let redis = RedisServer::start().await;
    let (cut, a, b) = cut_off_a(&redis).await;
    // C keeps no process-memory bundles: it serves what Redis holds.
    let c = a
        .replica_with(|c| {
            c.cluster.redis_url = Some(redis.url());
            c.cluster.bundle_cache_entries = 0;
        })
        .await;
    for app in [&a, &b, &c] {
        wait_redis(app, true).await;
    }
    let p = city(&a).await;
    a.publish_ok(
        &p,
        "city",
        "air",
        &json!([{"key": "x", "payload": {"secret": "erase-me"}}, {"payload": {"n": 1}}]),
    )
    .await;
    let proof = "/v1/datasets/city/air/records/0/proof";
    let feed = "/v1/datasets/city/air/records?limit=10";
    for app in [&b, &b, &c, &c] {
        for path in [proof, feed] {
            assert!(
                app.get(path, None)
                    .await
                    .text()
                    .await
                    .unwrap()
                    .contains("erase-me")
            );
        }
    }
    assert!(
        bundle_hits(&b).await >= 1.0,
        "B serves the bundle from memory"
    );

    cut.cut();
    wait_redis(&a, false).await;
    let r = a
        .post_json(
            "/v1/datasets/city/air/records/0/erasure",
            Some(&p),
            &json!({"reason": "legal-erasure"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    // A restarts: whatever it queued in memory is gone (it owns the test database, which
    // must outlive B and C).
    let a = a.restart().await;
    let until = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut stale = Vec::new();
        for (name, app) in [("B", &b), ("C", &c)] {
            for path in [proof, feed] {
                let r = app.get(path, None).await;
                assert_eq!(r.status(), 200, "{name} {path}");
                if r.text().await.unwrap().contains("erase-me") {
                    stale.push(format!("{name} {path}"));
                }
            }
        }
        if stale.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "still served after the erasure: {stale:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Healed, A serves from Redis again and nothing stale either.
    cut.restore();
    wait_redis(&a, true).await;
    assert!(
        !a.get(proof, None)
            .await
            .text()
            .await
            .unwrap()
            .contains("erase-me")
    );
}

/// Redis pub/sub delivers at most once: a notice lost on the way (here the publishing
/// replica has lost Redis, so its PUBLISH fails) must not stall a follower on another
/// replica until the next append. An idle follower reads the database every two seconds
/// (`services::events::IDLE_RECHECK`), so the entry arrives within about that.
#[tokio::test(flavor = "multi_thread")]
async fn a_follower_gets_an_entry_whose_bus_notice_was_lost() {
    let redis = RedisServer::start().await;
    let (cut, a, b) = cut_off_a(&redis).await;
    wait_redis(&a, true).await;
    wait_redis(&b, true).await;
    let p = city(&a).await;
    let mut sse = Sse::open(&b, "/v1/datasets/city/air/events", None, &[]).await;
    // Live across replicas: the first entry comes over the bus.
    a.publish_ok(&p, "city", "air", &batch(0, 1)).await;
    assert_eq!(sse.entries(1).await[0].0, 0);

    cut.cut();
    wait_redis(&a, false).await;
    let entries = a.publish_ok(&p, "city", "air", &batch(1, 1)).await;
    let got = tokio::time::timeout(Duration::from_secs(6), sse.entries(1))
        .await
        .expect("the entry arrives within the idle recheck (2 s) and a margin");
    assert_eq!(got[0].0, 1);
    assert_eq!(got[0].1["leaf_hash"], entries[0]["leaf_hash"]);
    cut.restore();
}
