DROP TABLE anchor_halts;
DROP TABLE anchor_members;
DROP TABLE anchor_batches;
DROP TABLE anchor_identity;
