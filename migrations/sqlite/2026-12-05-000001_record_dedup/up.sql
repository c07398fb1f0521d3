-- Per-record dedup keys; see the PostgreSQL migration.
CREATE TABLE record_dedup (
    dataset_id   INTEGER NOT NULL REFERENCES datasets (id),
    hash         BLOB NOT NULL,
    seq          INTEGER NOT NULL,
    fingerprint  BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (dataset_id, hash)
) STRICT, WITHOUT ROWID;
CREATE INDEX record_dedup_by_seq ON record_dedup (dataset_id, seq);
