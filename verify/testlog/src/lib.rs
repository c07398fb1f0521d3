//! The test dataset log, built the way a server builds one (PROTOCOL.md sections 2 to 5):
//! salted, canonicalized payloads, envelopes, an RFC 6962 tree, checkpoints signed with a
//! fixed test key, bundles for any entry, and anchor batches of several logs.
//!
//! One builder for two users, so that they can never drift apart: the verifier's tests
//! (`verify/tests/support`) and the generator of the browser verifier's fixtures
//! (`web/tools/gen-fixtures`), whose verdicts the two verifiers must agree on.
//!
//! The main fixture is `test.example/city/air`: 36 records, then one erasure entry (seq 36)
//! erasing record 5. Entries hold their envelope as a JSON value, so that a log can also
//! contain envelopes that break a rule of PROTOCOL.md section 2 while their leaf hash is
//! right ([`record`], [`Log::from_entries`]): then only the rule itself can refuse them.

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
/// When the fixture logs' first entry was published (Unix milliseconds); each next one
/// follows 1.5 s later.
pub const START_MS: i64 = 1_764_151_200_000;

/// The fixed test log key.
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

/// A record's salt, derived from origin and seq so that logs are reproducible.
pub fn salt(origin: &str, seq: u64) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(origin)
        .chain_update(seq.to_be_bytes())
        .finalize();
    digest[..16].try_into().expect("16 of 32 bytes")
}

/// A payload with numbers, non-ASCII text, booleans, null, an array and a nested object;
/// parsed and canonicalized like published JSON (`17.20` is stored as `17.2`).
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
    json::parse_strict(text.as_bytes()).expect("the fixture payload is strict JSON")
}

/// `published_at` of entry `seq` of a fixture log.
pub fn published_at(seq: u64) -> String {
    published_at_from(START_MS, seq)
}

/// `published_at` of entry `seq` of a log whose first entry was published at `start_ms`.
pub fn published_at_from(start_ms: i64, seq: u64) -> String {
    envelope::format_published_at(start_ms + seq as i64 * 1500)
}

/// A record entry whose payload digest matches `payload` (salt derived from origin and seq).
/// The key is set directly, so that keys breaking a rule can be built too.
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
            let env = Envelope::Record {
                dataset: origin.to_owned(),
                seq,
                key,
                published_at: published_at_from(start_ms, seq),
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
                published_at: published_at_from(start_ms, seq),
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
    /// checkpoints of two other datasets of the instance (chain 31337, anvil's first
    /// contract and account, made-up transaction and block).
    pub fn anchored_bundle(&self, seq: u64) -> Bundle {
        let batch = Batch::of(&[
            self,
            &Log::build("test.example/city/water", 5, None),
            &Log::build("test.example/zoo/birds", 3, None),
        ]);
        let on_chain = OnChain {
            batch_seq: 12,
            prev_root: merkle::leaf_hash(b"batch 11"),
            chain_id: 31337,
            contract: format!("0x{}", "5fbdb2315678afecb367f032d93f642f64180aa3"),
            anchorer: format!("0x{}", "f39fd6e51aad88f6f4ce6ab8827279cfffb92266"),
            tx_hash: format!("0x{}", hex::encode(merkle::leaf_hash(b"tx"))),
            block_number: 1234,
            block_hash: format!("0x{}", hex::encode(merkle::leaf_hash(b"block"))),
            block_time: 1_764_151_300,
        };
        self.bundle_in_batch(seq, &batch, &on_chain)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The envelope kept as a value hashes exactly like the typed envelope it came from.
    #[test]
    fn leaves_are_the_typed_envelopes_leaf_hashes() {
        let log = Log::city_air();
        assert_eq!(log.leaves.len() as u64, SIZE);
        for (seq, e) in log.entries.iter().enumerate() {
            let typed = Envelope::from_value(&e.envelope).expect("a valid envelope");
            assert_eq!(typed.leaf_hash(), log.leaves[seq], "seq {seq}");
        }
        assert_eq!(log.erased_by.get(&ERASED), Some(&ERASURE));
        assert!(log.entries[ERASED as usize].payload.is_none());
    }
}
