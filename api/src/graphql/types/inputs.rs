//! Mutation inputs and results.

use crate::graphql::types::enums::{Access, TokenRole};
use crate::graphql::types::scalars::Seq;
use async_graphql::{InputObject, MaybeUndefined, SimpleObject};
use serde_json::Value;

/// A new dataset (REST `POST /v1/datasets`). Its log and size-0 checkpoint are created with
/// it.
#[derive(InputObject, Debug)]
pub struct CreateDatasetInput {
    /// `^[a-z0-9][a-z0-9-]{0,62}$`; part of the origin, never changes.
    pub slug: String,
    pub title: String,
    pub description: String,
    pub license: String,
    pub access: Access,
    pub themes: Option<Vec<String>>,
    pub keywords: Option<Vec<String>>,
    /// JSON Schema 2020-12 every payload must satisfy (at most 64 KiB, local `$ref`s only).
    pub schema: Option<Value>,
    /// The institution's slug: required for the admin token, optional (and checked) for a
    /// publisher, whose datasets belong to its own institution.
    pub institution: Option<String>,
}

/// A metadata change (REST `PATCH`): given fields change, absent ones stay. `schema: null`
/// removes the schema. The slug, origin and log never change.
#[derive(InputObject, Debug)]
pub struct UpdateDatasetInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub license: Option<String>,
    pub access: Option<Access>,
    pub themes: Option<Vec<String>>,
    pub keywords: Option<Vec<String>>,
    pub schema: MaybeUndefined<Value>,
}

/// One record to publish: REST's `{"key"?, "payload"}`.
#[derive(InputObject, Debug)]
pub struct RecordInput {
    /// Public forever and never erased: at most 256 bytes, no control characters.
    pub key: Option<String>,
    /// A JSON object (I-JSON rules; at most 64 KiB canonical).
    pub payload: Value,
    /// The publisher's name for this record, 1 to 255 visible ASCII characters. Sent again
    /// under the same name (within the dataset's dedup window), the record is answered with
    /// the one appended before, `replayed: true`, and nothing is appended.
    pub dedup_key: Option<String>,
}

#[derive(SimpleObject, Debug)]
pub struct PublishedEntry {
    pub seq: Seq,
    /// Hex SHA-256 leaf hash.
    pub leaf_hash: String,
    /// True when the record's `dedupKey` named a record appended before (this one), so
    /// nothing was appended for it.
    pub replayed: bool,
}

#[derive(SimpleObject, Debug)]
pub struct PublishResult {
    /// One per record, in input order.
    pub entries: Vec<PublishedEntry>,
    /// True when this answer is the stored answer to an earlier request with the same
    /// idempotency key (nothing was appended this time).
    pub replayed: bool,
}

/// A freshly issued token; `token` is shown only here.
#[derive(SimpleObject, Debug)]
pub struct IssuedToken {
    pub id: String,
    /// The bearer token, shown once; only its hash is stored.
    pub token: String,
    pub role: TokenRole,
    pub institution: String,
    pub label: Option<String>,
}
