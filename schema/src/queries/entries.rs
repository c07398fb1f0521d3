use crate::models::{Entry, NewErasureNote};
use crate::schema::{entries, erasure_notes};
use crate::{AnyConnection, Backend, Conn, EntryKind};
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

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
    match conn {
        // COPY … FROM STDIN (FORMAT binary): no statement text of thousands of parameters to
        // parse and plan, and rows travel in PostgreSQL's binary form.
        AnyConnection::Pg(pg) => {
            if !rows.is_empty() {
                diesel::copy_from(entries::table)
                    .from_insertable(rows)
                    .execute(pg)?;
            }
        }
        // One prepared statement per row: SQLite runs in process, so a statement costs no
        // round trip.
        AnyConnection::Sqlite(_) => {
            for e in rows {
                diesel::insert_into(entries::table)
                    .values((
                        entries::dataset_id.eq(e.dataset_id),
                        entries::seq.eq(e.seq),
                        entries::kind.eq(&e.kind),
                        entries::key.eq(&e.key),
                        entries::payload.eq(&e.payload),
                        entries::salt.eq(&e.salt),
                        entries::payload_digest.eq(&e.payload_digest),
                        entries::leaf_hash.eq(&e.leaf_hash),
                        entries::published_at.eq(e.published_at),
                        entries::supersedes.eq(e.supersedes),
                        entries::erases.eq(e.erases),
                        entries::erasure_reason.eq(&e.erasure_reason),
                    ))
                    .execute(conn)?;
            }
        }
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
    // One top-1 index probe per key (`entries_by_key` read backwards), so the cost stays flat
    // however many versions a key has: a GROUP BY with max() read every version of every key
    // in the batch, which made each publish of a sensor's reading slower than the last (found
    // by the soak: 35,000 rows read for three keys after 30 minutes).
    //
    // No `kind` filter: only records have keys (the entries CHECK constraints make an erasure
    // entry's key NULL), and with one the probe is no longer index-only, so PostgreSQL's
    // estimate decides the plan. While a fast-growing table's statistics lag behind, it then
    // picks a bitmap scan that reads every version of the key and sorts them: the MQTT bench
    // found 5.8 ms per key at 4,500 versions, 580 ms for a batch of 100 sensors, against
    // 0.16 ms for the backward index-only probe this form always gets.
    let AnyConnection::Pg(pg) = conn else {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let latest = entries::table
                .filter(entries::dataset_id.eq(dataset_id))
                .filter(entries::key.eq(key))
                .order(entries::seq.desc())
                .select(entries::seq)
                .first::<i64>(conn)
                .optional()?;
            out.extend(latest.map(|seq| (key.clone(), seq)));
        }
        return Ok(out);
    };
    #[derive(QueryableByName)]
    struct Latest {
        #[diesel(sql_type = Text)]
        key: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
    }
    let rows: Vec<Latest> = diesel::sql_query(
        "SELECT k.key, l.seq FROM unnest($2::text[]) AS k(key) \
         CROSS JOIN LATERAL (SELECT e.seq FROM entries e \
           WHERE e.dataset_id = $1 AND e.key = k.key \
           ORDER BY e.seq DESC LIMIT 1) AS l",
    )
    .bind::<diesel::sql_types::BigInt, _>(dataset_id)
    .bind::<diesel::sql_types::Array<Text>, _>(keys)
    .load(pg)?;
    Ok(rows.into_iter().map(|r| (r.key, r.seq)).collect())
}

/// The latest record of each key that has one (the entries themselves).
pub fn latest_by_key(conn: &mut Conn, dataset_id: i64, keys: &[String]) -> QueryResult<Vec<Entry>> {
    let seqs: Vec<i64> = latest_seq_by_key(conn, dataset_id, keys)?
        .into_iter()
        .map(|(_, seq)| seq)
        .collect();
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(seqs.len());
    for chunk in seqs.chunks(5_000) {
        out.extend(
            entries::table
                .filter(entries::dataset_id.eq(dataset_id))
                .filter(entries::seq.eq_any(chunk))
                .select(Entry::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

pub fn get(conn: &mut Conn, dataset_id: i64, seq: i64) -> QueryResult<Option<Entry>> {
    entries::table
        .find((dataset_id, seq))
        .select(Entry::as_select())
        .first(conn)
        .optional()
}

/// Locks one entry row for the rest of the transaction (erasure takes it before checking).
pub fn get_for_update(conn: &mut Conn, dataset_id: i64, seq: i64) -> QueryResult<Option<Entry>> {
    let row = entries::table.find((dataset_id, seq));
    match conn {
        AnyConnection::Pg(pg) => row
            .for_update()
            .select(Entry::as_select())
            .first(pg)
            .optional(),
        // The write transaction (BEGIN IMMEDIATE) already holds the database's write lock.
        AnyConnection::Sqlite(_) => row.select(Entry::as_select()).first(conn).optional(),
    }
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

/// After an erasure commits, pushes the zeroed pages through to the database file and
/// truncates SQLite's write-ahead log, whose old frames still hold the erased bytes (with
/// `secure_delete` the pages themselves are zeroed). Best effort: readers can keep the
/// log from being truncated, and the next checkpoint then does it. On PostgreSQL the old
/// row version stays until VACUUM (see docs/OPERATIONS.md): nothing to do here.
pub fn flush_erased(conn: &mut Conn) -> QueryResult<()> {
    if let AnyConnection::Sqlite(lite) = conn {
        use diesel::connection::SimpleConnection;
        lite.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
    }
    Ok(())
}

pub fn insert_erasure_note(conn: &mut Conn, note: &NewErasureNote<'_>) -> QueryResult<()> {
    // Column by column rather than the Insertable struct: diesel's shared backend inserts
    // struct fields only when every backend has the column type natively, and SQLite has no
    // timestamptz or uuid.
    diesel::insert_into(erasure_notes::table)
        .values((
            erasure_notes::dataset_id.eq(note.dataset_id),
            erasure_notes::seq.eq(note.seq),
            erasure_notes::note.eq(note.note),
            erasure_notes::token_id.eq(note.token_id),
        ))
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
    let mut q = filtered(dataset_id, filter, conn.backend());
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
    let mut q = filtered(dataset_id, filter, conn.backend());
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

/// Records (not erasure entries) published at or after `since`, counted by whether they are
/// erased and by the text of their payload's top-level `reason` field (`None` when it has no
/// such text field), in the database: a dataset of dead letters (`services::ingest_errors`)
/// is counted without reading its payloads out.
pub fn count_by_reason_since(
    conn: &mut Conn,
    dataset_id: i64,
    since: DateTime<Utc>,
) -> QueryResult<Vec<(bool, Option<String>, i64)>> {
    use diesel::dsl::count_star;
    use diesel::sql_types::Nullable;
    let reason = match conn.backend() {
        Backend::Postgres => {
            "CASE WHEN jsonb_typeof(entries.payload::jsonb -> 'reason') = 'string' \
                              THEN entries.payload::jsonb ->> 'reason' END"
        }
        Backend::Sqlite => {
            "CASE WHEN json_type(entries.payload, '$.reason') = 'text' \
                            THEN json_extract(entries.payload, '$.reason') END"
        }
    };
    let erased = "entries.payload IS NULL";
    entries::table
        .filter(entries::dataset_id.eq(dataset_id))
        .filter(entries::published_at.ge(since))
        .filter(entries::kind.eq(EntryKind::Record))
        .group_by((sql::<Bool>(erased), sql::<Nullable<Text>>(reason)))
        .select((
            sql::<Bool>(erased),
            sql::<Nullable<Text>>(reason),
            count_star(),
        ))
        .load(conn)
}

/// How many entries match `filter` (GraphQL `totalCount`).
pub fn count(conn: &mut Conn, dataset_id: i64, filter: &FeedFilter) -> QueryResult<i64> {
    filtered(dataset_id, filter, conn.backend())
        .count()
        .get_result(conn)
}

/// The entries of one dataset that match `filter`, as a query to order and page.
fn filtered(
    dataset_id: i64,
    filter: &FeedFilter,
    backend: Backend,
) -> entries::BoxedQuery<'static, crate::MultiBackend> {
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
        if backend == Backend::Sqlite {
            q = sqlite_payload_filter(q, f);
            continue;
        }
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

/// One payload filter on SQLite, with the meaning of the PostgreSQL one: a JSON number
/// field equals a number value numerically (here as doubles), any other field compares as
/// its text (`true`/`false` for booleans, the string itself for strings); an erased (NULL)
/// payload has no fields, so never matches.
fn sqlite_payload_filter(
    q: entries::BoxedQuery<'static, crate::MultiBackend>,
    f: &PayloadFilter,
) -> entries::BoxedQuery<'static, crate::MultiBackend> {
    let number: f64 = f
        .number
        .as_deref()
        .and_then(|n| n.parse().ok())
        .unwrap_or(f64::NAN);
    q.filter(
        sql::<Bool>("EXISTS (SELECT 1 FROM json_each(entries.payload) AS j WHERE j.key = ")
            .bind::<Text, _>(f.field.clone())
            .sql(" AND CASE WHEN j.type IN ('integer', 'real') THEN ")
            .bind::<Bool, _>(f.number.is_some())
            .sql(" AND j.value = ")
            .bind::<diesel::sql_types::Double, _>(number)
            .sql(
                " ELSE (CASE j.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
                 ELSE j.value END) = ",
            )
            .bind::<Text, _>(f.value.clone())
            .sql(" END)"),
    )
}

/// An entry read together with tree hashes a proof will need, in one round trip.
#[derive(Debug, QueryableByName)]
#[diesel(table_name = entries)]
pub struct EntryWithNodes {
    pub dataset_id: i64,
    pub seq: i64,
    pub kind: EntryKind,
    pub key: Option<String>,
    pub payload: Option<String>,
    pub salt: Option<Vec<u8>>,
    pub payload_digest: Option<Vec<u8>>,
    pub leaf_hash: Vec<u8>,
    pub published_at: DateTime<Utc>,
    pub supersedes: Option<i64>,
    pub erases: Option<i64>,
    pub erasure_reason: Option<String>,
    /// Each `int8send(seq) || leaf_hash` (8 + 32 bytes) of the requested leaves.
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Bytea>)]
    pub leaves: Vec<Vec<u8>>,
    /// Each `int2send(level) || int8send(idx) || hash` (2 + 8 + 32 bytes) of the requested nodes.
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Bytea>)]
    pub nodes: Vec<Vec<u8>>,
}

impl EntryWithNodes {
    pub fn entry(&self) -> Entry {
        Entry {
            dataset_id: self.dataset_id,
            seq: self.seq,
            kind: self.kind,
            key: self.key.clone(),
            payload: self.payload.clone(),
            salt: self.salt.clone(),
            payload_digest: self.payload_digest.clone(),
            leaf_hash: self.leaf_hash.clone(),
            published_at: self.published_at,
            supersedes: self.supersedes,
            erases: self.erases,
            erasure_reason: self.erasure_reason.clone(),
        }
    }
}

/// Entry `seq` with the leaf hashes of `leaf_seqs` and the stored nodes `node_keys`
/// ((level, idx), levels ≥ 1), in one statement: a proof's reads in one round trip.
pub fn get_with_nodes(
    conn: &mut Conn,
    dataset_id: i64,
    seq: i64,
    leaf_seqs: &[i64],
    node_keys: &[(i16, i64)],
) -> QueryResult<Option<EntryWithNodes>> {
    use diesel::sql_types::{Array, BigInt, SmallInt};
    let (levels, idxs): (Vec<i16>, Vec<i64>) = node_keys.iter().copied().unzip();
    let AnyConnection::Pg(conn) = conn else {
        return get_with_nodes_portable(conn, dataset_id, seq, leaf_seqs, node_keys);
    };
    diesel::sql_query(
        "SELECT e.dataset_id, e.seq, e.kind, e.key, e.payload, e.salt, e.payload_digest, e.leaf_hash, \
         e.published_at, e.supersedes, e.erases, e.erasure_reason, \
         ARRAY(SELECT int8send(l.seq) || l.leaf_hash FROM entries l \
               WHERE l.dataset_id = $1 AND l.seq = ANY($3)) AS leaves, \
         ARRAY(SELECT int2send(n.level) || int8send(n.idx) || n.hash FROM tree_nodes n \
               JOIN unnest($4, $5) AS k(level, idx) ON n.level = k.level AND n.idx = k.idx \
               WHERE n.dataset_id = $1) AS nodes \
         FROM entries e WHERE e.dataset_id = $1 AND e.seq = $2",
    )
    .bind::<BigInt, _>(dataset_id)
    .bind::<BigInt, _>(seq)
    .bind::<Array<BigInt>, _>(leaf_seqs.to_vec())
    .bind::<Array<SmallInt>, _>(levels)
    .bind::<Array<BigInt>, _>(idxs)
    .get_result(conn)
    .optional()
}

/// [`get_with_nodes`] in three statements, for a backend without arrays (SQLite runs in
/// process: the statements cost no round trips). The same encoding of leaves and nodes.
fn get_with_nodes_portable(
    conn: &mut Conn,
    dataset_id: i64,
    seq: i64,
    leaf_seqs: &[i64],
    node_keys: &[(i16, i64)],
) -> QueryResult<Option<EntryWithNodes>> {
    let Some(e) = get(conn, dataset_id, seq)? else {
        return Ok(None);
    };
    let leaves = crate::queries::tree::leaves(conn, dataset_id, leaf_seqs)?
        .into_iter()
        .map(|(seq, hash)| [seq.to_be_bytes().as_slice(), &hash].concat())
        .collect();
    let nodes = crate::queries::tree::nodes_portable(conn, dataset_id, node_keys)?
        .into_iter()
        .map(|n| {
            [
                n.level.to_be_bytes().as_slice(),
                &n.idx.to_be_bytes(),
                &n.hash,
            ]
            .concat()
        })
        .collect();
    Ok(Some(EntryWithNodes {
        dataset_id: e.dataset_id,
        seq: e.seq,
        kind: e.kind,
        key: e.key,
        payload: e.payload,
        salt: e.salt,
        payload_digest: e.payload_digest,
        leaf_hash: e.leaf_hash,
        published_at: e.published_at,
        supersedes: e.supersedes,
        erases: e.erases,
        erasure_reason: e.erasure_reason,
        leaves,
        nodes,
    }))
}
