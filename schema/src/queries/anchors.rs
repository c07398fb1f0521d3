//! Anchor batches (PROTOCOL.md section 5): the recorded chain identity, batches with their
//! signed transactions, batch members, and halts.

use crate::Conn;
use crate::schema::{
    anchor_batch_txs, anchor_batches, anchor_halts, anchor_identity, anchor_members, checkpoints,
    datasets,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// The chain, contract and account this instance anchors with; recorded once.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = anchor_identity)]
pub struct AnchorIdentity {
    pub chain_id: i64,
    pub contract: Vec<u8>,
    pub code_hash: Vec<u8>,
    pub anchorer: Vec<u8>,
    pub deploy_tx: Option<Vec<u8>>,
    pub finality_depth: Option<i64>,
}

pub fn identity(conn: &mut Conn) -> QueryResult<Option<AnchorIdentity>> {
    anchor_identity::table
        .select(AnchorIdentity::as_select())
        .first(conn)
        .optional()
}

/// Records the identity unless one exists; returns what is stored afterwards.
pub fn record_identity(conn: &mut Conn, id: &AnchorIdentity) -> QueryResult<AnchorIdentity> {
    crate::insert_unless_conflict(conn, |conn| {
        diesel::insert_into(anchor_identity::table)
            .values(id)
            .execute(conn)
    })?;
    anchor_identity::table
        .select(AnchorIdentity::as_select())
        .first(conn)
}

/// Where a batch stands.
pub mod status {
    pub const PENDING: &str = "pending";
    pub const SUBMITTED: &str = "submitted";
    pub const CONFIRMED: &str = "confirmed";
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = anchor_batches)]
pub struct BatchRow {
    pub batch_seq: i64,
    pub root: Vec<u8>,
    pub prev_root: Vec<u8>,
    pub size: i32,
    pub nonce: i64,
    pub status: String,
    pub raw_tx: Vec<u8>,
    pub tx_hash: Vec<u8>,
    pub search_from: i64,
    pub block_number: Option<i64>,
    pub block_hash: Option<Vec<u8>>,
    pub block_time: Option<i64>,
    pub gas_used: Option<i64>,
    pub fee_bumps: i32,
    pub created_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

impl BatchRow {
    pub fn is_confirmed(&self) -> bool {
        self.status == status::CONFIRMED
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = anchor_batches)]
pub struct NewBatch {
    pub batch_seq: i64,
    pub root: Vec<u8>,
    pub prev_root: Vec<u8>,
    pub size: i32,
    pub nonce: i64,
    pub status: &'static str,
    pub raw_tx: Vec<u8>,
    pub tx_hash: Vec<u8>,
    pub search_from: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = anchor_members)]
pub struct MemberRow {
    pub batch_seq: i64,
    pub idx: i32,
    pub dataset_id: i64,
    pub size: i64,
    pub leaf_hash: Vec<u8>,
}

/// A checkpoint that qualifies for the next batch: the newest of its dataset and larger than
/// the dataset's checkpoint in any earlier batch.
#[derive(Debug, Clone, QueryableByName)]
pub struct Candidate {
    #[diesel(sql_type = BigInt)]
    pub dataset_id: i64,
    #[diesel(sql_type = BigInt)]
    pub size: i64,
    #[diesel(sql_type = Text)]
    pub note: String,
    #[diesel(sql_type = Text)]
    pub institution: String,
    #[diesel(sql_type = Text)]
    pub dataset: String,
}

/// Every origin whose newest signed checkpoint is non-empty and larger than its checkpoint in
/// the latest earlier batch (PROTOCOL.md section 5), in no particular order.
pub fn candidates(conn: &mut Conn) -> QueryResult<Vec<Candidate>> {
    diesel::sql_query(
        "SELECT c.dataset_id, c.size, c.note, i.slug AS institution, d.slug AS dataset \
         FROM datasets d \
         JOIN institutions i ON i.id = d.institution_id \
         JOIN checkpoints c ON c.dataset_id = d.id \
          AND c.size = (SELECT max(newest.size) FROM checkpoints newest \
                        WHERE newest.dataset_id = d.id) \
         WHERE c.size > 0 \
           AND c.size > COALESCE((SELECT max(m.size) FROM anchor_members m \
                                  WHERE m.dataset_id = d.id), 0)",
    )
    .load(conn)
}

pub fn last_batch(conn: &mut Conn) -> QueryResult<Option<BatchRow>> {
    anchor_batches::table
        .order(anchor_batches::batch_seq.desc())
        .select(BatchRow::as_select())
        .first(conn)
        .optional()
}

pub fn batch(conn: &mut Conn, batch_seq: i64) -> QueryResult<Option<BatchRow>> {
    anchor_batches::table
        .find(batch_seq)
        .select(BatchRow::as_select())
        .first(conn)
        .optional()
}

/// Batches in seq order from `after` (exclusive).
pub fn list(conn: &mut Conn, after: Option<i64>, limit: i64) -> QueryResult<Vec<BatchRow>> {
    anchor_batches::table
        .filter(anchor_batches::batch_seq.gt(after.unwrap_or(-1)))
        .order(anchor_batches::batch_seq.asc())
        .limit(limit)
        .select(BatchRow::as_select())
        .load(conn)
}

/// Batches not yet confirmed, oldest first.
pub fn unconfirmed(conn: &mut Conn) -> QueryResult<Vec<BatchRow>> {
    anchor_batches::table
        .filter(anchor_batches::status.ne(status::CONFIRMED))
        .order(anchor_batches::batch_seq.asc())
        .select(BatchRow::as_select())
        .load(conn)
}

/// Persists a batch and its members in one transaction: after this the batch seq, root and
/// nonce are fixed.
pub fn insert_batch(conn: &mut Conn, batch: &NewBatch, members: &[MemberRow]) -> QueryResult<()> {
    crate::tx::transaction(conn, |conn| {
        diesel::insert_into(anchor_batches::table)
            .values(batch)
            .execute(conn)?;
        record_tx(conn, batch.batch_seq, &batch.raw_tx, &batch.tx_hash)?;
        for member in members {
            diesel::insert_into(anchor_members::table)
                .values(member)
                .execute(conn)?;
        }
        Ok(())
    })
}

pub fn mark_submitted(conn: &mut Conn, batch_seq: i64) -> QueryResult<()> {
    diesel::update(anchor_batches::table.find(batch_seq))
        .filter(anchor_batches::status.eq(status::PENDING))
        .set((
            anchor_batches::status.eq(status::SUBMITTED),
            anchor_batches::submitted_at.eq(Utc::now()),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The transaction that now carries the batch (a fee bump), recorded among every
/// transaction the batch was ever sent as, in one transaction.
pub fn replace_tx(
    conn: &mut Conn,
    batch_seq: i64,
    raw_tx: &[u8],
    tx_hash: &[u8],
    bumped: bool,
) -> QueryResult<()> {
    crate::tx::transaction(conn, |conn| {
        diesel::update(anchor_batches::table.find(batch_seq))
            .filter(anchor_batches::status.ne(status::CONFIRMED))
            .set((
                anchor_batches::raw_tx.eq(raw_tx),
                anchor_batches::tx_hash.eq(tx_hash),
                anchor_batches::fee_bumps.eq(anchor_batches::fee_bumps + i32::from(bumped)),
            ))
            .execute(conn)?;
        record_tx(conn, batch_seq, raw_tx, tx_hash)
    })
}

fn record_tx(conn: &mut Conn, batch_seq: i64, raw_tx: &[u8], tx_hash: &[u8]) -> QueryResult<()> {
    crate::insert_unless_conflict(conn, |conn| {
        diesel::insert_into(anchor_batch_txs::table)
            .values((
                anchor_batch_txs::tx_hash.eq(tx_hash),
                anchor_batch_txs::batch_seq.eq(batch_seq),
                anchor_batch_txs::raw_tx.eq(raw_tx),
            ))
            .execute(conn)
    })
    .map(|_| ())
}

/// The hashes of every transaction a batch was ever sent as, oldest first.
pub fn tx_hashes(conn: &mut Conn, batch_seq: i64) -> QueryResult<Vec<Vec<u8>>> {
    anchor_batch_txs::table
        .filter(anchor_batch_txs::batch_seq.eq(batch_seq))
        .order((
            anchor_batch_txs::created_at.asc(),
            anchor_batch_txs::tx_hash.asc(),
        ))
        .select(anchor_batch_txs::tx_hash)
        .load(conn)
}

/// Where the chain holds the anchor right now (not yet final: a reorg may still move it).
pub fn set_inclusion(
    conn: &mut Conn,
    batch_seq: i64,
    inclusion: Option<(i64, &[u8], i64, i64)>,
) -> QueryResult<()> {
    let (number, hash, time, gas) = match inclusion {
        Some((n, h, t, g)) => (Some(n), Some(h), Some(t), Some(g)),
        None => (None, None, None, None),
    };
    diesel::update(anchor_batches::table.find(batch_seq))
        .filter(anchor_batches::status.ne(status::CONFIRMED))
        .set((
            anchor_batches::block_number.eq(number),
            anchor_batches::block_hash.eq(hash),
            anchor_batches::block_time.eq(time),
            anchor_batches::gas_used.eq(gas),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Final: the anchor's block is at or below the chain's finalized block.
pub fn mark_confirmed(
    conn: &mut Conn,
    batch_seq: i64,
    tx_hash: &[u8],
    block_number: i64,
    block_hash: &[u8],
    block_time: i64,
    gas_used: i64,
) -> QueryResult<()> {
    diesel::update(anchor_batches::table.find(batch_seq))
        .set((
            anchor_batches::status.eq(status::CONFIRMED),
            anchor_batches::tx_hash.eq(tx_hash),
            anchor_batches::block_number.eq(block_number),
            anchor_batches::block_hash.eq(block_hash),
            anchor_batches::block_time.eq(block_time),
            anchor_batches::gas_used.eq(gas_used),
            anchor_batches::confirmed_at.eq(Utc::now()),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Members of a batch in batch order.
pub fn members(conn: &mut Conn, batch_seq: i64) -> QueryResult<Vec<MemberRow>> {
    anchor_members::table
        .filter(anchor_members::batch_seq.eq(batch_seq))
        .order(anchor_members::idx.asc())
        .select(MemberRow::as_select())
        .load(conn)
}

/// A member with what visibility and display need: dataset access, institution id, note.
#[derive(Debug, Clone, Queryable)]
pub struct MemberView {
    pub idx: i32,
    pub leaf_hash: Vec<u8>,
    pub dataset_id: i64,
    pub institution_id: i64,
    pub access: crate::domain::Access,
    pub note: String,
    /// The checkpoint's cosignature window (its note may still change before it closes).
    pub cosign_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Members of several batches, in (batch, index) order.
pub fn member_views(conn: &mut Conn, batch_seqs: &[i64]) -> QueryResult<Vec<(i64, MemberView)>> {
    anchor_members::table
        .inner_join(datasets::table)
        .inner_join(
            checkpoints::table.on(checkpoints::dataset_id
                .eq(anchor_members::dataset_id)
                .and(checkpoints::size.eq(anchor_members::size))),
        )
        .filter(anchor_members::batch_seq.eq_any(batch_seqs))
        .order((anchor_members::batch_seq.asc(), anchor_members::idx.asc()))
        .select((
            anchor_members::batch_seq,
            (
                anchor_members::idx,
                anchor_members::leaf_hash,
                anchor_members::dataset_id,
                datasets::institution_id,
                datasets::access,
                checkpoints::note,
                checkpoints::cosign_until,
            ),
        ))
        .load(conn)
}

/// The earliest submitted or confirmed batch holding a checkpoint of the dataset larger than
/// `min_size` (PROTOCOL.md section 6). Batches are mined in nonce order, so when it is not
/// confirmed no later one is.
pub fn earliest_anchored(
    conn: &mut Conn,
    dataset_id: i64,
    min_size: i64,
) -> QueryResult<Option<(BatchRow, MemberRow)>> {
    anchor_members::table
        .inner_join(anchor_batches::table)
        .filter(anchor_members::dataset_id.eq(dataset_id))
        .filter(anchor_members::size.gt(min_size))
        .filter(anchor_batches::status.ne(status::PENDING))
        .order(anchor_members::batch_seq.asc())
        .select((BatchRow::as_select(), MemberRow::as_select()))
        .first(conn)
        .optional()
}

/// The batch holding exactly this checkpoint, if any.
pub fn holding(
    conn: &mut Conn,
    dataset_id: i64,
    size: i64,
) -> QueryResult<Option<(BatchRow, MemberRow)>> {
    anchor_members::table
        .inner_join(anchor_batches::table)
        .filter(anchor_members::dataset_id.eq(dataset_id))
        .filter(anchor_members::size.eq(size))
        .select((BatchRow::as_select(), MemberRow::as_select()))
        .first(conn)
        .optional()
}

/// The newest confirmed batch holding a checkpoint of the dataset.
pub fn newest_confirmed_of(
    conn: &mut Conn,
    dataset_id: i64,
) -> QueryResult<Option<(BatchRow, MemberRow)>> {
    anchor_members::table
        .inner_join(anchor_batches::table)
        .filter(anchor_members::dataset_id.eq(dataset_id))
        .filter(anchor_batches::status.eq(status::CONFIRMED))
        .order(anchor_members::batch_seq.desc())
        .select((BatchRow::as_select(), MemberRow::as_select()))
        .first(conn)
        .optional()
}

/// The unresolved halt, if anchoring is halted.
pub fn active_halt(conn: &mut Conn) -> QueryResult<Option<String>> {
    anchor_halts::table
        .filter(anchor_halts::cleared_at.is_null())
        .order(anchor_halts::id.desc())
        .select(anchor_halts::reason)
        .first(conn)
        .optional()
}

pub fn halt(conn: &mut Conn, reason: &str) -> QueryResult<()> {
    crate::tx::transaction(conn, |conn| {
        if active_halt(conn)?.is_some() {
            return Ok(());
        }
        diesel::insert_into(anchor_halts::table)
            .values(anchor_halts::reason.eq(reason))
            .execute(conn)
            .map(|_| ())
    })
}

/// A halt and how it ended.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = anchor_halts)]
pub struct HaltRow {
    pub id: i64,
    pub reason: String,
    pub halted_at: DateTime<Utc>,
    pub cleared_at: Option<DateTime<Utc>>,
    pub cleared_by: Option<String>,
    pub clear_evidence: Option<String>,
}

/// The newest halts first.
pub fn halts(conn: &mut Conn, limit: i64) -> QueryResult<Vec<HaltRow>> {
    anchor_halts::table
        .order(anchor_halts::id.desc())
        .limit(limit)
        .select(HaltRow::as_select())
        .load(conn)
}

/// Clears the active halt, recording who cleared it and what the chain showed; returns the
/// halt cleared, or `None` when none was active.
pub fn clear_halt(conn: &mut Conn, by: &str, evidence: &str) -> QueryResult<Option<HaltRow>> {
    crate::tx::transaction(conn, |conn| {
        let Some(id) = anchor_halts::table
            .filter(anchor_halts::cleared_at.is_null())
            .order(anchor_halts::id.desc())
            .select(anchor_halts::id)
            .first::<i64>(conn)
            .optional()?
        else {
            return Ok(None);
        };
        diesel::update(anchor_halts::table.find(id))
            .set((
                anchor_halts::cleared_at.eq(Some(Utc::now())),
                anchor_halts::cleared_by.eq(Some(by)),
                anchor_halts::clear_evidence.eq(Some(evidence)),
            ))
            .execute(conn)?;
        anchor_halts::table
            .find(id)
            .select(HaltRow::as_select())
            .first(conn)
            .map(Some)
    })
}

/// Arbitrary but fixed key of the session advisory lock that makes one process the anchorer.
const WORKER_LOCK_KEY: i64 = 0x6369_7669_6361_6e63; // "civicanc"

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

/// Takes the anchoring worker's lock for this connection's session; false when another
/// process holds it. The lock lives as long as the connection (PostgreSQL: a session
/// advisory lock) or as this process (SQLite: an exclusive lock on `<database>.anchorer`,
/// which the operating system releases when the process ends).
pub fn try_worker_lock(conn: &mut Conn) -> QueryResult<bool> {
    if let crate::AnyConnection::Sqlite(lite) = conn {
        return crate::locks::try_file_lock(lite, "anchorer");
    }
    diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
        .bind::<BigInt, _>(WORKER_LOCK_KEY)
        .get_result::<Locked>(conn)
        .map(|r| r.locked)
}

/// Names the worker's own session (PostgreSQL's `application_name`), so that operators see
/// which session holds the anchoring lock in `pg_stat_activity`.
pub fn name_worker_session(conn: &mut Conn) -> QueryResult<()> {
    if let crate::AnyConnection::Pg(pg) = conn {
        use diesel::connection::SimpleConnection;
        pg.batch_execute("SET application_name = 'civicproof anchoring worker'")?;
    }
    Ok(())
}

/// Records the finality policy last seen on the chain.
pub fn set_finality(conn: &mut Conn, depth: Option<i64>) -> QueryResult<()> {
    diesel::update(anchor_identity::table)
        .set(anchor_identity::finality_depth.eq(depth))
        .execute(conn)
        .map(|_| ())
}

pub fn count(conn: &mut Conn) -> QueryResult<i64> {
    anchor_batches::table.count().get_result(conn)
}
