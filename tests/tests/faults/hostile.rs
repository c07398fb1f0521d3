//! Bodies built to exhaust memory: four 32 MiB requests at once, each of millions of tiny
//! records (bad ones, then valid ones). The server's resident memory stays within 64 MiB of
//! idle while they are in flight, and each is answered with a bounded problem.

use crate::campaign::{Mode, report};
use civicproof_tests::support::{TestApp, rss_kib};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const BODY_BYTES: usize = 32 * 1024 * 1024 - 1024;

#[tokio::test(flavor = "multi_thread")]
async fn hostile_bodies_keep_memory_bounded() {
    let mode = Mode::get();
    let app = TestApp::spawn_process_with(|_| {}).await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    // `[1,1,1,…]`: every element a bad record.
    let mut ones = Vec::with_capacity(BODY_BYTES);
    ones.extend_from_slice(b"[1");
    while ones.len() < BODY_BYTES - 2 {
        ones.extend_from_slice(b",1");
    }
    ones.push(b']');
    // `{"payload":{}}` lines: every line a valid record, far past the record limit.
    let line = b"{\"payload\":{}}\n";
    let tiny: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(BODY_BYTES / line.len() * line.len())
        .collect();
    let mut figures = serde_json::Map::new();
    for (name, body, ct) in [
        ("ones", ones, "application/json"),
        ("tiny_valid_records", tiny, "application/x-ndjson"),
    ] {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle = rss_kib(app.pid());
        let peak = Arc::new(AtomicU64::new(idle));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done, pid) = (peak.clone(), done.clone(), app.pid());
            tokio::spawn(async move {
                while !done.load(Ordering::SeqCst) {
                    peak.fetch_max(rss_kib(pid), Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        let body = bytes::Bytes::from(body);
        let mut sends = Vec::new();
        for i in 0..4 {
            let (client, url, token, body) = (
                app.client.clone(),
                app.url("/v1/datasets/city/air/records"),
                token.clone(),
                body.clone(),
            );
            sends.push(tokio::spawn(async move {
                let started = std::time::Instant::now();
                let r = client
                    .post(url)
                    .bearer_auth(token)
                    .header("content-type", ct)
                    .header("idempotency-key", format!("hostile-{name}-{i}"))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let len = r.bytes().await.unwrap().len();
                (status, len, started.elapsed())
            }));
        }
        let mut answers = Vec::new();
        for s in sends {
            answers.push(s.await.unwrap());
        }
        done.store(true, Ordering::SeqCst);
        sampler.await.unwrap();
        let above_idle_mib = (peak.load(Ordering::SeqCst).saturating_sub(idle)) as f64 / 1024.0;
        for (status, len, _) in &answers {
            assert_eq!(*status, 422);
            assert!(*len < 20_000, "a problem of {len} bytes");
        }
        assert!(
            above_idle_mib < 64.0,
            "{name}: resident memory rose {above_idle_mib:.1} MiB above idle"
        );
        let slowest = answers.iter().map(|a| a.2).max().unwrap();
        figures.insert(
            name.into(),
            json!({
                "peak_rss_mib_above_idle": (above_idle_mib * 10.0).round() / 10.0,
                "largest_answer_bytes": answers.iter().map(|a| a.1).max(),
                "slowest_answer_ms": slowest.as_millis() as u64,
            }),
        );
    }
    assert_eq!(app.entry_count("air"), 0);
    let _ = mode;
    report(
        "hostile bodies",
        "4 requests of 32 MiB at once: [1,1,…] (16 M bad records), then 2.2 M valid NDJSON records",
        serde_json::Value::Object(figures),
        "422 with at most 100 problems; resident memory < 64 MiB above idle while in flight",
    );
}
