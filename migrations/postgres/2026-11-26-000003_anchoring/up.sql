-- On-chain anchoring (PROOFS.md section 4). The chain, contract and anchoring account are
-- recorded once and never change; batches are persisted (with their signed transaction) before
-- anything is sent, so a crash at any point neither skips nor repeats a batch seq.

CREATE TABLE anchor_identity (
    singleton       BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    chain_id        BIGINT NOT NULL CHECK (chain_id > 0),
    contract        BYTEA NOT NULL CHECK (length(contract) = 20),
    -- keccak256 of the contract's runtime code, as /.well-known publishes it.
    code_hash       BYTEA NOT NULL CHECK (length(code_hash) = 32),
    anchorer        BYTEA NOT NULL CHECK (length(anchorer) = 20),
    -- Set when this instance deployed the contract itself.
    deploy_tx       BYTEA CHECK (length(deploy_tx) = 32),
    -- The finality policy last seen (a policy, not identity): NULL for the chain's
    -- `finalized` tag, else the confirmation depth.
    finality_depth  BIGINT CHECK (finality_depth > 0),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE anchor_batches (
    batch_seq       BIGINT PRIMARY KEY CHECK (batch_seq >= 0),
    root            BYTEA NOT NULL CHECK (length(root) = 32),
    prev_root       BYTEA NOT NULL CHECK (length(prev_root) = 32),
    size            INTEGER NOT NULL CHECK (size > 0),
    -- Fixed when the batch is persisted; fee bumps replace the transaction at this nonce.
    nonce           BIGINT NOT NULL UNIQUE CHECK (nonce >= 0),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'submitted', 'confirmed')),
    -- The newest signed transaction (EIP-2718 bytes) and its hash; re-sent unchanged after
    -- a reorg or a crash.
    raw_tx          BYTEA NOT NULL,
    tx_hash         BYTEA NOT NULL CHECK (length(tx_hash) = 32),
    -- The chain head when the batch was persisted: its event cannot be in an earlier block.
    search_from     BIGINT NOT NULL CHECK (search_from >= 0),
    -- Where the chain holds the anchor (set when seen in a block; final once confirmed).
    block_number    BIGINT,
    block_hash      BYTEA CHECK (length(block_hash) = 32),
    block_time      BIGINT,
    gas_used        BIGINT,
    fee_bumps       INTEGER NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    submitted_at    TIMESTAMPTZ,
    confirmed_at    TIMESTAMPTZ,
    CHECK (status <> 'confirmed' OR (block_number IS NOT NULL AND block_hash IS NOT NULL AND block_time IS NOT NULL))
);

-- The checkpoints of a batch in batch order (strictly increasing origin). A checkpoint is in
-- at most one batch.
CREATE TABLE anchor_members (
    batch_seq       BIGINT NOT NULL REFERENCES anchor_batches (batch_seq),
    idx             INTEGER NOT NULL CHECK (idx >= 0),
    dataset_id      BIGINT NOT NULL REFERENCES datasets (id),
    size            BIGINT NOT NULL CHECK (size > 0),
    leaf_hash       BYTEA NOT NULL CHECK (length(leaf_hash) = 32),
    PRIMARY KEY (batch_seq, idx),
    UNIQUE (dataset_id, size),
    FOREIGN KEY (dataset_id, size) REFERENCES checkpoints (dataset_id, size)
);

-- Anchoring stopped: the chain disagrees with the database. Only an operator clears it.
CREATE TABLE anchor_halts (
    id              BIGSERIAL PRIMARY KEY,
    reason          TEXT NOT NULL,
    halted_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    cleared_at      TIMESTAMPTZ
);
