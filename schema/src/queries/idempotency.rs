//! Idempotency-Key bookkeeping (draft-ietf-httpapi-idempotency-key-header).
//!
//! A key is first *claimed* in its own short transaction (a row with no status and a lease),
//! then *completed* inside the publishing transaction, so the stored response commits
//! atomically with the entries it describes. A crashed claim expires with its lease.

use crate::schema::idempotency_keys;
use crate::{AnyConnection, Conn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRecord {
    pub request_hash: Vec<u8>,
    pub status: Option<i16>,
    pub response: Option<String>,
    pub created_at: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
}

/// What claiming a key found.
#[derive(Debug)]
pub enum Claim {
    /// The key is ours: go ahead and publish.
    Claimed,
    /// Someone used the key before (completed, or still in flight).
    Existing(IdempotencyRecord),
}

/// Claims `key` for this request unless a live record holds it. Records older than
/// `expire_before` (completed or not) and claims whose lease ran out are replaced.
pub fn claim(
    conn: &mut Conn,
    dataset_id: i64,
    key: &str,
    request_hash: &[u8],
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    expire_before: DateTime<Utc>,
) -> QueryResult<Claim> {
    crate::tx::transaction(conn, |conn| {
        let row = idempotency_keys::table.find((dataset_id, key));
        let existing = match conn {
            AnyConnection::Pg(pg) => row
                .for_update()
                .select(IdempotencyRecord::as_select())
                .first(pg)
                .optional()?,
            // BEGIN IMMEDIATE holds the database's write lock already.
            AnyConnection::Sqlite(_) => row
                .select(IdempotencyRecord::as_select())
                .first(conn)
                .optional()?,
        };
        if let Some(rec) = existing {
            let expired = rec.created_at < expire_before;
            let abandoned = rec.status.is_none() && rec.lease_until < now;
            if !expired && !abandoned {
                return Ok(Claim::Existing(rec));
            }
            diesel::delete(idempotency_keys::table.find((dataset_id, key))).execute(conn)?;
        }
        let inserted = crate::insert_unless_conflict(conn, |conn| {
            diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::dataset_id.eq(dataset_id),
                    idempotency_keys::key.eq(key),
                    idempotency_keys::request_hash.eq(request_hash),
                    idempotency_keys::created_at.eq(now),
                    idempotency_keys::lease_until.eq(lease_until),
                ))
                .execute(conn)
        })?;
        if inserted == 1 {
            return Ok(Claim::Claimed);
        }
        // Lost a race with a concurrent claim that committed first.
        idempotency_keys::table
            .find((dataset_id, key))
            .select(IdempotencyRecord::as_select())
            .first(conn)
            .map(Claim::Existing)
    })
}

/// Locks this request's claim for the rest of the transaction. False when the claim is no
/// longer ours: its lease ran out and a retry took the key over (the retry appends, we must
/// not). `claimed_at` identifies the claim (the `now` given to [`claim`]).
pub fn lock_own_claim(
    conn: &mut Conn,
    dataset_id: i64,
    key: &str,
    claimed_at: DateTime<Utc>,
) -> QueryResult<bool> {
    let own = idempotency_keys::table
        .find((dataset_id, key))
        .filter(idempotency_keys::status.is_null())
        .filter(idempotency_keys::created_at.eq(claimed_at));
    let own = own.select(idempotency_keys::dataset_id);
    match conn {
        AnyConnection::Pg(pg) => own.for_update().first::<i64>(pg),
        // Callers hold the write transaction (BEGIN IMMEDIATE), so nothing changes it now.
        AnyConnection::Sqlite(_) => own.first::<i64>(conn),
    }
    .optional()
    .map(|row| row.is_some())
}

/// Stores the final status and body of our claim; call inside the transaction that did the
/// work. Returns false (changing nothing) when the claim is no longer ours.
pub fn complete(
    conn: &mut Conn,
    dataset_id: i64,
    key: &str,
    claimed_at: DateTime<Utc>,
    status: i16,
    response: &str,
) -> QueryResult<bool> {
    diesel::update(
        idempotency_keys::table
            .find((dataset_id, key))
            .filter(idempotency_keys::status.is_null())
            .filter(idempotency_keys::created_at.eq(claimed_at)),
    )
    .set((
        idempotency_keys::status.eq(Some(status)),
        idempotency_keys::response.eq(Some(response)),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// Gives our claim up (the request failed in a way a retry may fix); another request's
/// claim is never touched.
pub fn release(
    conn: &mut Conn,
    dataset_id: i64,
    key: &str,
    claimed_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::delete(
        idempotency_keys::table
            .find((dataset_id, key))
            .filter(idempotency_keys::status.is_null())
            .filter(idempotency_keys::created_at.eq(claimed_at)),
    )
    .execute(conn)
    .map(|_| ())
}

/// Deletes records created before `before` (housekeeping; keys live at least 24 h).
pub fn purge_older_than(conn: &mut Conn, before: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before)))
        .execute(conn)
}
