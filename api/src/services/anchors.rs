//! What clients read about anchors: `GET /v1/anchors`, `GET /v1/anchors/{batch_seq}` (API.md,
//! "An anchor batch") and the `anchor` / `anchor_pending` sections of bundles (PROTOCOL.md
//! section 6). REST and GraphQL both call these.

use crate::anchor::batch;
use crate::anchor::setup::{Anchoring, hex_address};
use crate::auth::Caller;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use civicproof_schema::Conn;
use civicproof_schema::domain::Access;
use civicproof_schema::queries::anchors::{self as q, BatchRow, MemberRow, MemberView};
use civicproof_schema::queries::datasets::Visibility;
use civicproof_verify::bundle::{Anchor, AnchorPending, hex_hashes};
use civicproof_verify::merkle::Hash;
use serde::Serialize;
use std::sync::Arc;

/// An anchor batch as API.md shows it. Transaction and block fields are null until the
/// batch is confirmed, except `tx_hash`, known from the moment the batch is persisted.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnchorBatch {
    pub batch_seq: u64,
    /// Hex RFC 6962 root over the batch leaves.
    pub batch_root: String,
    pub batch_size: u64,
    /// Hex root of the previous batch (64 zeros for batch 0).
    pub prev_root: String,
    pub chain_id: u64,
    pub contract: String,
    pub anchorer: String,
    pub tx_hash: String,
    pub block_number: Option<u64>,
    pub block_hash: Option<String>,
    pub block_time: Option<u64>,
    /// `pending`, `submitted` or `confirmed`.
    pub status: String,
    /// In batch order; `checkpoint` is null where the caller may not see the dataset.
    pub members: Vec<AnchorMember>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnchorMember {
    /// Hex `SHA-256(0x00 || note text)`.
    pub leaf_hash: String,
    /// The complete signed note, or null when not visible to the caller.
    pub checkpoint: Option<String>,
}

/// How a batch answer may be cached: immutable when confirmed and every member's note settled
/// (no more cosignatures), public when nothing restricted was shown.
#[derive(Debug, Clone, Copy)]
pub struct Cacheability {
    pub immutable: bool,
    pub public: bool,
}

/// `GET /v1/anchors`: batches in seq order from the cursor.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    after: Option<&str>,
    limit: Option<&str>,
) -> ApiResult<(Vec<AnchorBatch>, Option<String>, bool)> {
    let max = state.config.limits.max_page_size;
    let limit = match limit {
        None => 100.min(max),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                return Err(ApiError::validation(
                    "/limit",
                    format!("limit must be between 1 and {max}"),
                ));
            }
        },
    };
    let after = after.map(parse_cursor).transpose()?;
    let Some(a) = state.anchoring.clone() else {
        return Ok((Vec::new(), None, true));
    };
    let visibility = caller.visibility();
    let (rows, views) = db::run(&state.pool, move |conn| {
        let rows = q::list(conn, after, limit as i64 + 1)?;
        let seqs: Vec<i64> = rows.iter().map(|b| b.batch_seq).collect();
        let views = q::member_views(conn, &seqs)?;
        Ok((rows, views))
    })
    .await?;
    let more = rows.len() > limit;
    let mut public = true;
    let mut out = Vec::new();
    for b in rows.into_iter().take(limit) {
        let members: Vec<MemberView> = views
            .iter()
            .filter(|(s, _)| *s == b.batch_seq)
            .map(|(_, m)| m.clone())
            .collect();
        let (batch, c) = present(&a, b, members, visibility);
        public &= c.public;
        out.push(batch);
    }
    let next = if more {
        out.last().map(|b| cursor(b.batch_seq as i64))
    } else {
        None
    };
    Ok((out, next, public))
}

/// `GET /v1/anchors/{batch_seq}`.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    batch_seq: crate::domain::Seq,
) -> ApiResult<(AnchorBatch, Cacheability)> {
    let seq = batch_seq.as_i64();
    let a = state.anchoring.clone().ok_or(ApiError::NotFound)?;
    let visibility = caller.visibility();
    let (row, members) = db::run(&state.pool, move |conn| {
        let row = q::batch(conn, seq)?.ok_or(ApiError::NotFound)?;
        let members = q::member_views(conn, &[seq])?
            .into_iter()
            .map(|(_, m)| m)
            .collect::<Vec<_>>();
        Ok((row, members))
    })
    .await?;
    Ok(present(&a, row, members, visibility))
}

fn present(
    a: &Anchoring,
    b: BatchRow,
    members: Vec<MemberView>,
    visibility: Visibility,
) -> (AnchorBatch, Cacheability) {
    let confirmed = b.is_confirmed();
    let mut public = true;
    // Members' notes may still gain witness cosignatures for a while after signing.
    let mut settled = true;
    let members = members
        .into_iter()
        .map(|m| {
            public &= m.access == Access::Public;
            settled &= crate::log::witnessing::is_settled(m.cosign_until);
            AnchorMember {
                leaf_hash: hex::encode(&m.leaf_hash),
                checkpoint: visible(visibility, &m).then_some(m.note),
            }
        })
        .collect();
    let batch = AnchorBatch {
        batch_seq: b.batch_seq as u64,
        batch_root: hex::encode(&b.root),
        batch_size: b.size as u64,
        prev_root: hex::encode(&b.prev_root),
        chain_id: a.chain_id,
        contract: hex_address(a.contract),
        anchorer: hex_address(a.anchorer),
        tx_hash: format!("0x{}", hex::encode(&b.tx_hash)),
        block_number: confirmed
            .then_some(b.block_number)
            .flatten()
            .map(|n| n as u64),
        block_hash: confirmed
            .then_some(b.block_hash.as_deref())
            .flatten()
            .map(|h| format!("0x{}", hex::encode(h))),
        block_time: confirmed
            .then_some(b.block_time)
            .flatten()
            .map(|t| t as u64),
        status: b.status,
        members,
    };
    // A batch showing a restricted checkpoint is the caller's alone.
    let shows_restricted = batch.members.iter().any(|m| m.checkpoint.is_some()) && !public;
    (
        batch,
        Cacheability {
            immutable: confirmed && settled,
            public: !shows_restricted,
        },
    )
}

fn visible(v: Visibility, m: &MemberView) -> bool {
    m.access == Access::Public
        || match v {
            Visibility::All => true,
            Visibility::PublicAnd(inst) => inst == m.institution_id,
            Visibility::PublicOnly => false,
        }
}

/// An anchor cursor: base64url of `batch:<batch_seq>` (shared with GraphQL).
pub fn cursor(batch_seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("batch:{batch_seq}"))
}

fn parse_cursor(v: &str) -> ApiResult<i64> {
    URL_SAFE_NO_PAD
        .decode(v)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("batch:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::BadRequest("after is not a valid anchor cursor.".into()))
}

/// What a bundle says about anchoring.
#[derive(Debug, Default)]
pub struct BundleAnchoring {
    /// Use this checkpoint size (the earliest confirmed batch's) instead of the newest.
    pub checkpoint_size: Option<i64>,
    pub anchor: Option<Anchor>,
    pub pending: Option<AnchorPending>,
}

/// PROTOCOL.md section 6, "Which checkpoint": the earliest confirmed batch holding a checkpoint
/// of the dataset larger than `must_cover`; else the hint of a submitted one. With
/// `tree_size`, the batch holding exactly that checkpoint, if confirmed.
pub fn for_bundle(
    state: &AppState,
    conn: &mut Conn,
    dataset_id: i64,
    must_cover: i64,
    tree_size: Option<i64>,
) -> ApiResult<BundleAnchoring> {
    let Some(a) = state.anchoring.as_deref() else {
        return Ok(BundleAnchoring::default());
    };
    let found = match tree_size {
        Some(n) => q::holding(conn, dataset_id, n)?,
        None => q::earliest_anchored(conn, dataset_id, must_cover)?,
    };
    let Some((b, m)) = found else {
        return Ok(BundleAnchoring::default());
    };
    if !b.is_confirmed() {
        // Batches confirm in nonce order, so nothing later is confirmed either.
        let pending =
            (tree_size.is_none() && b.status == q::status::SUBMITTED).then(|| AnchorPending {
                batch_seq: b.batch_seq as u64,
                tx_hash: format!("0x{}", hex::encode(&b.tx_hash)),
            });
        return Ok(BundleAnchoring {
            pending,
            ..Default::default()
        });
    }
    let path = batch_path(a, conn, &b, &m)?;
    Ok(BundleAnchoring {
        checkpoint_size: Some(m.size),
        anchor: Some(Anchor {
            batch_seq: b.batch_seq as u64,
            batch_root: hex::encode(&b.root),
            batch_size: b.size as u64,
            batch_index: m.idx as u64,
            batch_path: hex_hashes(&path[..]),
            prev_root: hex::encode(&b.prev_root),
            chain_id: a.chain_id,
            contract: hex_address(a.contract),
            anchorer: hex_address(a.anchorer),
            tx_hash: format!("0x{}", hex::encode(&b.tx_hash)),
            block_number: b.block_number.unwrap_or_default() as u64,
            block_hash: format!(
                "0x{}",
                hex::encode(b.block_hash.as_deref().unwrap_or_default())
            ),
            block_time: b.block_time.unwrap_or_default() as u64,
        }),
        pending: None,
    })
}

/// A member's path in its (confirmed, hence immutable) batch; cached.
fn batch_path(
    a: &Anchoring,
    conn: &mut Conn,
    b: &BatchRow,
    m: &MemberRow,
) -> ApiResult<Arc<Vec<Hash>>> {
    let key = (b.batch_seq, m.idx);
    if let Some(p) = a.paths.get(&key) {
        return Ok(p);
    }
    let leaves: Vec<Hash> = q::members(conn, b.batch_seq)?
        .iter()
        .map(|m| {
            m.leaf_hash
                .as_slice()
                .try_into()
                .map_err(ApiError::internal)
        })
        .collect::<ApiResult<_>>()?;
    let path = Arc::new(batch::path(&leaves, m.idx as usize));
    a.paths.put(key, path.clone());
    Ok(path)
}

/// The newest confirmed batch holding a checkpoint of the dataset, as the dataset view shows.
pub fn newest_of_dataset(
    state: &AppState,
    conn: &mut Conn,
    dataset_id: i64,
) -> ApiResult<Option<serde_json::Value>> {
    let Some(a) = state.anchoring.as_deref() else {
        return Ok(None);
    };
    Ok(q::newest_confirmed_of(conn, dataset_id)?.map(|(b, m)| {
        serde_json::json!({
            "batch_seq": b.batch_seq,
            "batch_root": hex::encode(&b.root),
            "checkpoint_size": m.size,
            "chain_id": a.chain_id,
            "contract": hex_address(a.contract),
            "anchorer": hex_address(a.anchorer),
            "tx_hash": format!("0x{}", hex::encode(&b.tx_hash)),
            "block_number": b.block_number,
            "block_hash": b.block_hash.as_deref().map(|h| format!("0x{}", hex::encode(h))),
            "block_time": b.block_time,
        })
    }))
}

/// The newest confirmed batch holding a checkpoint of a visible dataset (GraphQL
/// `Dataset.latestAnchor`).
pub async fn latest_of(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
) -> ApiResult<Option<AnchorBatch>> {
    if state.anchoring.is_none() {
        return Ok(None);
    }
    let (ds, _) =
        crate::services::datasets::load_visible(state, caller, institution, dataset).await?;
    let id = ds.id;
    let found = db::run(&state.pool, move |conn| {
        Ok(q::newest_confirmed_of(conn, id)?)
    })
    .await?;
    match found {
        Some((b, _)) => Ok(Some(
            get(state, caller, crate::domain::Seq::of(b.batch_seq))
                .await?
                .0,
        )),
        None => Ok(None),
    }
}

/// How many batches exist.
pub async fn count(state: &AppState) -> ApiResult<u64> {
    if state.anchoring.is_none() {
        return Ok(0);
    }
    db::run(&state.pool, |conn| Ok(q::count(conn)? as u64)).await
}
