-- How records arrived: a row per append that came through a channel other than plain REST
-- (the MQTT bridge, NGSI-LD), with the channel and its source (an MQTT topic filter, an
-- NGSI-LD endpoint). Operational metadata for the explorer, not part of the log and not
-- verifiable; kept for a week (maintenance.rs).
CREATE TABLE ingest_batches (
    dataset_id  BIGINT NOT NULL REFERENCES datasets (id),
    first_seq   BIGINT NOT NULL,
    count       INTEGER NOT NULL,
    channel     TEXT NOT NULL,
    source      TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (dataset_id, first_seq)
);
CREATE INDEX ingest_batches_created ON ingest_batches (created_at);
