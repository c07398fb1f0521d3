//! The proof bundle of PROTOCOL.md section 6 and its verification (section 7, steps 0-8; step 8
//! asks the client's own chain endpoint through [`crate::chain::ChainRpc`]).
//!
//! The serde types are what a server serves ([`Bundle::to_json_bytes`] gives the deterministic
//! bytes); [`verify_bundle`] is what every client runs on those bytes. Verification never
//! deserializes through serde: step 0 reads the bytes with the strict parser so that what is
//! verified is exactly what was received. Each step lives in its own module with its own error.

mod anchor;
mod binding;
mod format;
mod leaf;
mod lengths;
mod online;
mod payload;
mod report;
mod verify;

pub use anchor::AnchorOfflineError;
pub use binding::BindingError;
pub use format::FormatError;
pub use leaf::LeafError;
pub use lengths::LengthError;
pub use online::{AnchorFindings, AnchorOnlineError, MAX_CLOCK_LEAD_SECONDS, iso_time};
pub use payload::PayloadError;
pub use report::{
    ANCHOR_CONFIRMED, ANCHOR_UNCHECKED, Report, SCOPE_NOTE, STEP_NAMES, Step, StepReport,
    StepStatus,
};
pub use verify::{Expect, Trust, VerifyOptions, verify_bundle, verify_bundle_with};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::merkle::Hash;

/// The `format` value of this version.
pub const FORMAT: &str = "civicproof/bundle/v1";

/// Longest path (inclusion, erasure or batch) a bundle may carry.
pub const MAX_PATH_LEN: usize = 64;

/// A proof bundle with exactly the field names of PROTOCOL.md section 6.
///
/// Hashes are lowercase hex strings, as served; [`hex_hashes`] converts computed paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// Always [`FORMAT`].
    pub format: String,
    /// The entry envelope (PROTOCOL.md section 2).
    pub envelope: Value,
    /// The record's payload; `null` for erased records and erasure entries.
    pub payload: Option<Value>,
    /// The payload salt as 32 lowercase hex digits; `null` exactly when `payload` is.
    pub salt: Option<String>,
    /// `SHA-256(0x00 || JCS(envelope))`, hex.
    pub leaf_hash: String,
    /// The inclusion proof of the entry in the checkpoint's tree.
    pub inclusion: Inclusion,
    /// The complete signed checkpoint note.
    pub checkpoint: String,
    /// For an erased record: the erasure entry and its inclusion path.
    pub erasure: Option<Erasure>,
    /// The confirmed anchor of a batch containing the checkpoint.
    pub anchor: Option<Anchor>,
    /// An unverified hint about a submitted, unconfirmed batch.
    pub anchor_pending: Option<AnchorPending>,
}

/// The inclusion proof: tree size and path from the leaf's sibling upwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inclusion {
    /// Must equal the checkpoint size.
    pub tree_size: u64,
    /// Hex SHA-256 values.
    pub path: Vec<String>,
}

/// The erasure entry that erased this record, with its inclusion path in the same checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Erasure {
    /// The erasure envelope.
    pub envelope: Value,
    /// Hex SHA-256 values.
    pub path: Vec<String>,
}

/// A confirmed on-chain anchor of the batch that contains the bundle's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The batch's sequence number in the anchoring account's chain.
    pub batch_seq: u64,
    /// Hex root over the batch leaves.
    pub batch_root: String,
    /// Number of leaves (checkpoints) in the batch.
    pub batch_size: u64,
    /// This checkpoint's position in the batch.
    pub batch_index: u64,
    /// Hex inclusion path of the checkpoint's batch leaf.
    pub batch_path: Vec<String>,
    /// Hex root of the previous batch (64 zeros for batch 0).
    pub prev_root: String,
    /// The EVM chain id.
    pub chain_id: u64,
    /// The anchor contract, `0x` + 40 lowercase hex.
    pub contract: String,
    /// The anchoring account, `0x` + 40 lowercase hex.
    pub anchorer: String,
    /// The anchoring transaction, `0x` + 64 lowercase hex.
    pub tx_hash: String,
    /// The block that included it.
    pub block_number: u64,
    /// That block's hash, `0x` + 64 lowercase hex.
    pub block_hash: String,
    /// That block's timestamp (Unix seconds).
    pub block_time: u64,
}

/// A submitted but unconfirmed batch: a hint, never verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorPending {
    /// The batch's sequence number.
    pub batch_seq: u64,
    /// The pending transaction, `0x` + 64 lowercase hex.
    pub tx_hash: String,
}

impl Bundle {
    /// `JCS(bundle)`: the served bytes, identical for identical bundles.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Serializing these types cannot fail: all map keys are strings and no custom
        // serializer is involved.
        let value = serde_json::to_value(self).expect("a bundle always serializes to JSON");
        crate::jcs::canonicalize(&value)
    }

    /// Reads bundle bytes exactly as verification step 0 does (strict JSON, every field checked).
    pub fn from_json_strict(bytes: &[u8]) -> Result<Bundle, FormatError> {
        format::parse(bytes)
    }
}

/// Lowercase hex of each hash, the form paths take in a bundle.
pub fn hex_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}
