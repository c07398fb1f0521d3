//! PostgreSQL stopped and started again under load (a private server this scenario owns):
//! while it is down requests answer 503 (never 500, never a hang past the pool's wait),
//! and within 5 s of its return the server serves again; nothing acknowledged is lost.

use crate::campaign::{Mode, report};
use crate::load::{Publisher, check_ledger, sample, verify_proofs};
use civicproof_tests::support::{PgCluster, TestApp, pinned_trust};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ORIGIN: &str = "test.civicproof.example/city/air";

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarted_under_load() {
    let mode = Mode::get();
    let cycles = mode.pick(2, 10);
    let down_for = mode.pick(Duration::from_secs(2), Duration::from_secs(5));
    let pg = tokio::task::spawn_blocking(PgCluster::start).await.unwrap();
    let db = pg.database("faults");
    let app = TestApp::spawn_process_on(db, |c| c.checkpoint_interval_ms = 100).await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    let trust = pinned_trust(&app).await;
    let publisher = Publisher::start(
        app.base.clone(),
        token.clone(),
        "city/air",
        (0, 1),
        20,
        Duration::from_millis(20),
    );
    // Record 0 exists and is checkpointed before the reader starts.
    while publisher.sent.load(std::sync::atomic::Ordering::Relaxed) == 0
        || app
            .get("/v1/datasets/city/air/records/0/proof", None)
            .await
            .status()
            != 200
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A reader polling three routes, noting when each answer came and its status.
    let seen: Arc<Mutex<Vec<(Instant, u16)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (base, seen, stop) = (app.base.clone(), seen.clone(), stop.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap();
            let paths = [
                "/v1/datasets/city/air",
                "/v1/datasets/city/air/records?limit=20",
                "/v1/datasets/city/air/records/0/proof",
            ];
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let status = match client.get(format!("{base}{}", paths[i % 3])).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                seen.lock().unwrap().push((Instant::now(), status));
                i += 1;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let mut outages = Vec::new();
    let mut recoveries = Vec::new();
    for _ in 0..cycles {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let down = Instant::now();
        let cluster = &pg;
        tokio::task::block_in_place(|| cluster.stop(false));
        tokio::time::sleep(down_for).await;
        tokio::task::block_in_place(|| cluster.start_again());
        let up = Instant::now();
        // Serving again: the next answer of the reader after `up` that is a 200.
        let recovered = loop {
            if let Some(t) = seen
                .lock()
                .unwrap()
                .iter()
                .find(|(t, s)| *t > up && *s == 200)
                .map(|(t, _)| *t)
            {
                break t;
            }
            assert!(up.elapsed() < Duration::from_secs(30), "never served again");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        recoveries.push(recovered - up);
        outages.push((down, up));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    reader.await.unwrap();
    let ledger = publisher.stop().await;
    let seen = seen.lock().unwrap().clone();
    let mut by_status = std::collections::BTreeMap::new();
    for (t, s) in &seen {
        *by_status.entry(*s).or_insert(0u64) += 1;
        if *s != 200 {
            let during = outages
                .iter()
                .any(|(down, up)| *t >= *down && *t <= *up + Duration::from_secs(5));
            assert!(
                *s == 503 && during,
                "status {s} {} outside an outage (or not 503)",
                if during { "during" } else { "" }
            );
        }
    }
    let worst = recoveries.iter().max().copied().unwrap_or_default();
    assert!(
        worst <= Duration::from_secs(5),
        "served again only after {worst:?}"
    );
    let checked = check_ledger(&app, "city/air", &[&ledger]).await;
    assert_eq!((checked.lost, checked.duplicated), (0, 0));
    let verified = verify_proofs(
        &app,
        "city/air",
        ORIGIN,
        &trust,
        sample(checked.entries, 50),
    )
    .await;
    report(
        "PostgreSQL restarted under load",
        &format!(
            "{cycles} stops of PostgreSQL for {} s, a reader and a publisher running",
            down_for.as_secs()
        ),
        json!({
            "restarts": cycles,
            "reads_by_status": by_status,
            "worst_ms_to_serve_again": worst.as_millis() as u64,
            "records": checked.entries,
            "lost": checked.lost,
            "duplicated": checked.duplicated,
            "bundles_verified": verified,
        }),
        "only 503 while PostgreSQL is down, serving again within 5 s of its return, nothing lost",
    );
}
