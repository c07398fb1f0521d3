//! Erasure (PROTOCOL.md section 2): deletes payload and salt of one record and appends an
//! erasure entry, in one transaction under the dataset's sequencing lock. The record's
//! envelope and leaf hash stay, so its proofs keep verifying.

use crate::auth::Caller;
use crate::db;
use crate::domain::Seq;
use crate::error::{ApiError, ApiResult};
use crate::services::datasets::load_writable;
use crate::services::publish::sequencing_time;
use crate::state::AppState;
use civicproof_schema::EntryKind;
use civicproof_schema::models::{Entry, NewErasureNote};
use civicproof_schema::queries::{datasets, entries, invalidations};
use civicproof_verify::envelope::{self, Envelope, ErasureReason};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// `legal-erasure`, `court-order`, `publisher-error` or `other`.
    pub reason: String,
    /// Free text for the audit table; never served publicly.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Erased {
    /// The erasure entry's seq.
    pub seq: u64,
    pub leaf_hash: String,
    /// The erased record's seq.
    pub erases: u64,
}

pub async fn erase(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
    seq: Seq,
    req: EraseRequest,
) -> ApiResult<Erased> {
    let (ds, inst) = load_writable(state, caller, institution, dataset).await?;
    let target = seq.as_i64();
    let reason: ErasureReason = req.reason.parse().map_err(|_| {
        ApiError::validation(
            "/reason",
            "reason must be legal-erasure, court-order, publisher-error or other",
        )
    })?;
    if req.note.as_ref().is_some_and(|n| n.len() > 10_000) {
        return Err(ApiError::validation(
            "/note",
            "note must be at most 10000 bytes",
        ));
    }
    let origin = state.origin(&inst.slug, &ds.slug);
    let (ds_id, token_id) = (ds.id, caller.token_id());
    let erased = db::transaction(&state.pool, move |conn| {
        let locked = datasets::lock_for_append(conn, ds_id)?;
        let record = entries::get_for_update(conn, ds_id, target)?.ok_or(ApiError::NotFound)?;
        if record.kind != EntryKind::Record {
            return Err(ApiError::validation(
                "/seq",
                "erasure entries cannot be erased",
            ));
        }
        if record.is_erased() {
            return Err(ApiError::Conflict("This record is already erased.".into()));
        }
        entries::erase_payload(conn, ds_id, target)?;
        let outbox_id = invalidations::record_erasure(conn, ds_id, target)?;
        let seq = locked.entry_count;
        let published_at = sequencing_time(locked.last_published_at);
        let env = Envelope::Erasure {
            dataset: origin,
            seq: seq as u64,
            erases: target as u64,
            published_at: envelope::format_published_at(published_at.timestamp_millis()),
            reason,
        };
        let leaf_hash = env.leaf_hash();
        entries::insert_batch(
            conn,
            &[Entry {
                dataset_id: ds_id,
                seq,
                kind: EntryKind::Erasure,
                key: None,
                payload: None,
                salt: None,
                payload_digest: None,
                leaf_hash: leaf_hash.to_vec(),
                published_at,
                supersedes: None,
                erases: Some(target),
                erasure_reason: Some(reason.as_str().to_owned()),
            }],
        )?;
        crate::log::nodes::append(conn, ds_id, seq as u64, &[leaf_hash])?;
        datasets::set_counts(conn, ds_id, seq + 1, locked.record_count, published_at)?;
        if let Some(note) = &req.note {
            entries::insert_erasure_note(
                conn,
                &NewErasureNote {
                    dataset_id: ds_id,
                    seq,
                    note,
                    token_id,
                },
            )?;
        }
        Ok((
            Erased {
                seq: seq as u64,
                leaf_hash: hex::encode(leaf_hash),
                erases: target as u64,
            },
            outbox_id,
        ))
    })
    .await?;
    let (erased, outbox_id) = erased;
    if let Err(e) = db::run(&state.pool, |conn| Ok(entries::flush_erased(conn)?)).await {
        tracing::warn!(error = %e, "erased bytes not yet flushed from the write-ahead log");
    }
    crate::cluster::erased(&state.cluster, ds.id, target, outbox_id).await;
    state.fanout.notify(crate::fanout::Appended::range(
        ds.id,
        erased.seq as i64,
        erased.seq as i64 + 1,
    ));
    state.signer_wake.notify_one();
    state.metrics.erasures.inc();
    Ok(erased)
}
