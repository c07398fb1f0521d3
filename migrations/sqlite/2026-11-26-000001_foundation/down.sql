DROP TABLE idempotency_keys;
DROP TABLE erasure_notes;
DROP TABLE entries;
DROP TABLE datasets;
DROP TABLE tokens;
DROP TABLE institutions;
