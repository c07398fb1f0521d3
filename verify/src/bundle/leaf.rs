//! Step 3, leaf: the envelope has exactly PROTOCOL.md section 2's fields and rules, and its leaf
//! hash is the bundle's `leaf_hash`.

use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::envelope::{Envelope, EnvelopeError};
use crate::jcs;
use crate::merkle::{self, Hash};

/// Why step 3 fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    /// The envelope breaks a rule of section 2.
    #[error("{0}")]
    Envelope(#[from] EnvelopeError),
    /// `SHA-256(0x00 || JCS(envelope))` differs from `leaf_hash`.
    #[error("SHA-256(0x00 || JCS(envelope)) does not equal leaf_hash")]
    Mismatch,
}

/// Decodes the envelope strictly and checks it against `leaf_hash`.
pub(super) fn check(envelope: &Value, leaf_hash: &Hash) -> Result<Envelope, LeafError> {
    let decoded = Envelope::from_value(envelope)?;
    // Hash the received value's canonical form, literally what the spec says; the strict decode
    // guarantees it equals `decoded.canonical_bytes()`.
    let leaf = merkle::leaf_hash(&jcs::canonicalize(envelope));
    if bool::from(leaf.ct_eq(leaf_hash)) {
        Ok(decoded)
    } else {
        Err(LeafError::Mismatch)
    }
}
