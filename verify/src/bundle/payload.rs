//! Step 2, payload: the payload is the one the envelope commits to, or the record was erased by
//! an erasure entry of the same log.
//!
//! The step runs before the envelope is decoded (step 3), so it reads the few envelope members it
//! needs directly; anything else wrong with the envelope is step 3's finding. The erasure entry's
//! inclusion can only be checked against a verified root, so that part runs after step 4
//! ([`check_erasure_included`]) and still reports as step 2.

use serde_json::Value;

use super::Bundle;
use crate::checkpoint::Checkpoint;
use crate::encoding::decode_lower_hex;
use crate::envelope::{self, Envelope, EnvelopeError, ErasureReason};
use crate::jcs;
use crate::merkle::{self, Hash, InclusionError};

/// Largest canonical payload, in bytes (PROTOCOL.md section 2).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Why step 2 fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Exactly one of `payload` and `salt` is null.
    #[error("payload and salt must both be null or both be present")]
    PayloadSaltMismatch,
    /// A payload is present, but the envelope is not a record.
    #[error("only a record envelope carries a payload")]
    PayloadWithoutRecord,
    /// A payload is present and so is an erasure.
    #[error("erasure must be null when the payload is present")]
    ErasureWithPayload,
    /// The envelope's `payload_digest` is absent or not 64 lowercase hex digits.
    #[error("envelope.payload_digest must be 64 lowercase hex digits")]
    InvalidDigest,
    /// `JCS(payload)` is larger than 64 KiB.
    #[error("canonical payload is {0} bytes; at most 65536 are allowed")]
    TooLarge(usize),
    /// `SHA-256(salt || JCS(payload))` differs from `payload_digest`.
    #[error("SHA-256(salt || JCS(payload)) does not equal envelope.payload_digest")]
    DigestMismatch,
    /// An erasure entry carries an `erasure` member.
    #[error("an erasure entry cannot itself be erased; erasure must be null")]
    ErasureOfErasure,
    /// Payload and salt are null but no erasure is given.
    #[error("payload is null but no erasure entry is given")]
    MissingErasure,
    /// `erasure.envelope` is not a valid envelope.
    #[error("erasure.envelope: {0}")]
    ErasureEnvelope(EnvelopeError),
    /// `erasure.envelope` is a record, not an erasure.
    #[error("erasure.envelope is not an erasure entry")]
    NotAnErasure,
    /// The erasure entry belongs to another dataset.
    #[error("erasure entry belongs to dataset {0:?}, not to this record's")]
    OtherDataset(String),
    /// The erasure entry erases another record.
    #[error("erasure entry erases seq {0}, not this record")]
    OtherRecord(u64),
    /// The erasure entry is not in the checkpoint's tree.
    #[error("erasure entry is not included in the checkpoint: {0}")]
    ErasureNotIncluded(InclusionError),
}

/// What step 2 found.
#[derive(Debug)]
pub(super) enum Payload {
    /// The payload matches the envelope's digest.
    Present,
    /// The entry is an erasure entry, which has no payload.
    ErasureEntry,
    /// The record was erased; the erasure entry's inclusion is still to be checked.
    Erased(ErasedBy),
}

/// The erasure entry of an erased record.
#[derive(Debug)]
pub(super) struct ErasedBy {
    pub seq: u64,
    pub reason: ErasureReason,
    pub leaf: Hash,
    /// Its `published_at`, which step 8 bounds by the anchor's time.
    pub published_at: String,
}

/// Step 2 up to (not including) the erasure entry's inclusion.
pub(super) fn check(bundle: &Bundle, salt: Option<&[u8; 16]>) -> Result<Payload, PayloadError> {
    let kind = bundle.envelope.get("kind").and_then(Value::as_str);
    match (&bundle.payload, salt) {
        (Some(payload), Some(salt)) => {
            if kind != Some("record") {
                return Err(PayloadError::PayloadWithoutRecord);
            }
            if bundle.erasure.is_some() {
                return Err(PayloadError::ErasureWithPayload);
            }
            let committed = bundle
                .envelope
                .get("payload_digest")
                .and_then(Value::as_str)
                .and_then(decode_lower_hex::<32>)
                .ok_or(PayloadError::InvalidDigest)?;
            // The bundle was parsed under the JSON rules, so the payload obeys them already.
            let canonical = jcs::canonicalize(payload);
            if canonical.len() > MAX_PAYLOAD_BYTES {
                return Err(PayloadError::TooLarge(canonical.len()));
            }
            if envelope::payload_digest(salt, &canonical) != committed {
                return Err(PayloadError::DigestMismatch);
            }
            Ok(Payload::Present)
        }
        (None, None) if kind == Some("erasure") => match bundle.erasure {
            Some(_) => Err(PayloadError::ErasureOfErasure),
            None => Ok(Payload::ErasureEntry),
        },
        (None, None) => {
            let erasure = bundle
                .erasure
                .as_ref()
                .ok_or(PayloadError::MissingErasure)?;
            let Envelope::Erasure {
                dataset,
                seq,
                erases,
                reason,
                published_at,
                ..
            } = Envelope::from_value(&erasure.envelope).map_err(PayloadError::ErasureEnvelope)?
            else {
                return Err(PayloadError::NotAnErasure);
            };
            if bundle.envelope.get("dataset").and_then(Value::as_str) != Some(dataset.as_str()) {
                return Err(PayloadError::OtherDataset(dataset));
            }
            let record_seq = bundle.envelope.get("seq").and_then(Value::as_f64);
            if record_seq != Some(erases as f64) {
                return Err(PayloadError::OtherRecord(erases));
            }
            Ok(Payload::Erased(ErasedBy {
                seq,
                reason,
                leaf: merkle::leaf_hash(&jcs::canonicalize(&erasure.envelope)),
                published_at,
            }))
        }
        _ => Err(PayloadError::PayloadSaltMismatch),
    }
}

/// The rest of step 2 for an erased record: the erasure entry is in the verified checkpoint.
pub(super) fn check_erasure_included(
    erased: &ErasedBy,
    path: &[Hash],
    checkpoint: &Checkpoint,
) -> Result<(), PayloadError> {
    let path: Vec<Vec<u8>> = path.iter().map(|h| h.to_vec()).collect();
    merkle::verify_inclusion(
        &erased.leaf,
        erased.seq,
        checkpoint.size,
        &path,
        &checkpoint.root,
    )
    .map_err(PayloadError::ErasureNotIncluded)
}
