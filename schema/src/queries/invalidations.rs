//! The invalidation outbox: one row per erasure or token revocation, written in the same
//! transaction, read by every replica to purge its caches and close the revoked token's
//! streams, and marked once the shared Redis copies are purged.

use crate::Conn;
use crate::schema::invalidations;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

pub const ERASURE: &str = "erasure";
pub const TOKEN: &str = "token";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invalidations)]
pub struct Invalidation {
    pub id: i64,
    pub kind: String,
    pub dataset_id: Option<i64>,
    pub seq: Option<i64>,
    pub token_id: Option<Uuid>,
}

/// Records an erasure of `(dataset_id, seq)`; returns the row's id.
pub fn record_erasure(conn: &mut Conn, dataset_id: i64, seq: i64) -> QueryResult<i64> {
    diesel::insert_into(invalidations::table)
        .values((
            invalidations::kind.eq(ERASURE),
            invalidations::dataset_id.eq(dataset_id),
            invalidations::seq.eq(seq),
        ))
        .returning(invalidations::id)
        .get_result(conn)
}

/// Records a token revocation.
pub fn record_revocation(conn: &mut Conn, token_id: Uuid) -> QueryResult<i64> {
    diesel::insert_into(invalidations::table)
        .values((
            invalidations::kind.eq(TOKEN),
            invalidations::token_id.eq(token_id),
        ))
        .returning(invalidations::id)
        .get_result(conn)
}

/// The newest id (0 when none): where a starting replica begins to follow.
pub fn newest_id(conn: &mut Conn) -> QueryResult<i64> {
    invalidations::table
        .select(diesel::dsl::max(invalidations::id))
        .first::<Option<i64>>(conn)
        .map(Option::unwrap_or_default)
}

/// Rows after `id`, oldest first.
pub fn after(conn: &mut Conn, id: i64, limit: i64) -> QueryResult<Vec<Invalidation>> {
    invalidations::table
        .filter(invalidations::id.gt(id))
        .order(invalidations::id.asc())
        .limit(limit)
        .select(Invalidation::as_select())
        .load(conn)
}

/// Erasures whose Redis copies are not known to be purged, oldest first.
pub fn unpurged(conn: &mut Conn, limit: i64) -> QueryResult<Vec<Invalidation>> {
    invalidations::table
        .filter(invalidations::redis_purged_at.is_null())
        .filter(invalidations::kind.eq(ERASURE))
        .order(invalidations::id.asc())
        .limit(limit)
        .select(Invalidation::as_select())
        .load(conn)
}

pub fn mark_purged(conn: &mut Conn, ids: &[i64]) -> QueryResult<usize> {
    diesel::update(invalidations::table.filter(invalidations::id.eq_any(ids)))
        .set(invalidations::redis_purged_at.eq(Some(Utc::now())))
        .execute(conn)
}

/// Forgets rows older than `before` (every replica has long read them).
pub fn delete_older_than(conn: &mut Conn, before: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(invalidations::table.filter(invalidations::created_at.lt(before))).execute(conn)
}
