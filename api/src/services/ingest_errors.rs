//! `GET /v1/institutions/{inst}/ingest/errors`: what an institution's ingestion refused.
//!
//! Refused messages are dead-letter records in the institution's restricted
//! `ingest-errors` dataset (the MQTT bridge writes them; see `client::ingest::deadletter`),
//! so they are as durable and verifiable as any record. This view reads them newest first,
//! filtered by reason, with counts by reason over the last hour and day: what a platform
//! operator looks at when readings go missing.

use crate::auth::{Caller, Role};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::services::institutions;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use civicproof_schema::queries::datasets::{self, Visibility};
use civicproof_schema::queries::entries::{self, FeedFilter};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The dead-letter dataset's slug in every institution.
pub const DATASET: &str = "ingest-errors";

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestErrors {
    /// `inst/ingest-errors`, where the dead letters are records.
    pub dataset: String,
    /// Dead letters by reason in the last hour and the last 24 hours (`erased` for dead
    /// letters since erased, `unknown` for records without a `reason`).
    pub counts: ReasonCounts,
    /// Newest first.
    pub errors: Vec<IngestError>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReasonCounts {
    pub last_hour: BTreeMap<String, u64>,
    pub last_day: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestError {
    pub seq: u64,
    pub published_at: DateTime<Utc>,
    /// The dead letter as stored: `reason`, `detail`, `channel`, `topic`, `dataset`, `size`,
    /// `sha256`, and the message as `payload_text` or `payload_base64`. Null once erased.
    #[schema(value_type = Object)]
    pub dead_letter: Value,
    /// The record's path: its proof is at `…/proof`.
    pub record: String,
}

pub struct Query {
    pub reason: Option<String>,
    pub before: Option<i64>,
    pub limit: usize,
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    query: Query,
) -> ApiResult<IngestErrors> {
    caller.require_authenticated()?;
    let inst = institutions::load(state, institution).await?;
    let member = match caller {
        Caller::Admin { .. } => true,
        Caller::Member {
            institution_id,
            role: Role::Publisher | Role::Reader,
            ..
        } => *institution_id == inst.id,
        _ => false,
    };
    if !member {
        return Err(ApiError::Forbidden(
            "Only the institution's tokens and the admin see its ingest errors.".into(),
        ));
    }
    let origin = format!("{}/{DATASET}", inst.slug);
    let slug = inst.slug.clone();
    let found = db::run(&state.pool, move |conn| {
        Ok(datasets::find(conn, &slug, DATASET, Visibility::All)?)
    })
    .await?;
    let Some((ds, _)) = found else {
        return Ok(IngestErrors {
            dataset: origin,
            counts: ReasonCounts {
                last_hour: BTreeMap::new(),
                last_day: BTreeMap::new(),
            },
            errors: Vec::new(),
            next_before: None,
        });
    };
    let now = Utc::now();
    let mut filter = FeedFilter::default();
    if let Some(reason) = &query.reason {
        filter.payload.push(
            crate::services::feed::payload_filter("reason", reason)
                .ok_or_else(|| ApiError::BadRequest("reason: not a valid filter value".into()))?,
        );
    }
    let (ds_id, limit, before) = (ds.id, query.limit as i64, query.before);
    let (hour, day, mut page) = db::run(&state.pool, move |conn| {
        let hour = entries::count_by_reason_since(conn, ds_id, now - Duration::hours(1))?;
        let day = entries::count_by_reason_since(conn, ds_id, now - Duration::hours(24))?;
        let page = entries::page_before(conn, ds_id, None, before, &filter, limit + 1)?;
        Ok((hour, day, page))
    })
    .await?;
    // An erased dead letter has no reason left to count by; a record of another shape (the
    // dataset is an ordinary one) counts as "unknown".
    let by_reason = |rows: Vec<(bool, Option<String>, i64)>| {
        let mut out: BTreeMap<String, u64> = BTreeMap::new();
        for (erased, reason, n) in rows {
            let label = match (erased, reason) {
                (true, _) => "erased".to_owned(),
                (false, Some(reason)) => reason,
                (false, None) => "unknown".to_owned(),
            };
            *out.entry(label).or_default() += n as u64;
        }
        out
    };
    let counts = ReasonCounts {
        last_hour: by_reason(hour),
        last_day: by_reason(day),
    };
    let more = page.len() > query.limit;
    page.truncate(query.limit);
    let next_before = if more {
        page.last().map(|e| e.seq as u64)
    } else {
        None
    };
    let errors = page
        .into_iter()
        .filter(|e| e.kind == civicproof_schema::EntryKind::Record)
        .map(|e| IngestError {
            seq: e.seq as u64,
            published_at: e.published_at,
            dead_letter: e
                .payload
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok())
                .unwrap_or(Value::Null),
            record: format!("/v1/datasets/{origin}/records/{}", e.seq),
        })
        .collect();
    Ok(IngestErrors {
        dataset: origin,
        counts,
        errors,
        next_before,
    })
}
