use crate::Conn;
use crate::models::{Entry, NewErasureNote};
use crate::schema::{entries, erasure_notes};
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

/// Rows per INSERT statement: 12 columns stay well under PostgreSQL's 65,535 bind parameters.
const INSERT_CHUNK: usize = 2_000;

/// Feed filters (`GET …/records`); all of them combine with AND.
#[derive(Debug, Default, Clone)]
pub struct FeedFilter {
    pub key: Option<String>,
    pub published_after: Option<DateTime<Utc>>,
    pub published_before: Option<DateTime<Utc>>,
    /// Top-level payload field and value: compared as numbers when `number` is set and the
    /// field holds a number, else as text.
    pub payload: Vec<PayloadFilter>,
    /// Per non-null key only the highest seq; null-key entries are always current.
    pub current: bool,
}

#[derive(Debug, Clone)]
pub struct PayloadFilter {
    pub field: String,
    pub value: String,
    /// The value in JSON number syntax, when it parses as one.
    pub number: Option<String>,
}

pub fn insert_batch(conn: &mut Conn, rows: &[Entry]) -> QueryResult<()> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        diesel::insert_into(entries::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(())
}

/// For each key, the seq of its newest record in the dataset (what a new version supersedes).
pub fn latest_seq_by_key(
    conn: &mut Conn,
    dataset_id: i64,
    keys: &[String],
) -> QueryResult<Vec<(String, i64)>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    entries::table
        .filter(entries::dataset_id.eq(dataset_id))
        .filter(entries::kind.eq("record"))
        .filter(entries::key.eq_any(keys))
        .group_by(entries::key)
        .select((
            entries::key.assume_not_null(),
            diesel::dsl::max(entries::seq).assume_not_null(),
        ))
        .load(conn)
}

pub fn get(conn: &mut Conn, dataset_id: i64, seq: i64) -> QueryResult<Option<Entry>> {
    entries::table
        .find((dataset_id, seq))
        .select(Entry::as_select())
        .first(conn)
        .optional()
}

/// An entry and, when it exists, its right or left neighbour's leaf hash (`seq ^ 1`): the
/// first element of every inclusion path, fetched in the same round trip.
pub fn get_with_sibling(
    conn: &mut Conn,
    dataset_id: i64,
    seq: i64,
) -> QueryResult<Option<(Entry, Option<Vec<u8>>)>> {
    let rows: Vec<Entry> = entries::table
        .filter(entries::dataset_id.eq(dataset_id))
        .filter(entries::seq.eq_any([seq, seq ^ 1]))
        .select(Entry::as_select())
        .load(conn)?;
    let sibling = rows
        .iter()
        .find(|e| e.seq != seq)
        .map(|e| e.leaf_hash.clone());
    Ok(rows
        .into_iter()
        .find(|e| e.seq == seq)
        .map(|e| (e, sibling)))
}

/// Locks one entry row for the rest of the transaction (erasure takes it before checking).
pub fn get_for_update(conn: &mut Conn, dataset_id: i64, seq: i64) -> QueryResult<Option<Entry>> {
    entries::table
        .find((dataset_id, seq))
        .for_update()
        .select(Entry::as_select())
        .first(conn)
        .optional()
}

/// The erasure entry that erased `seq`, if any.
pub fn erasure_of(conn: &mut Conn, dataset_id: i64, seq: i64) -> QueryResult<Option<Entry>> {
    entries::table
        .filter(entries::dataset_id.eq(dataset_id))
        .filter(entries::erases.eq(seq))
        .select(Entry::as_select())
        .first(conn)
        .optional()
}

/// Deletes payload and salt of a record: the only update an entry ever gets.
pub fn erase_payload(conn: &mut Conn, dataset_id: i64, seq: i64) -> QueryResult<usize> {
    diesel::update(entries::table.find((dataset_id, seq)))
        .set((
            entries::payload.eq(None::<String>),
            entries::salt.eq(None::<Vec<u8>>),
        ))
        .execute(conn)
}

pub fn insert_erasure_note(conn: &mut Conn, note: &NewErasureNote<'_>) -> QueryResult<()> {
    diesel::insert_into(erasure_notes::table)
        .values(note)
        .execute(conn)
        .map(|_| ())
}

/// One feed page: entries with seq > `after` (or from 0) matching `filter`, in seq order.
pub fn page(
    conn: &mut Conn,
    dataset_id: i64,
    after: Option<i64>,
    filter: &FeedFilter,
    limit: i64,
) -> QueryResult<Vec<Entry>> {
    let mut q = filtered(dataset_id, filter);
    if let Some(after) = after {
        q = q.filter(entries::seq.gt(after));
    }
    q.order(entries::seq.asc())
        .limit(limit)
        .select(Entry::as_select())
        .load(conn)
}

/// A page read backwards (GraphQL `last`/`before`): the highest seqs below `before` (or
/// the newest) and above `after`, matching `filter`, in descending seq order.
pub fn page_before(
    conn: &mut Conn,
    dataset_id: i64,
    after: Option<i64>,
    before: Option<i64>,
    filter: &FeedFilter,
    limit: i64,
) -> QueryResult<Vec<Entry>> {
    let mut q = filtered(dataset_id, filter);
    if let Some(after) = after {
        q = q.filter(entries::seq.gt(after));
    }
    if let Some(before) = before {
        q = q.filter(entries::seq.lt(before));
    }
    q.order(entries::seq.desc())
        .limit(limit)
        .select(Entry::as_select())
        .load(conn)
}

/// How many entries match `filter` (GraphQL `totalCount`).
pub fn count(conn: &mut Conn, dataset_id: i64, filter: &FeedFilter) -> QueryResult<i64> {
    filtered(dataset_id, filter).count().get_result(conn)
}

/// The entries of one dataset that match `filter`, as a query to order and page.
fn filtered(dataset_id: i64, filter: &FeedFilter) -> entries::BoxedQuery<'static, diesel::pg::Pg> {
    let mut q = entries::table
        .filter(entries::dataset_id.eq(dataset_id))
        .into_boxed();
    if let Some(key) = &filter.key {
        q = q.filter(entries::key.eq(key.clone()));
    }
    if let Some(t) = filter.published_after {
        q = q.filter(entries::published_at.gt(t));
    }
    if let Some(t) = filter.published_before {
        q = q.filter(entries::published_at.lt(t));
    }
    for f in &filter.payload {
        // The field name and value are bound parameters, never spliced into SQL. A NULL
        // (erased) payload makes the CASE NULL, so erased records never match.
        q = match &f.number {
            Some(n) => q.filter(
                sql::<Bool>("CASE WHEN jsonb_typeof(entries.payload::jsonb -> ")
                    .bind::<Text, _>(f.field.clone())
                    .sql(") = 'number' THEN (entries.payload::jsonb ->> ")
                    .bind::<Text, _>(f.field.clone())
                    .sql(")::numeric = ")
                    .bind::<Text, _>(n.clone())
                    .sql("::numeric ELSE entries.payload::jsonb ->> ")
                    .bind::<Text, _>(f.field.clone())
                    .sql(" = ")
                    .bind::<Text, _>(f.value.clone())
                    .sql(" END"),
            ),
            None => q.filter(
                sql::<Bool>("CASE WHEN jsonb_typeof(entries.payload::jsonb -> ")
                    .bind::<Text, _>(f.field.clone())
                    .sql(") = 'number' THEN false ELSE entries.payload::jsonb ->> ")
                    .bind::<Text, _>(f.field.clone())
                    .sql(" = ")
                    .bind::<Text, _>(f.value.clone())
                    .sql(" END"),
            ),
        };
    }
    if filter.current {
        q = q.filter(sql::<Bool>(
            "(entries.key IS NULL OR NOT EXISTS (SELECT 1 FROM entries AS newer \
             WHERE newer.dataset_id = entries.dataset_id AND newer.key = entries.key \
             AND newer.seq > entries.seq))",
        ));
    }
    q
}
