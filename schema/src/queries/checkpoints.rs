//! Signed checkpoints, kept forever and served by size; halted origins; instance identity.

use crate::Conn;
use crate::schema::{checkpoints, datasets, halted_origins, instance_identity, institutions};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = checkpoints)]
pub struct CheckpointRow {
    pub dataset_id: i64,
    pub size: i64,
    pub root: Vec<u8>,
    pub note: String,
    pub signed_at: DateTime<Utc>,
}

pub fn insert(conn: &mut Conn, row: &CheckpointRow) -> QueryResult<()> {
    diesel::insert_into(checkpoints::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn latest(conn: &mut Conn, dataset_id: i64) -> QueryResult<Option<CheckpointRow>> {
    checkpoints::table
        .filter(checkpoints::dataset_id.eq(dataset_id))
        .order(checkpoints::size.desc())
        .select(CheckpointRow::as_select())
        .first(conn)
        .optional()
}

/// The newest checkpoint of each dataset in `ids`.
pub fn latest_of(conn: &mut Conn, ids: &[i64]) -> QueryResult<Vec<CheckpointRow>> {
    checkpoints::table
        .filter(checkpoints::dataset_id.eq_any(ids))
        .distinct_on(checkpoints::dataset_id)
        .order((checkpoints::dataset_id, checkpoints::size.desc()))
        .select(CheckpointRow::as_select())
        .load(conn)
}

pub fn at_size(conn: &mut Conn, dataset_id: i64, size: i64) -> QueryResult<Option<CheckpointRow>> {
    checkpoints::table
        .find((dataset_id, size))
        .select(CheckpointRow::as_select())
        .first(conn)
        .optional()
}

/// A dataset the signer should look at: its tree size, newest checkpoint size and origin parts.
#[derive(Debug, Clone, Queryable)]
pub struct SigningCandidate {
    pub dataset_id: i64,
    pub entry_count: i64,
    pub institution_slug: String,
    pub dataset_slug: String,
}

/// Datasets whose tree grew past their newest checkpoint and whose signing is not halted.
pub fn grown(conn: &mut Conn) -> QueryResult<Vec<(SigningCandidate, i64)>> {
    let rows: Vec<(i64, i64, String, String, Option<i64>)> = datasets::table
        .inner_join(institutions::table)
        .left_join(halted_origins::table)
        .filter(halted_origins::dataset_id.is_null())
        .select((
            datasets::id,
            datasets::entry_count,
            institutions::slug,
            datasets::slug,
            checkpoints::table
                .filter(checkpoints::dataset_id.eq(datasets::id))
                .select(diesel::dsl::max(checkpoints::size))
                .single_value()
                .assume_not_null()
                .nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, n, inst, ds, cp)| {
            let cp = cp.unwrap_or(-1);
            let candidate = SigningCandidate {
                dataset_id: id,
                entry_count: n,
                institution_slug: inst,
                dataset_slug: ds,
            };
            (n > cp).then_some((candidate, cp))
        })
        .collect())
}

pub fn halt(conn: &mut Conn, dataset_id: i64, reason: &str) -> QueryResult<()> {
    diesel::insert_into(halted_origins::table)
        .values((
            halted_origins::dataset_id.eq(dataset_id),
            halted_origins::reason.eq(reason),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .map(|_| ())
}

/// The recorded identity: (origin prefix, log public key).
pub fn identity(conn: &mut Conn) -> QueryResult<Option<(String, Vec<u8>)>> {
    instance_identity::table
        .select((
            instance_identity::origin_prefix,
            instance_identity::log_public_key,
        ))
        .first(conn)
        .optional()
}

pub fn record_identity(conn: &mut Conn, prefix: &str, public_key: &[u8]) -> QueryResult<()> {
    diesel::insert_into(instance_identity::table)
        .values((
            instance_identity::origin_prefix.eq(prefix),
            instance_identity::log_public_key.eq(public_key),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .map(|_| ())
}
