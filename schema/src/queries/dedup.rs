//! Per-record dedup keys: the records of a dataset that a publisher named, so that a record
//! sent again under the same name is answered with the one already appended.
//!
//! Read and written inside the publishing transaction, after the dataset's row lock, so two
//! batches naming one record cannot both append it.

use crate::schema::{entries, record_dedup};
use crate::{AnyConnection, Conn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

/// A dedup key already held: the record it named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub hash: Vec<u8>,
    pub seq: i64,
    pub fingerprint: Vec<u8>,
    pub leaf_hash: Vec<u8>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = record_dedup, treat_none_as_default_value = false)]
pub struct NewDedup {
    pub dataset_id: i64,
    pub hash: Vec<u8>,
    pub seq: i64,
    pub fingerprint: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

/// The held keys among `hashes`, each with its record's leaf hash.
pub fn find(conn: &mut Conn, dataset_id: i64, hashes: &[Vec<u8>]) -> QueryResult<Vec<Held>> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    let mut held: Vec<(Vec<u8>, i64, Vec<u8>)> = Vec::new();
    // Chunks keep SQLite's bind-parameter limit (32,766) far away.
    for chunk in hashes.chunks(5_000) {
        held.extend(
            record_dedup::table
                .filter(record_dedup::dataset_id.eq(dataset_id))
                .filter(record_dedup::hash.eq_any(chunk))
                .select((
                    record_dedup::hash,
                    record_dedup::seq,
                    record_dedup::fingerprint,
                ))
                .load::<(Vec<u8>, i64, Vec<u8>)>(conn)?,
        );
    }
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let seqs: Vec<i64> = held.iter().map(|h| h.1).collect();
    let mut leaves = std::collections::HashMap::with_capacity(seqs.len());
    for chunk in seqs.chunks(5_000) {
        leaves.extend(
            entries::table
                .filter(entries::dataset_id.eq(dataset_id))
                .filter(entries::seq.eq_any(chunk))
                .select((entries::seq, entries::leaf_hash))
                .load::<(i64, Vec<u8>)>(conn)?,
        );
    }
    Ok(held
        .into_iter()
        .filter_map(|(hash, seq, fingerprint)| {
            let leaf_hash = leaves.get(&seq)?.clone();
            Some(Held {
                hash,
                seq,
                fingerprint,
                leaf_hash,
            })
        })
        .collect())
}

/// Stores the keys of newly appended records.
pub fn insert(conn: &mut Conn, rows: &[NewDedup]) -> QueryResult<()> {
    match conn {
        // Binary COPY, as for entries.
        AnyConnection::Pg(pg) => {
            if !rows.is_empty() {
                diesel::copy_from(record_dedup::table)
                    .from_insertable(rows)
                    .execute(pg)?;
            }
        }
        AnyConnection::Sqlite(_) => {
            for row in rows {
                diesel::insert_into(record_dedup::table)
                    .values((
                        record_dedup::dataset_id.eq(row.dataset_id),
                        record_dedup::hash.eq(&row.hash),
                        record_dedup::seq.eq(row.seq),
                        record_dedup::fingerprint.eq(&row.fingerprint),
                        record_dedup::created_at.eq(row.created_at),
                    ))
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

/// Deletes the keys of `dataset_id` that are both older than `before` and not among its
/// `keep_newest` most recent ones. Returns the rows deleted.
pub fn purge(
    conn: &mut Conn,
    dataset_id: i64,
    before: DateTime<Utc>,
    keep_newest: i64,
) -> QueryResult<usize> {
    let threshold: Option<i64> = record_dedup::table
        .filter(record_dedup::dataset_id.eq(dataset_id))
        .order(record_dedup::seq.desc())
        .select(record_dedup::seq)
        .offset(keep_newest)
        .first(conn)
        .optional()?;
    let Some(threshold) = threshold else {
        return Ok(0);
    };
    diesel::delete(
        record_dedup::table
            .filter(record_dedup::dataset_id.eq(dataset_id))
            .filter(record_dedup::seq.le(threshold))
            .filter(record_dedup::created_at.lt(before)),
    )
    .execute(conn)
}
