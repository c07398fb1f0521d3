//! An entry of a log: a record or an erasure, as read (API.md, Core shapes).

use crate::error::{ApiError, ApiResult};
use crate::graphql::limits::PROOF_COST;
use crate::graphql::types::enums::{ErasureReason, RecordKind};
use crate::graphql::types::proofs::ProofBundle;
use crate::graphql::types::scalars::{RawJson, Seq};
use crate::graphql::{caller, state};
use crate::services::proofs::{self, BundleFormat};
use crate::services::records::envelope_of;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    Context, ContextSelectionSet, Object, OutputType, Positioned, ScalarType, ServerResult,
    Value as GqlValue,
};
use bytes::Bytes;
use civicproof_schema::models::Entry;
use civicproof_verify::envelope::format_published_at;
use serde::de::IgnoredAny;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// The log an entry belongs to, shared by the records of a page or a subscription.
pub struct Log {
    pub origin: String,
    pub institution: String,
    pub dataset: String,
}

impl Log {
    pub fn new(origin: String, institution: &str, dataset: &str) -> Arc<Self> {
        Arc::new(Self {
            origin,
            institution: institution.to_owned(),
            dataset: dataset.to_owned(),
        })
    }
}

pub struct Record {
    /// The entry, its payload moved to `payload`.
    entry: Entry,
    /// The stored payload text; `None` once erased, and for erasure entries.
    payload: Option<Bytes>,
    /// `Entry::is_erased`, read before the payload moved out.
    erased: bool,
    log: Arc<Log>,
}

impl Record {
    pub fn new(mut entry: Entry, log: Arc<Log>) -> Self {
        let erased = entry.is_erased();
        let payload = entry.payload.take().map(Bytes::from);
        Self {
            entry,
            payload,
            erased,
            log,
        }
    }

    /// The payload as the `JSON` scalar sends it, once known to be JSON (sent as stored,
    /// like the REST feed does).
    fn payload_json(&self) -> ApiResult<Option<RawJson>> {
        let Some(text) = &self.payload else {
            return Ok(None);
        };
        if serde_json::from_slice::<IgnoredAny>(text).is_err() {
            return Err(self.corrupt("payload"));
        }
        Ok(Some(RawJson(text.clone())))
    }

    fn published_at_text(&self) -> String {
        format_published_at(self.entry.published_at.timestamp_millis())
    }

    fn erased_record(&self) -> bool {
        self.erased
    }

    /// The value of a selection of plain stored fields (no arguments, directives or
    /// fragments), built directly; `None` for any other selection, which the `Record`
    /// object resolves field by field.
    fn plain(&self, set: &SelectionSet) -> Option<GqlValue> {
        let hex_or_null = |b: &Option<Vec<u8>>| {
            b.as_deref()
                .map_or(GqlValue::Null, |b| GqlValue::String(hex(b)))
        };
        let seq_or_null = |n: Option<i64>| n.map_or(GqlValue::Null, |n| Seq::of(n).to_value());
        let mut fields = Vec::with_capacity(set.items.len());
        for item in &set.items {
            let Selection::Field(field) = &item.node else {
                return None;
            };
            let f = &field.node;
            if !f.arguments.is_empty() || !f.directives.is_empty() {
                return None;
            }
            let value = match f.name.node.as_str() {
                "seq" => Seq::of(self.entry.seq).to_value(),
                "key" => self
                    .entry
                    .key
                    .as_deref()
                    .map_or(GqlValue::Null, |k| GqlValue::String(k.to_owned())),
                "publishedAt" => GqlValue::String(self.published_at_text()),
                "payload" => match self.payload_json() {
                    Ok(Some(RawJson(text))) => GqlValue::Binary(text),
                    Ok(None) => GqlValue::Null,
                    // The `Record` object reports it.
                    Err(_) => return None,
                },
                "salt" => hex_or_null(&self.entry.salt),
                "payloadDigest" => hex_or_null(&self.entry.payload_digest),
                "leafHash" => GqlValue::String(hex(&self.entry.leaf_hash)),
                "supersedes" => seq_or_null(self.entry.supersedes),
                "erases" => seq_or_null(self.entry.erases),
                "erased" => GqlValue::Boolean(self.erased_record()),
                "__typename" => GqlValue::String("Record".to_owned()),
                _ => return None,
            };
            fields.push((f.response_key().node.clone(), value));
        }
        Some(GqlValue::Object(fields.into_iter().collect()))
    }

    fn corrupt(&self, what: &str) -> ApiError {
        ApiError::internal(anyhow::anyhow!(
            "entry {}/{} has an invalid {what}",
            self.entry.dataset_id,
            self.entry.seq
        ))
    }
}

fn parse_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Lowercase hex (as `hex::encode`), without going through an iterator of chars.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
    String::from_utf8(out).unwrap_or_default()
}

/// A record in a page of records: the `Record` type, with the common selection of plain
/// stored fields built directly instead of field by field (a page of 100 records is
/// hundreds of field resolutions otherwise). Any other selection is the `Record` object's.
pub struct PageRecord(pub Record);

impl OutputType for PageRecord {
    fn type_name() -> Cow<'static, str> {
        <Record as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Record as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<GqlValue> {
        match self.0.plain(&ctx.item.node) {
            Some(value) => Ok(value),
            None => OutputType::resolve(&self.0, ctx, field).await,
        }
    }
}

#[Object]
impl Record {
    async fn seq(&self) -> Seq {
        Seq::of(self.entry.seq)
    }

    async fn kind(&self) -> RecordKind {
        if self.entry.kind == civicproof_schema::EntryKind::Erasure {
            RecordKind::Erasure
        } else {
            RecordKind::Record
        }
    }

    /// The record key (public forever, never erased); null for erasure entries and records
    /// published without one.
    async fn key(&self) -> Option<&str> {
        self.entry.key.as_deref()
    }

    /// The sequencing time as in the envelope: RFC 3339 UTC with milliseconds.
    async fn published_at(&self) -> String {
        self.published_at_text()
    }

    /// The payload object; null once erased, and for erasure entries.
    async fn payload(&self) -> async_graphql::Result<Option<RawJson>> {
        Ok(self.payload_json()?)
    }

    /// Hex of the 16-byte salt; null once erased.
    async fn salt(&self) -> Option<String> {
        self.entry.salt.as_deref().map(hex)
    }

    /// Hex SHA-256 over salt and canonical payload (PROTOCOL.md section 2); null for erasures.
    async fn payload_digest(&self) -> Option<String> {
        self.entry.payload_digest.as_deref().map(hex)
    }

    /// Hex SHA-256(0x00 || JCS(envelope)): this entry's leaf in the dataset's log.
    async fn leaf_hash(&self) -> String {
        hex(&self.entry.leaf_hash)
    }

    /// The envelope (PROTOCOL.md section 2); its canonical bytes are what `leafHash` covers.
    async fn envelope(&self) -> async_graphql::Result<Value> {
        let env = envelope_of(&self.log.origin, &self.entry)?;
        let value: ApiResult<Value> =
            parse_json(&env.canonical_bytes()).map_err(|_| self.corrupt("envelope"));
        Ok(value?)
    }

    /// The seq of the previous version with the same key, if any.
    async fn supersedes(&self) -> Option<Seq> {
        self.entry.supersedes.map(Seq::of)
    }

    /// For an erasure entry: the seq of the erased record.
    async fn erases(&self) -> Option<Seq> {
        self.entry.erases.map(Seq::of)
    }

    /// For an erasure entry: the public reason code.
    async fn reason(&self) -> Option<ErasureReason> {
        self.entry
            .erasure_reason
            .as_deref()
            .and_then(|r| r.parse::<civicproof_verify::envelope::ErasureReason>().ok())
            .map(ErasureReason::from)
    }

    /// True for a record whose payload and salt were erased.
    async fn erased(&self) -> bool {
        self.erased_record()
    }

    /// The proof bundle (PROTOCOL.md section 6), as `GET …/records/{seq}/proof` serves it: at
    /// the newest signed checkpoint, or at signed checkpoint `treeSize`. An entry not yet in
    /// a checkpoint waits up to the checkpoint interval, then fails with
    /// `not-yet-checkpointed`.
    #[graphql(complexity = "PROOF_COST + child_complexity")]
    async fn proof(
        &self,
        ctx: &Context<'_>,
        tree_size: Option<Seq>,
    ) -> async_graphql::Result<ProofBundle> {
        // Through the bundle cache, as REST serves it.
        let (served, _) = proofs::bundle(
            state(ctx),
            caller(ctx),
            &self.log.institution,
            &self.log.dataset,
            Seq::of(self.entry.seq),
            tree_size.map(|s| s.0),
            BundleFormat::Json,
        )
        .await?;
        let raw: ApiResult<Value> = parse_json(&served.body).map_err(ApiError::internal);
        Ok(ProofBundle { raw: raw? })
    }
}
