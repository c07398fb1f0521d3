-- Hardening (issue 12), for SQLite: see migrations/postgres for the design.
CREATE TABLE anchor_batch_txs (
    tx_hash         BLOB PRIMARY KEY CHECK (length(tx_hash) = 32),
    batch_seq       INTEGER NOT NULL REFERENCES anchor_batches (batch_seq),
    raw_tx          BLOB NOT NULL,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;
CREATE INDEX anchor_batch_txs_batch ON anchor_batch_txs (batch_seq);
INSERT INTO anchor_batch_txs (tx_hash, batch_seq, raw_tx)
    SELECT tx_hash, batch_seq, raw_tx FROM anchor_batches;

ALTER TABLE anchor_halts ADD COLUMN cleared_by TEXT;
ALTER TABLE anchor_halts ADD COLUMN clear_evidence TEXT;

CREATE TABLE invalidations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL CHECK (kind IN ('erasure', 'token')),
    dataset_id      INTEGER REFERENCES datasets (id),
    seq             INTEGER,
    token_id        TEXT REFERENCES tokens (id),
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    redis_purged_at TEXT,
    CHECK ((kind = 'erasure') = (dataset_id IS NOT NULL AND seq IS NOT NULL)),
    CHECK ((kind = 'token') = (token_id IS NOT NULL))
) STRICT;
CREATE INDEX invalidations_unpurged ON invalidations (id) WHERE redis_purged_at IS NULL;

-- An Idempotency-Key is now taken inside the publishing transaction (a crashed request
-- leaves nothing behind), so claims need no lease.
DELETE FROM idempotency_keys WHERE status IS NULL;
ALTER TABLE idempotency_keys DROP COLUMN lease_until;
