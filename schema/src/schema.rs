// @generated automatically by Diesel CLI.

diesel::table! {
    checkpoints (dataset_id, size) {
        dataset_id -> Int8,
        size -> Int8,
        root -> Bytea,
        note -> Text,
        signed_at -> Timestamptz,
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
        lease_until -> Timestamptz,
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

diesel::joinable!(checkpoints -> datasets (dataset_id));
diesel::joinable!(datasets -> institutions (institution_id));
diesel::joinable!(entries -> datasets (dataset_id));
diesel::joinable!(halted_origins -> datasets (dataset_id));
diesel::joinable!(idempotency_keys -> datasets (dataset_id));
diesel::joinable!(tokens -> institutions (institution_id));
diesel::joinable!(tree_nodes -> datasets (dataset_id));

diesel::allow_tables_to_appear_in_same_query!(
    checkpoints,
    datasets,
    entries,
    erasure_notes,
    halted_origins,
    idempotency_keys,
    instance_identity,
    institutions,
    tokens,
    tree_nodes,
);
