-- Until when witnesses' cosignatures may still be appended to a checkpoint's note (PROTOCOL.md
-- section 10.3); NULL when the signer had no witnesses configured. See the PostgreSQL migration.
-- The embedded mode is one process, so there is no rolling upgrade to cover (and SQLite allows
-- only constant defaults in ADD COLUMN).
ALTER TABLE checkpoints ADD COLUMN cosign_until TEXT;
