//! Housekeeping that keeps tables bounded, hourly: expired Idempotency-Key records (kept at
//! least 24 h, API.md) and invalidation rows every replica has long read (Redis copies of
//! bundles expire within 24 h anyway).

use crate::state::AppState;
use chrono::{Duration as ChronoDuration, Utc};
use civicproof_schema::queries::{idempotency, invalidations};
use std::time::Duration;

/// Idempotency records are kept this long (a margin over the 24 h API.md promises).
const KEEP_IDEMPOTENCY_HOURS: i64 = 25;
/// Invalidation rows are kept this long.
const KEEP_INVALIDATIONS_HOURS: i64 = 48;

pub async fn run(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = shutdown.changed() => return,
        }
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
    }
}
