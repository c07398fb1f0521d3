DROP TABLE ngsi_ld_types;
