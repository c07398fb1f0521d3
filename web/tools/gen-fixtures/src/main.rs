//! Writes `web/test/fixtures/bundles.json` for the browser verifier's agreement test.
//!
//! It builds the 37-entry log of `verify/tests/support` (record 5 erased by entry 36), serves
//! bundles of it as a server would (JCS bytes), mutates them systematically (every member of the
//! bundle, the raw JSON text, the checkpoint note and its signature, the expectations), adds logs
//! whose entries sit on the edges of PROTOCOL.md sections 1-2, runs the Rust `verify_bundle` on
//! every case and records its verdict. `node --test web/test/` then requires web/verify.js to
//! reach the same verdict at the same step on every case.
//!
//! Run from the repository root:
//! `CARGO_TARGET_DIR=/work/target-web cargo run --release --manifest-path web/tools/gen-fixtures/Cargo.toml -- web/test/fixtures/bundles.json`

mod cases;
mod crafted;
mod log;

use civicproof_verify::bundle::{Expect, StepStatus, Trust, VerifyOptions, verify_bundle_with};
use civicproof_verify::cosignature::{Witness, WitnessPolicy};
use civicproof_verify::encoding;
use serde_json::{Value, json};

/// One bundle under test with what the client expects and pins.
pub struct Fixture {
    pub name: String,
    pub bytes: Vec<u8>,
    pub expect: Expect,
    pub prefix: String,
    pub public_key: [u8; 32],
    /// A pinned witness policy (vkeys, threshold) checked at step 4, if any.
    pub witnesses: Option<(Vec<String>, usize)>,
}

fn main() {
    // `--byte-flips OUT` writes every single-byte flip of the four subjects instead (about 26,000
    // cases, too many to commit; compare with `node web/tools/compare-fixtures.mjs OUT.json`).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out, fixtures) = match args.as_slice() {
        [flag, out] if flag == "--byte-flips" => (out.clone(), cases::byte_flips()),
        [out] => (out.clone(), cases::all()),
        [] => ("web/test/fixtures/bundles.json".to_owned(), cases::all()),
        _ => panic!("usage: civicproof-gen-fixtures [OUT.json | --byte-flips OUT.json]"),
    };
    let mut names = std::collections::HashSet::new();
    let mut lines = Vec::with_capacity(fixtures.len());
    let mut failed_at = [0usize; 10];
    for f in &fixtures {
        assert!(
            names.insert(f.name.clone()),
            "duplicate fixture name {}",
            f.name
        );
        let record = record(f);
        let slot = record["rust"]["failedStep"]
            .as_u64()
            .map_or(9, |s| s as usize);
        failed_at[slot] += 1;
        lines.push(serde_json::to_string(&record).unwrap());
    }
    let text = format!("[\n{}\n]\n", lines.join(",\n"));
    std::fs::write(&out, text).unwrap_or_else(|e| panic!("writing {out}: {e}"));
    eprintln!(
        "{} fixtures written to {out}; Rust failed at steps 0-8: {:?}, verified: {}",
        fixtures.len(),
        &failed_at[..9],
        failed_at[9]
    );
}

/// The fixture as JSON, with the Rust verifier's verdict.
fn record(f: &Fixture) -> Value {
    let trust = Trust {
        prefix: f.prefix.clone(),
        public_key: f.public_key,
    };
    let policy = f.witnesses.as_ref().map(|(keys, k)| {
        let witnesses = keys.iter().map(|v| Witness::from_vkey(v).unwrap()).collect();
        WitnessPolicy::new(witnesses, *k).unwrap()
    });
    let options = VerifyOptions {
        witnesses: policy.as_ref(),
        ..VerifyOptions::default()
    };
    let report = verify_bundle_with(&f.bytes, &trust, &f.expect, &options);
    let steps: Vec<&str> = report
        .steps
        .iter()
        .map(|s| match s.status {
            StepStatus::Pass | StepStatus::Erased { .. } => "pass",
            StepStatus::Fail(_) => "fail",
            StepStatus::Skipped(_) => "skipped",
        })
        .collect();
    let reason = report
        .failed_step
        .and_then(|n| match &report.steps[usize::from(n)].status {
            StepStatus::Fail(why) => Some(why.clone()),
            _ => None,
        });
    let (bundle, bundle_base64) = match std::str::from_utf8(&f.bytes) {
        Ok(s) => (json!(s), Value::Null),
        Err(_) => (Value::Null, json!(encoding::base64_encode(&f.bytes))),
    };
    let mut expect = json!({
        "origin": f.expect.origin,
        "seq": f.expect.seq,
        "prefix": f.prefix,
        "publicKey": encoding::base64_encode(&f.public_key),
    });
    if let Some((keys, k)) = &f.witnesses {
        expect["witnesses"] = json!({"keys": keys, "threshold": k});
    }
    json!({
        "name": f.name,
        "bundle": bundle,
        "bundle_base64": bundle_base64,
        "expect": expect,
        "rust": {
            "ok": report.ok(),
            "failedStep": report.failed_step,
            "steps": steps,
            "reason": reason,
            "erasedBy": report.erased_by.as_ref().map(|(seq, reason)| json!({"seq": seq, "reason": reason})),
        },
    })
}
