//! Step 1, lengths: every SHA-256 value of the bundle decodes (lowercase hex, PROTOCOL.md section 1)
//! to exactly 32 bytes, and the salt, when present, to exactly 16.
//!
//! The envelope's `payload_digest` is decoded by the steps that read the envelope (2 and 3).

use super::Bundle;
use crate::encoding::decode_lower_hex;
use crate::merkle::Hash;

/// Why a hash or the salt fails step 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LengthError {
    /// A SHA-256 value is not 64 lowercase hex digits.
    #[error("{0} must be 64 lowercase hex digits (32 bytes)")]
    Hash(String),
    /// The salt is not 32 lowercase hex digits.
    #[error("salt must be 32 lowercase hex digits (16 bytes)")]
    Salt,
}

/// The bundle's binary values, decoded.
pub(super) struct Decoded {
    pub leaf_hash: Hash,
    pub path: Vec<Hash>,
    pub salt: Option<[u8; 16]>,
    /// The erasure entry's inclusion path, when the bundle has one.
    pub erasure_path: Option<Vec<Hash>>,
    /// The anchor's batch root and batch path, when the bundle has an anchor.
    pub batch: Option<(Hash, Vec<Hash>)>,
}

/// Decodes every SHA-256 value and the salt of `bundle`.
pub(super) fn decode(bundle: &Bundle) -> Result<Decoded, LengthError> {
    let leaf_hash = hash(&bundle.leaf_hash, "leaf_hash")?;
    let path = hashes(&bundle.inclusion.path, "inclusion.path")?;
    let salt = match &bundle.salt {
        Some(s) => Some(decode_lower_hex::<16>(s).ok_or(LengthError::Salt)?),
        None => None,
    };
    let erasure_path = match &bundle.erasure {
        Some(e) => Some(hashes(&e.path, "erasure.path")?),
        None => None,
    };
    let batch = match &bundle.anchor {
        Some(a) => {
            hash(&a.prev_root, "anchor.prev_root")?;
            Some((
                hash(&a.batch_root, "anchor.batch_root")?,
                hashes(&a.batch_path, "anchor.batch_path")?,
            ))
        }
        None => None,
    };
    Ok(Decoded {
        leaf_hash,
        path,
        salt,
        erasure_path,
        batch,
    })
}

fn hash(s: &str, field: &str) -> Result<Hash, LengthError> {
    decode_lower_hex::<32>(s).ok_or_else(|| LengthError::Hash(field.to_owned()))
}

fn hashes(items: &[String], field: &str) -> Result<Vec<Hash>, LengthError> {
    items
        .iter()
        .enumerate()
        .map(|(i, s)| hash(s, &format!("{field}[{i}]")))
        .collect()
}
