DROP TABLE ingest_batches;
