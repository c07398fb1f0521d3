//! Remembers checkpoint notes that already verified, so that a batch of bundles sharing one
//! checkpoint costs one signature verification instead of one per bundle.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::{Checkpoint, CheckpointError, verify_note};
use crate::merkle::Hash;
use crate::note::Note;

/// A bounded, thread-safe cache of successful [`verify_note`] results.
///
/// Keyed by `SHA-256(public key || note bytes)`: the key is fixed-length, so no two different
/// (key, note) pairs share a preimage. Failures are never cached. When full, an arbitrary entry is
/// evicted; the cache is an optimisation, never a source of trust.
#[derive(Debug)]
pub struct VerifiedNoteCache {
    capacity: usize,
    entries: Mutex<HashMap<Hash, (Checkpoint, Note)>>,
}

impl VerifiedNoteCache {
    /// A cache holding at most `capacity` notes (at least one).
    pub fn new(capacity: usize) -> Self {
        VerifiedNoteCache {
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// [`verify_note`], answered from the cache when these exact bytes verified before.
    pub fn verify(
        &self,
        note_bytes: &[u8],
        public_key: &[u8; 32],
    ) -> Result<(Checkpoint, Note), CheckpointError> {
        let id: Hash = Sha256::new()
            .chain_update(public_key)
            .chain_update(note_bytes)
            .finalize()
            .into();
        if let Some(hit) = self.lock().get(&id) {
            return Ok(hit.clone());
        }
        let verified = verify_note(note_bytes, public_key)?;
        let mut entries = self.lock();
        if entries.len() >= self.capacity
            && let Some(victim) = entries.keys().next().copied()
        {
            entries.remove(&victim);
        }
        entries.insert(id, verified.clone());
        Ok(verified)
    }

    /// Number of cached notes.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The map; a panic elsewhere while holding the lock cannot leave it inconsistent, since
    /// every update is a single insert or remove.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Hash, (Checkpoint, Note)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for VerifiedNoteCache {
    /// Room for 1024 notes: far more checkpoints than a verification session meets.
    fn default() -> Self {
        VerifiedNoteCache::new(1024)
    }
}
