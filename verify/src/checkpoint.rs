//! C2SP tlog-checkpoint: the signed statement "origin's tree of `size` leaves has `root`"
//! (PROTOCOL.md section 4 and section 7, step 4).
//!
//! A verifier takes size and root only from a checkpoint whose signature it verified under the
//! pinned key, so parsing and signature checking live together in [`verify_note`].

mod cache;

pub use cache::VerifiedNoteCache;

use ed25519_dalek::SigningKey;

use crate::ed25519::{self, Ed25519Error};
use crate::encoding::{base64_decode, base64_encode, parse_decimal};
use crate::merkle::Hash;
use crate::note::{self, Note, NoteError};

/// A tree head: the checkpoint text's three lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// The log's origin, also the signing key name.
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The RFC 6962 root over those leaves.
    pub root: Hash,
}

/// Why a checkpoint note was refused (verification step 4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The note itself is malformed.
    #[error("{0}")]
    Note(#[from] NoteError),
    /// The text is not exactly three newline-terminated lines.
    #[error("checkpoint text must be exactly three lines (origin, size, root)")]
    LineCount,
    /// The origin line is empty.
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    /// The size line is not a decimal in [0, 2^53−1] without leading zeros.
    #[error("checkpoint size must be a decimal in [0, 2^53-1] without leading zeros")]
    InvalidSize,
    /// The root line is not canonical base64 of 32 bytes.
    #[error("checkpoint root must be canonical base64 of 32 bytes")]
    InvalidRoot,
    /// The pinned public key is unusable.
    #[error("pinned log public key: {0}")]
    PublicKey(Ed25519Error),
    /// No signature line carries the origin as name and the pinned key's id.
    #[error("no signature by {origin} with key id {key_id} (derived from the pinned key)")]
    NoSignature {
        /// The checkpoint origin (the expected key name).
        origin: String,
        /// The expected key id, 8 hex digits.
        key_id: String,
    },
    /// A signature line of the pinned key does not verify.
    #[error("checkpoint signature: {0}")]
    Signature(Ed25519Error),
    /// The note verified under the log key, but not under the pinned witness policy.
    #[error("{0}")]
    Witness(crate::cosignature::CosignatureError),
}

impl Checkpoint {
    /// The note text: origin, decimal size and base64 root, each line ending in a newline.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            base64_encode(&self.root)
        )
    }

    /// Parses a checkpoint text; extension lines are refused (PROTOCOL.md: exactly three lines).
    pub fn parse_text(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::LineCount)?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root] = lines[..] else {
            return Err(CheckpointError::LineCount);
        };
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size = parse_decimal(size).ok_or(CheckpointError::InvalidSize)?;
        let root = base64_decode(root)
            .and_then(|r| Hash::try_from(r).ok())
            .ok_or(CheckpointError::InvalidRoot)?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// The complete signed note for this checkpoint, signed under key name = origin.
    pub fn sign(&self, key: &SigningKey) -> String {
        note::sign_ed25519(&self.to_text(), &self.origin, key)
    }
}

/// Parses a checkpoint note and verifies it under `public_key` (verification step 4).
///
/// Signature lines whose name is the origin and whose key id is derived from `public_key` are
/// the pinned key's; at least one must exist and every one of them must verify strictly. Lines of
/// other keys (cosignatures) are ignored, as C2SP signed-note requires.
pub fn verify_note(
    note_bytes: &[u8],
    public_key: &[u8; 32],
) -> Result<(Checkpoint, Note), CheckpointError> {
    let note = note::parse(note_bytes)?;
    let checkpoint = Checkpoint::parse_text(&note.text)?;
    let key = ed25519::verifying_key(public_key).map_err(CheckpointError::PublicKey)?;
    let id = note::key_id(&checkpoint.origin, public_key);
    let mut ours = note
        .signatures
        .iter()
        .filter(|s| s.name == checkpoint.origin && s.key_id == id)
        .peekable();
    if ours.peek().is_none() {
        return Err(CheckpointError::NoSignature {
            origin: checkpoint.origin,
            key_id: hex::encode(id),
        });
    }
    for sig in ours {
        ed25519::verify(&key, note.text.as_bytes(), &sig.signature)
            .map_err(CheckpointError::Signature)?;
    }
    Ok((checkpoint, note))
}
