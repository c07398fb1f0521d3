-- Until when witnesses' cosignatures may still be appended to a checkpoint's note (PROTOCOL.md
-- section 10.3); NULL when the signer had no witnesses configured. See the PostgreSQL migration.
ALTER TABLE checkpoints ADD COLUMN cosign_until TEXT;
