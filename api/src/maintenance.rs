//! Housekeeping that keeps tables bounded: expired Idempotency-Key records (kept at least
//! 24 h, API.md), invalidation rows every replica has long read (Redis copies of bundles
//! expire within 24 h anyway) and arrivals older than a week, hourly; records' dedup keys past their window, every five
//! minutes (a broker bridge at sensor rates adds millions of them an hour).

use crate::state::AppState;
use chrono::{Duration as ChronoDuration, Utc};
use civicproof_schema::queries::{arrivals, dedup, idempotency, invalidations};
use std::time::Duration;

/// Idempotency records are kept this long (a margin over the 24 h API.md promises).
const KEEP_IDEMPOTENCY_HOURS: i64 = 25;
/// Invalidation rows are kept this long.
const KEEP_INVALIDATIONS_HOURS: i64 = 48;
/// How records arrived (`ingest_batches`) is kept this long.
const KEEP_ARRIVALS_HOURS: i64 = 7 * 24;
/// How often dedup keys are purged.
const DEDUP_PURGE_EVERY: Duration = Duration::from_secs(300);
/// The newest dedup keys of each dataset are kept whatever their age. A broker redelivers
/// only the messages its client has not acknowledged, and holds at most 65,535 of them in
/// flight (the packet identifier space), so a redelivered copy arrives before its dataset
/// has taken more than twice that many newer keys from that client: keeping this many
/// covers a bridge that was away for any length of time, as long as one dataset is fed by
/// one bridge. OPERATIONS.md says more.
pub const DEDUP_KEEP_NEWEST: i64 = 262_144;

pub async fn run(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(DEDUP_PURGE_EVERY) => {}
            _ = shutdown.changed() => return,
        }
        ticks += 1;
        purge_dedup_keys(&state).await;
        if ticks.is_multiple_of(12) {
            hourly(&state).await;
        }
    }
}

async fn purge_dedup_keys(state: &AppState) {
    let window = state
        .config
        .limits
        .dedup_window_secs
        .min(i64::MAX as u64 / 2) as i64;
    let before = Utc::now() - ChronoDuration::seconds(window);
    // A dataset of fewer entries than the keys kept holds no key to purge: only the few big
    // ones pay for finding their threshold (an index walk of DEDUP_KEEP_NEWEST rows).
    let ids = match crate::db::run(&state.pool, |conn| {
        Ok(
            civicproof_schema::queries::datasets::ids_with_more_entries_than(
                conn,
                DEDUP_KEEP_NEWEST,
            )?,
        )
    })
    .await
    {
        Ok(ids) => ids,
        Err(e) => return tracing::warn!(error = %e, "dedup purge failed; retrying in five minutes"),
    };
    let mut deleted = 0;
    for id in ids {
        match crate::db::run(&state.pool, move |conn| {
            Ok(dedup::purge(conn, id, before, DEDUP_KEEP_NEWEST)?)
        })
        .await
        {
            Ok(n) => deleted += n,
            Err(e) => {
                return tracing::warn!(error = %e, "dedup purge failed; retrying in five minutes");
            }
        }
    }
    if deleted > 0 {
        tracing::info!(deleted, "expired dedup keys purged");
    }
}

async fn hourly(state: &AppState) {
    let before = Utc::now() - ChronoDuration::hours(KEEP_IDEMPOTENCY_HOURS);
    match crate::db::run(&state.pool, move |conn| {
        Ok(idempotency::purge_older_than(conn, before)?)
    })
    .await
    {
        Ok(n) if n > 0 => tracing::info!(deleted = n, "expired idempotency keys purged"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "idempotency purge failed; retrying in an hour"),
    }
    let before = Utc::now() - ChronoDuration::hours(KEEP_INVALIDATIONS_HOURS);
    if let Err(e) = crate::db::run(&state.pool, move |conn| {
        Ok(invalidations::delete_older_than(conn, before)?)
    })
    .await
    {
        tracing::warn!(error = %e, "invalidation cleanup failed; retrying in an hour");
    }
    let before = Utc::now() - ChronoDuration::hours(KEEP_ARRIVALS_HOURS);
    if let Err(e) = crate::db::run(&state.pool, move |conn| {
        Ok(arrivals::purge_older_than(conn, before)?)
    })
    .await
    {
        tracing::warn!(error = %e, "arrivals cleanup failed; retrying in an hour");
    }
}
