-- How records arrived; see the PostgreSQL migration.
CREATE TABLE ingest_batches (
    dataset_id  INTEGER NOT NULL REFERENCES datasets (id),
    first_seq   INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    channel     TEXT NOT NULL,
    source      TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (dataset_id, first_seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX ingest_batches_created ON ingest_batches (created_at);
