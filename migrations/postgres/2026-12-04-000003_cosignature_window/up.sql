-- Until when witnesses' cosignatures may still be appended to a checkpoint's note (PROTOCOL.md
-- section 10.3); NULL when the signer had no witnesses configured, so the note never changes.
-- Stored with the checkpoint rather than read from each replica's configuration, so that every
-- replica agrees on when a note is settled and may be cached as immutable.
ALTER TABLE checkpoints ADD COLUMN cosign_until timestamptz;
