//! C2SP tlog-tiles reads of a dataset's log (PROTOCOL.md section 9): hash tiles and entry
//! bundles under the dataset's URL, which is also the tlog-tiles prefix (its `checkpoint` is
//! the newest signed checkpoint, `services::proofs::latest_checkpoint`).
//!
//! A tile is served only once the newest signed checkpoint covers every hash (or entry) it
//! holds, so its bytes never change and never run ahead of what the log has signed. Hashes
//! are read from the stored subtree hashes (`log::tiles`), never recomputed.

use crate::auth::Caller;
use crate::cache::strong_etag;
use crate::cluster::tile_cache::{CachedTile, TileKey};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::log::tiles::{Tile, TileKind, entry_bundle};
use crate::services::datasets::load_visible;
use crate::services::records::envelope_of;
use crate::state::AppState;
use civicproof_schema::queries::entries::{self, FeedFilter};
use civicproof_schema::queries::{checkpoints, tree};

/// A tile's bytes and how it may be cached.
pub struct ServedTile {
    pub body: bytes::Bytes,
    pub etag: String,
    pub public: bool,
    /// A full tile: immutable. A partial one is served short-lived (a client should move on
    /// to the full tile once the log has grown past it).
    pub full: bool,
}

/// The tile at `path` (the part of the URL after `tile/`) of a dataset the caller may see:
/// 400 for a malformed path, 404 for a dataset the caller may not see or a tile the newest
/// signed checkpoint does not cover.
pub async fn tile(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
    path: &str,
) -> ApiResult<ServedTile> {
    let (ds, inst) = load_visible(state, caller, institution, dataset).await?;
    let tile = Tile::parse(path).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (id, public) = (ds.id, ds.is_public());
    // Full tiles never change: once read, they are served from memory.
    let key = tile.partial.is_none().then_some(TileKey {
        dataset_id: id,
        level: match tile.kind {
            TileKind::Hashes { level } => Some(level),
            TileKind::Entries => None,
        },
        index: tile.index,
    });
    if let Some(hit) = key.as_ref().and_then(|k| state.cluster.tiles.get(k)) {
        return Ok(ServedTile {
            body: hit.body,
            etag: hit.etag,
            public,
            full: true,
        });
    }
    let origin = state.origin(&inst.slug, &ds.slug);
    let body = db::run(&state.pool, move |conn| {
        let size = checkpoints::latest(conn, id)?.map_or(0, |c| c.size as u64);
        if !tile.within(size) {
            return Err(ApiError::NotFound);
        }
        let (first, end) = tile.node_range().ok_or(ApiError::NotFound)?;
        let (first, end) = (first as i64, end as i64);
        match tile.kind {
            TileKind::Hashes { .. } => {
                let level = tile.tree_level().ok_or(ApiError::NotFound)?;
                let rows = tree::level_range(conn, id, i16::from(level), first, end)?;
                let mut body = Vec::with_capacity(rows.len() * 32);
                for (expected, (idx, hash)) in (first..end).zip(&rows) {
                    if *idx != expected || hash.len() != 32 {
                        return Err(missing(&origin, level, expected));
                    }
                    body.extend_from_slice(hash);
                }
                if rows.len() as i64 != end - first {
                    return Err(missing(&origin, level, first + rows.len() as i64));
                }
                Ok(body)
            }
            TileKind::Entries => {
                let after = first.checked_sub(1).filter(|a| *a >= 0);
                let rows = entries::page(conn, id, after, &FeedFilter::default(), end - first)?;
                if rows.len() as i64 != end - first {
                    return Err(missing(&origin, 0, first + rows.len() as i64));
                }
                let envelopes = rows
                    .iter()
                    .map(|e| envelope_of(&origin, e).map(|env| env.canonical_bytes()))
                    .collect::<ApiResult<Vec<_>>>()?;
                entry_bundle(envelopes.iter().map(Vec::as_slice)).ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!(
                        "{origin}: an envelope in entry tile {} is over 65,535 bytes",
                        tile.path()
                    ))
                })
            }
        }
    })
    .await?;
    let body = bytes::Bytes::from(body);
    let etag = strong_etag(&body);
    if let Some(key) = key {
        let cached = CachedTile {
            body: body.clone(),
            etag: etag.clone(),
        };
        state.cluster.tiles.put(key, cached);
    }
    Ok(ServedTile {
        body,
        etag,
        public,
        full: key.is_some(),
    })
}

/// A stored hash a signed checkpoint covers is missing: the database is damaged.
fn missing(origin: &str, level: u8, idx: i64) -> ApiError {
    ApiError::internal(anyhow::anyhow!(
        "{origin}: stored hash at tree level {level}, index {idx} is missing below the signed size"
    ))
}
