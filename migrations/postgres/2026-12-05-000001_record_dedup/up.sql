-- Per-record dedup keys (API.md, publishing: "dedup_key"). A publisher that cannot fix its
-- batch boundaries (an MQTT bridge whose broker redelivers unacknowledged messages in other
-- batches) names each record instead; a key already held replays the record it named.
--
-- `hash` is SHA-256(dedup_key)[..16] (keys are up to 255 bytes; 128 bits keep collisions out
-- of reach); `fingerprint` is SHA-256 over the record's key and canonical payload, so a key
-- reused for other content is refused rather than answered with the wrong record. Rows are
-- kept for a window and the newest ones of each dataset beyond it (maintenance.rs).
CREATE TABLE record_dedup (
    dataset_id   BIGINT NOT NULL REFERENCES datasets (id),
    hash         BYTEA NOT NULL,
    seq          BIGINT NOT NULL,
    fingerprint  BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (dataset_id, hash)
);
CREATE INDEX record_dedup_by_seq ON record_dedup (dataset_id, seq);
