-- On-chain anchoring (PROOFS.md section 4), for SQLite: see migrations/postgres for the
-- design and the foundation migration here for the type mapping.

CREATE TABLE anchor_identity (
    singleton       INTEGER PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    chain_id        INTEGER NOT NULL CHECK (chain_id > 0),
    contract        BLOB NOT NULL CHECK (length(contract) = 20),
    code_hash       BLOB NOT NULL CHECK (length(code_hash) = 32),
    anchorer        BLOB NOT NULL CHECK (length(anchorer) = 20),
    deploy_tx       BLOB CHECK (length(deploy_tx) = 32),
    finality_depth  INTEGER CHECK (finality_depth > 0),
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;

CREATE TABLE anchor_batches (
    batch_seq       INTEGER PRIMARY KEY CHECK (batch_seq >= 0),
    root            BLOB NOT NULL CHECK (length(root) = 32),
    prev_root       BLOB NOT NULL CHECK (length(prev_root) = 32),
    size            INTEGER NOT NULL CHECK (size > 0),
    nonce           INTEGER NOT NULL UNIQUE CHECK (nonce >= 0),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'submitted', 'confirmed')),
    raw_tx          BLOB NOT NULL,
    tx_hash         BLOB NOT NULL CHECK (length(tx_hash) = 32),
    search_from     INTEGER NOT NULL CHECK (search_from >= 0),
    block_number    INTEGER,
    block_hash      BLOB CHECK (length(block_hash) = 32),
    block_time      INTEGER,
    gas_used        INTEGER,
    fee_bumps       INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    submitted_at    TEXT,
    confirmed_at    TEXT,
    CHECK (status <> 'confirmed' OR (block_number IS NOT NULL AND block_hash IS NOT NULL AND block_time IS NOT NULL))
) STRICT;

CREATE TABLE anchor_members (
    batch_seq       INTEGER NOT NULL REFERENCES anchor_batches (batch_seq),
    idx             INTEGER NOT NULL CHECK (idx >= 0),
    dataset_id      INTEGER NOT NULL REFERENCES datasets (id),
    size            INTEGER NOT NULL CHECK (size > 0),
    leaf_hash       BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    PRIMARY KEY (batch_seq, idx),
    UNIQUE (dataset_id, size),
    FOREIGN KEY (dataset_id, size) REFERENCES checkpoints (dataset_id, size)
) STRICT;

CREATE TABLE anchor_halts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    reason          TEXT NOT NULL,
    halted_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    cleared_at      TEXT
) STRICT;
