// @generated automatically by Diesel CLI.

diesel::table! {
    anchor_batch_txs (tx_hash) {
        tx_hash -> Bytea,
        batch_seq -> Int8,
        raw_tx -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    anchor_batches (batch_seq) {
        batch_seq -> Int8,
        root -> Bytea,
        prev_root -> Bytea,
        size -> Int4,
        nonce -> Int8,
        status -> Text,
        raw_tx -> Bytea,
        tx_hash -> Bytea,
        search_from -> Int8,
        block_number -> Nullable<Int8>,
        block_hash -> Nullable<Bytea>,
        block_time -> Nullable<Int8>,
        gas_used -> Nullable<Int8>,
        fee_bumps -> Int4,
        created_at -> Timestamptz,
        submitted_at -> Nullable<Timestamptz>,
        confirmed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    anchor_halts (id) {
        id -> Int8,
        reason -> Text,
        halted_at -> Timestamptz,
        cleared_at -> Nullable<Timestamptz>,
        cleared_by -> Nullable<Text>,
        clear_evidence -> Nullable<Text>,
    }
}

diesel::table! {
    anchor_identity (singleton) {
        singleton -> Bool,
        chain_id -> Int8,
        contract -> Bytea,
        code_hash -> Bytea,
        anchorer -> Bytea,
        deploy_tx -> Nullable<Bytea>,
        finality_depth -> Nullable<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    anchor_members (batch_seq, idx) {
        batch_seq -> Int8,
        idx -> Int4,
        dataset_id -> Int8,
        size -> Int8,
        leaf_hash -> Bytea,
    }
}

diesel::table! {
    checkpoints (dataset_id, size) {
        dataset_id -> Int8,
        size -> Int8,
        root -> Bytea,
        note -> Text,
        signed_at -> Timestamptz,
        cosign_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    datasets (id) {
        id -> Int8,
        institution_id -> Int8,
        slug -> Text,
        title -> Text,
        description -> Text,
        license -> Text,
        access -> Text,
        themes -> Jsonb,
        keywords -> Jsonb,
        json_schema -> Nullable<Text>,
        entry_count -> Int8,
        record_count -> Int8,
        last_published_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    entries (dataset_id, seq) {
        dataset_id -> Int8,
        seq -> Int8,
        kind -> Text,
        key -> Nullable<Text>,
        payload -> Nullable<Text>,
        salt -> Nullable<Bytea>,
        payload_digest -> Nullable<Bytea>,
        leaf_hash -> Bytea,
        published_at -> Timestamptz,
        supersedes -> Nullable<Int8>,
        erases -> Nullable<Int8>,
        erasure_reason -> Nullable<Text>,
    }
}

diesel::table! {
    erasure_notes (dataset_id, seq) {
        dataset_id -> Int8,
        seq -> Int8,
        note -> Text,
        token_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    halted_origins (dataset_id) {
        dataset_id -> Int8,
        reason -> Text,
        halted_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (dataset_id, key) {
        dataset_id -> Int8,
        key -> Text,
        request_hash -> Bytea,
        status -> Nullable<Int2>,
        response -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    ingest_batches (dataset_id, first_seq) {
        dataset_id -> Int8,
        first_seq -> Int8,
        count -> Int4,
        channel -> Text,
        source -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    instance_identity (singleton) {
        singleton -> Bool,
        origin_prefix -> Text,
        log_public_key -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    institutions (id) {
        id -> Int8,
        slug -> Text,
        name -> Text,
        homepage -> Nullable<Text>,
        contact -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    invalidations (id) {
        id -> Int8,
        kind -> Text,
        dataset_id -> Nullable<Int8>,
        seq -> Nullable<Int8>,
        token_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        redis_purged_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    ngsi_ld_types (institution_id, entity_type) {
        institution_id -> Int8,
        entity_type -> Text,
        dataset_id -> Int8,
    }
}

diesel::table! {
    record_dedup (dataset_id, hash) {
        dataset_id -> Int8,
        hash -> Bytea,
        seq -> Int8,
        fingerprint -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tokens (id) {
        id -> Uuid,
        token_hash -> Bytea,
        role -> Text,
        institution_id -> Nullable<Int8>,
        label -> Nullable<Text>,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    tree_nodes (dataset_id, level, idx) {
        dataset_id -> Int8,
        level -> Int2,
        idx -> Int8,
        hash -> Bytea,
    }
}

diesel::joinable!(anchor_batch_txs -> anchor_batches (batch_seq));
diesel::joinable!(anchor_members -> anchor_batches (batch_seq));
diesel::joinable!(anchor_members -> datasets (dataset_id));
diesel::joinable!(checkpoints -> datasets (dataset_id));
diesel::joinable!(datasets -> institutions (institution_id));
diesel::joinable!(entries -> datasets (dataset_id));
diesel::joinable!(halted_origins -> datasets (dataset_id));
diesel::joinable!(idempotency_keys -> datasets (dataset_id));
diesel::joinable!(ingest_batches -> datasets (dataset_id));
diesel::joinable!(invalidations -> datasets (dataset_id));
diesel::joinable!(invalidations -> tokens (token_id));
diesel::joinable!(ngsi_ld_types -> datasets (dataset_id));
diesel::joinable!(ngsi_ld_types -> institutions (institution_id));
diesel::joinable!(tokens -> institutions (institution_id));

diesel::allow_tables_to_appear_in_same_query!(
    anchor_batch_txs,
    anchor_batches,
    anchor_halts,
    anchor_identity,
    anchor_members,
    checkpoints,
    datasets,
    entries,
    erasure_notes,
    halted_origins,
    idempotency_keys,
    ingest_batches,
    instance_identity,
    institutions,
    invalidations,
    ngsi_ld_types,
    record_dedup,
    tokens,
    tree_nodes,
);
