//! Proof bundles, checkpoints and consistency proofs, verified end to end with the verify
//! crate (PROTOCOL.md sections 3, 4, 6 and 7); tampering in PostgreSQL fails at the right step.

use crate::support::{TestApp, assert_problem};
use civicproof_verify::bundle::{Expect, Report, Step, StepStatus, Trust, verify_bundle};
use civicproof_verify::{checkpoint, merkle};
use reqwest::Method;
use serde_json::{Value, json};

const ORIGIN: &str = "test.civicproof.example/city/air";
const BASE: &str = "/v1/datasets/city/air";

async fn setup(n: usize) -> (TestApp, String) {
    let app = TestApp::spawn_with(|c| c.checkpoint_interval_ms = 200).await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    publish(&app, &token, 0, n).await;
    (app, token)
}

async fn publish(app: &TestApp, token: &str, from: usize, to: usize) {
    let batch: Vec<Value> = (from..to)
        .map(|i| json!({"key": format!("k{}", i % 5), "payload": {"i": i, "pm10": i as f64 / 4.0}}))
        .collect();
    if !batch.is_empty() {
        app.publish_ok(token, "city", "air", &Value::from(batch))
            .await;
    }
}

async fn bundle(app: &TestApp, seq: u64) -> Vec<u8> {
    let r = app.get(&format!("{BASE}/records/{seq}/proof"), None).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.civicproof.bundle+json"
    );
    r.bytes().await.unwrap().to_vec()
}

fn verify(bytes: &[u8], trust: &Trust, seq: u64) -> Report {
    verify_bundle(
        bytes,
        trust,
        &Expect {
            origin: ORIGIN.into(),
            seq: Some(seq),
        },
        None,
    )
}

/// Verifies a consistency answer: both notes under the pinned key, then the RFC 9162 proof.
fn assert_consistent(c: &Value, trust: &Trust) {
    let note = |k: &str| {
        checkpoint::verify_note(c[k].as_str().unwrap().as_bytes(), &trust.public_key)
            .unwrap()
            .0
    };
    let (a, b) = (note("first_checkpoint"), note("second_checkpoint"));
    let path: Vec<Vec<u8>> = c["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hex::decode(h.as_str().unwrap()).unwrap())
        .collect();
    merkle::verify_consistency(a.size, b.size, &a.root, &b.root, &path).unwrap();
}

fn failed_at(report: &Report) -> Option<u8> {
    report.failed_step
}

#[tokio::test(flavor = "multi_thread")]
async fn every_published_record_has_a_bundle_that_verifies() {
    let (app, _) = setup(37).await;
    let trust = crate::support::pinned_trust(&app).await;
    for seq in 0..37 {
        let b = bundle(&app, seq).await;
        let report = verify(&b, &trust, seq);
        assert!(report.ok(), "seq {seq}: {report:?}");
        let parsed: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(parsed["inclusion"]["tree_size"], 37);
        assert_eq!(parsed["anchor"], Value::Null);
    }
    // The same bundle for another seq or dataset fails at binding (step 5).
    let b = bundle(&app, 3).await;
    assert_eq!(failed_at(&verify(&b, &trust, 4)), Some(5));
    let other = verify_bundle(
        &b,
        &trust,
        &Expect {
            origin: "test.civicproof.example/city/water".into(),
            seq: Some(3),
        },
        None,
    );
    assert_eq!(failed_at(&other), Some(5));
    // A different pinned key fails the signature (step 4).
    let wrong = Trust {
        prefix: trust.prefix.clone(),
        public_key: [9u8; 32],
    };
    assert_eq!(failed_at(&verify(&b, &wrong, 3)), Some(4));
    // Dataset metadata names the newest checkpoint.
    let ds: Value = app.get(BASE, None).await.json().await.unwrap();
    let note = ds["checkpoint"].as_str().unwrap();
    let (cp, _) = checkpoint::verify_note(note.as_bytes(), &trust.public_key).unwrap();
    assert_eq!((cp.origin.as_str(), cp.size), (ORIGIN, 37));
}

#[tokio::test(flavor = "multi_thread")]
async fn proofs_at_every_signed_size_and_tlog_proof_text() {
    let (app, token) = setup(5).await;
    let trust = crate::support::pinned_trust(&app).await;
    // Wait for checkpoint 5, then grow the log; older checkpoints stay servable.
    bundle(&app, 4).await;
    publish(&app, &token, 5, 12).await;
    let b = bundle(&app, 11).await;
    assert!(verify(&b, &trust, 11).ok());
    let r = app
        .get(&format!("{BASE}/records/2/proof?tree_size=5"), None)
        .await;
    assert_eq!(r.status(), 200);
    let b5 = r.bytes().await.unwrap();
    assert!(verify(&b5, &trust, 2).ok());
    assert_eq!(
        serde_json::from_slice::<Value>(&b5).unwrap()["inclusion"]["tree_size"],
        5
    );
    assert_problem(
        app.get(&format!("{BASE}/records/2/proof?tree_size=6"), None)
            .await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.get(&format!("{BASE}/records/7/proof?tree_size=5"), None)
            .await,
        422,
        "validation-failed",
    )
    .await;
    assert_problem(
        app.get(&format!("{BASE}/records/2/proof?tree_size=x"), None)
            .await,
        400,
        "bad-request",
    )
    .await;
    assert_problem(
        app.get(&format!("{BASE}/records/99/proof"), None).await,
        404,
        "not-found",
    )
    .await;
    // tlog-proof text carries the same path and checkpoint.
    let text = app
        .get(
            &format!("{BASE}/records/2/proof?format=tlog-proof&tree_size=5"),
            None,
        )
        .await
        .text()
        .await
        .unwrap();
    let (index, path, note) = civicproof_verify::tlog_proof::parse(&text).unwrap();
    let parsed: Value = serde_json::from_slice(&b5).unwrap();
    assert_eq!(index, 2);
    assert_eq!(note, parsed["checkpoint"].as_str().unwrap());
    let hex_path: Vec<String> = path.iter().map(hex::encode).collect();
    assert_eq!(Value::from(hex_path), parsed["inclusion"]["path"]);
    // Checkpoints by size are immutable and cacheable.
    let r = app.get(&format!("{BASE}/checkpoints/5"), None).await;
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = r.headers()["etag"].clone();
    assert_eq!(r.text().await.unwrap(), note);
    let r = app
        .request(Method::GET, &format!("{BASE}/checkpoints/5"), None)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    // If-None-Match compares weakly (RFC 9110).
    let weak = format!("W/{}", etag.to_str().unwrap());
    let r = app
        .request(Method::GET, &format!("{BASE}/checkpoints/5"), None)
        .header("if-none-match", weak)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_problem(
        app.get(&format!("{BASE}/checkpoints/6"), None).await,
        404,
        "not-found",
    )
    .await;
    let zero = app
        .get(&format!("{BASE}/checkpoints/0"), None)
        .await
        .text()
        .await
        .unwrap();
    let (cp0, _) = checkpoint::verify_note(zero.as_bytes(), &trust.public_key).unwrap();
    assert_eq!((cp0.size, cp0.root), (0, merkle::empty_root()));
}

#[tokio::test(flavor = "multi_thread")]
async fn consistency_proofs_follow_the_spec_checks_and_statuses() {
    let (app, token) = setup(5).await;
    let trust = crate::support::pinned_trust(&app).await;
    bundle(&app, 4).await;
    publish(&app, &token, 5, 23).await;
    bundle(&app, 22).await;
    let r = app
        .get(&format!("{BASE}/consistency?first=5&second=23"), None)
        .await;
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    assert!(!c["path"].as_array().unwrap().is_empty());
    assert_consistent(&c, &trust);
    let same: Value = app
        .get_json(&format!("{BASE}/consistency?first=5&second=5"), None)
        .await;
    assert_eq!(same["path"], json!([]));
    for (q, status, code) in [
        ("first=5", 400, "bad-request"),
        ("first=a&second=5", 400, "bad-request"),
        ("first=-1&second=5", 400, "bad-request"),
        ("first=23&second=5", 422, "validation-failed"),
        ("first=0&second=5", 422, "validation-failed"),
        ("first=0&second=0", 422, "validation-failed"),
        ("first=4&second=5", 404, "not-found"),
        ("first=5&second=24", 404, "not-found"),
    ] {
        assert_problem(
            app.get(&format!("{BASE}/consistency?{q}"), None).await,
            status,
            code,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erased_record_verifies_as_erased() {
    let (app, token) = setup(4).await;
    let trust = crate::support::pinned_trust(&app).await;
    let r = app
        .request(
            Method::POST,
            &format!("{BASE}/records/1/erasure"),
            Some(&token),
        )
        .json(&json!({"reason": "court-order"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let b = bundle(&app, 1).await;
    let parsed: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        (parsed["payload"].clone(), parsed["salt"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(parsed["erasure"]["envelope"]["seq"], 4);
    let report = verify(&b, &trust, 1);
    assert!(report.ok(), "{report:?}");
    assert!(
        matches!(
            report.of(Step::Payload).unwrap().status,
            StepStatus::Erased { seq: 4, .. }
        ),
        "{report:?}"
    );
    // The tlog-proof form is the record's inclusion proof alone.
    let r = app
        .get(&format!("{BASE}/records/1/proof?format=tlog-proof"), None)
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .starts_with("c2sp.org/tlog-proof@v1\nindex 1\n")
    );
    // The erasure entry itself has an ordinary bundle.
    assert!(verify(&bundle(&app, 4).await, &trust, 4).ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn tampering_in_the_database_fails_bundles_at_the_right_step() {
    let (primary, _) = setup(8).await;
    // Rows rewritten behind the server's back are not erasures: a bundle cache would hide
    // them, so this server computes every bundle afresh.
    let app = primary
        .replica_with(|c| c.cluster.bundle_cache_entries = 0)
        .await;
    let trust = crate::support::pinned_trust(&app).await;
    bundle(&app, 7).await;
    // A rewritten payload: the digest no longer matches (step 2).
    app.db
        .execute("UPDATE entries SET payload = '{\"i\":2,\"pm10\":999}' WHERE seq = 2");
    assert_eq!(
        failed_at(&verify(&bundle(&app, 2).await, &trust, 2)),
        Some(2)
    );
    // A rewritten leaf hash: it no longer matches the envelope (step 3).
    app.db.execute(&format!(
        "UPDATE entries SET leaf_hash = {} WHERE seq = 3",
        app.db.blob(&crate::support::sha256(&[b"forged"]))
    ));
    assert_eq!(
        failed_at(&verify(&bundle(&app, 3).await, &trust, 3)),
        Some(3)
    );
    // A rewritten key (envelope) together with a recomputed leaf hash: the signed root
    // does not include it (step 6), and neighbours whose path uses it fail too.
    app.db
        .execute("UPDATE entries SET key = 'forged' WHERE seq = 5");
    let b5 = bundle(&app, 5).await;
    let v: Value = serde_json::from_slice(&b5).unwrap();
    let leaf = merkle::leaf_hash(&civicproof_verify::jcs::canonicalize(&v["envelope"]));
    app.db.execute(&format!(
        "UPDATE entries SET leaf_hash = {} WHERE seq = 5",
        app.db.blob(&leaf)
    ));
    assert_eq!(
        failed_at(&verify(&bundle(&app, 5).await, &trust, 5)),
        Some(6)
    );
    assert_eq!(
        failed_at(&verify(&bundle(&app, 4).await, &trust, 4)),
        Some(6),
        "the sibling's path holds the forged leaf"
    );
    // Untouched records far from the forgery still verify.
    assert!(verify(&bundle(&app, 0).await, &trust, 0).ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_tree_node_halts_signing_for_that_origin() {
    let (app, token) = setup(8).await;
    bundle(&app, 7).await;
    app.db.execute(&format!(
        "UPDATE tree_nodes SET hash = {} WHERE level = 3 AND idx = 0",
        app.db.blob(&crate::support::sha256(&[b"forged"]))
    ));
    publish(&app, &token, 8, 9).await;
    let r = app.get(&format!("{BASE}/records/8/proof"), None).await;
    assert_problem(r, 409, "not-yet-checkpointed").await;
    assert_eq!(app.db.count("SELECT count(*) FROM halted_origins"), 1);
    assert_eq!(
        app.db.count("SELECT max(size) FROM checkpoints"),
        8,
        "nothing inconsistent was signed"
    );
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("civicproof_signing_halts_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_signer_checkpoints_growth_within_the_interval() {
    let (app, token) = setup(1).await;
    let sizes = [1usize, 11, 21, 31];
    for (i, &size) in sizes.iter().enumerate() {
        if i > 0 {
            publish(&app, &token, sizes[i - 1], size).await;
        }
        let started = std::time::Instant::now();
        while app
            .db
            .count("SELECT coalesce(max(size), 0) FROM checkpoints")
            < size as i64
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "no checkpoint at {size}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    // Every signed size is consistent with the next.
    for w in sizes.windows(2) {
        let r = app
            .get(
                &format!("{BASE}/consistency?first={}&second={}", w[0], w[1]),
                None,
            )
            .await;
        assert_eq!(r.status(), 200, "{w:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_restart_old_and_new_proofs_verify_and_history_stays_consistent() {
    let (app, token) = setup(10).await;
    let trust = crate::support::pinned_trust(&app).await;
    let before = bundle(&app, 9).await;
    assert!(verify(&before, &trust, 9).ok());
    let app = app.restart().await;
    assert_eq!(
        trust.public_key,
        crate::support::pinned_trust(&app).await.public_key,
        "the key survives restarts"
    );
    publish(&app, &token, 10, 25).await;
    let after = bundle(&app, 24).await;
    assert!(verify(&after, &trust, 24).ok());
    assert!(verify(&bundle(&app, 3).await, &trust, 3).ok());
    let old: Value = serde_json::from_slice(&before).unwrap();
    let r = app
        .get(&format!("{BASE}/records/9/proof?tree_size=10"), None)
        .await;
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        before,
        "a proof at a signed size never changes"
    );
    assert_eq!(old["inclusion"]["tree_size"], 10);
    let c: Value = app
        .get_json(&format!("{BASE}/consistency?first=10&second=25"), None)
        .await;
    assert_consistent(&c, &trust);
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_is_fixed_a_changed_key_or_prefix_is_fatal() {
    let (app, _) = setup(1).await;
    let err = app
        .try_start_with(|c| c.origin_prefix = "other.example".into())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("CIVICPROOF_ORIGIN_PREFIX"),
        "{err:#}"
    );
    let dir = std::env::temp_dir().join(format!("civicproof-other-key-{}", std::process::id()));
    let err = app
        .try_start_with(|c| c.log_key_file = dir.join("missing.key"))
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("CIVICPROOF_LOG_KEY_FILE"),
        "{err:#}"
    );
    assert!(
        !dir.join("missing.key").exists(),
        "a missing key is never silently replaced"
    );
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("other.key"),
        format!("civicproof-log-key-v1 {}\n", "11".repeat(32)),
    )
    .unwrap();
    let err = app
        .try_start_with(|c| c.log_key_file = dir.join("other.key"))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("different key"), "{err:#}");
    let _ = std::fs::remove_dir_all(&dir);
    // The key file was created with mode 0600 and is never served.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&app.config.log_key_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    app.try_start_with(|_| {}).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_server_processes_sign_one_consistent_history() {
    let (a, token) = setup(1).await;
    let b = a.replica().await;
    let trust = crate::support::pinned_trust(&a).await;
    for round in 0..6 {
        let app = if round % 2 == 0 { &a } else { &b };
        publish(app, &token, 1 + round * 5, 6 + round * 5).await;
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    // Both serve bundles that verify against the one key.
    for (app, seq) in [(&a, 30u64), (&b, 12), (&a, 0)] {
        let r = verify(&bundle(app, seq).await, &trust, seq);
        assert!(r.ok(), "{r:?}");
    }
    // Every signed size is consistent with the next: one history, whoever signed.
    let sizes: Vec<i64> = {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Size {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            size: i64,
        }
        diesel::sql_query("SELECT size FROM checkpoints ORDER BY size")
            .load::<Size>(&mut a.db.conn())
            .unwrap()
            .into_iter()
            .map(|s| s.size)
            .collect()
    };
    assert!(sizes.len() >= 3, "{sizes:?}");
    for w in sizes.windows(2).filter(|w| w[0] > 0) {
        let c: Value = b
            .get_json(
                &format!("{BASE}/consistency?first={}&second={}", w[0], w[1]),
                None,
            )
            .await;
        assert_consistent(&c, &trust);
    }
    b.stop().await;
}
