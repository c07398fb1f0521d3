//! The chain misbehaves under an anchoring server: it goes down for a while, a reorg of
//! depth 3 drops mined anchors, a transaction is dropped from the mempool. Anchors catch up
//! without a gap, anchoring never halts, and every bundle verifies online (step 8).

use crate::campaign::{Mode, report};
use crate::load::{Publisher, check_ledger, sample};
use civicproof_tests::chain::{Anvil, anchor_trust, anchoring, verify_online};
use civicproof_tests::support::{TestApp, pinned_trust};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ORIGIN: &str = "test.civicproof.example/city/air";

#[tokio::test(flavor = "multi_thread")]
async fn chain_down_reorged_and_dropping_transactions() {
    let mode = Mode::get();
    let outage = mode.pick(Duration::from_secs(15), Duration::from_secs(300));
    // Two slots an epoch: `finalized` trails the head by four blocks, so a reorg of depth 3
    // stays above finality, as a reorg on a real chain must (a deeper one undoes confirmed
    // anchors, which halts anchoring: see the anchoring tests).
    let mut anvil = Anvil::start_with(&["--slots-in-an-epoch", "2"]).await;
    let settings = anchoring(&anvil, 500);
    let app = TestApp::spawn_process_with(|c| {
        c.checkpoint_interval_ms = 200;
        c.anchor = settings;
    })
    .await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    let publisher = Publisher::start(
        app.base.clone(),
        token.clone(),
        "city/air",
        (0, 1),
        5,
        Duration::from_millis(200),
    );
    wait_anchored(&app, 0, Duration::from_secs(60)).await;

    // 1. The chain is down: publishing goes on, anchors catch up when it is back.
    anvil.stop().await;
    tokio::time::sleep(outage).await;
    let before_return = newest_seq(&app).await;
    anvil.resume().await;
    let back = Instant::now();
    wait_anchored(&app, before_return, Duration::from_secs(120)).await;
    let catch_up = back.elapsed();
    assert_never_halted(&app).await;

    // 2. A reorg of depth 3 drops whatever anchors the last three blocks held.
    let reorged_before = metric(&app, "reorged").await;
    let mut reorgs = 0;
    for _ in 0..mode.pick(2, 5) {
        tokio::time::sleep(Duration::from_secs(3)).await;
        anvil.rpc("anvil_reorg", json!([3, []])).await;
        reorgs += 1;
    }
    let at_reorg = newest_seq(&app).await;
    wait_anchored(&app, at_reorg, Duration::from_secs(120)).await;
    let reorged = metric(&app, "reorged").await - reorged_before;
    assert_never_halted(&app).await;

    // 3. A submitted anchor is dropped from the mempool: it is sent again and confirms.
    anvil.pause_mining(true).await;
    let dropped = loop {
        let all: Value = app.get_json("/v1/anchors?limit=1000", None).await;
        if let Some(b) = all["anchors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["status"] == "submitted")
        {
            break b["tx_hash"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    anvil.rpc("anvil_dropTransaction", json!([dropped])).await;
    anvil.pause_mining(false).await;
    let at_drop = newest_seq(&app).await;
    wait_anchored(&app, at_drop, Duration::from_secs(120)).await;
    assert_never_halted(&app).await;

    let ledger = publisher.stop().await;
    let checked = check_ledger(&app, "city/air", &[&ledger]).await;
    assert_eq!((checked.lost, checked.duplicated), (0, 0));
    let last = checked.entries - 1;
    wait_anchored(&app, last, Duration::from_secs(120)).await;
    // Batches are gapless and all confirmed.
    let all: Value = app.get_json("/v1/anchors?limit=1000", None).await;
    let anchors = all["anchors"].as_array().unwrap();
    for (i, b) in anchors.iter().enumerate() {
        assert_eq!(b["batch_seq"], i as u64);
    }
    let (trust, anchor) = (pinned_trust(&app).await, anchor_trust(&app).await);
    let mut verified = 0;
    for seq in sample(checked.entries, mode.pick(25, 7)) {
        let bytes = app
            .get(&format!("/v1/datasets/city/air/records/{seq}/proof"), None)
            .await
            .bytes()
            .await
            .unwrap()
            .to_vec();
        let report = verify_online(
            bytes,
            trust.clone(),
            anchor.clone(),
            anvil.url.clone(),
            ORIGIN,
            seq,
        )
        .await;
        assert!(report.ok(), "seq {seq}: {report:?}");
        verified += 1;
    }
    report(
        "the chain misbehaves",
        &format!(
            "chain down {} s, {reorgs} reorgs of depth 3, one anchor dropped from the mempool",
            outage.as_secs()
        ),
        json!({
            "outage_s": outage.as_secs(),
            "catch_up_ms_after_return": catch_up.as_millis() as u64,
            "reorgs": reorgs,
            "anchors_reorged_and_resent": reorged,
            "batches": anchors.len(),
            "records": checked.entries,
            "halts": 0,
            "bundles_verified_online": verified,
        }),
        "anchors catch up with no gap, no false halt, bundles verify on chain",
    );
}

/// Seq of the newest entry.
async fn newest_seq(app: &TestApp) -> u64 {
    let d: Value = app.get_json("/v1/datasets/city/air", None).await;
    d["entry_count"].as_u64().unwrap().saturating_sub(1)
}

/// Waits until the bundle of `seq` carries a confirmed anchor.
async fn wait_anchored(app: &TestApp, seq: u64, within: Duration) {
    let until = Instant::now() + within;
    loop {
        let r = app
            .get(&format!("/v1/datasets/city/air/records/{seq}/proof"), None)
            .await;
        if r.status() == 200 {
            let b: Value = r.json().await.unwrap();
            if !b["anchor"].is_null() {
                return;
            }
        }
        assert!(
            Instant::now() < until,
            "record {seq} not anchored in {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn assert_never_halted(app: &TestApp) {
    let halts = app.db.count("SELECT count(*) FROM anchor_halts");
    if halts > 0 {
        let r: Value = app.get_json("/readyz", None).await;
        panic!("anchoring halted: {}", r["chain"]);
    }
    let metrics = app.metrics_text().await;
    assert!(metrics.contains("civicproof_anchor_halted 0"), "{metrics}");
}

/// `anchor_batches_total{event}`.
async fn metric(app: &TestApp, event: &str) -> u64 {
    let text = app.metrics_text().await;
    text.lines()
        .find(|l| {
            l.starts_with("civicproof_anchor_batches_total") && l.contains(&format!("\"{event}\""))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}
