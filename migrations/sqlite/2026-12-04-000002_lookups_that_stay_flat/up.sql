-- The newest anchor batch of a dataset (every bundle's anchor, `latestAnchor`) walks this
-- index backwards and stops at the first confirmed batch. Without it the lookup joined every
-- batch the dataset was ever in: found by the 10,000-batch soak, where it grew linearly.
CREATE INDEX anchor_members_by_dataset ON anchor_members (dataset_id, batch_seq);
