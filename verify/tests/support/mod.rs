//! A real dataset log built the way a server builds one, for the bundle tests: 36 records with
//! salted, canonicalized payloads, then one erasure entry erasing record 5; a checkpoint signed
//! with a fixed test key; bundles for any entry, optionally anchored in a batch of three logs.

#![allow(dead_code)]

// A real anvil chain with the anchor contract; its JSON-RPC client comes with `net`.
#[cfg(feature = "net")]
pub mod anvil;
// The binary exists only with the `cli` feature.
#[cfg(feature = "cli")]
pub mod cli;
pub mod http;

use std::collections::HashMap;

use civicproof_verify::bundle::{
    Anchor, AnchorPending, Bundle, Erasure, Expect, FORMAT, Inclusion, Report, Trust, hex_hashes,
    verify_bundle,
};
use civicproof_verify::checkpoint::{Checkpoint, VerifiedNoteCache};
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

/// One entry as the server stores it.
pub struct Entry {
    pub envelope: Envelope,
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

fn salt(origin: &str, seq: u64) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(origin)
        .chain_update(seq.to_be_bytes())
        .finalize();
    digest[..16].try_into().unwrap()
}

/// A payload with numbers, non-ASCII text, booleans, null, an array and a nested object; parsed
/// and canonicalized like published JSON (`17.20` is stored as `17.2`).
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

impl Log {
    /// The main fixture: `test.example/city/air`, 37 entries, record 5 erased by entry 36.
    pub fn city_air() -> Log {
        Log::build(ORIGIN, SIZE, Some(ERASED))
    }

    /// `n` entries of `origin`; with `erase`, the last entry erases that record.
    pub fn build(origin: &str, n: u64, erase: Option<u64>) -> Log {
        Log::build_at(origin, n, erase, START_MS)
    }

    /// Like [`Log::build`], the first entry published at `start_ms` (Unix milliseconds) and
    /// each next one 1.5 s later.
    pub fn build_at(origin: &str, n: u64, erase: Option<u64>, start_ms: i64) -> Log {
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
            entries.push(Entry {
                envelope: Envelope::Record {
                    dataset: origin.to_owned(),
                    seq,
                    key,
                    published_at: published_at(start_ms, seq),
                    payload_digest: envelope::payload_digest(&salt, &jcs::canonicalize(&payload)),
                    supersedes,
                },
                payload: Some(payload),
                salt: Some(salt),
            });
        }
        let mut erased_by = HashMap::new();
        if let Some(erases) = erase {
            let seq = n - 1;
            entries.push(Entry {
                envelope: Envelope::Erasure {
                    dataset: origin.to_owned(),
                    seq,
                    erases,
                    published_at: published_at(start_ms, seq),
                    reason: ErasureReason::LegalErasure,
                },
                payload: None,
                salt: None,
            });
            entries[erases as usize].payload = None;
            entries[erases as usize].salt = None;
            erased_by.insert(erases, seq);
        }
        let leaves = entries.iter().map(|e| e.envelope.leaf_hash()).collect();
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
            envelope: self.entries[by as usize].envelope.to_value(),
            path: hex_hashes(&merkle::inclusion_path(tree, by)),
        });
        Bundle {
            format: FORMAT.to_owned(),
            envelope: entry.envelope.to_value(),
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
    /// checkpoints of two other datasets of the instance.
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

/// When the fixture logs' first entry was published.
pub const START_MS: i64 = 1_764_151_200_000;

fn published_at(start_ms: i64, seq: u64) -> String {
    envelope::format_published_at(start_ms + seq as i64 * 1500)
}

/// A batch of PROTOCOL.md section 5: the newest checkpoint of each log, in origin order.
pub struct Batch {
    /// The signed notes, in batch order.
    pub notes: Vec<String>,
    /// The checkpoints, in batch order.
    pub checkpoints: Vec<Checkpoint>,
    /// `SHA-256(0x00 || note text)` of each.
    pub leaves: Vec<Hash>,
    pub root: Hash,
}

impl Batch {
    /// The batch of the full checkpoints of `logs`.
    pub fn of(logs: &[&Log]) -> Batch {
        Batch::of_checkpoints(logs.iter().map(|l| l.checkpoint()).collect())
    }

    /// The batch of `checkpoints`, put in origin order.
    pub fn of_checkpoints(mut checkpoints: Vec<Checkpoint>) -> Batch {
        checkpoints.sort_by(|a, b| a.origin.as_bytes().cmp(b.origin.as_bytes()));
        Batch::in_order(checkpoints)
    }

    /// The batch of `checkpoints` exactly in the order given (a server breaking the rules).
    pub fn in_order(checkpoints: Vec<Checkpoint>) -> Batch {
        let leaves: Vec<Hash> = checkpoints
            .iter()
            .map(|c| merkle::leaf_hash(c.to_text().as_bytes()))
            .collect();
        Batch {
            notes: checkpoints.iter().map(|c| c.sign(&key())).collect(),
            root: merkle::root(&leaves),
            checkpoints,
            leaves,
        }
    }

    /// The position of `origin`'s checkpoint.
    pub fn index_of(&self, origin: &str) -> u64 {
        self.checkpoints
            .iter()
            .position(|c| c.origin == origin)
            .expect("origin in batch") as u64
    }
}

/// Where and how a batch was anchored on chain: what a server puts in a bundle's `anchor`.
#[derive(Debug, Clone)]
pub struct OnChain {
    pub batch_seq: u64,
    pub prev_root: Hash,
    pub chain_id: u64,
    pub contract: String,
    pub anchorer: String,
    pub tx_hash: String,
    pub block_number: u64,
    pub block_hash: String,
    pub block_time: u64,
}

impl Log {
    /// The bundle of entry `seq` at the full tree, anchored in `batch` as `on_chain` says.
    pub fn bundle_in_batch(&self, seq: u64, batch: &Batch, on_chain: &OnChain) -> Bundle {
        let mut bundle = self.bundle(seq);
        let index = batch.index_of(&self.origin);
        bundle.anchor = Some(Anchor {
            batch_seq: on_chain.batch_seq,
            batch_root: hex::encode(batch.root),
            batch_size: batch.leaves.len() as u64,
            batch_index: index,
            batch_path: hex_hashes(&merkle::inclusion_path(&batch.leaves, index)),
            prev_root: hex::encode(on_chain.prev_root),
            chain_id: on_chain.chain_id,
            contract: on_chain.contract.clone(),
            anchorer: on_chain.anchorer.clone(),
            tx_hash: on_chain.tx_hash.clone(),
            block_number: on_chain.block_number,
            block_hash: on_chain.block_hash.clone(),
            block_time: on_chain.block_time,
        });
        bundle
    }
}
