//! Appending a batch: all-or-nothing, gapless `seq`, idempotent by `Idempotency-Key` (per
//! batch) and by `dedup_key` (per record, `services::dedup`).
//!
//! Sequencing takes the dataset's row lock (`SELECT … FOR UPDATE`) inside the transaction
//! that inserts the entries, so concurrent publishers to one dataset queue on that lock,
//! each reads the committed tree size, and a failed batch rolls back without a trace.

use crate::auth::Caller;
use crate::cluster::idempotency as idem_fast;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::services::datasets::load_writable;
use crate::services::input::{self, BatchFormat, Body, Caps, CheckedRecord};
use crate::services::{dedup, versions};
use crate::state::AppState;
use chrono::{DateTime, Duration, DurationRound, Utc};
use civicproof_schema::models::Entry;
use civicproof_schema::queries::{arrivals, datasets, dedup as dedup_rows, entries, idempotency};
use civicproof_verify::envelope::{self, Envelope};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

/// How long an Idempotency-Key is kept (API.md: at least 24 h).
const IDEMPOTENCY_TTL_HOURS: i64 = 24;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublishedEntry {
    pub seq: u64,
    pub leaf_hash: String,
    /// True when the record's `dedup_key` named a record appended before: this is that
    /// record, and nothing was appended for it. Absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(default = false)]
    pub replayed: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublishResult {
    pub entries: Vec<PublishedEntry>,
}

impl PublishResult {
    /// The REST answer: every record's seq and leaf hash; anything not appended is a replay.
    /// (Stale outcomes come only from versioned records, which REST never sends.)
    pub fn of(outcomes: &[Outcome]) -> Self {
        Self {
            entries: outcomes
                .iter()
                .filter_map(|o| match o {
                    Outcome::Appended { seq, leaf_hash, .. } => Some(PublishedEntry {
                        seq: *seq,
                        leaf_hash: leaf_hash.clone(),
                        replayed: false,
                    }),
                    Outcome::Replayed { seq, leaf_hash }
                    | Outcome::Unchanged { seq, leaf_hash } => Some(PublishedEntry {
                        seq: *seq,
                        leaf_hash: leaf_hash.clone(),
                        replayed: true,
                    }),
                    Outcome::Stale => None,
                })
                .collect(),
        }
    }

    /// 201 when the batch appended anything, 200 when every record was a replay.
    pub fn status(&self) -> u16 {
        if self.entries.iter().all(|e| e.replayed) {
            200
        } else {
            201
        }
    }
}

/// A publishing request as it arrived: REST streams its body with a media type, GraphQL a
/// list of records (serialized to a canonical JSON body so both share one idempotency
/// namespace and fingerprint).
pub struct PublishRequest<B> {
    pub format: BatchFormat,
    pub body: B,
    pub idempotency_key: Option<String>,
    /// How the records arrived, when not through plain REST (`Ingest-Channel`).
    pub arrival: Option<Arrival>,
}

/// How an append's records arrived: a channel (`mqtt`, `ngsi-ld`) and its source (an MQTT
/// topic filter, an NGSI-LD subscription). Stored beside the log (`ingest_batches`) for the
/// explorer; the publisher's word, not verifiable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub channel: String,
    pub source: Option<String>,
}

impl Arrival {
    /// `Ingest-Channel` (`[a-z0-9-]`, 1 to 32) and `Ingest-Source` (up to 256 printable
    /// ASCII characters) as sent; 400 otherwise.
    pub fn from_headers(channel: Option<&str>, source: Option<&str>) -> ApiResult<Option<Self>> {
        let Some(channel) = channel else {
            return match source {
                Some(_) => Err(ApiError::BadRequest(
                    "Ingest-Source needs Ingest-Channel.".into(),
                )),
                None => Ok(None),
            };
        };
        if channel.is_empty()
            || channel.len() > 32
            || !channel
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ApiError::BadRequest(
                "Ingest-Channel must be 1 to 32 lowercase letters, digits or '-'.".into(),
            ));
        }
        if let Some(s) = source
            && (s.len() > 256 || !s.bytes().all(|b| (0x20..=0x7e).contains(&b)))
        {
            return Err(ApiError::BadRequest(
                "Ingest-Source must be at most 256 printable ASCII characters.".into(),
            ));
        }
        Ok(Some(Self {
            channel: channel.to_owned(),
            source: source.map(str::to_owned),
        }))
    }
}

pub use crate::cluster::idempotency::Replayed;

pub enum PublishOutcome {
    Created(PublishResult),
    Replayed(Replayed),
}

pub async fn publish(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
    req: PublishRequest<impl Body>,
) -> ApiResult<PublishOutcome> {
    // Authorized before a byte of the body is read.
    let (ds, inst) = load_writable(state, caller, institution, dataset).await?;
    if let Some(key) = &req.idempotency_key {
        check_idempotency_key(key)?;
    }
    let validator = match &ds.json_schema {
        Some(text) => Some(state.schemas.get(ds.id, text)?),
        None => None,
    };
    let schema_value: Option<serde_json::Value> = ds
        .json_schema
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok());
    let limits = &state.config.limits;
    let (fingerprint, parsed) = input::read_batch(
        req.format,
        req.body,
        limits.max_body_bytes,
        Caps::from_limits(limits),
        schema_value,
        validator,
    )
    .await?;
    let Some(key) = req.idempotency_key else {
        return append(state, &ds, &inst.slug, parsed?, None, req.arrival).await;
    };
    // Redis first (when there is one): a fast replay of an answer already given.
    match idem_fast::replay(&state.cluster, ds.id, &key, &fingerprint).await {
        idem_fast::Found::Replay(r) => return Ok(PublishOutcome::Replayed(r)),
        idem_fast::Found::Mismatch => return Err(ApiError::IdempotencyMismatch),
        idem_fast::Found::Nothing => {}
    }
    let outcome = match parsed {
        Ok(records) => {
            append(
                state,
                &ds,
                &inst.slug,
                records,
                Some((&key, &fingerprint)),
                req.arrival,
            )
            .await?
        }
        Err(err) => keep_client_error(state, &ds, &key, &fingerprint, err).await?,
    };
    // The answer, for fast replays on every replica.
    let (status, body) = match &outcome {
        PublishOutcome::Created(result) => (
            result.status(),
            serde_json::to_string(result).map_err(ApiError::internal)?,
        ),
        PublishOutcome::Replayed(r) => (r.status, r.body.clone()),
    };
    idem_fast::complete(
        &state.cluster,
        ds.id,
        &key,
        &fingerprint,
        status,
        &body,
        TTL_SECS,
    )
    .await;
    Ok(outcome)
}

/// How long an answer is kept for its Idempotency-Key, in seconds.
const TTL_SECS: u64 = IDEMPOTENCY_TTL_HOURS as u64 * 3600;

/// A batch that failed validation: its problem is the key's final answer (a retry with the
/// same body gets it again), kept unless the key already has an answer, which is replayed.
/// Fails with `err` once it is kept.
async fn keep_client_error(
    state: &AppState,
    ds: &civicproof_schema::models::Dataset,
    key: &str,
    fingerprint: &[u8],
    err: ApiError,
) -> ApiResult<PublishOutcome> {
    if !matches!(err, ApiError::Validation(_) | ApiError::BadRequest(_)) {
        return Err(err);
    }
    let problem = serde_json::to_string(&err.problem()).map_err(ApiError::internal)?;
    let status = actix_web::ResponseError::status_code(&err).as_u16();
    let (ds_id, k, fp, body) = (ds.id, key.to_owned(), fingerprint.to_vec(), problem.clone());
    let earlier = db::transaction(&state.pool, move |conn| {
        if let Some(found) = take_key(conn, ds_id, &k, &fp)? {
            return Ok(Some(found));
        }
        idempotency::record(conn, ds_id, &k, &fp, status as i16, &body, Utc::now())?;
        Ok(None)
    })
    .await?;
    match earlier {
        Some(r) => Ok(PublishOutcome::Replayed(r)),
        None => {
            idem_fast::complete(
                &state.cluster,
                ds.id,
                key,
                fingerprint,
                status,
                &problem,
                TTL_SECS,
            )
            .await;
            Err(err)
        }
    }
}

/// Inside a write transaction: takes the Idempotency-Key for it and returns the answer
/// already given, if any. A request with the same key still running answers 409; a key used
/// with another body 422. Nothing outlives the transaction, so a crashed request never
/// leaves its key blocked.
fn take_key(
    conn: &mut civicproof_schema::Conn,
    dataset_id: i64,
    key: &str,
    fingerprint: &[u8],
) -> ApiResult<Option<Replayed>> {
    if !idempotency::lock_key(conn, dataset_id, key)? {
        return Err(ApiError::InFlight);
    }
    let expire_before = Utc::now() - Duration::hours(IDEMPOTENCY_TTL_HOURS);
    match idempotency::find(conn, dataset_id, key, expire_before)? {
        Some(rec) if rec.request_hash != fingerprint => Err(ApiError::IdempotencyMismatch),
        Some(rec) => Ok(Some(Replayed {
            status: rec.status as u16,
            body: rec.response,
        })),
        None => Ok(None),
    }
}

fn check_idempotency_key(key: &str) -> ApiResult<()> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ApiError::BadRequest(
            "Idempotency-Key must be 1 to 255 visible ASCII characters.".into(),
        ));
    }
    Ok(())
}

/// Appends one checked batch in one transaction; with an Idempotency-Key, takes the key in
/// that transaction and stores the answer in it, so the answer commits with the entries it
/// describes (or replays the answer given before, appending nothing).
async fn append(
    state: &AppState,
    ds: &civicproof_schema::models::Dataset,
    institution_slug: &str,
    records: Vec<CheckedRecord>,
    idempotency_key: Option<(&str, &[u8])>,
    arrival: Option<Arrival>,
) -> ApiResult<PublishOutcome> {
    Ok(
        match append_outcomes(
            state,
            ds,
            institution_slug,
            records,
            idempotency_key,
            arrival,
        )
        .await?
        {
            Ok(outcomes) => PublishOutcome::Created(PublishResult::of(&outcomes)),
            Err(replay) => PublishOutcome::Replayed(replay),
        },
    )
}

/// Appends checked records (NGSI-LD entities: versioned ones) in one transaction and says
/// what became of each, in order.
pub async fn append_records(
    state: &AppState,
    ds: &civicproof_schema::models::Dataset,
    institution_slug: &str,
    records: Vec<CheckedRecord>,
    arrival: Option<Arrival>,
) -> ApiResult<Vec<Outcome>> {
    match append_outcomes(state, ds, institution_slug, records, None, arrival).await? {
        Ok(outcomes) => Ok(outcomes),
        Err(_) => Err(ApiError::internal(anyhow::anyhow!(
            "a replay without an Idempotency-Key"
        ))),
    }
}

/// The transaction behind [`append`] and [`append_records`]: the outcome of each record, or
/// the answer an Idempotency-Key already had.
async fn append_outcomes(
    state: &AppState,
    ds: &civicproof_schema::models::Dataset,
    institution_slug: &str,
    records: Vec<CheckedRecord>,
    idempotency_key: Option<(&str, &[u8])>,
    arrival: Option<Arrival>,
) -> ApiResult<Result<Vec<Outcome>, Replayed>> {
    let origin = state.origin(institution_slug, &ds.slug);
    let ds_id = ds.id;
    let idem = idempotency_key.map(|(k, fp)| (k.to_owned(), fp.to_vec()));
    let done = db::transaction(&state.pool, move |conn| {
        if let Some((key, fp)) = &idem
            && let Some(replay) = take_key(conn, ds_id, key, fp)?
        {
            return Ok(Err(replay));
        }
        let locked = datasets::lock_for_append(conn, ds_id)?;
        let mut slots = dedup::resolve(conn, ds_id, &records)?;
        if records.iter().any(|r| r.versioned) {
            versions::resolve(conn, ds_id, &records, &mut slots)?;
        }
        // (hash, fingerprint) of each named record, for the rows of the new ones.
        let names: Vec<Option<(Vec<u8>, Vec<u8>)>> = records
            .iter()
            .map(|r| {
                let key = r.dedup_key.as_deref()?;
                Some((dedup::key_hash(key), dedup::fingerprint(r)))
            })
            .collect();
        let fresh: Vec<CheckedRecord> = records
            .into_iter()
            .zip(&slots)
            .filter(|(_, slot)| **slot == dedup::Slot::New)
            .map(|(r, _)| r)
            .collect();
        let keys: Vec<String> = fresh.iter().filter_map(|r| r.key.clone()).collect();
        let mut latest: HashMap<String, i64> = entries::latest_seq_by_key(conn, ds_id, &keys)?
            .into_iter()
            .collect();
        let published_at = sequencing_time(locked.last_published_at);
        let rows = sequence(
            &origin,
            ds_id,
            locked.entry_count,
            published_at,
            fresh,
            &mut latest,
        );
        if !rows.is_empty() {
            entries::insert_batch(conn, &rows)?;
            let leaves: Vec<[u8; 32]> = rows
                .iter()
                .map(|e| {
                    e.leaf_hash
                        .as_slice()
                        .try_into()
                        .expect("32-byte leaf hash")
                })
                .collect();
            crate::log::nodes::append(conn, ds_id, locked.entry_count as u64, &leaves)?;
            let n = rows.len() as i64;
            datasets::set_counts(
                conn,
                ds_id,
                locked.entry_count + n,
                locked.record_count + n,
                published_at,
            )?;
            if let Some(a) = &arrival {
                arrivals::insert(
                    conn,
                    ds_id,
                    locked.entry_count,
                    n as i32,
                    &a.channel,
                    a.source.as_deref(),
                    published_at,
                )?;
            }
        }
        let outcomes = answer(&slots, &rows);
        let named: Vec<dedup_rows::NewDedup> = slots
            .iter()
            .zip(names)
            .filter(|(slot, _)| **slot == dedup::Slot::New)
            .zip(&rows)
            .filter_map(|((_, name), row)| {
                let (hash, fingerprint) = name?;
                Some(dedup_rows::NewDedup {
                    dataset_id: ds_id,
                    hash,
                    seq: row.seq,
                    fingerprint,
                    created_at: published_at,
                })
            })
            .collect();
        dedup_rows::insert(conn, &named)?;
        if let Some((key, fp)) = &idem {
            let result = PublishResult::of(&outcomes);
            let body = serde_json::to_string(&result).map_err(ApiError::internal)?;
            idempotency::record(
                conn,
                ds_id,
                key,
                fp,
                result.status() as i16,
                &body,
                published_at,
            )?;
        }
        let count = rows.len() as u64;
        Ok(Ok((
            outcomes,
            count,
            crate::fanout::Appended::of(ds_id, rows),
        )))
    })
    .await?;
    let (outcomes, count, appended) = match done {
        Ok(done) => done,
        Err(replay) => return Ok(Err(replay)),
    };
    let replayed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Replayed { .. }))
        .count() as u64;
    if replayed > 0 {
        state.metrics.records_replayed.inc_by(replayed);
    }
    if count == 0 {
        return Ok(Ok(outcomes));
    }
    if let Some(appended) = appended {
        state.fanout.notify(appended);
    }
    state.signer_wake.notify_one();
    state.metrics.records_published.inc_by(count);
    state.metrics.batches_published.inc();
    Ok(Ok(outcomes))
}

/// What became of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `first_version`: no earlier record of its key (or it has none).
    Appended {
        seq: u64,
        leaf_hash: String,
        first_version: bool,
    },
    /// Its dedup key named this earlier record (or one earlier in the batch).
    Replayed { seq: u64, leaf_hash: String },
    /// A versioned record equal to its key's current version, which is this one.
    Unchanged { seq: u64, leaf_hash: String },
    /// A versioned record older than its key's current version: not appended.
    Stale,
}

/// The outcomes in batch order: new records from `rows` (in the order they were appended),
/// the others from their slots.
fn answer(slots: &[dedup::Slot], rows: &[Entry]) -> Vec<Outcome> {
    let mut appended = rows.iter();
    let mut out: Vec<Outcome> = Vec::with_capacity(slots.len());
    for slot in slots {
        let outcome = match slot {
            dedup::Slot::New => {
                let e = appended.next().expect("one row per new record");
                Outcome::Appended {
                    seq: e.seq as u64,
                    leaf_hash: hex::encode(&e.leaf_hash),
                    first_version: e.supersedes.is_none(),
                }
            }
            dedup::Slot::Held { seq, leaf_hash } => Outcome::Replayed {
                seq: *seq,
                leaf_hash: leaf_hash.clone(),
            },
            dedup::Slot::Unchanged { seq, leaf_hash } => Outcome::Unchanged {
                seq: *seq,
                leaf_hash: leaf_hash.clone(),
            },
            dedup::Slot::Stale => Outcome::Stale,
            dedup::Slot::SameAs(first) => match &out[*first] {
                Outcome::Appended { seq, leaf_hash, .. }
                | Outcome::Replayed { seq, leaf_hash }
                | Outcome::Unchanged { seq, leaf_hash } => Outcome::Replayed {
                    seq: *seq,
                    leaf_hash: leaf_hash.clone(),
                },
                Outcome::Stale => Outcome::Stale,
            },
        };
        out.push(outcome);
    }
    out
}

/// Now, truncated to milliseconds, but never before the newest entry (the clock may step back).
pub fn sequencing_time(last: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let now = Utc::now()
        .duration_trunc(Duration::milliseconds(1))
        .unwrap_or_else(|_| Utc::now());
    match last {
        Some(last) if last > now => last,
        _ => now,
    }
}

/// Gives each record its seq, `supersedes` and envelope, and computes digests and leaf hashes.
fn sequence(
    origin: &str,
    dataset_id: i64,
    first_seq: i64,
    published_at: DateTime<Utc>,
    records: Vec<CheckedRecord>,
    latest: &mut HashMap<String, i64>,
) -> Vec<Entry> {
    let published = envelope::format_published_at(published_at.timestamp_millis());
    records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let seq = first_seq + i as i64;
            let mut salt = [0u8; 16];
            rand::fill(&mut salt);
            let digest = envelope::payload_digest(&salt, &r.canonical);
            let supersedes = r.key.as_ref().and_then(|k| latest.insert(k.clone(), seq));
            let env = Envelope::Record {
                dataset: origin.to_owned(),
                seq: seq as u64,
                key: r.key.clone(),
                published_at: published.clone(),
                payload_digest: digest,
                supersedes: supersedes.map(|s| s as u64),
            };
            Entry {
                dataset_id,
                seq,
                kind: civicproof_schema::EntryKind::Record,
                key: r.key,
                payload: Some(String::from_utf8(r.canonical).expect("JCS output is UTF-8")),
                salt: Some(salt.to_vec()),
                payload_digest: Some(digest.to_vec()),
                leaf_hash: env.leaf_hash().to_vec(),
                published_at,
                supersedes,
                erases: None,
                erasure_reason: None,
            }
        })
        .collect()
}
