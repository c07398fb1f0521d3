//! The `civicproof-verify` binary: exit status, text and JSON output.

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use civicproof_verify::encoding::base64_encode;
use support::{ERASED, Log, ORIGIN, PREFIX, trust};

fn run(bundle: &[u8], extra: &[&str]) -> Output {
    run_with_key(bundle, &base64_encode(&trust().public_key), extra)
}

fn run_with_key(bundle: &[u8], key: &str, extra: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_civicproof-verify"))
        .args(["--origin", ORIGIN, "--prefix", PREFIX, "--public-key", key])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bundle).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn verified_bundle_exits_0_and_prints_every_step() {
    let log = Log::city_air();
    let out = run(&log.bundle(ERASED).to_json_bytes(), &["--seq", "5"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("step 2 payload: erased by seq 36 (reason legal-erasure)"));
    assert!(text.contains("step 8 anchor-online: skipped: no anchor trust pinned"));
    assert!(text.contains("verified"));
    assert!(text.contains("does not prove that the entry is the current version"));
}

#[test]
fn tampered_bundle_exits_1_with_the_reason() {
    let log = Log::city_air();
    let mut bundle = log.bundle(17);
    bundle.payload.as_mut().unwrap()["pm10"] = serde_json::json!(99);
    let out = run(&bundle.to_json_bytes(), &["--seq", "17", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["failed_step"], 2);
    assert_eq!(report["steps"][2]["status"], "fail");
    assert_eq!(report["steps"][3]["reason"], "earlier step failed");

    let out = run(&log.bundle(17).to_json_bytes(), &["--seq", "18"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("step 5 checkpoint-binding: failed"));
}

#[test]
fn bad_arguments_exit_2() {
    let log = Log::city_air();
    let bytes = log.bundle(0).to_json_bytes();
    let short_key = base64_encode(&[1u8; 31]);
    for key in ["AAAA", short_key.as_str(), "not base64"] {
        let out = run_with_key(&bytes, key, &[]);
        assert_eq!(out.status.code(), Some(2), "{key}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--public-key"));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_civicproof-verify"))
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
