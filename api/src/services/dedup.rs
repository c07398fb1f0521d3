//! Per-record dedup keys (API.md, publishing): which records of a batch are new and which
//! name a record the dataset already holds.
//!
//! A batch Idempotency-Key fingerprints the exact body, so it only helps a publisher that can
//! resend the very same batch. A bridge from a message broker cannot: after a reconnect the
//! broker redelivers the unacknowledged messages among new ones, in batches composed
//! differently. Naming each record lets any batch carry any mix of old and new records: the
//! old ones are answered with their seq and leaf hash, flagged `replayed`, and only the new
//! ones are appended.
//!
//! Resolved inside the publishing transaction after the dataset's row lock, so concurrent
//! batches naming one record queue on that lock and exactly one appends it.

use crate::error::{ApiError, ApiResult, FieldError};
use crate::services::input::CheckedRecord;
use civicproof_schema::Conn;
use civicproof_schema::queries::dedup::{self, Held};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// What one record of a batch turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// Appended by this batch.
    New,
    /// Named a record appended before: its seq and hex leaf hash.
    Held { seq: u64, leaf_hash: String },
    /// Named the same record as an earlier index of this batch, which is new (or, for a
    /// versioned record, is the same version as one).
    SameAs(usize),
    /// A versioned record equal to its key's current version (`services::versions`).
    Unchanged { seq: u64, leaf_hash: String },
    /// A versioned record older than its key's current version.
    Stale,
}

/// The stored form of a dedup key: the first 128 bits of its SHA-256.
pub fn key_hash(dedup_key: &str) -> Vec<u8> {
    Sha256::digest(dedup_key.as_bytes())[..16].to_vec()
}

/// What a dedup key must keep naming: the record's key and canonical payload.
pub fn fingerprint(record: &CheckedRecord) -> Vec<u8> {
    let mut h = Sha256::new();
    match &record.key {
        Some(k) => {
            h.update([1]);
            h.update((k.len() as u64).to_be_bytes());
            h.update(k.as_bytes());
        }
        None => h.update([0]),
    }
    h.update(&record.canonical);
    h.finalize()[..16].to_vec()
}

/// Each record's slot, in batch order. A dedup key that names other content than it named
/// before (in the dataset or earlier in the batch) is a 422 at that index: answering it with
/// the other record would tell the publisher that content was appended when it was not.
pub fn resolve(
    conn: &mut Conn,
    dataset_id: i64,
    records: &[CheckedRecord],
) -> ApiResult<Vec<Slot>> {
    if records.iter().all(|r| r.dedup_key.is_none()) {
        return Ok(vec![Slot::New; records.len()]);
    }
    let hashes: Vec<Option<Vec<u8>>> = records
        .iter()
        .map(|r| r.dedup_key.as_deref().map(key_hash))
        .collect();
    let wanted: Vec<Vec<u8>> = hashes.iter().flatten().cloned().collect();
    let held: HashMap<Vec<u8>, Held> = dedup::find(conn, dataset_id, &wanted)?
        .into_iter()
        .map(|h| (h.hash.clone(), h))
        .collect();
    let mut first_in_batch: HashMap<&[u8], (usize, Vec<u8>)> = HashMap::new();
    let mut slots = Vec::with_capacity(records.len());
    let mut errors = Vec::new();
    for (index, (record, hash)) in records.iter().zip(&hashes).enumerate() {
        let Some(hash) = hash else {
            slots.push(Slot::New);
            continue;
        };
        let print = fingerprint(record);
        let conflict = |detail: String| FieldError {
            pointer: format!("/{index}/dedup_key"),
            index: Some(index),
            detail,
        };
        if let Some(h) = held.get(hash) {
            if h.fingerprint != print {
                errors.push(conflict(format!(
                    "dedup_key names record {} of this dataset, whose key or payload differs",
                    h.seq
                )));
            }
            slots.push(Slot::Held {
                seq: h.seq as u64,
                leaf_hash: hex::encode(&h.leaf_hash),
            });
        } else if let Some((first, first_print)) = first_in_batch.get(hash.as_slice()) {
            if *first_print != print {
                errors.push(conflict(format!(
                    "dedup_key names record {first} of this batch, whose key or payload differs"
                )));
            }
            slots.push(Slot::SameAs(*first));
        } else {
            first_in_batch.insert(hash, (index, print));
            slots.push(Slot::New);
        }
    }
    if errors.is_empty() {
        Ok(slots)
    } else {
        errors.truncate(crate::services::input::MAX_ERRORS);
        Err(ApiError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: Option<&str>, payload: &str) -> CheckedRecord {
        CheckedRecord {
            key: key.map(str::to_owned),
            dedup_key: Some("d".into()),
            canonical: payload.as_bytes().to_vec(),
            versioned: false,
        }
    }

    #[test]
    fn the_fingerprint_separates_key_from_payload() {
        // Without the length prefix, key "a" + payload "b{}" would equal key "ab" + "{}".
        assert_ne!(
            fingerprint(&record(Some("a"), "b{}")),
            fingerprint(&record(Some("ab"), "{}"))
        );
        assert_ne!(
            fingerprint(&record(None, "{}")),
            fingerprint(&record(Some(""), "{}"))
        );
        assert_eq!(
            fingerprint(&record(Some("k"), "{}")),
            fingerprint(&record(Some("k"), "{}"))
        );
    }

    #[test]
    fn key_hashes_are_128_bits_of_sha256() {
        assert_eq!(key_hash("mq1:x").len(), 16);
        assert_ne!(key_hash("a"), key_hash("b"));
    }
}
