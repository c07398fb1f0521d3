ALTER TABLE checkpoints DROP COLUMN cosign_until;
