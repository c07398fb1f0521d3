-- The foundation: institutions, tokens, datasets, their append-only entries, idempotency keys.
-- Entries are never updated except to erase payload and salt (PROOFS.md section 2).

CREATE TABLE institutions (
    id          BIGSERIAL PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        TEXT NOT NULL,
    homepage    TEXT,
    contact     TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Only SHA-256 hashes of bearer tokens are stored; the token itself is shown once.
CREATE TABLE tokens (
    id              UUID PRIMARY KEY,
    token_hash      BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    role            TEXT NOT NULL CHECK (role IN ('admin', 'publisher', 'reader')),
    institution_id  BIGINT REFERENCES institutions (id),
    label           TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at      TIMESTAMPTZ,
    CHECK ((role = 'admin') = (institution_id IS NULL))
);
CREATE INDEX tokens_institution ON tokens (institution_id);

CREATE TABLE datasets (
    id                 BIGSERIAL PRIMARY KEY,
    institution_id     BIGINT NOT NULL REFERENCES institutions (id),
    slug               TEXT NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    title              TEXT NOT NULL,
    description        TEXT NOT NULL,
    license            TEXT NOT NULL,
    access             TEXT NOT NULL CHECK (access IN ('public', 'restricted')),
    themes             JSONB NOT NULL DEFAULT '[]',
    keywords           JSONB NOT NULL DEFAULT '[]',
    -- The dataset's JSON Schema as canonical JSON text, when it has one.
    json_schema        TEXT,
    -- Tree size: the next seq. Updated under the row lock that sequences appends.
    entry_count        BIGINT NOT NULL DEFAULT 0 CHECK (entry_count >= 0),
    record_count       BIGINT NOT NULL DEFAULT 0 CHECK (record_count >= 0),
    -- published_at of the newest entry, so sequencing time never steps back.
    last_published_at  TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (institution_id, slug)
);

CREATE TABLE entries (
    dataset_id      BIGINT NOT NULL REFERENCES datasets (id),
    seq             BIGINT NOT NULL CHECK (seq >= 0),
    kind            TEXT NOT NULL CHECK (kind IN ('record', 'erasure')),
    key             TEXT,
    -- JCS(payload) as served; NULL for erasure entries and once a record is erased.
    payload         TEXT,
    salt            BYTEA CHECK (length(salt) = 16),
    payload_digest  BYTEA CHECK (length(payload_digest) = 32),
    leaf_hash       BYTEA NOT NULL CHECK (length(leaf_hash) = 32),
    published_at    TIMESTAMPTZ NOT NULL,
    supersedes      BIGINT CHECK (supersedes < seq),
    erases          BIGINT CHECK (erases < seq),
    erasure_reason  TEXT CHECK (erasure_reason IN ('legal-erasure', 'court-order', 'publisher-error', 'other')),
    PRIMARY KEY (dataset_id, seq),
    CHECK ((payload IS NULL) = (salt IS NULL)),
    CHECK (kind = 'record' OR (erases IS NOT NULL AND erasure_reason IS NOT NULL AND key IS NULL AND payload IS NULL)),
    CHECK (kind = 'erasure' OR (payload_digest IS NOT NULL AND erases IS NULL AND erasure_reason IS NULL))
);
CREATE INDEX entries_by_key ON entries (dataset_id, key, seq) WHERE key IS NOT NULL;
CREATE UNIQUE INDEX entries_erases_once ON entries (dataset_id, erases) WHERE erases IS NOT NULL;
CREATE INDEX entries_published_at ON entries (dataset_id, published_at);

-- Free-text erasure notes stay outside the log and are never served publicly.
CREATE TABLE erasure_notes (
    dataset_id  BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    note        TEXT NOT NULL,
    token_id    UUID,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset_id, seq),
    FOREIGN KEY (dataset_id, seq) REFERENCES entries (dataset_id, seq)
);

-- draft-ietf-httpapi-idempotency-key-header, scoped to (dataset, key). A row without a
-- status is a claim in flight; its lease lets a crashed claim be taken over.
CREATE TABLE idempotency_keys (
    dataset_id    BIGINT NOT NULL REFERENCES datasets (id),
    key           TEXT NOT NULL,
    request_hash  BYTEA NOT NULL,
    status        SMALLINT,
    response      TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (dataset_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
