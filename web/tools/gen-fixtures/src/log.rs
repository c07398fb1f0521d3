//! Dataset logs and their bundles, built the way `verify/tests/support/mod.rs` builds them (and so
//! the way a server does): salted, canonicalized payloads, envelopes, an RFC 6962 tree, a
//! checkpoint signed with a fixed test key, optionally an anchor batch of three logs.
//!
//! Unlike the test support, entries hold their envelope as a JSON value, so that a log can also
//! contain envelopes that break a rule of PROTOCOL.md section 2 while their leaf hash is right:
//! then only the rule itself can refuse them.

use std::collections::HashMap;

use civicproof_verify::bundle::{
    Anchor, AnchorPending, Bundle, Erasure, FORMAT, Inclusion, hex_hashes,
};
use civicproof_verify::checkpoint::Checkpoint;
use civicproof_verify::envelope::{self, Envelope, ErasureReason};
use civicproof_verify::merkle::{self, Hash};
use civicproof_verify::{jcs, json};
use ed25519_dalek::SigningKey;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "test.example";
pub const ORIGIN: &str = "test.example/city/air";
pub const SIZE: u64 = 37;
/// The record that the last entry erases.
pub const ERASED: u64 = 5;
/// The erasure entry.
pub const ERASURE: u64 = 36;

pub fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// One entry as the server stores it.
pub struct Entry {
    pub envelope: Value,
    /// `None` for erasure entries and erased records.
    pub payload: Option<Value>,
    pub salt: Option<[u8; 16]>,
}

pub struct Log {
    pub origin: String,
    pub entries: Vec<Entry>,
    pub leaves: Vec<Hash>,
    /// Erased record seq → erasure entry seq.
    pub erased_by: HashMap<u64, u64>,
}

pub fn salt(origin: &str, seq: u64) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(origin)
        .chain_update(seq.to_be_bytes())
        .finalize();
    digest[..16].try_into().unwrap()
}

/// The test support's payload: numbers, non-ASCII text, booleans, null, an array, an object.
fn payload(seq: u64) -> Value {
    let text = format!(
        r#"{{"pm10": {}.{}0, "station": "sensor-{}", "valid": {}, "note": "zażółć ✓",
            "flags": [null, {}], "loc": {{"lat": 50.2649, "lon": 19.0238}}}}"#,
        10 + seq,
        seq % 10,
        seq % 4,
        seq.is_multiple_of(2),
        seq * 1000
    );
    json::parse_strict(text.as_bytes()).unwrap()
}

pub fn published_at(seq: u64) -> String {
    envelope::format_published_at(1_764_151_200_000 + seq as i64 * 1500)
}

/// A record entry whose payload digest matches `payload` (salt derived from origin and seq).
pub fn record(origin: &str, seq: u64, key: Option<&str>, published: &str, payload: Value) -> Entry {
    let salt = salt(origin, seq);
    let digest = envelope::payload_digest(&salt, &jcs::canonicalize(&payload));
    let mut env = Envelope::Record {
        dataset: origin.to_owned(),
        seq,
        key: None,
        published_at: published.to_owned(),
        payload_digest: digest,
        supersedes: None,
    }
    .to_value();
    // Set the key directly so that keys breaking a rule can be built too.
    env["key"] = key.map_or(Value::Null, Value::from);
    Entry {
        envelope: env,
        payload: Some(payload),
        salt: Some(salt),
    }
}

impl Log {
    /// The main fixture: `test.example/city/air`, 37 entries, record 5 erased by entry 36.
    pub fn city_air() -> Log {
        Log::build(ORIGIN, SIZE, Some(ERASED))
    }

    /// `n` entries of `origin`; with `erase`, the last entry erases that record.
    pub fn build(origin: &str, n: u64, erase: Option<u64>) -> Log {
        let mut entries = Vec::new();
        let mut latest_of_key: HashMap<String, u64> = HashMap::new();
        let records = if erase.is_some() { n - 1 } else { n };
        for seq in 0..records {
            let key = (seq % 3 != 0).then(|| format!("sensor-{}", seq % 4));
            let supersedes = key
                .as_ref()
                .and_then(|k| latest_of_key.insert(k.clone(), seq));
            let payload = payload(seq);
            let salt = salt(origin, seq);
            let env = Envelope::Record {
                dataset: origin.to_owned(),
                seq,
                key,
                published_at: published_at(seq),
                payload_digest: envelope::payload_digest(&salt, &jcs::canonicalize(&payload)),
                supersedes,
            };
            entries.push(Entry {
                envelope: env.to_value(),
                payload: Some(payload),
                salt: Some(salt),
            });
        }
        let mut erased_by = HashMap::new();
        if let Some(erases) = erase {
            let seq = n - 1;
            let env = Envelope::Erasure {
                dataset: origin.to_owned(),
                seq,
                erases,
                published_at: published_at(seq),
                reason: ErasureReason::LegalErasure,
            };
            entries.push(Entry {
                envelope: env.to_value(),
                payload: None,
                salt: None,
            });
            entries[erases as usize].payload = None;
            entries[erases as usize].salt = None;
            erased_by.insert(erases, seq);
        }
        Log::from_entries(origin, entries, erased_by)
    }

    /// A log of arbitrary entries; leaves are `SHA-256(0x00 || JCS(envelope))` of whatever the
    /// envelopes are.
    pub fn from_entries(origin: &str, entries: Vec<Entry>, erased_by: HashMap<u64, u64>) -> Log {
        let leaves = entries
            .iter()
            .map(|e| merkle::leaf_hash(&jcs::canonicalize(&e.envelope)))
            .collect();
        Log {
            origin: origin.to_owned(),
            entries,
            leaves,
            erased_by,
        }
    }

    pub fn checkpoint(&self) -> Checkpoint {
        self.checkpoint_at(self.leaves.len() as u64)
    }

    pub fn checkpoint_at(&self, size: u64) -> Checkpoint {
        Checkpoint {
            origin: self.origin.clone(),
            size,
            root: merkle::root(&self.leaves[..size as usize]),
        }
    }

    /// The bundle of entry `seq` at the full tree, without anchor.
    pub fn bundle(&self, seq: u64) -> Bundle {
        self.bundle_at(seq, self.leaves.len() as u64)
    }

    /// The bundle of entry `seq` at the signed checkpoint of `size`.
    pub fn bundle_at(&self, seq: u64, size: u64) -> Bundle {
        let tree = &self.leaves[..size as usize];
        let entry = &self.entries[seq as usize];
        let erasure = self.erased_by.get(&seq).map(|&by| Erasure {
            envelope: self.entries[by as usize].envelope.clone(),
            path: hex_hashes(&merkle::inclusion_path(tree, by)),
        });
        Bundle {
            format: FORMAT.to_owned(),
            envelope: entry.envelope.clone(),
            payload: entry.payload.clone(),
            salt: entry.salt.map(hex::encode),
            leaf_hash: hex::encode(self.leaves[seq as usize]),
            inclusion: Inclusion {
                tree_size: size,
                path: hex_hashes(&merkle::inclusion_path(tree, seq)),
            },
            checkpoint: self.checkpoint_at(size).sign(&key()),
            erasure,
            anchor: None,
            anchor_pending: None,
        }
    }

    /// The bundle of `seq` whose checkpoint is anchored in batch 12 together with the
    /// checkpoints of two other datasets of the instance (as the test support does).
    pub fn anchored_bundle(&self, seq: u64) -> Bundle {
        let mut bundle = self.bundle(seq);
        let mut members = [
            self.checkpoint(),
            Log::build("test.example/city/water", 5, None).checkpoint(),
            Log::build("test.example/zoo/birds", 3, None).checkpoint(),
        ];
        members.sort_by(|a, b| a.origin.cmp(&b.origin));
        let batch_leaves: Vec<Hash> = members
            .iter()
            .map(|c| merkle::leaf_hash(c.to_text().as_bytes()))
            .collect();
        let index = members
            .iter()
            .position(|c| c.origin == self.origin)
            .unwrap() as u64;
        bundle.anchor = Some(Anchor {
            batch_seq: 12,
            batch_root: hex::encode(merkle::root(&batch_leaves)),
            batch_size: batch_leaves.len() as u64,
            batch_index: index,
            batch_path: hex_hashes(&merkle::inclusion_path(&batch_leaves, index)),
            prev_root: hex::encode(merkle::leaf_hash(b"batch 11")),
            chain_id: 31337,
            contract: format!("0x{}", "5fbdb2315678afecb367f032d93f642f64180aa3"),
            anchorer: format!("0x{}", "f39fd6e51aad88f6f4ce6ab8827279cfffb92266"),
            tx_hash: format!("0x{}", hex::encode(merkle::leaf_hash(b"tx"))),
            block_number: 1234,
            block_hash: format!("0x{}", hex::encode(merkle::leaf_hash(b"block"))),
            block_time: 1_764_151_300,
        });
        bundle
    }

    /// An unanchored bundle that carries a pending-anchor hint.
    pub fn pending_bundle(&self, seq: u64) -> Bundle {
        let mut bundle = self.bundle(seq);
        bundle.anchor_pending = Some(AnchorPending {
            batch_seq: 13,
            tx_hash: format!("0x{}", hex::encode(merkle::leaf_hash(b"pending"))),
        });
        bundle
    }
}
