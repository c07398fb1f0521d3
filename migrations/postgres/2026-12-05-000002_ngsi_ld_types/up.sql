-- Which dataset receives the NGSI-LD entities of a type (the type as sent, a compacted term
-- such as AirQualityObserved), per institution. Set through PUT /v1/institutions/{inst}/
-- ngsi-ld/types/{type}; an entity of an unmapped type is refused with its own error.
CREATE TABLE ngsi_ld_types (
    institution_id  BIGINT NOT NULL REFERENCES institutions (id),
    entity_type     TEXT NOT NULL,
    dataset_id      BIGINT NOT NULL REFERENCES datasets (id),
    PRIMARY KEY (institution_id, entity_type)
);
