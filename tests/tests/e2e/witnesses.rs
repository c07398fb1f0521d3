//! Witness cosigning (PROTOCOL.md section 10) with real `civicproof witness` processes: every
//! new checkpoint is submitted over C2SP tlog-witness and the returned `cosignature/v1` lines
//! are served with it; a verifier pinning a k-of-n witness policy checks them at step 4. A
//! witness that is down or refusing never holds up publishing, and a refusal is counted.

use crate::support::*;
use civicproof_verify::bundle::{
    Expect, Report, Step, StepStatus, VerifyOptions, verify_bundle_with,
};
use civicproof_verify::checkpoint::{Checkpoint, verify_note};
use civicproof_verify::cosignature::{Witness, WitnessPolicy};
use civicproof_verify::note;
use serde_json::json;
use std::time::{Duration, Instant};

const BASE: &str = "/v1/datasets/city/air";

/// A server whose checkpoints go to `n` witnesses started for its instance (the server is
/// restarted once: witnesses need its key, and it needs theirs). Returns the publisher token.
async fn app_with_witnesses(n: usize) -> (TestApp, Vec<WitnessProcess>, String) {
    let app = TestApp::spawn().await;
    let trust = pinned_trust(&app).await;
    let key = base64_key(&trust.public_key);
    let mut witnesses = Vec::new();
    for i in 1..=n {
        witnesses
            .push(WitnessProcess::start(&format!("witness.test/w{i}"), &trust.prefix, &key).await);
    }
    let mut app = app;
    app.config.witnesses = witnesses
        .iter()
        .map(WitnessProcess::config_entry)
        .collect::<Vec<_>>()
        .join(", ");
    app.config.witness_timeout_ms = 2000;
    let app = app.restart().await;
    app.institution("city").await;
    let publisher = app.token("city", "publisher").await;
    app.dataset(&publisher, "air", "public", json!({})).await;
    (app, witnesses, publisher)
}

fn base64_key(key: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(key)
}

async fn publish(app: &TestApp, token: &str, n: usize, offset: usize) {
    let batch: Vec<_> = (0..n)
        .map(|i| json!({"key": format!("k{}", offset + i), "payload": {"i": offset + i}}))
        .collect();
    app.publish_ok(token, "city", "air", &json!(batch)).await;
}

fn policy(witnesses: &[&WitnessProcess], k: usize) -> WitnessPolicy {
    WitnessPolicy::new(
        witnesses
            .iter()
            .map(|w| Witness::from_vkey(&w.vkey).unwrap())
            .collect(),
        k,
    )
    .unwrap()
}

/// The newest checkpoint once it has `size` entries and `k` of `policy`'s cosignatures;
/// panics after 15 s.
async fn cosigned_checkpoint(app: &TestApp, size: u64, policy: &WitnessPolicy) -> String {
    let trust = pinned_trust(app).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = app
            .get(&format!("{BASE}/checkpoint"), None)
            .await
            .text()
            .await
            .unwrap();
        let (cp, parsed) = verify_note(text.as_bytes(), &trust.public_key).expect("log signature");
        if cp.size == size && policy.check(&parsed).is_ok() {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "checkpoint of size {size} cosigned within 15 s; last: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn bundle_report(app: &TestApp, seq: u64, policy: Option<&WitnessPolicy>) -> Report {
    let trust = pinned_trust(app).await;
    let r = app.get(&format!("{BASE}/records/{seq}/proof"), None).await;
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    verify_bundle_with(
        &bytes,
        &trust,
        &Expect {
            origin: format!("{}/city/air", trust.prefix),
            seq: Some(seq),
        },
        &VerifyOptions {
            witnesses: policy,
            ..VerifyOptions::default()
        },
    )
}

async fn server_count(app: &TestApp, witness: &str, outcome: &str) -> u64 {
    metric_value(
        &app.metrics_text().await,
        &format!(
            "civicproof_witness_submissions_total{{outcome=\"{outcome}\",witness=\"{witness}\"}}"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_checkpoint_is_cosigned_and_bundles_verify_under_a_witness_policy() {
    let (app, witnesses, publisher) = app_with_witnesses(2).await;
    let both = policy(&[&witnesses[0], &witnesses[1]], 2);
    publish(&app, &publisher, 3, 0).await;
    let first = cosigned_checkpoint(&app, 3, &both).await;
    // The witness serves what it cosigned to monitors, under SHA-256(origin).
    let trust = pinned_trust(&app).await;
    let origin = format!("{}/city/air", trust.prefix);
    let origin_hash = hex::encode(sha256(&[origin.as_bytes()]));
    let served = reqwest::get(format!("{}/{origin_hash}/checkpoint", witnesses[0].url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(served.starts_with(&format!("{origin}\n3\n")), "{served}");
    // A larger tree: the witnesses now need (and check) a consistency proof from 3.
    publish(&app, &publisher, 5, 3).await;
    let second = cosigned_checkpoint(&app, 8, &both).await;
    assert_ne!(first, second);
    for w in &witnesses {
        assert!(w.count("cosigned").await >= 2, "{}", w.log());
        assert_eq!(w.count("fork").await + w.count("bad_proof").await, 0);
        assert!(server_count(&app, &w.name, "cosigned").await >= 2);
    }
    // The checkpoint at a size is the cosigned note too; while witnesses may still add to it
    // (PROTOCOL.md section 10.3) it is not served as immutable.
    let at = app.get(&format!("{BASE}/checkpoints/8"), None).await;
    assert_eq!(
        at.headers()["cache-control"],
        "no-cache",
        "a fresh checkpoint must not be cached as immutable"
    );
    let at = at.text().await.unwrap();
    let parsed = note::parse(at.as_bytes()).unwrap();
    assert!(both.check(&parsed).is_ok(), "{at}");
    // A bundle verifies under the 2-of-2 policy; a policy pinning a stranger fails at step 4.
    let report = bundle_report(&app, 2, Some(&both)).await;
    assert!(report.ok(), "{report:?}");
    let stranger = WitnessPolicy::new(
        vec![
            Witness::new(
                "witness.test/stranger",
                ed25519_dalek::SigningKey::from_bytes(&[42; 32])
                    .verifying_key()
                    .to_bytes(),
            )
            .unwrap(),
        ],
        1,
    )
    .unwrap();
    let report = bundle_report(&app, 2, Some(&stranger)).await;
    assert_eq!(report.failed_step, Some(Step::CheckpointSignature as u8));
    let StepStatus::Fail(reason) = &report.of(Step::CheckpointSignature).unwrap().status else {
        panic!("{report:?}");
    };
    assert!(
        reason.contains("cosigned by 0 of the pinned witnesses, 1 required"),
        "{reason}"
    );
    // `civicproof monitor --log city/air --witness … --witness-threshold 2` follows the log over
    // tiles and accepts the checkpoint under the policy; under the stranger's policy it waits
    // (too few cosignatures is not a violation: a witness may be down).
    let trust = pinned_trust(&app).await;
    let follow = |policy: WitnessPolicy| {
        let (base, trust) = (app.base.clone(), trust.clone());
        tokio::task::spawn_blocking(move || {
            use civicproof_verify::monitor::{HttpServer, TileFollower, TileLogConfig};
            TileFollower::new(TileLogConfig {
                witnesses: Some(policy),
                audit_entries: true,
                ..TileLogConfig::for_dataset(&trust.prefix, "city", "air", trust.public_key)
            })
            .poll(&HttpServer::new(&base))
        })
    };
    let report = follow(both.clone()).await.unwrap().unwrap().unwrap();
    assert_eq!(report.to, 8);
    assert_eq!(report.entries_checked, 8);
    let mut names = report.cosigned_by.clone();
    names.sort();
    assert_eq!(names, ["witness.test/w1", "witness.test/w2"]);
    match follow(stranger).await.unwrap() {
        Err(civicproof_verify::monitor::MonitorError::Server(why)) => {
            assert!(
                why.contains("cosigned by 0 of the pinned witnesses"),
                "{why}"
            )
        }
        other => panic!("expected a wait for cosignatures, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_that_is_down_never_blocks_publishing_and_its_absence_shows() {
    let (app, mut witnesses, publisher) = app_with_witnesses(2).await;
    let (w1, w2) = (&witnesses[0], &witnesses[1]);
    let (one, both) = (policy(&[w1], 1), policy(&[w1, w2], 2));
    let w2_name = w2.name.clone();
    witnesses[1].kill();
    let started = Instant::now();
    publish(&app, &publisher, 4, 0).await;
    cosigned_checkpoint(&app, 4, &one).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    // The bundle has one cosignature: 1-of-1 passes, 2-of-2 fails, naming the count.
    assert!(bundle_report(&app, 1, Some(&one)).await.ok());
    let report = bundle_report(&app, 1, Some(&both)).await;
    assert_eq!(
        report.failed_step,
        Some(Step::CheckpointSignature as u8),
        "{report:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while server_count(&app, &w2_name, "unavailable").await == 0 {
        assert!(
            Instant::now() < deadline,
            "the unavailable witness is counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Back up (same key and state): the next checkpoint carries both cosignatures.
    witnesses[1].restart().await;
    publish(&app, &publisher, 2, 4).await;
    cosigned_checkpoint(&app, 6, &both).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_remembers_across_restarts_and_refuses_a_fork_of_what_it_cosigned() {
    let (app, mut witnesses, publisher) = app_with_witnesses(1).await;
    let only = policy(&[&witnesses[0]], 1);
    publish(&app, &publisher, 5, 0).await;
    cosigned_checkpoint(&app, 5, &only).await;
    // SIGKILL and restart: the witness still knows size 5, so a fork of it is refused.
    witnesses[0].restart().await;
    let trust = pinned_trust(&app).await;
    let origin = format!("{}/city/air", trust.prefix);
    let log_key = civicproof_api::logkey::LogKey::load_or_create(&app.config.log_key_file).unwrap();
    let forged = Checkpoint {
        origin: origin.clone(),
        size: 5,
        root: [7; 32],
    }
    .sign(log_key.signing_key());
    let r = witnesses[0]
        .add_checkpoint(format!("old 5\n\n{forged}"))
        .await;
    assert_eq!(r.status(), 422, "same size, another root");
    let r = witnesses[0]
        .add_checkpoint(format!("old 0\n\n{forged}"))
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.headers()["content-type"], "text/x.tlog.size");
    assert_eq!(r.text().await.unwrap(), "5\n");
    assert_eq!(witnesses[0].count("fork").await, 1);
    assert!(
        witnesses[0].log().contains("ALERT"),
        "the refusal is an alert: {}",
        witnesses[0].log()
    );
    // The honest log goes on being cosigned after the restart.
    publish(&app, &publisher, 3, 5).await;
    cosigned_checkpoint(&app, 8, &only).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_witness_is_an_alert_and_a_metric_and_publishing_goes_on() {
    let (app, witnesses, publisher) = app_with_witnesses(1).await;
    let w = &witnesses[0];
    // Before the log's first checkpoint reaches it, the witness is fed a fork of size 1,
    // validly signed with the log key (as a compromised operator could).
    let trust = pinned_trust(&app).await;
    let origin = format!("{}/city/air", trust.prefix);
    let log_key = civicproof_api::logkey::LogKey::load_or_create(&app.config.log_key_file).unwrap();
    let fork = Checkpoint {
        origin,
        size: 1,
        root: [9; 32],
    }
    .sign(log_key.signing_key());
    let r = w.add_checkpoint(format!("old 0\n\n{fork}")).await;
    assert_eq!(r.status(), 200);
    // The real log: the witness answers 409 (size 1), then 422 to the proof from 1.
    publish(&app, &publisher, 4, 0).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while server_count(&app, &w.name, "refused_inconsistent").await == 0 {
        assert!(
            Instant::now() < deadline,
            "the refusal is counted by the server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The witness cannot tell this from a wrong proof: it is counted (and alerted) as one.
    assert!(w.count("bad_proof").await >= 1);
    // Publishing and signing are unaffected; the checkpoint simply has no cosignature.
    publish(&app, &publisher, 2, 4).await;
    let report = bundle_report(&app, 5, None).await;
    assert!(report.ok(), "{report:?}");
    let report = bundle_report(&app, 5, Some(&policy(&[w], 1))).await;
    assert_eq!(report.failed_step, Some(Step::CheckpointSignature as u8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_while_a_witness_hangs_resumes_cosigning_from_the_witness_s_size() {
    // The server as an OS process, so that SIGKILL takes its in-flight submission with it.
    let mut app = TestApp::spawn_process_with(|c| c.witness_timeout_ms = 3000).await;
    let trust = pinned_trust(&app).await;
    let mut w = WitnessProcess::start(
        "witness.test/w1",
        &trust.prefix,
        &base64_key(&trust.public_key),
    )
    .await;
    app.config.witnesses = w.config_entry();
    app.kill9();
    app.start_again().await;
    app.institution("city").await;
    let publisher = app.token("city", "publisher").await;
    app.dataset(&publisher, "air", "public", json!({})).await;
    let one = policy(&[&w], 1);
    publish(&app, &publisher, 3, 0).await;
    cosigned_checkpoint(&app, 3, &one).await;

    // The witness takes the next submission and says nothing; the server dies meanwhile.
    w.pause(true);
    publish(&app, &publisher, 2, 3).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.db.count("SELECT max(size) FROM checkpoints") < 5 {
        assert!(
            Instant::now() < deadline,
            "checkpoint 5 signed while the witness hangs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.kill9();
    w.pause(false);
    app.start_again().await;

    // The restarted server knows nothing of the witness's size: it learns it from a 409 and
    // goes on with a proof from there. The dead server's request for 5 may or may not have
    // reached the witness (it was frozen with it in its socket); either way the witness ends
    // at 7, having cosigned for the new process, and saw no fork.
    publish(&app, &publisher, 2, 5).await;
    cosigned_checkpoint(&app, 7, &one).await;
    assert!(server_count(&app, &w.name, "conflict").await >= 1);
    assert!(server_count(&app, &w.name, "cosigned").await >= 1);
    let origin_hash = hex::encode(sha256(&[format!("{}/city/air", trust.prefix).as_bytes()]));
    let held = reqwest::get(format!("{}/{origin_hash}/checkpoint", w.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(held.contains("\n7\n"), "the witness holds size 7: {held}");
    assert_eq!(
        w.count("fork").await + w.count("bad_proof").await,
        0,
        "{}",
        w.log()
    );
    assert!(bundle_report(&app, 6, Some(&one)).await.ok());
    w.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_agree_when_a_cosigned_note_settles_whatever_their_own_witness_settings() {
    let (app, witnesses, publisher) = app_with_witnesses(1).await;
    let one = policy(&[&witnesses[0]], 1);
    // Replica B was configured without witnesses (a slip an operator can make) and does not
    // sign on its own: it only serves what A signed.
    let b = app
        .replica_with(|c| {
            c.witnesses = String::new();
            c.checkpoint_interval_ms = 3_600_000;
        })
        .await;
    publish(&app, &publisher, 3, 0).await;
    cosigned_checkpoint(&app, 3, &one).await;
    for replica in [&app, &b] {
        let at = replica.get(&format!("{BASE}/checkpoints/3"), None).await;
        assert_eq!(
            at.headers()["cache-control"],
            "no-cache",
            "{}: the note may still gain cosignatures (its stored window is open)",
            replica.base
        );
        let text = at.text().await.unwrap();
        assert!(
            one.check(&note::parse(text.as_bytes()).unwrap()).is_ok(),
            "{text}"
        );
        let proof = replica
            .get(&format!("{BASE}/consistency?first=3&second=3"), None)
            .await;
        assert_eq!(proof.status(), 200);
        assert_ne!(
            proof.headers()["cache-control"],
            "public, max-age=31536000, immutable",
            "a consistency answer carries the notes, which may still change"
        );
    }
    // Once the window and the skew margin have passed (moved back in the database rather
    // than waited for), both serve it as immutable.
    app.db.execute(&format!(
        "UPDATE checkpoints SET cosign_until = {} WHERE size = 3",
        app.db
            .timestamp(chrono::Utc::now() - chrono::Duration::seconds(120))
    ));
    for replica in [&app, &b] {
        let at = replica.get(&format!("{BASE}/checkpoints/3"), None).await;
        assert_eq!(
            at.headers()["cache-control"],
            "public, max-age=31536000, immutable",
            "{}",
            replica.base
        );
    }
}
