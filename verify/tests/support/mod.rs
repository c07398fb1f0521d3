//! The test log (`civicproof-testlog`: 36 records, then an erasure of record 5, signed with a
//! fixed key; bundles for any entry, optionally anchored in a batch of three logs), and what
//! the verifier's tests add to it: the pinned trust, the subjects of the mutation tests, and
//! verification under that trust.

#![allow(dead_code)]

// A real anvil chain with the anchor contract; its JSON-RPC client comes with `net`.
#[cfg(feature = "net")]
pub mod anvil;
// The binary exists only with the `cli` feature.
#[cfg(feature = "cli")]
pub mod cli;
pub mod http;

pub use civicproof_testlog::*;

use civicproof_verify::bundle::{Bundle, Expect, Report, Trust, verify_bundle};
use civicproof_verify::checkpoint::VerifiedNoteCache;
use serde_json::Value;

pub fn trust() -> Trust {
    Trust {
        prefix: PREFIX.to_owned(),
        public_key: key().verifying_key().to_bytes(),
    }
}

pub fn expect(seq: u64) -> Expect {
    Expect {
        origin: ORIGIN.to_owned(),
        seq: Some(seq),
    }
}

/// A bundle under test, as the JSON value a server would serve.
pub struct Subject {
    pub name: &'static str,
    pub seq: u64,
    pub value: Value,
}

impl Subject {
    pub fn new(name: &'static str, bundle: &Bundle) -> Subject {
        Subject {
            name,
            seq: bundle.envelope["seq"].as_f64().unwrap() as u64,
            value: serde_json::to_value(bundle).unwrap(),
        }
    }
}

/// A plain record, an anchored record, an erased record (anchored) and the erasure entry.
pub fn subjects(log: &Log) -> Vec<Subject> {
    vec![
        Subject::new("record 0", &log.bundle(0)),
        Subject::new("anchored record 17", &log.anchored_bundle(17)),
        Subject::new("erased record 5", &log.anchored_bundle(ERASED)),
        Subject::new("erasure entry 36", &log.bundle(ERASURE)),
    ]
}

/// Verifies served bytes under the test trust.
pub fn verify(bytes: &[u8], expect: &Expect, cache: &VerifiedNoteCache) -> Report {
    verify_bundle(bytes, &trust(), expect, Some(cache))
}
