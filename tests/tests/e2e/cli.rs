//! The `civicproof-verify` CLI against a real server: bundles fetched by URL verify with
//! pinned trust or trust on first use, the trust file keeps checkpoints per prefix, and a
//! tampered record fails with exit code 1.

use crate::support::TestApp;
use base64::Engine;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Output};

/// The CLI binary built with the workspace (`cargo nextest run --workspace` builds it for
/// the verify crate's own tests; `./run test` does that).
fn cli_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join("civicproof-verify");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p civicproof-verify --features cli` (./run test does)",
        bin.display()
    );
    bin
}

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || Command::new(cli_path()).args(args).output().unwrap())
        .await
        .unwrap()
}

async fn setup() -> (TestApp, String, PathBuf) {
    let app = TestApp::spawn_with(|c| c.checkpoint_interval_ms = 200).await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    let batch: Vec<Value> = (0..6)
        .map(|i| json!({"key": format!("s{i}"), "payload": {"pm10": i}}))
        .collect();
    app.publish_ok(&token, "city", "air", &Value::from(batch))
        .await;
    let trust_file = app.config.log_key_file.with_file_name("trust.json");
    (app, token, trust_file)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_verifies_served_bundles_with_pinned_trust_and_json_output() {
    let (app, _, trust_file) = setup().await;
    let trust = crate::support::pinned_trust(&app).await;
    let key = base64::engine::general_purpose::STANDARD.encode(trust.public_key);
    let url = app.url("/v1/datasets/city/air/records/3/proof");
    let tf = trust_file.to_string_lossy().into_owned();
    let out = run(strings(&[
        "bundle",
        &url,
        "--prefix",
        &trust.prefix,
        "--public-key",
        &key,
        "--trust-file",
        &tf,
        "--json",
    ]))
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 9);
    assert!(steps[..7].iter().all(|s| s["status"] == "pass"), "{report}");
    assert_eq!(report["checkpoint"]["size"], 6);
    // Human output names every step.
    let out = run(strings(&[
        "bundle",
        &url,
        "--prefix",
        &trust.prefix,
        "--public-key",
        &key,
        "--trust-file",
        &tf,
    ]))
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "format",
        "lengths",
        "payload",
        "leaf",
        "checkpoint-signature",
        "checkpoint-binding",
        "inclusion",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    // A wrong key fails (exit 1), at the signature step.
    let wrong = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let out = run(strings(&[
        "bundle",
        &url,
        "--prefix",
        &trust.prefix,
        "--public-key",
        &wrong,
        "--json",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed_step"], 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn trust_on_first_use_pins_the_key_and_later_checks_consistency() {
    let (app, token, trust_file) = setup().await;
    let tf = trust_file.to_string_lossy().into_owned();
    let url = app.url("/v1/datasets/city/air/records/1/proof");
    let out = run(strings(&["bundle", &url, "--tofu", "--trust-file", &tf])).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("TRUST ON FIRST USE"));
    let stored: Value = serde_json::from_slice(&std::fs::read(&trust_file).unwrap()).unwrap();
    let entry = &stored["test.civicproof.example"];
    assert!(
        entry["log_public_key"].is_string(),
        "keyed by prefix, not URL: {stored}"
    );
    // The log grows; the next bundle's checkpoint is newer, so the CLI checks consistency.
    let batch: Vec<Value> = (0..5).map(|i| json!({"payload": {"more": i}})).collect();
    app.publish_ok(&token, "city", "air", &Value::from(batch))
        .await;
    let url = app.url("/v1/datasets/city/air/records/9/proof");
    let prefix = "test.civicproof.example";
    let out = run(strings(&[
        "bundle",
        &url,
        "--prefix",
        prefix,
        "--trust-file",
        &tf,
        "--json",
    ]))
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["checkpoint"]["size"], 11);
    let stored: Value = serde_json::from_slice(&std::fs::read(&trust_file).unwrap()).unwrap();
    let note = stored[prefix]["checkpoints"]["test.civicproof.example/city/air"]
        .as_str()
        .unwrap();
    assert!(
        note.contains("\n11\n"),
        "the larger verified checkpoint is kept: {note}"
    );
    // The consistency command between two signed sizes.
    let out = run(strings(&[
        "consistency",
        "--server",
        &app.base,
        "--dataset",
        "city/air",
        "--first",
        "6",
        "--second",
        "11",
        "--prefix",
        prefix,
        "--trust-file",
        &tf,
    ]))
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_tampered_in_the_database_fails_in_the_cli() {
    let (primary, _, _) = setup().await;
    // Rows rewritten behind the server's back are not erasures: a bundle cache would hide
    // them, so this server computes every bundle afresh.
    let app = primary
        .replica_with(|c| c.cluster.bundle_cache_entries = 0)
        .await;
    let trust = crate::support::pinned_trust(&app).await;
    let key = base64::engine::general_purpose::STANDARD.encode(trust.public_key);
    // Wait until the record is checkpointed, then rewrite its payload.
    let url = app.url("/v1/datasets/city/air/records/2/proof");
    let ok = run(strings(&[
        "bundle",
        &url,
        "--prefix",
        &trust.prefix,
        "--public-key",
        &key,
    ]))
    .await;
    assert_eq!(ok.status.code(), Some(0));
    app.db
        .execute("UPDATE entries SET payload = '{\"pm10\":99}' WHERE seq = 2");
    let out = run(strings(&[
        "bundle",
        &url,
        "--prefix",
        &trust.prefix,
        "--public-key",
        &key,
        "--json",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed_step"], 2);
}
