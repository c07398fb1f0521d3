//! API shapes (API.md, Core shapes). Services return these; REST serializes them as is and
//! GraphQL maps them to its types.

use chrono::{DateTime, SecondsFormat, Utc};
use civicproof_schema::models::{Dataset, Institution, Token};
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /v1/institutions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstitutionList {
    pub institutions: Vec<InstitutionView>,
}

/// Token listings (never the tokens themselves).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstitutionView {
    pub slug: String,
    pub name: String,
    pub homepage: Option<String>,
    pub contact: Option<String>,
    pub created_at: String,
}

impl From<Institution> for InstitutionView {
    fn from(i: Institution) -> Self {
        Self {
            slug: i.slug,
            name: i.name,
            homepage: i.homepage,
            contact: i.contact,
            created_at: rfc3339(i.created_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub role: crate::auth::Role,
    pub institution: Option<String>,
    pub label: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl TokenView {
    pub fn new(t: Token, institution: Option<String>) -> Self {
        Self {
            id: t.id.to_string(),
            role: t.role,
            institution,
            label: t.label,
            created_at: rfc3339(t.created_at),
            revoked_at: t.revoked_at.map(rfc3339),
        }
    }
}

/// The only response that ever contains a token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssuedToken {
    pub id: String,
    /// Shown once; only its hash is stored.
    pub token: String,
    pub role: crate::auth::Role,
    pub institution: String,
    pub label: Option<String>,
}

pub use civicproof_schema::Access;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DatasetView {
    pub institution: String,
    pub slug: String,
    /// `<prefix>/<institution>/<dataset>`: the log's origin; never changes.
    pub origin: String,
    /// The signed-note verifier key for this origin.
    pub vkey: String,
    pub title: String,
    pub description: String,
    pub license: String,
    pub access: Access,
    pub themes: Vec<String>,
    pub keywords: Vec<String>,
    /// The JSON Schema records must satisfy, if any.
    #[schema(value_type = Option<Object>)]
    pub schema: Option<serde_json::Value>,
    /// Entries of kind `record`.
    pub record_count: u64,
    /// Tree size: all entries, records and erasures.
    pub entry_count: u64,
    /// Newest signed checkpoint: a C2SP signed note (PROTOCOL.md section 4).
    pub checkpoint: Option<String>,
    /// Newest confirmed anchor batch holding one of this dataset's checkpoints:
    /// `{batch_seq, batch_root, checkpoint_size, chain_id, contract, anchorer, tx_hash,
    /// block_number, block_hash, block_time}`; null when none (or not anchoring). Single-dataset
    /// answers only; catalog pages leave it null.
    #[schema(value_type = Option<Object>)]
    pub anchor: Option<serde_json::Value>,
    pub created_at: String,
    pub updated_at: String,
}

impl DatasetView {
    pub fn new(d: Dataset, institution_slug: String, origin: String, vkey: String) -> Self {
        Self {
            institution: institution_slug,
            slug: d.slug,
            origin,
            vkey,
            title: d.title,
            description: d.description,
            license: d.license,
            access: d.access,
            themes: string_list(&d.themes),
            keywords: string_list(&d.keywords),
            schema: d
                .json_schema
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            record_count: d.record_count as u64,
            entry_count: d.entry_count as u64,
            checkpoint: None,
            anchor: None,
            created_at: rfc3339(d.created_at),
            updated_at: rfc3339(d.updated_at),
        }
    }
}

pub fn string_list(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// RFC 3339 UTC with millisecond precision and `Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
