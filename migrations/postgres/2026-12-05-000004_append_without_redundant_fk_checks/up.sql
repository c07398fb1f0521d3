-- Tree nodes and dedup keys are written only by the appending transaction, after it has
-- locked their dataset's row (FOR UPDATE): their dataset exists by construction. PostgreSQL
-- checked each of their references row by row all the same (an RI trigger and a KEY SHARE
-- lock of the dataset per row), 13 % of all CPU time in the MQTT bench. A dataset with tree
-- nodes or dedup keys has entries, and entries keep their reference, so a dataset still
-- cannot be deleted from under its log.
ALTER TABLE tree_nodes DROP CONSTRAINT tree_nodes_dataset_id_fkey;
ALTER TABLE record_dedup DROP CONSTRAINT record_dedup_dataset_id_fkey;
