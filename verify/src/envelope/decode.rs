//! Strict decoding of envelopes (verification step 3: "exactly section 2's fields and rules").
//!
//! Leniency here would let two different JSON texts describe "the same" entry, or let a server
//! smuggle data into a leaf, so anything the spec does not allow is refused with its own error.

use serde_json::{Map, Value};

use super::{Envelope, ErasureReason, VERSION, is_valid_origin, parse_published_at};
use crate::json::MAX_SAFE_INTEGER;

/// Longest natural key, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 256;

const RECORD_FIELDS: [&str; 8] = [
    "v",
    "kind",
    "dataset",
    "seq",
    "key",
    "published_at",
    "payload_digest",
    "supersedes",
];
const ERASURE_FIELDS: [&str; 7] = [
    "v",
    "kind",
    "dataset",
    "seq",
    "erases",
    "published_at",
    "reason",
];

/// Why a JSON value is not a valid envelope; one variant per rule of PROTOCOL.md section 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The envelope is not a JSON object.
    #[error("envelope must be a JSON object")]
    NotAnObject,
    /// A required field is absent.
    #[error("envelope field {0:?} is missing")]
    MissingField(&'static str),
    /// A field the spec does not define for this kind is present.
    #[error("envelope field {0:?} is not allowed")]
    UnknownField(String),
    /// `v` is not the integer 1.
    #[error("envelope version must be 1")]
    UnsupportedVersion,
    /// `kind` is neither `record` nor `erasure`.
    #[error("envelope kind {0:?} is unknown (expected \"record\" or \"erasure\")")]
    UnknownKind(String),
    /// A field has the wrong JSON type.
    #[error("envelope field {field:?} must be {expected}")]
    WrongType {
        /// The field's name.
        field: &'static str,
        /// The type the spec requires.
        expected: &'static str,
    },
    /// An integer field is not an integer in [0, 2^53−1].
    #[error("envelope field {0:?} must be an integer in [0, 2^53-1]")]
    IntegerOutOfRange(&'static str),
    /// `supersedes` or `erases` is not smaller than `seq`.
    #[error("envelope field {0:?} must be smaller than seq")]
    NotBeforeSeq(&'static str),
    /// `dataset` is not a dataset origin `<prefix>/<institution>/<dataset>`.
    #[error("envelope dataset is not a valid dataset origin")]
    InvalidDataset,
    /// `key` is longer than 256 UTF-8 bytes.
    #[error("envelope key is {0} bytes long; at most 256 are allowed")]
    KeyTooLong(usize),
    /// `key` contains a control character.
    #[error("envelope key must not contain control characters")]
    KeyControlCharacter,
    /// `published_at` is not `YYYY-MM-DDTHH:MM:SS.mmmZ` with a real date and time.
    #[error("envelope published_at must be a UTC time like 2026-11-26T10:00:01.123Z")]
    InvalidTimestamp,
    /// `payload_digest` is not 64 lowercase hex digits.
    #[error("envelope payload_digest must be 64 lowercase hex digits")]
    InvalidDigest,
    /// `reason` is not one of the four codes.
    #[error(
        "erasure reason {0:?} is unknown (expected legal-erasure, court-order, publisher-error or other)"
    )]
    UnknownReason(String),
}

/// See [`Envelope::from_value`].
pub(super) fn from_value(v: &Value) -> Result<Envelope, EnvelopeError> {
    let m = v.as_object().ok_or(EnvelopeError::NotAnObject)?;
    if get(m, "v")?.as_f64() != Some(VERSION as f64) {
        return Err(EnvelopeError::UnsupportedVersion);
    }
    let kind = string(m, "kind")?;
    let fields: &[&'static str] = match kind {
        "record" => &RECORD_FIELDS,
        "erasure" => &ERASURE_FIELDS,
        _ => return Err(EnvelopeError::UnknownKind(kind.to_owned())),
    };
    if let Some(extra) = m.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(EnvelopeError::UnknownField(extra.clone()));
    }
    for field in fields {
        get(m, field)?;
    }
    let dataset = string(m, "dataset")?;
    if !is_valid_origin(dataset) {
        return Err(EnvelopeError::InvalidDataset);
    }
    let dataset = dataset.to_owned();
    let seq = integer(m, "seq")?;
    let published_at = string(m, "published_at")?;
    if parse_published_at(published_at).is_none() {
        return Err(EnvelopeError::InvalidTimestamp);
    }
    let published_at = published_at.to_owned();
    if kind == "record" {
        Ok(Envelope::Record {
            dataset,
            seq,
            key: nullable(m, "key", |_| key(m))?,
            published_at,
            payload_digest: digest(string(m, "payload_digest")?)?,
            supersedes: nullable(m, "supersedes", |f| earlier(m, f, seq))?,
        })
    } else {
        Ok(Envelope::Erasure {
            dataset,
            seq,
            erases: earlier(m, "erases", seq)?,
            published_at,
            reason: string(m, "reason")?.parse::<ErasureReason>()?,
        })
    }
}

fn get<'a>(m: &'a Map<String, Value>, field: &'static str) -> Result<&'a Value, EnvelopeError> {
    m.get(field).ok_or(EnvelopeError::MissingField(field))
}

fn string<'a>(m: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, EnvelopeError> {
    get(m, field)?.as_str().ok_or(EnvelopeError::WrongType {
        field,
        expected: "a string",
    })
}

/// Decodes a field that may be `null` with `decode`.
fn nullable<T>(
    m: &Map<String, Value>,
    field: &'static str,
    decode: impl FnOnce(&'static str) -> Result<T, EnvelopeError>,
) -> Result<Option<T>, EnvelopeError> {
    match get(m, field)? {
        Value::Null => Ok(None),
        _ => decode(field).map(Some),
    }
}

/// An integer in [0, 2^53−1], whether held as `u64` or as an integral double.
fn integer(m: &Map<String, Value>, field: &'static str) -> Result<u64, EnvelopeError> {
    let n = get(m, field)?.as_number().ok_or(EnvelopeError::WrongType {
        field,
        expected: "an integer",
    })?;
    let out_of_range = EnvelopeError::IntegerOutOfRange(field);
    if let Some(u) = n.as_u64() {
        return (u <= MAX_SAFE_INTEGER).then_some(u).ok_or(out_of_range);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER as f64).contains(&f) => Ok(f as u64),
        _ => Err(out_of_range),
    }
}

/// An integer field that must name an earlier entry than `seq`.
fn earlier(m: &Map<String, Value>, field: &'static str, seq: u64) -> Result<u64, EnvelopeError> {
    let n = integer(m, field)?;
    if n >= seq {
        return Err(EnvelopeError::NotBeforeSeq(field));
    }
    Ok(n)
}

fn key(m: &Map<String, Value>) -> Result<String, EnvelopeError> {
    let key = string(m, "key")?;
    if key.len() > MAX_KEY_BYTES {
        return Err(EnvelopeError::KeyTooLong(key.len()));
    }
    if key.chars().any(char::is_control) {
        return Err(EnvelopeError::KeyControlCharacter);
    }
    Ok(key.to_owned())
}

fn digest(s: &str) -> Result<[u8; 32], EnvelopeError> {
    let lowercase_hex = s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    if !lowercase_hex {
        return Err(EnvelopeError::InvalidDigest);
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|_| EnvelopeError::InvalidDigest)?;
    Ok(out)
}
