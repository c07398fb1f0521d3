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
    /// Until when witnesses' cosignatures may be appended to `note`; `None` when the signer
    /// had no witnesses, so the note is final from the start.
    pub cosign_until: Option<DateTime<Utc>>,
}

pub fn insert(conn: &mut Conn, row: &CheckpointRow) -> QueryResult<()> {
    // Column by column rather than the Insertable struct: diesel's shared backend inserts
    // struct fields only when every backend has the column type natively, and SQLite has no
    // timestamptz or uuid.
    diesel::insert_into(checkpoints::table)
        .values((
            checkpoints::dataset_id.eq(row.dataset_id),
            checkpoints::size.eq(row.size),
            checkpoints::root.eq(&row.root),
            checkpoints::note.eq(&row.note),
            checkpoints::signed_at.eq(row.signed_at),
            checkpoints::cosign_until.eq(row.cosign_until),
        ))
        .execute(conn)
        .map(|_| ())
}

/// What [`append_cosignature`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The line is now part of the note.
    Appended,
    /// The note already carries a line of this witness.
    AlreadyThere,
    /// The checkpoint's cosignature window has closed (or it never had one, or is gone).
    WindowClosed,
    /// Other writers kept changing the note; the line was not added.
    Contended,
}

/// Appends a witness's cosignature line (with its newline) to a stored note, unless the note
/// already carries a line of that witness (one starting with `marker`, "— <name> ") or the
/// checkpoint's cosignature window has closed at `now`: cosignatures are only added while a
/// checkpoint is fresh, so that a bundle built on an older checkpoint never changes again
/// (PROTOCOL.md section 10.3).
///
/// The check is done in Rust, identically on both backends (no LIKE, whose case folding and
/// escapes differ), and the update is a compare-and-swap on the note read: two witnesses
/// answering at once retry rather than overwrite each other's line.
pub fn append_cosignature(
    conn: &mut Conn,
    dataset_id: i64,
    size: i64,
    line: &str,
    marker: &str,
    now: DateTime<Utc>,
) -> QueryResult<Appended> {
    for _ in 0..8 {
        let current: Option<(String, Option<DateTime<Utc>>)> = checkpoints::table
            .find((dataset_id, size))
            .select((checkpoints::note, checkpoints::cosign_until))
            .first(conn)
            .optional()?;
        let Some((note, Some(until))) = current else {
            return Ok(Appended::WindowClosed);
        };
        if until <= now {
            return Ok(Appended::WindowClosed);
        }
        if note.split('\n').any(|l| l.starts_with(marker)) {
            return Ok(Appended::AlreadyThere);
        }
        let changed = diesel::update(
            checkpoints::table
                .filter(checkpoints::dataset_id.eq(dataset_id))
                .filter(checkpoints::size.eq(size))
                .filter(checkpoints::note.eq(&note)),
        )
        .set(checkpoints::note.eq(format!("{note}{line}")))
        .execute(conn)?;
        if changed > 0 {
            return Ok(Appended::Appended);
        }
    }
    // Eight lost races in a row: give up on this line rather than spin (the caller counts it).
    Ok(Appended::Contended)
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
        // Portable SQL (no DISTINCT ON): the maximum is one primary-key lookup per dataset.
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "checkpoints.size = (SELECT max(newest.size) FROM checkpoints AS newest \
             WHERE newest.dataset_id = checkpoints.dataset_id)",
        ))
        .order(checkpoints::dataset_id)
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
    crate::insert_unless_conflict(conn, |conn| {
        diesel::insert_into(halted_origins::table)
            .values((
                halted_origins::dataset_id.eq(dataset_id),
                halted_origins::reason.eq(reason),
            ))
            .execute(conn)
    })
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
    crate::insert_unless_conflict(conn, |conn| {
        diesel::insert_into(instance_identity::table)
            .values((
                instance_identity::origin_prefix.eq(prefix),
                instance_identity::log_public_key.eq(public_key),
            ))
            .execute(conn)
    })
    .map(|_| ())
}

/// The signer's lock, held until the surrounding transaction ends: one signing round at a
/// time across all processes on this database. `false` when another process holds it.
pub fn try_signer_lock(conn: &mut Conn) -> QueryResult<bool> {
    if conn.backend() == crate::Backend::Sqlite {
        // The signer's write transaction (BEGIN IMMEDIATE) is exclusive already.
        return Ok(true);
    }
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "pg_try_advisory_xact_lock({SIGNER_LOCK})"
    )))
    .get_result(conn)
}

const SIGNER_LOCK: i64 = 0x6370_7369_676e_6572; // "cpsigner"
