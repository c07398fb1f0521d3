ALTER TABLE tree_nodes ADD CONSTRAINT tree_nodes_dataset_id_fkey
    FOREIGN KEY (dataset_id) REFERENCES datasets (id);
ALTER TABLE record_dedup ADD CONSTRAINT record_dedup_dataset_id_fkey
    FOREIGN KEY (dataset_id) REFERENCES datasets (id);
