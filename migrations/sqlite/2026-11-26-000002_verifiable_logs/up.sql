-- Verifiable logs (PROOFS.md section 3), for SQLite: see migrations/postgres for the design
-- and the foundation migration here for the type mapping.
CREATE TABLE tree_nodes (
    dataset_id  INTEGER NOT NULL REFERENCES datasets (id),
    level       INTEGER NOT NULL CHECK (level BETWEEN 1 AND 62),
    idx         INTEGER NOT NULL CHECK (idx >= 0),
    hash        BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (dataset_id, level, idx)
) STRICT, WITHOUT ROWID;

-- Every signed checkpoint is kept and served by size.
CREATE TABLE checkpoints (
    dataset_id  INTEGER NOT NULL REFERENCES datasets (id),
    size        INTEGER NOT NULL CHECK (size >= 0),
    root        BLOB NOT NULL CHECK (length(root) = 32),
    -- The complete signed note, exactly as served.
    note        TEXT NOT NULL,
    signed_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    PRIMARY KEY (dataset_id, size)
) STRICT;

-- An origin whose new tree failed the consistency check against its last checkpoint.
CREATE TABLE halted_origins (
    dataset_id  INTEGER PRIMARY KEY REFERENCES datasets (id),
    reason      TEXT NOT NULL,
    halted_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;

-- The instance's fixed identity (PROOFS.md section 3, "Identity is fixed"): one row.
CREATE TABLE instance_identity (
    singleton       INTEGER PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    origin_prefix   TEXT NOT NULL,
    log_public_key  BLOB NOT NULL CHECK (length(log_public_key) = 32),
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;
