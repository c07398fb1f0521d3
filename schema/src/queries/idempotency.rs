//! Idempotency-Key bookkeeping (draft-ietf-httpapi-idempotency-key-header).
//!
//! A key is taken inside the publishing transaction ([`lock_key`]) and its answer stored in
//! it ([`record`]), so the answer commits atomically with the entries it describes, and
//! nothing outlives a request that crashed: its transaction rolls back, its lock with it.

use crate::schema::idempotency_keys;
use crate::{AnyConnection, Conn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRecord {
    pub request_hash: Vec<u8>,
    pub status: i16,
    pub response: String,
    pub created_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Takes `(dataset_id, key)` for the current transaction; false when another transaction
/// holds it (a request with the same key is running). PostgreSQL: a transaction-scoped
/// advisory lock on a hash of the pair. SQLite: write transactions are exclusive already.
pub fn lock_key(conn: &mut Conn, dataset_id: i64, key: &str) -> QueryResult<bool> {
    if let AnyConnection::Pg(pg) = conn {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"civicproof idempotency\0");
        h.update(dataset_id.to_be_bytes());
        h.update(key.as_bytes());
        let lock = i64::from_be_bytes(h.finalize()[..8].try_into().expect("8 bytes"));
        return diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
            .bind::<BigInt, _>(lock)
            .get_result::<Locked>(pg)
            .map(|r| r.locked);
    }
    Ok(true)
}

/// A stored key as read: request hash, status and response (absent on an unanswered claim),
/// creation time.
type StoredRow = (Vec<u8>, Option<i16>, Option<String>, DateTime<Utc>);

/// The answer stored for `key`, if any. Records created before `expire_before` count as none
/// (and are deleted), as do claims an earlier version left without an answer.
pub fn find(
    conn: &mut Conn,
    dataset_id: i64,
    key: &str,
    expire_before: DateTime<Utc>,
) -> QueryResult<Option<IdempotencyRecord>> {
    let row = idempotency_keys::table.find((dataset_id, key));
    let found: Option<StoredRow> = row
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::status,
            idempotency_keys::response,
            idempotency_keys::created_at,
        ))
        .first(conn)
        .optional()?;
    match found {
        Some((request_hash, Some(status), Some(response), created_at))
            if created_at >= expire_before =>
        {
            Ok(Some(IdempotencyRecord {
                request_hash,
                status,
                response,
                created_at,
            }))
        }
        Some(_) => {
            diesel::delete(row).execute(conn)?;
            Ok(None)
        }
        None => Ok(None),
    }
}

/// Stores the final status and body for `key`; call inside the transaction that did the
/// work, after [`lock_key`] and [`find`].
pub fn record(
    conn: &mut Conn,
    dataset_id: i64,
    key: &str,
    request_hash: &[u8],
    status: i16,
    response: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::dataset_id.eq(dataset_id),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq(request_hash),
            idempotency_keys::status.eq(Some(status)),
            idempotency_keys::response.eq(Some(response)),
            idempotency_keys::created_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Deletes records created before `before` (housekeeping; keys live at least 24 h).
pub fn purge_older_than(conn: &mut Conn, before: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before)))
        .execute(conn)
}
