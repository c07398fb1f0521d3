-- Until when witnesses' cosignatures may still be appended to a checkpoint's note (PROTOCOL.md
-- section 10.3); NULL when the signer had no witnesses configured, so the note never changes.
-- Stored with the checkpoint rather than read from each replica's configuration, so that every
-- replica agrees on when a note is settled and may be cached as immutable.
--
-- The default covers a rolling upgrade: rows that existed before, and rows inserted by replicas
-- still on the old code (which leave the column out while they may still append cosignatures),
-- stay unsettled for a while instead of being served as immutable. New code always writes the
-- column (NULL included). PostgreSQL evaluates the default once for the existing rows.
ALTER TABLE checkpoints ADD COLUMN cosign_until timestamptz DEFAULT (now() + interval '30 seconds');
