//! Redis killed and started again under load, with two replicas (OS processes) sharing it
//! and PostgreSQL: no request fails (the docs promise a fallback to PostgreSQL and process
//! memory, and a rate limiter that fails open), and an erasure made while Redis is down
//! reaches both replicas' caches at once.

use crate::campaign::{Mode, report};
use crate::load::{Publisher, check_ledger};
use civicproof_tests::support::{RedisServer, TestApp};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn redis_killed_under_load() {
    let mode = Mode::get();
    let cycles = mode.pick(2, 10);
    let mut redis = RedisServer::start().await;
    let url = redis.url();
    let a = TestApp::spawn_process_with(|c| c.cluster.redis_url = Some(url)).await;
    let b = a.replica().await;
    a.institution("city").await;
    let token = a.token("city", "publisher").await;
    a.dataset(&token, "air", "public", json!({})).await;
    let publisher = Publisher::start(
        b.base.clone(),
        token.clone(),
        "city/air",
        (0, 1),
        10,
        Duration::from_millis(50),
    );
    while publisher.sent.load(std::sync::atomic::Ordering::Relaxed) < 2 * cycles as u64 + 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let statuses: Arc<Mutex<std::collections::BTreeMap<u16, u64>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for base in [a.base.clone(), b.base.clone()] {
        let (statuses, stop) = (statuses.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let path = match i % 3 {
                    0 => format!("/v1/datasets/city/air/records/{}/proof", i % 20),
                    1 => "/v1/datasets/city/air/records?limit=50".to_owned(),
                    _ => format!("/v1/datasets/city/air/records/{}", i % 20),
                };
                let status = match client.get(format!("{base}{path}")).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                *statuses.lock().unwrap().entry(status).or_default() += 1;
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    let mut reach = Vec::new();
    for cycle in 0..cycles {
        tokio::time::sleep(Duration::from_secs(1)).await;
        redis.kill();
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Erase record `cycle` (10 records a batch: its payload has `"i": cycle`) through A.
        let seq = cycle as u64 * 10;
        let r = a
            .post_json(
                &format!("/v1/datasets/city/air/records/{seq}/erasure"),
                Some(&token),
                &json!({"reason": "legal-erasure"}),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let erased = Instant::now();
        for app in [&a, &b] {
            let until = Instant::now() + Duration::from_secs(5);
            loop {
                let bundle: serde_json::Value = app
                    .get_json(&format!("/v1/datasets/city/air/records/{seq}/proof"), None)
                    .await;
                if bundle["payload"].is_null() {
                    break;
                }
                assert!(
                    Instant::now() < until,
                    "record {seq} still served with its payload"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        reach.push(erased.elapsed());
        tokio::time::sleep(Duration::from_millis(1000)).await;
        redis.resume().await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for r in readers {
        r.await.unwrap();
    }
    let ledger = publisher.stop().await;
    let statuses = statuses.lock().unwrap().clone();
    let failed: u64 = statuses
        .iter()
        .filter(|(s, _)| **s != 200)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(failed, 0, "reads failed: {statuses:?}");
    assert!(
        ledger.retried.is_empty(),
        "publishes failed: {:?}",
        ledger.retried
    );
    let checked = check_ledger(&a, "city/air", &[&ledger]).await;
    // Erasure entries carry no payload batch: only records are compared.
    assert_eq!((checked.lost, checked.duplicated), (0, 0));
    let worst = reach.iter().max().copied().unwrap_or_default();
    report(
        "Redis killed under load, two replicas",
        &format!("{cycles} SIGKILLs of Redis, an erasure through one replica while it is down"),
        json!({
            "kills": cycles,
            "reads_by_status": statuses,
            "publishes_retried": ledger.retried.values().sum::<u64>(),
            "records": checked.entries,
            "worst_ms_until_both_replicas_serve_the_erasure": worst.as_millis() as u64,
        }),
        "no request failed; erasures reached both replicas' caches with Redis down",
    );
}
