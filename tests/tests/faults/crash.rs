//! `kill -9` of the server during sustained ingest with Idempotency-Keys, cycle after cycle:
//! zero acknowledged records lost, zero duplicates, every proof verifies, and the checkpoints
//! signed before and after each crash are consistent.

use crate::campaign::{Mode, report};
use crate::load::{Publisher, check_ledger, sample, verify_proofs};
use civicproof_tests::support::{TestApp, pinned_trust};
use civicproof_verify::consistency;
use serde_json::json;
use std::time::{Duration, Instant};

const ORIGIN: &str = "test.civicproof.example/city/air";

#[tokio::test(flavor = "multi_thread")]
async fn server_killed_during_ingest() {
    let mode = Mode::get();
    let cycles = mode.pick(5, 50);
    let mut app = TestApp::spawn_process_with(|c| c.checkpoint_interval_ms = 100).await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    let trust = pinned_trust(&app).await;
    let publishers: Vec<Publisher> = (0..2)
        .map(|k| {
            Publisher::start(
                app.base.clone(),
                token.clone(),
                "city/air",
                (k, 2),
                50,
                Duration::ZERO,
            )
        })
        .collect();

    let mut checkpoints: Vec<(u64, String)> = Vec::new();
    let mut downtime = Duration::ZERO;
    let mut seed = 0x2545_f491_u64;
    for _ in 0..cycles {
        // Run a while (random 300-900 ms), note the signed checkpoint, then crash.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(300 + seed % 600)).await;
        if let Some(c) = checkpoint(&app).await {
            checkpoints.push(c);
        }
        app.kill9();
        let down = Instant::now();
        app.start_again().await;
        downtime += down.elapsed();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut ledgers = Vec::new();
    for p in publishers {
        ledgers.push(p.stop().await);
    }
    let refs: Vec<_> = ledgers.iter().collect();
    let checked = check_ledger(&app, "city/air", &refs).await;
    assert_eq!(checked.lost, 0, "acknowledged records lost");
    assert_eq!(checked.duplicated, 0, "records appended twice");

    // Checkpoints across every crash: each consistent with the next, and with the newest.
    let newest = wait_checkpoint_of(&app, checked.entries).await;
    checkpoints.push(newest);
    checkpoints.dedup_by_key(|c| c.0);
    let mut proofs = 0;
    for w in checkpoints.windows(2) {
        let (first, second) = (w[0].0, w[1].0);
        if first == 0 || first > second {
            continue;
        }
        let body = app
            .get(
                &format!("/v1/datasets/city/air/consistency?first={first}&second={second}"),
                None,
            )
            .await
            .bytes()
            .await
            .unwrap();
        let response = consistency::parse_response(&body).unwrap();
        consistency::verify(&response, &trust.public_key, ORIGIN)
            .unwrap_or_else(|f| panic!("{first}..{second}: {}", f.reason));
        proofs += 1;
    }
    let step = mode.pick(97, 13);
    let verified = verify_proofs(
        &app,
        "city/air",
        ORIGIN,
        &trust,
        sample(checked.entries, step),
    )
    .await;
    let batches: usize = ledgers.iter().map(|l| l.acked.len()).sum();
    let replayed: u64 = ledgers.iter().map(|l| l.replayed).sum();
    let mut retried = std::collections::BTreeMap::new();
    for l in &ledgers {
        for (s, n) in &l.retried {
            *retried.entry(*s).or_insert(0) += n;
        }
    }
    report(
        "kill -9 during ingest",
        &format!("{cycles} SIGKILLs of the server, 2 publishers retrying with Idempotency-Keys"),
        json!({
            "kills": cycles,
            "batches_acknowledged": batches,
            "records": checked.entries,
            "lost": checked.lost,
            "duplicated": checked.duplicated,
            "acks_that_were_replays": replayed,
            "retries_by_status": retried,
            "consistency_proofs_verified": proofs,
            "bundles_verified": verified,
            "mean_restart_ms": downtime.as_millis() as u64 / cycles.max(1) as u64,
        }),
        "0 acknowledged records lost, 0 duplicates, every checked proof and consistency proof verifies",
    );
}

/// The newest signed checkpoint: (size, note).
async fn checkpoint(app: &TestApp) -> Option<(u64, String)> {
    let r = app.get("/v1/datasets/city/air/checkpoint", None).await;
    if r.status() != 200 {
        return None;
    }
    let note = r.text().await.ok()?;
    let size = note.lines().nth(1)?.parse().ok()?;
    Some((size, note))
}

/// Waits until the newest checkpoint covers `size` entries.
async fn wait_checkpoint_of(app: &TestApp, size: u64) -> (u64, String) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(c) = checkpoint(app).await
            && c.0 >= size
        {
            return c;
        }
        assert!(Instant::now() < until, "no checkpoint of size {size}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
