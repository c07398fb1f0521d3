//! Rows as they are stored. Conversions to API shapes live in the api crate.

use crate::domain::{Access, EntryKind, Role};
use crate::schema::{datasets, entries, erasure_notes, institutions, tokens};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = institutions)]
pub struct Institution {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub homepage: Option<String>,
    pub contact: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = institutions)]
pub struct NewInstitution<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub homepage: Option<&'a str>,
    pub contact: Option<&'a str>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = tokens)]
pub struct Token {
    pub id: Uuid,
    pub token_hash: Vec<u8>,
    pub role: Role,
    pub institution_id: Option<i64>,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = tokens)]
pub struct NewToken<'a> {
    pub id: Uuid,
    pub token_hash: &'a [u8],
    pub role: Role,
    pub institution_id: Option<i64>,
    pub label: Option<&'a str>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = datasets)]
pub struct Dataset {
    pub id: i64,
    pub institution_id: i64,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub license: String,
    pub access: Access,
    pub themes: serde_json::Value,
    pub keywords: serde_json::Value,
    pub json_schema: Option<String>,
    pub entry_count: i64,
    pub record_count: i64,
    pub last_published_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Dataset {
    pub fn is_public(&self) -> bool {
        self.access == Access::Public
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = datasets)]
pub struct NewDataset<'a> {
    pub institution_id: i64,
    pub slug: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub license: &'a str,
    pub access: Access,
    pub themes: serde_json::Value,
    pub keywords: serde_json::Value,
    pub json_schema: Option<&'a str>,
}

/// A metadata change; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = datasets)]
pub struct DatasetChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub license: Option<String>,
    pub access: Option<Access>,
    pub themes: Option<serde_json::Value>,
    pub keywords: Option<serde_json::Value>,
    /// `Some(None)` removes the schema.
    pub json_schema: Option<Option<String>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// `treat_none_as_default_value = false`: a `None` is NULL (no column of `entries` has a
/// default), which lets PostgreSQL take entries by binary COPY (`queries::entries`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = entries, treat_none_as_default_value = false)]
pub struct Entry {
    pub dataset_id: i64,
    pub seq: i64,
    pub kind: EntryKind,
    pub key: Option<String>,
    pub payload: Option<String>,
    pub salt: Option<Vec<u8>>,
    pub payload_digest: Option<Vec<u8>>,
    pub leaf_hash: Vec<u8>,
    pub published_at: DateTime<Utc>,
    pub supersedes: Option<i64>,
    pub erases: Option<i64>,
    pub erasure_reason: Option<String>,
}

impl Entry {
    /// A record whose payload is gone: erased (PROTOCOL.md section 2). The rule, once.
    pub fn is_erased(&self) -> bool {
        self.kind == EntryKind::Record && self.payload.is_none()
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = erasure_notes)]
pub struct NewErasureNote<'a> {
    pub dataset_id: i64,
    pub seq: i64,
    pub note: &'a str,
    pub token_id: Option<Uuid>,
}
