-- Verifiable logs (PROOFS.md section 3): each dataset's RFC 6962 tree is persisted as the
-- hashes of its complete subtrees, written in the publishing transaction, so proofs read
-- O(log n) stored nodes and a restart rebuilds nothing. Level 0 (leaves) lives in
-- entries.leaf_hash; node (level, idx) covers leaves [idx * 2^level, (idx + 1) * 2^level).
CREATE TABLE tree_nodes (
    dataset_id  BIGINT NOT NULL REFERENCES datasets (id),
    level       SMALLINT NOT NULL CHECK (level BETWEEN 1 AND 62),
    idx         BIGINT NOT NULL CHECK (idx >= 0),
    hash        BYTEA NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (dataset_id, level, idx)
);

-- Every signed checkpoint is kept and served by size.
CREATE TABLE checkpoints (
    dataset_id  BIGINT NOT NULL REFERENCES datasets (id),
    size        BIGINT NOT NULL CHECK (size >= 0),
    root        BYTEA NOT NULL CHECK (length(root) = 32),
    -- The complete signed note, exactly as served.
    note        TEXT NOT NULL,
    signed_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset_id, size)
);

-- An origin whose new tree failed the consistency check against its last checkpoint: the
-- signer stops signing it until an operator investigates.
CREATE TABLE halted_origins (
    dataset_id  BIGINT PRIMARY KEY REFERENCES datasets (id),
    reason      TEXT NOT NULL,
    halted_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The instance's fixed identity (PROOFS.md section 3, "Identity is fixed"): one row.
CREATE TABLE instance_identity (
    singleton       BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    origin_prefix   TEXT NOT NULL,
    log_public_key  BYTEA NOT NULL CHECK (length(log_public_key) = 32),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
