//! Demo-like traffic with short intervals (checkpoints every 100 ms, anchor batches every
//! 200 ms) for thousands of batches: never a halt, and the server's and the chain's resident
//! memory stay flat after warm-up (full mode: less than 10% growth).

use crate::campaign::{Mode, report};
use crate::load::Publisher;
use civicproof_tests::chain::{Anvil, anchoring};
use civicproof_tests::support::{TestApp, rss_kib};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn soak_with_short_intervals() {
    let mode = Mode::get();
    let target = mode.pick(150u64, 10_000);
    let anvil = Anvil::start_with(&["--prune-history", "64"]).await;
    let settings = anchoring(&anvil, 200);
    let app = TestApp::spawn_process_with(|c| {
        c.checkpoint_interval_ms = 100;
        c.anchor = settings;
    })
    .await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    let mut publishers = Vec::new();
    for ds in ["air", "trams", "meters"] {
        app.dataset(&token, ds, "public", json!({})).await;
        publishers.push(Publisher::start(
            app.base.clone(),
            token.clone(),
            &format!("city/{ds}"),
            (0, 1),
            5,
            Duration::from_millis(100),
        ));
    }
    let started = Instant::now();
    let warm_at = target / 10;
    let mut warm: Option<(u64, u64)> = None;
    let mut peak = (0u64, 0u64);
    let anvil_pid = anvil.pid().unwrap();
    loop {
        let confirmed = confirmed(&app).await;
        let now = (rss_kib(app.pid()), rss_kib(anvil_pid));
        peak = (peak.0.max(now.0), peak.1.max(now.1));
        if warm.is_none() && confirmed >= warm_at {
            warm = Some(now);
        }
        if confirmed >= target {
            break;
        }
        assert_eq!(
            app.db.count("SELECT count(*) FROM anchor_halts"),
            0,
            "anchoring halted after {confirmed} batches"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let elapsed = started.elapsed();
    let end = (rss_kib(app.pid()), rss_kib(anvil_pid));
    for p in publishers {
        p.stop().await;
    }
    let warm = warm.expect("warm-up measured");
    let growth = |w: u64, e: u64| (e as f64 - w as f64) / w as f64 * 100.0;
    let (server_growth, chain_growth) = (growth(warm.0, end.0), growth(warm.1, end.1));
    if mode == Mode::Full {
        assert!(
            server_growth < 10.0,
            "server memory grew {server_growth:.1}%"
        );
        assert!(chain_growth < 10.0, "chain memory grew {chain_growth:.1}%");
    }
    report(
        "soak: 100 ms checkpoints, 200 ms anchors",
        &format!("{target} anchor batches over three datasets with live publishing"),
        json!({
            "batches_confirmed": target,
            "minutes": (elapsed.as_secs_f64() / 60.0 * 10.0).round() / 10.0,
            "halts": 0,
            "server_rss_mib_after_warmup": warm.0 / 1024,
            "server_rss_mib_end": end.0 / 1024,
            "server_growth_pct": (server_growth * 10.0).round() / 10.0,
            "chain_rss_mib_after_warmup": warm.1 / 1024,
            "chain_rss_mib_end": end.1 / 1024,
            "chain_growth_pct": (chain_growth * 10.0).round() / 10.0,
            "peak_server_rss_mib": peak.0 / 1024,
        }),
        "no halt; memory flat after warm-up (< 10% growth, asserted in full mode)",
    );
}

/// `anchor_batches_total{event="confirmed"}`.
async fn confirmed(app: &TestApp) -> u64 {
    let text = app.metrics_text().await;
    text.lines()
        .find(|l| l.starts_with("civicproof_anchor_batches_total") && l.contains("\"confirmed\""))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}
