//! Step 7, anchor-offline: the checkpoint is a leaf of the claimed batch.
//!
//! `batch_root` is the server's unsigned claim until step 8 reads it from the chain, so passing
//! this step alone shows only internal consistency: "anchor claimed, not checked on chain".

use super::Anchor;
use crate::merkle::{self, Hash, InclusionError};

/// Why step 7 fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorOfflineError {
    /// `SHA-256(0x00 || note text)` does not verify with `batch_path` against `batch_root`.
    #[error("checkpoint is not in the claimed batch: {0}")]
    NotInBatch(InclusionError),
}

/// Verifies the batch leaf of `note_text` (the checkpoint's three signed lines).
pub(super) fn check(
    note_text: &str,
    anchor: &Anchor,
    batch_root: &Hash,
    batch_path: &[Hash],
) -> Result<(), AnchorOfflineError> {
    let path: Vec<Vec<u8>> = batch_path.iter().map(|h| h.to_vec()).collect();
    merkle::verify_inclusion(
        &merkle::leaf_hash(note_text.as_bytes()),
        anchor.batch_index,
        anchor.batch_size,
        &path,
        batch_root,
    )
    .map_err(AnchorOfflineError::NotInBatch)
}
