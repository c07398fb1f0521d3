//! `civicproof-verify`: checks a proof bundle offline against pinned trust (PROOFS.md section 6).
//!
//! Trust comes only from the command line (prefix and log public key), never from the bundle or
//! a server; fetching bundles and on-chain anchor checks are not implemented yet. Exit status 0
//! means verified, 1 not verified, 2 a usage or input error.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use civicproof_verify::bundle::{Expect, Report, SCOPE_NOTE, StepStatus, Trust, verify_bundle};
use civicproof_verify::encoding::base64_decode;
use clap::Parser;
use serde_json::{Value, json};

/// Verify a civicproof proof bundle offline.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The bundle file; `-` or nothing reads standard input.
    file: Option<PathBuf>,
    /// The dataset origin the record must belong to, `<prefix>/<institution>/<dataset>`.
    #[arg(long)]
    origin: String,
    /// The entry that was requested, if a specific one was.
    #[arg(long)]
    seq: Option<u64>,
    /// The pinned instance prefix.
    #[arg(long)]
    prefix: String,
    /// The pinned log public key: base64 of 32 bytes.
    #[arg(long = "public-key")]
    public_key: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let public_key = match base64_decode(&args.public_key).map(<[u8; 32]>::try_from) {
        Some(Ok(key)) => key,
        _ => return usage_error("--public-key must be canonical base64 of 32 bytes"),
    };
    let bytes = match read_input(args.file.as_deref()) {
        Ok(bytes) => bytes,
        Err(e) => return usage_error(&format!("cannot read the bundle: {e}")),
    };
    let trust = Trust {
        prefix: args.prefix,
        public_key,
    };
    let expect = Expect {
        origin: args.origin,
        seq: args.seq,
    };
    let report = verify_bundle(&bytes, &trust, &expect, None);
    if args.json {
        println!("{:#}", report_json(&report));
    } else {
        println!("{report}");
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn read_input(file: Option<&std::path::Path>) -> std::io::Result<Vec<u8>> {
    match file {
        Some(path) if path != std::path::Path::new("-") => std::fs::read(path),
        _ => {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes)?;
            Ok(bytes)
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("civicproof-verify: {message}");
    ExitCode::from(2)
}

/// The report as JSON: one object per step with `status` pass/fail/skipped/erased.
fn report_json(report: &Report) -> Value {
    let steps: Vec<Value> = report
        .steps
        .iter()
        .map(|s| {
            let mut step = match &s.status {
                StepStatus::Pass => json!({"status": "pass"}),
                StepStatus::Fail(why) => json!({"status": "fail", "reason": why}),
                StepStatus::Skipped(why) => json!({"status": "skipped", "reason": why}),
                StepStatus::Erased { seq, reason } => {
                    json!({"status": "erased", "erased_by": seq, "reason": reason})
                }
            };
            step["step"] = json!(s.step);
            step["name"] = json!(s.name);
            if let Some(detail) = &s.detail {
                step["detail"] = json!(detail);
            }
            step
        })
        .collect();
    json!({
        "ok": report.ok(),
        "failed_step": report.failed_step,
        "erased_by": report.erased_by.as_ref().map(|(seq, reason)| json!({"seq": seq, "reason": reason})),
        "checkpoint": report.checkpoint.as_ref().map(|c| json!({
            "origin": c.origin,
            "size": c.size,
            "root": hex::encode(c.root),
        })),
        "steps": steps,
        "note": SCOPE_NOTE,
    })
}
