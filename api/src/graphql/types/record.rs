//! An entry of a log: a record or an erasure, as read (API.md, Core shapes).

use crate::error::{ApiError, ApiResult};
use crate::graphql::limits::PROOF_COST;
use crate::graphql::types::enums::{ErasureReason, RecordKind};
use crate::graphql::types::proofs::ProofBundle;
use crate::graphql::types::scalars::Seq;
use crate::graphql::{caller, state};
use crate::log::proofs::{self, BundleFormat};
use crate::services::records::envelope_of;
use async_graphql::{Context, Object};
use civicproof_schema::models::Entry;
use civicproof_verify::envelope::format_published_at;
use serde_json::Value;

pub struct Record {
    entry: Entry,
    origin: String,
    institution: String,
    dataset: String,
}

impl Record {
    pub fn new(entry: Entry, origin: String, institution: &str, dataset: &str) -> Self {
        Self {
            entry,
            origin,
            institution: institution.to_owned(),
            dataset: dataset.to_owned(),
        }
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

#[Object]
impl Record {
    async fn seq(&self) -> Seq {
        Seq::of(self.entry.seq)
    }

    async fn kind(&self) -> RecordKind {
        if self.entry.kind == "erasure" {
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
        format_published_at(self.entry.published_at.timestamp_millis())
    }

    /// The payload object; null once erased, and for erasure entries.
    async fn payload(&self) -> async_graphql::Result<Option<Value>> {
        let parsed: ApiResult<Option<Value>> = self
            .entry
            .payload
            .as_deref()
            .map(|p| parse_json(p.as_bytes()).map_err(|_| self.corrupt("payload")))
            .transpose();
        Ok(parsed?)
    }

    /// Hex of the 16-byte salt; null once erased.
    async fn salt(&self) -> Option<String> {
        self.entry.salt.as_deref().map(hex::encode)
    }

    /// Hex SHA-256 over salt and canonical payload (PROOFS.md section 2); null for erasures.
    async fn payload_digest(&self) -> Option<String> {
        self.entry.payload_digest.as_deref().map(hex::encode)
    }

    /// Hex SHA-256(0x00 || JCS(envelope)): this entry's leaf in the dataset's log.
    async fn leaf_hash(&self) -> String {
        hex::encode(&self.entry.leaf_hash)
    }

    /// The envelope (PROOFS.md section 2); its canonical bytes are what `leafHash` covers.
    async fn envelope(&self) -> async_graphql::Result<Value> {
        let env = envelope_of(&self.origin, &self.entry)?;
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
        self.entry.kind == "record" && self.entry.payload.is_none()
    }

    /// The proof bundle (PROOFS.md section 5), as `GET …/records/{seq}/proof` serves it: at
    /// the newest signed checkpoint, or at signed checkpoint `treeSize`. An entry not yet in
    /// a checkpoint waits up to the checkpoint interval, then fails with
    /// `not-yet-checkpointed`.
    #[graphql(complexity = "PROOF_COST + child_complexity")]
    async fn proof(
        &self,
        ctx: &Context<'_>,
        tree_size: Option<Seq>,
    ) -> async_graphql::Result<ProofBundle> {
        let served = proofs::bundle(
            state(ctx),
            caller(ctx),
            &self.institution,
            &self.dataset,
            &self.entry.seq.to_string(),
            tree_size.map(|s| s.0),
            BundleFormat::Json,
        )
        .await?;
        let raw: ApiResult<Value> = parse_json(&served.body).map_err(ApiError::internal);
        Ok(ProofBundle { raw: raw? })
    }
}
