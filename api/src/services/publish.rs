//! Appending a batch: all-or-nothing, gapless `seq`, idempotent by `Idempotency-Key`.
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
use crate::state::AppState;
use chrono::{DateTime, Duration, DurationRound, Utc};
use civicproof_schema::models::Entry;
use civicproof_schema::queries::{datasets, entries, idempotency};
use civicproof_verify::envelope::{self, Envelope};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

/// How long an Idempotency-Key is kept (API.md: at least 24 h).
const IDEMPOTENCY_TTL_HOURS: i64 = 24;
/// How long an in-flight claim holds before a crashed request's key may be reused.
const IDEMPOTENCY_LEASE_SECS: i64 = 120;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublishedEntry {
    pub seq: u64,
    pub leaf_hash: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublishResult {
    pub entries: Vec<PublishedEntry>,
}

/// A publishing request as it arrived: REST streams its body with a media type, GraphQL a
/// list of records (serialized to a canonical JSON body so both share one idempotency
/// namespace and fingerprint).
pub struct PublishRequest<B> {
    pub format: BatchFormat,
    pub body: B,
    pub idempotency_key: Option<String>,
}

/// A response to replay: status and exact body.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub status: u16,
    pub body: String,
}

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
        return append(state, &ds, &inst.slug, parsed?, None)
            .await
            .map(PublishOutcome::Created);
    };
    // Redis first (when there is one): the in-flight lock across replicas and fast replays.
    match idem_fast::begin(
        state,
        ds.id,
        &key,
        &fingerprint,
        IDEMPOTENCY_LEASE_SECS as u64 * 1000,
    )
    .await
    {
        idem_fast::Begin::Replay(r) => return Ok(PublishOutcome::Replayed(r)),
        idem_fast::Begin::Mismatch => return Err(ApiError::IdempotencyMismatch),
        idem_fast::Begin::InFlight => return Err(ApiError::InFlight),
        idem_fast::Begin::Proceed => {}
    }
    let outcome = publish_keyed(state, &ds, &inst.slug, parsed, &key, &fingerprint).await;
    let ttl = IDEMPOTENCY_TTL_HOURS as u64 * 3600;
    match &outcome {
        Ok(PublishOutcome::Created(result)) => {
            let body = serde_json::to_string(result).map_err(ApiError::internal)?;
            idem_fast::complete(state, ds.id, &key, &fingerprint, 201, &body, ttl).await;
        }
        Ok(PublishOutcome::Replayed(r)) => {
            idem_fast::complete(state, ds.id, &key, &fingerprint, r.status, &r.body, ttl).await;
        }
        Err(err @ (ApiError::Validation(_) | ApiError::BadRequest(_))) => {
            let body = serde_json::to_string(&err.problem()).map_err(ApiError::internal)?;
            let status = actix_web::ResponseError::status_code(err).as_u16();
            idem_fast::complete(state, ds.id, &key, &fingerprint, status, &body, ttl).await;
        }
        Err(_) => idem_fast::release(state, ds.id, &key, &fingerprint).await,
    }
    outcome
}

/// The durable Idempotency-Key path in PostgreSQL: claim, append, complete.
async fn publish_keyed(
    state: &AppState,
    ds: &civicproof_schema::models::Dataset,
    institution_slug: &str,
    parsed: ApiResult<Vec<CheckedRecord>>,
    key: &str,
    fingerprint: &[u8],
) -> ApiResult<PublishOutcome> {
    let (key, fingerprint) = (key.to_owned(), fingerprint.to_vec());
    // Microseconds, as PostgreSQL stores them: the claim is identified by this instant.
    let now = Utc::now()
        .duration_trunc(Duration::microseconds(1))
        .unwrap_or_else(|_| Utc::now());
    let (ds_id, key_c, fp) = (ds.id, key.clone(), fingerprint.clone());
    let claim = db::run(&state.pool, move |conn| {
        Ok(idempotency::claim(
            conn,
            ds_id,
            &key_c,
            &fp,
            now,
            now + Duration::seconds(IDEMPOTENCY_LEASE_SECS),
            now - Duration::hours(IDEMPOTENCY_TTL_HOURS),
        )?)
    })
    .await?;
    if let idempotency::Claim::Existing(rec) = claim {
        if rec.request_hash != fingerprint {
            return Err(ApiError::IdempotencyMismatch);
        }
        return match (rec.status, rec.response) {
            (Some(status), Some(body)) => Ok(PublishOutcome::Replayed(Replayed {
                status: status as u16,
                body,
            })),
            _ => Err(ApiError::InFlight),
        };
    }
    let appended = match parsed {
        Ok(records) => append(state, ds, institution_slug, records, Some((&key, now))).await,
        Err(e) => Err(e),
    };
    match appended {
        Ok(result) => Ok(PublishOutcome::Created(result)),
        Err(err @ (ApiError::Validation(_) | ApiError::BadRequest(_))) => {
            // A client error is the request's final answer: keep it, so a retry gets it too.
            let problem = serde_json::to_string(&err.problem()).map_err(ApiError::internal)?;
            let status = actix_web::ResponseError::status_code(&err).as_u16() as i16;
            db::run(&state.pool, move |conn| {
                Ok(idempotency::complete(
                    conn, ds_id, &key, now, status, &problem,
                )?)
            })
            .await?;
            Err(err)
        }
        Err(err @ ApiError::InFlight) => Err(err),
        Err(err) => {
            // The server failed: free the key so that a retry can succeed.
            let released = db::run(&state.pool, move |conn| {
                Ok(idempotency::release(conn, ds_id, &key, now)?)
            })
            .await;
            if let Err(e) = released {
                tracing::warn!(error = %e, "could not release an idempotency claim; it expires with its lease");
            }
            Err(err)
        }
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

/// Appends one checked batch; completes the idempotency record in the same transaction
/// when there is one.
async fn append(
    state: &AppState,
    ds: &civicproof_schema::models::Dataset,
    institution_slug: &str,
    records: Vec<CheckedRecord>,
    idempotency_key: Option<(&str, DateTime<Utc>)>,
) -> ApiResult<PublishResult> {
    let origin = state.origin(institution_slug, &ds.slug);
    let ds_id = ds.id;
    let idem = idempotency_key.map(|(k, at)| (k.to_owned(), at));
    let count = records.len() as u64;
    let (result, appended) = db::transaction(&state.pool, move |conn| {
        // Our Idempotency-Key claim must still be ours (a retry may have taken it over when
        // its lease ran out); holding its row lock keeps it so until this commits.
        if let Some((key, claimed_at)) = &idem
            && !idempotency::lock_own_claim(conn, ds_id, key, *claimed_at)?
        {
            return Err(ApiError::InFlight);
        }
        let locked = datasets::lock_for_append(conn, ds_id)?;
        let keys: Vec<String> = records.iter().filter_map(|r| r.key.clone()).collect();
        let mut latest: HashMap<String, i64> = entries::latest_seq_by_key(conn, ds_id, &keys)?
            .into_iter()
            .collect();
        let published_at = sequencing_time(locked.last_published_at);
        let rows = sequence(
            &origin,
            ds_id,
            locked.entry_count,
            published_at,
            records,
            &mut latest,
        );
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
        let result = PublishResult {
            entries: rows
                .iter()
                .map(|e| PublishedEntry {
                    seq: e.seq as u64,
                    leaf_hash: hex::encode(&e.leaf_hash),
                })
                .collect(),
        };
        if let Some((key, claimed_at)) = &idem {
            let body = serde_json::to_string(&result).map_err(ApiError::internal)?;
            idempotency::complete(conn, ds_id, key, *claimed_at, 201, &body)?;
        }
        Ok((result, crate::fanout::Appended::of(ds_id, rows)))
    })
    .await?;
    if let Some(appended) = appended {
        state.fanout.notify(appended);
    }
    state.signer_wake.notify_one();
    state.metrics.records_published.inc_by(count);
    state.metrics.batches_published.inc();
    Ok(result)
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
                kind: "record".into(),
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
