//! Reading single entries and rendering "a record as read" (API.md, Core shapes):
//! `{"envelope", "payload", "salt", "leaf_hash"}`. The envelope is rebuilt from the stored
//! columns; its canonical bytes are what the leaf hash covers.

use crate::auth::Caller;
use crate::db;
use crate::domain::Seq;
use crate::error::{ApiError, ApiResult};
use crate::services::datasets::load_visible;
use crate::state::AppState;
use civicproof_schema::domain::EntryKind;
use civicproof_schema::models::{Dataset, Entry};
use civicproof_schema::queries::entries;
use civicproof_verify::envelope::{self, Envelope, ErasureReason};

/// One entry as read, with what a response needs for caching.
pub struct RecordRead {
    pub json: Vec<u8>,
    pub leaf: Vec<u8>,
    pub leaf_hash: Vec<u8>,
    pub erased: bool,
    pub public: bool,
}

/// The entry's envelope, rebuilt from its row.
pub fn envelope_of(origin: &str, e: &Entry) -> ApiResult<Envelope> {
    let published_at = envelope::format_published_at(e.published_at.timestamp_millis());
    match e.kind {
        EntryKind::Record => {
            let digest: [u8; 32] = e
                .payload_digest
                .as_deref()
                .and_then(|d| d.try_into().ok())
                .ok_or_else(|| corrupt(e, "payload digest"))?;
            Ok(Envelope::Record {
                dataset: origin.to_owned(),
                seq: e.seq as u64,
                key: e.key.clone(),
                published_at,
                payload_digest: digest,
                supersedes: e.supersedes.map(|s| s as u64),
            })
        }
        EntryKind::Erasure => Ok(Envelope::Erasure {
            dataset: origin.to_owned(),
            seq: e.seq as u64,
            erases: e.erases.ok_or_else(|| corrupt(e, "erases"))? as u64,
            published_at,
            reason: e
                .erasure_reason
                .as_deref()
                .and_then(|r| r.parse::<ErasureReason>().ok())
                .ok_or_else(|| corrupt(e, "reason"))?,
        }),
    }
}

fn corrupt(e: &Entry, what: &str) -> ApiError {
    ApiError::internal(anyhow::anyhow!(
        "entry {}/{} has an invalid {what}",
        e.dataset_id,
        e.seq
    ))
}

/// Appends the record-as-read JSON of `e` to `out` (one line of NDJSON without the newline).
pub fn write_record_json(out: &mut Vec<u8>, origin: &str, e: &Entry) -> ApiResult<()> {
    let env = envelope_of(origin, e)?;
    out.extend_from_slice(b"{\"envelope\":");
    out.extend_from_slice(&env.canonical_bytes());
    out.extend_from_slice(b",\"payload\":");
    match &e.payload {
        Some(p) => out.extend_from_slice(p.as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"salt\":");
    match &e.salt {
        Some(s) => {
            out.push(b'"');
            out.extend_from_slice(hex::encode(s).as_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"leaf_hash\":\"");
    out.extend_from_slice(hex::encode(&e.leaf_hash).as_bytes());
    out.extend_from_slice(b"\"}");
    Ok(())
}

/// Loads one entry of a visible dataset; 404 for an unknown seq.
pub async fn load_entry(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
    seq: Seq,
) -> ApiResult<(Dataset, String, Entry)> {
    let (ds, inst) = load_visible(state, caller, institution, dataset).await?;
    let seq = seq.as_i64();
    let ds_id = ds.id;
    let entry = db::run(&state.pool, move |conn| {
        entries::get(conn, ds_id, seq)?.ok_or(ApiError::NotFound)
    })
    .await?;
    let origin = state.origin(&inst.slug, &ds.slug);
    Ok((ds, origin, entry))
}

pub async fn get(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
    seq: Seq,
) -> ApiResult<RecordRead> {
    let (ds, origin, entry) = load_entry(state, caller, institution, dataset, seq).await?;
    let mut json = Vec::with_capacity(512);
    write_record_json(&mut json, &origin, &entry)?;
    let leaf = envelope_of(&origin, &entry)?.canonical_bytes();
    Ok(RecordRead {
        json,
        leaf,
        erased: entry.is_erased(),
        leaf_hash: entry.leaf_hash,
        public: ds.is_public(),
    })
}
