//! How records arrived (`ingest_batches`): the channel and source of appends that did not
//! come through plain REST. Written in the appending transaction; operational metadata only.

use crate::schema::ingest_batches;
use crate::{AnyConnection, Conn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Arrival {
    pub first_seq: i64,
    pub count: i32,
    pub channel: String,
    pub source: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub fn insert(
    conn: &mut Conn,
    dataset_id: i64,
    first_seq: i64,
    count: i32,
    channel: &str,
    source: Option<&str>,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    let values = (
        ingest_batches::dataset_id.eq(dataset_id),
        ingest_batches::first_seq.eq(first_seq),
        ingest_batches::count.eq(count),
        ingest_batches::channel.eq(channel),
        ingest_batches::source.eq(source),
        ingest_batches::created_at.eq(at),
    );
    match conn {
        AnyConnection::Pg(pg) => diesel::insert_into(ingest_batches::table)
            .values(values)
            .execute(pg)?,
        AnyConnection::Sqlite(_) => diesel::insert_into(ingest_batches::table)
            .values(values)
            .execute(conn)?,
    };
    Ok(())
}

fn columns() -> (
    ingest_batches::first_seq,
    ingest_batches::count,
    ingest_batches::channel,
    ingest_batches::source,
    ingest_batches::created_at,
) {
    (
        ingest_batches::first_seq,
        ingest_batches::count,
        ingest_batches::channel,
        ingest_batches::source,
        ingest_batches::created_at,
    )
}

/// The newest arrivals of a dataset, newest first.
pub fn recent(conn: &mut Conn, dataset_id: i64, limit: i64) -> QueryResult<Vec<Arrival>> {
    ingest_batches::table
        .filter(ingest_batches::dataset_id.eq(dataset_id))
        .order(ingest_batches::first_seq.desc())
        .limit(limit)
        .select(columns())
        .load(conn)
}

/// The arrival that appended `seq`, if one did.
pub fn covering(conn: &mut Conn, dataset_id: i64, seq: i64) -> QueryResult<Option<Arrival>> {
    let found: Option<Arrival> = ingest_batches::table
        .filter(ingest_batches::dataset_id.eq(dataset_id))
        .filter(ingest_batches::first_seq.le(seq))
        .order(ingest_batches::first_seq.desc())
        .select(columns())
        .first(conn)
        .optional()?;
    Ok(found.filter(|a| seq < a.first_seq + i64::from(a.count)))
}

/// Deletes arrivals recorded before `before`.
pub fn purge_older_than(conn: &mut Conn, before: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(ingest_batches::table.filter(ingest_batches::created_at.lt(before)))
        .execute(conn)
}
