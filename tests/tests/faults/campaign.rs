//! The campaign's mode, sizes and report.

use serde_json::{Value, json};
use std::io::Write;

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// CI: every scenario, small.
    Quick,
    /// The figures of record.
    Full,
}

impl Mode {
    /// From `CIVICPROOF_FAULTS`; panics without it (a campaign must never pass unrun).
    pub fn get() -> Self {
        match std::env::var("CIVICPROOF_FAULTS").as_deref() {
            Ok("quick") => Self::Quick,
            Ok("full") => Self::Full,
            other => panic!(
                "CIVICPROOF_FAULTS={other:?}: run the campaign with `./run faults` (quick) or \
                 `./run faults --full`"
            ),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Quick => "quick",
            Self::Full => "full",
        }
    }

    /// `quick` in quick mode, else `full`.
    pub fn pick<T>(self, quick: T, full: T) -> T {
        match self {
            Self::Quick => quick,
            Self::Full => full,
        }
    }
}

/// Appends one scenario's row to the report (`CIVICPROOF_FAULTS_REPORT`, a JSON-lines
/// file): what was done, what was measured, and the promise it kept.
pub fn report(scenario: &str, did: &str, figures: Value, kept: &str) {
    let path = std::env::var("CIVICPROOF_FAULTS_REPORT").unwrap_or_else(|_| {
        std::env::temp_dir()
            .join("civicproof-faults.jsonl")
            .to_string_lossy()
            .into_owned()
    });
    let row = json!({
        "scenario": scenario,
        "mode": Mode::get().name(),
        "did": did,
        "figures": figures,
        "kept": kept,
    });
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    writeln!(f, "{row}").unwrap();
    eprintln!("{row}");
}
