//! The entry envelope of PROTOCOL.md section 2 and the hashes built from it.
//!
//! A log leaf commits to the envelope, not to the payload, so that a payload can be erased while
//! its leaf and every proof through it stay valid. This module turns envelopes into their exact
//! JSON form and hashes it; [`Envelope::from_value`] is the strict inverse that verifiers use.

mod decode;
mod origin;
mod time;

pub use decode::{EnvelopeError, MAX_KEY_BYTES};
pub use origin::is_valid_origin;
pub use time::{format_published_at, parse_published_at};

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

/// The only envelope version this crate understands (the `v` field).
pub const VERSION: u64 = 1;

/// One log entry: a published record or the erasure of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// A published record; its payload is committed only through `payload_digest`.
    Record {
        /// The dataset origin, `<prefix>/<institution>/<dataset>`.
        dataset: String,
        /// Position in the dataset's log (0-based, gapless); also the leaf index.
        seq: u64,
        /// The publisher's natural key, public forever.
        key: Option<String>,
        /// Sequencing time, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
        published_at: String,
        /// `SHA-256(salt || JCS(payload))`, see [`payload_digest`].
        payload_digest: [u8; 32],
        /// The `seq` of the earlier version of the same key, if any.
        supersedes: Option<u64>,
    },
    /// The erasure of record `erases`: its payload and salt are gone, its leaf stays.
    Erasure {
        /// The dataset origin, `<prefix>/<institution>/<dataset>`.
        dataset: String,
        /// Position in the dataset's log (0-based, gapless); also the leaf index.
        seq: u64,
        /// The `seq` of the erased record.
        erases: u64,
        /// Sequencing time, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
        published_at: String,
        /// Why the record was erased; free text never enters the log.
        reason: ErasureReason,
    },
}

/// The public reason code of an erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErasureReason {
    /// A data subject's legal right to erasure.
    LegalErasure,
    /// A court ordered the removal.
    CourtOrder,
    /// The publisher published something by mistake.
    PublisherError,
    /// Anything else; details stay in the server's audit table.
    Other,
}

impl ErasureReason {
    /// Every reason, in spec order.
    pub const ALL: [ErasureReason; 4] = [
        ErasureReason::LegalErasure,
        ErasureReason::CourtOrder,
        ErasureReason::PublisherError,
        ErasureReason::Other,
    ];

    /// The code used in the envelope's `reason` field.
    pub fn as_str(self) -> &'static str {
        match self {
            ErasureReason::LegalErasure => "legal-erasure",
            ErasureReason::CourtOrder => "court-order",
            ErasureReason::PublisherError => "publisher-error",
            ErasureReason::Other => "other",
        }
    }
}

impl std::fmt::Display for ErasureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErasureReason {
    type Err = EnvelopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErasureReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| EnvelopeError::UnknownReason(s.to_owned()))
    }
}

impl Envelope {
    /// The envelope as JSON with exactly the spec's fields (`null`s included).
    ///
    /// Integers are stored as doubles, like every number from [`crate::json::parse_strict`], so
    /// the result compares equal to the parse of [`Envelope::canonical_bytes`].
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("v".into(), int(VERSION));
        match self {
            Envelope::Record {
                dataset,
                seq,
                key,
                published_at,
                payload_digest,
                supersedes,
            } => {
                m.insert("kind".into(), "record".into());
                m.insert("dataset".into(), dataset.as_str().into());
                m.insert("seq".into(), int(*seq));
                m.insert(
                    "key".into(),
                    key.as_deref().map_or(Value::Null, Value::from),
                );
                m.insert("published_at".into(), published_at.as_str().into());
                m.insert("payload_digest".into(), hex::encode(payload_digest).into());
                m.insert("supersedes".into(), supersedes.map_or(Value::Null, int));
            }
            Envelope::Erasure {
                dataset,
                seq,
                erases,
                published_at,
                reason,
            } => {
                m.insert("kind".into(), "erasure".into());
                m.insert("dataset".into(), dataset.as_str().into());
                m.insert("seq".into(), int(*seq));
                m.insert("erases".into(), int(*erases));
                m.insert("published_at".into(), published_at.as_str().into());
                m.insert("reason".into(), reason.as_str().into());
            }
        }
        Value::Object(m)
    }

    /// `JCS(envelope)`: the bytes served at `…/records/{seq}/leaf` and hashed into the leaf.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        crate::jcs::canonicalize(&self.to_value())
    }

    /// The leaf hash, `SHA-256(0x00 || JCS(envelope))`.
    pub fn leaf_hash(&self) -> [u8; 32] {
        leaf_hash(&self.canonical_bytes())
    }

    /// Decodes an envelope, enforcing every rule of PROTOCOL.md section 2 (see [`EnvelopeError`]).
    pub fn from_value(v: &Value) -> Result<Envelope, EnvelopeError> {
        decode::from_value(v)
    }

    /// The entry's position in its dataset log.
    pub fn seq(&self) -> u64 {
        match self {
            Envelope::Record { seq, .. } | Envelope::Erasure { seq, .. } => *seq,
        }
    }

    /// The dataset origin the entry belongs to.
    pub fn dataset(&self) -> &str {
        match self {
            Envelope::Record { dataset, .. } | Envelope::Erasure { dataset, .. } => dataset,
        }
    }

    /// The sequencing time.
    pub fn published_at(&self) -> &str {
        match self {
            Envelope::Record { published_at, .. } | Envelope::Erasure { published_at, .. } => {
                published_at
            }
        }
    }

    /// The `kind` field: `"record"` or `"erasure"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Envelope::Record { .. } => "record",
            Envelope::Erasure { .. } => "erasure",
        }
    }
}

/// An integer as the double the JSON rules hold it as (exact for every valid envelope field).
fn int(n: u64) -> Value {
    // Lossy above 2^53, where the envelope is invalid anyway; `from_f64` fails only on NaN/inf.
    Number::from_f64(n as f64).map_or(Value::Null, Value::Number)
}

/// The leaf hash of an already canonical envelope: `SHA-256(0x00 || canonical_envelope)`.
///
/// The 0x00 prefix separates leaves from interior nodes (RFC 6962 domain separation).
pub fn leaf_hash(canonical_envelope: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(canonical_envelope);
    h.finalize().into()
}

/// The payload digest: `SHA-256(salt || canonical_payload)`.
///
/// The per-record salt keeps an erased low-entropy payload from being recovered by guessing.
pub fn payload_digest(salt: &[u8; 16], canonical_payload: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(canonical_payload);
    h.finalize().into()
}
