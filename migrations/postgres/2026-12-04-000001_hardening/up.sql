-- Hardening (issue 12).
--
-- Every transaction a batch was ever sent as (the first one and each fee bump): before the
-- anchoring worker halts on a used nonce it reads the receipt of each of them.
CREATE TABLE anchor_batch_txs (
    tx_hash         BYTEA PRIMARY KEY CHECK (length(tx_hash) = 32),
    batch_seq       BIGINT NOT NULL REFERENCES anchor_batches (batch_seq),
    raw_tx          BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX anchor_batch_txs_batch ON anchor_batch_txs (batch_seq);
INSERT INTO anchor_batch_txs (tx_hash, batch_seq, raw_tx)
    SELECT tx_hash, batch_seq, raw_tx FROM anchor_batches;

-- Who cleared a halt, and what the chain showed when they did (`civicproof anchor resume`).
ALTER TABLE anchor_halts ADD COLUMN cleared_by TEXT;
ALTER TABLE anchor_halts ADD COLUMN clear_evidence TEXT;

-- The invalidation outbox: written in the transaction of an erasure or a token revocation,
-- read by every replica (so a replica that was restarting, or cut off from Redis, still
-- purges its caches and closes the revoked token's streams), and marked once the shared
-- Redis copies are purged.
CREATE TABLE invalidations (
    id              BIGSERIAL PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('erasure', 'token')),
    dataset_id      BIGINT REFERENCES datasets (id),
    seq             BIGINT,
    token_id        UUID REFERENCES tokens (id),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    redis_purged_at TIMESTAMPTZ,
    CHECK ((kind = 'erasure') = (dataset_id IS NOT NULL AND seq IS NOT NULL)),
    CHECK ((kind = 'token') = (token_id IS NOT NULL))
);
CREATE INDEX invalidations_unpurged ON invalidations (id) WHERE redis_purged_at IS NULL;

-- An Idempotency-Key is now taken inside the publishing transaction (a crashed request
-- leaves nothing behind), so claims need no lease.
DELETE FROM idempotency_keys WHERE status IS NULL;
ALTER TABLE idempotency_keys DROP COLUMN lease_until;
