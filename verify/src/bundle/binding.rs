//! Step 5, checkpoint-binding: the verified checkpoint is the one of the expected log, the entry
//! is the expected one, and the proof is for the checkpoint's tree size.
//!
//! Without this step a valid bundle of another dataset, another entry or an older tree would
//! verify; size and root therefore come only from the signed note.

use super::{Expect, Trust};
use crate::checkpoint::Checkpoint;
use crate::envelope::Envelope;

/// Why step 5 fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// The expected origin is not under the pinned instance prefix.
    #[error("expected origin {origin:?} does not start with the pinned prefix \"{prefix}/\"")]
    OriginNotUnderPrefix {
        /// The expected origin.
        origin: String,
        /// The pinned prefix.
        prefix: String,
    },
    /// The checkpoint is of another log.
    #[error("checkpoint origin {checkpoint:?} is not the expected origin {expected:?}")]
    CheckpointOrigin {
        /// Origin in the signed note.
        checkpoint: String,
        /// The expected origin.
        expected: String,
    },
    /// The entry is of another dataset.
    #[error("envelope dataset {dataset:?} is not the expected origin {expected:?}")]
    Dataset {
        /// `envelope.dataset`.
        dataset: String,
        /// The expected origin.
        expected: String,
    },
    /// The entry is not the requested one.
    #[error("envelope seq {seq} is not the expected seq {expected}")]
    Seq {
        /// `envelope.seq`.
        seq: u64,
        /// The expected seq.
        expected: u64,
    },
    /// The proof is for another tree size.
    #[error("inclusion.tree_size {tree_size} is not the checkpoint size {size}")]
    TreeSize {
        /// `inclusion.tree_size`.
        tree_size: u64,
        /// The signed size.
        size: u64,
    },
    /// The checkpoint's tree does not reach the entry.
    #[error("checkpoint size {size} does not exceed envelope seq {seq}")]
    SeqBeyondCheckpoint {
        /// `envelope.seq`.
        seq: u64,
        /// The signed size.
        size: u64,
    },
}

/// Checks the bindings of step 5, in the order PROTOCOL.md lists them.
pub(super) fn check(
    checkpoint: &Checkpoint,
    envelope: &Envelope,
    tree_size: u64,
    trust: &Trust,
    expect: &Expect,
) -> Result<(), BindingError> {
    let under_prefix = expect
        .origin
        .strip_prefix(trust.prefix.as_str())
        .is_some_and(|rest| rest.starts_with('/'));
    if !under_prefix {
        return Err(BindingError::OriginNotUnderPrefix {
            origin: expect.origin.clone(),
            prefix: trust.prefix.clone(),
        });
    }
    if checkpoint.origin != expect.origin {
        return Err(BindingError::CheckpointOrigin {
            checkpoint: checkpoint.origin.clone(),
            expected: expect.origin.clone(),
        });
    }
    if envelope.dataset() != expect.origin {
        return Err(BindingError::Dataset {
            dataset: envelope.dataset().to_owned(),
            expected: expect.origin.clone(),
        });
    }
    if let Some(expected) = expect.seq.filter(|s| *s != envelope.seq()) {
        return Err(BindingError::Seq {
            seq: envelope.seq(),
            expected,
        });
    }
    if tree_size != checkpoint.size {
        return Err(BindingError::TreeSize {
            tree_size,
            size: checkpoint.size,
        });
    }
    if checkpoint.size <= envelope.seq() {
        return Err(BindingError::SeqBeyondCheckpoint {
            seq: envelope.seq(),
            size: checkpoint.size,
        });
    }
    Ok(())
}
