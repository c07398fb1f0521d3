-- Which dataset receives the NGSI-LD entities of a type; see the PostgreSQL migration.
CREATE TABLE ngsi_ld_types (
    institution_id  INTEGER NOT NULL REFERENCES institutions (id),
    entity_type     TEXT NOT NULL,
    dataset_id      INTEGER NOT NULL REFERENCES datasets (id),
    PRIMARY KEY (institution_id, entity_type)
) STRICT, WITHOUT ROWID;
