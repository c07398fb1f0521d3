-- The foundation, for SQLite (the embedded mode): the same tables, columns and constraints
-- as migrations/postgres, in STRICT tables. Types map as: BIGINT/INTEGER/SMALLINT/BOOLEAN to
-- INTEGER, BYTEA to BLOB, JSONB and UUID to TEXT, and TIMESTAMPTZ to TEXT in the fixed-width
-- UTC form 2026-11-26T09:03:05.123456Z, whose text order is time order.
-- Entries are never updated except to erase payload and salt (PROOFS.md section 2).

CREATE TABLE institutions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    slug        TEXT NOT NULL UNIQUE CHECK (length(slug) BETWEEN 1 AND 63 AND slug GLOB '[a-z0-9]*' AND slug NOT GLOB '*[^a-z0-9-]*'),
    name        TEXT NOT NULL,
    homepage    TEXT,
    contact     TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
) STRICT;

-- Only SHA-256 hashes of bearer tokens are stored; the token itself is shown once.
CREATE TABLE tokens (
    id              TEXT PRIMARY KEY CHECK (length(id) = 36),
    token_hash      BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    role            TEXT NOT NULL CHECK (role IN ('admin', 'publisher', 'reader')),
    institution_id  INTEGER REFERENCES institutions (id),
    label           TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    revoked_at      TEXT,
    CHECK ((role = 'admin') = (institution_id IS NULL))
) STRICT;
CREATE INDEX tokens_institution ON tokens (institution_id);

CREATE TABLE datasets (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    institution_id     INTEGER NOT NULL REFERENCES institutions (id),
    slug               TEXT NOT NULL CHECK (length(slug) BETWEEN 1 AND 63 AND slug GLOB '[a-z0-9]*' AND slug NOT GLOB '*[^a-z0-9-]*'),
    title              TEXT NOT NULL,
    description        TEXT NOT NULL,
    license            TEXT NOT NULL,
    access             TEXT NOT NULL CHECK (access IN ('public', 'restricted')),
    themes             TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(themes)),
    keywords           TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(keywords)),
    -- The dataset's JSON Schema as canonical JSON text, when it has one.
    json_schema        TEXT,
    -- Tree size: the next seq. Updated inside the write transaction that sequences appends.
    entry_count        INTEGER NOT NULL DEFAULT 0 CHECK (entry_count >= 0),
    record_count       INTEGER NOT NULL DEFAULT 0 CHECK (record_count >= 0),
    -- published_at of the newest entry, so sequencing time never steps back.
    last_published_at  TEXT,
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    updated_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    UNIQUE (institution_id, slug)
) STRICT;

CREATE TABLE entries (
    dataset_id      INTEGER NOT NULL REFERENCES datasets (id),
    seq             INTEGER NOT NULL CHECK (seq >= 0),
    kind            TEXT NOT NULL CHECK (kind IN ('record', 'erasure')),
    key             TEXT,
    -- JCS(payload) as served; NULL for erasure entries and once a record is erased.
    payload         TEXT,
    salt            BLOB CHECK (length(salt) = 16),
    payload_digest  BLOB CHECK (length(payload_digest) = 32),
    leaf_hash       BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    published_at    TEXT NOT NULL,
    supersedes      INTEGER CHECK (supersedes < seq),
    erases          INTEGER CHECK (erases < seq),
    erasure_reason  TEXT CHECK (erasure_reason IN ('legal-erasure', 'court-order', 'publisher-error', 'other')),
    PRIMARY KEY (dataset_id, seq),
    CHECK ((payload IS NULL) = (salt IS NULL)),
    CHECK (kind = 'record' OR (erases IS NOT NULL AND erasure_reason IS NOT NULL AND key IS NULL AND payload IS NULL)),
    CHECK (kind = 'erasure' OR (payload_digest IS NOT NULL AND erases IS NULL AND erasure_reason IS NULL))
) STRICT, WITHOUT ROWID;
CREATE INDEX entries_by_key ON entries (dataset_id, key, seq) WHERE key IS NOT NULL;
CREATE UNIQUE INDEX entries_erases_once ON entries (dataset_id, erases) WHERE erases IS NOT NULL;
CREATE INDEX entries_published_at ON entries (dataset_id, published_at);

-- Free-text erasure notes stay outside the log and are never served publicly.
CREATE TABLE erasure_notes (
    dataset_id  INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    note        TEXT NOT NULL,
    token_id    TEXT CHECK (length(token_id) = 36),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    PRIMARY KEY (dataset_id, seq),
    FOREIGN KEY (dataset_id, seq) REFERENCES entries (dataset_id, seq)
) STRICT;

-- draft-ietf-httpapi-idempotency-key-header, scoped to (dataset, key). A row without a
-- status is a claim in flight; its lease lets a crashed claim be taken over.
CREATE TABLE idempotency_keys (
    dataset_id    INTEGER NOT NULL REFERENCES datasets (id),
    key           TEXT NOT NULL,
    request_hash  BLOB NOT NULL,
    status        INTEGER,
    response      TEXT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'),
    lease_until   TEXT NOT NULL,
    PRIMARY KEY (dataset_id, key)
) STRICT;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
