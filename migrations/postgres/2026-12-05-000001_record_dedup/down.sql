DROP TABLE record_dedup;
