ALTER TABLE idempotency_keys ADD COLUMN lease_until TEXT NOT NULL DEFAULT '';
DROP TABLE invalidations;
ALTER TABLE anchor_halts DROP COLUMN clear_evidence;
ALTER TABLE anchor_halts DROP COLUMN cleared_by;
DROP TABLE anchor_batch_txs;
