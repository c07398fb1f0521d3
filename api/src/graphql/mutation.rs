//! Writes, through the same services as REST: authorization, validation, limits and
//! idempotency are theirs.

use crate::graphql::errors::from_problem;
use crate::graphql::types::dataset::Dataset;
use crate::graphql::types::enums::{ErasureReason, TokenRole};
use crate::graphql::types::inputs::{
    CreateDatasetInput, IssuedToken, PublishResult, PublishedEntry, RecordInput, UpdateDatasetInput,
};
use crate::graphql::types::record::{Log, Record};
use crate::graphql::types::scalars::Seq;
use crate::graphql::{caller, state};
use crate::services::datasets::CreateDataset;
use crate::services::erasure::EraseRequest;
use crate::services::input::{BatchFormat, in_memory};
use crate::services::publish::{PublishOutcome, PublishRequest};
use crate::services::tokens::IssueToken;
use crate::services::{datasets, erasure, publish, records, tokens};
use async_graphql::{Context, MaybeUndefined, Object};
use civicproof_verify::{jcs, json};
use serde_json::{Map, Value};

pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Creates a dataset (publisher of its institution, or the admin naming one).
    async fn create_dataset(
        &self,
        ctx: &Context<'_>,
        input: CreateDatasetInput,
    ) -> async_graphql::Result<Dataset> {
        let create = CreateDataset {
            slug: input.slug,
            title: input.title,
            description: input.description,
            license: input.license,
            access: input.access.into(),
            themes: input.themes.unwrap_or_default(),
            keywords: input.keywords.unwrap_or_default(),
            schema: input.schema,
            institution: input.institution,
        };
        Ok(Dataset::new(
            datasets::create(state(ctx), caller(ctx), create).await?,
        ))
    }

    /// Changes a dataset's metadata (its institution's publisher, or the admin).
    async fn update_dataset(
        &self,
        ctx: &Context<'_>,
        institution: String,
        slug: String,
        input: UpdateDatasetInput,
    ) -> async_graphql::Result<Dataset> {
        let mut patch = Map::new();
        let mut put = |name: &str, v: Option<Value>| {
            if let Some(v) = v {
                patch.insert(name.to_owned(), v);
            }
        };
        put("title", input.title.map(Value::from));
        put("description", input.description.map(Value::from));
        put("license", input.license.map(Value::from));
        put(
            "access",
            input
                .access
                .map(|a| Value::from(crate::views::Access::from(a).as_str())),
        );
        put("themes", input.themes.map(Value::from));
        put("keywords", input.keywords.map(Value::from));
        match input.schema {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => put("schema", Some(Value::Null)),
            MaybeUndefined::Value(s) => put("schema", Some(s)),
        }
        Ok(Dataset::new(
            datasets::update(state(ctx), caller(ctx), &institution, &slug, patch).await?,
        ))
    }

    /// Appends a batch, all-or-nothing, exactly like REST's JSON publishing: the records
    /// become the JSON array body `[{"key"?, "payload"}, …]` in RFC 8785 form, so an
    /// `idempotencyKey` shares REST's namespace (per dataset, kept 24 h) and a retry with
    /// the same records returns the first answer with `replayed: true`.
    async fn publish_records(
        &self,
        ctx: &Context<'_>,
        institution: String,
        dataset: String,
        records: Vec<RecordInput>,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<PublishResult> {
        let request = PublishRequest {
            format: BatchFormat::Json,
            body: in_memory(batch_body(&records)),
            idempotency_key,
            arrival: None,
        };
        let outcome =
            publish::publish(state(ctx), caller(ctx), &institution, &dataset, request).await?;
        match outcome {
            PublishOutcome::Created(result) => Ok(PublishResult {
                entries: result
                    .entries
                    .into_iter()
                    .map(|e| PublishedEntry {
                        seq: Seq(e.seq),
                        leaf_hash: e.leaf_hash,
                        replayed: e.replayed,
                    })
                    .collect(),
                replayed: false,
            }),
            PublishOutcome::Replayed(r) if r.status == 201 || r.status == 200 => {
                Ok(PublishResult {
                    entries: replayed_entries(&r.body),
                    replayed: true,
                })
            }
            PublishOutcome::Replayed(r) => Err(from_problem(&r.body)),
        }
    }

    /// Erases a record's payload and salt and appends an erasure entry, which this returns
    /// (its `erases` is the erased record's seq). The record's key stays. `note` is free
    /// text for the audit table, never served.
    async fn erase_payload(
        &self,
        ctx: &Context<'_>,
        institution: String,
        dataset: String,
        seq: Seq,
        reason: ErasureReason,
        note: Option<String>,
    ) -> async_graphql::Result<Record> {
        let (st, who) = (state(ctx), caller(ctx));
        let erased = erasure::erase(
            st,
            who,
            &institution,
            &dataset,
            seq,
            EraseRequest {
                reason: reason.code().to_owned(),
                note,
            },
        )
        .await?;
        let (ds, origin, entry) =
            records::load_entry(st, who, &institution, &dataset, Seq(erased.seq)).await?;
        Ok(Record::new(entry, Log::new(origin, &institution, &ds.slug)))
    }

    /// Issues a token: the admin issues publisher and reader tokens, a publisher reader
    /// tokens of its own institution.
    async fn issue_token(
        &self,
        ctx: &Context<'_>,
        institution: String,
        role: TokenRole,
        label: Option<String>,
    ) -> async_graphql::Result<IssuedToken> {
        let issued = tokens::issue(
            state(ctx),
            caller(ctx),
            &institution,
            IssueToken {
                role: role.into(),
                label,
            },
        )
        .await?;
        Ok(IssuedToken {
            id: issued.id,
            token: issued.token,
            role: TokenRole::from_role(issued.role).unwrap_or(role),
            institution: issued.institution,
            label: issued.label,
        })
    }
}

/// The REST JSON body for these records: RFC 8785 when every payload follows the JSON rules
/// (so a client can reproduce it), else plain JSON that the publish service rejects with
/// each bad record's index, as it would from REST.
fn batch_body(records: &[RecordInput]) -> Vec<u8> {
    let array = Value::Array(
        records
            .iter()
            .map(|r| {
                let mut m = Map::new();
                if let Some(k) = &r.key {
                    m.insert("key".into(), Value::from(k.as_str()));
                }
                if let Some(d) = &r.dedup_key {
                    m.insert("dedup_key".into(), Value::from(d.as_str()));
                }
                m.insert("payload".into(), r.payload.clone());
                Value::Object(m)
            })
            .collect(),
    );
    match json::check_value(&array, json::MAX_DEPTH + 2) {
        Ok(checked) => jcs::canonicalize(&checked),
        Err(_) => serde_json::to_vec(&array).unwrap_or_default(),
    }
}

/// The entries of a stored 200 or 201 answer, `{"entries": [{"seq", "leaf_hash", "replayed"?}]}`.
fn replayed_entries(body: &str) -> Vec<PublishedEntry> {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    v["entries"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| PublishedEntry {
                    seq: Seq(e["seq"].as_u64().unwrap_or(0)),
                    leaf_hash: e["leaf_hash"].as_str().unwrap_or("").to_owned(),
                    replayed: e["replayed"].as_bool().unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default()
}
