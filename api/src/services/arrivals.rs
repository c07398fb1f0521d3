//! `GET /v1/datasets/{inst}/{ds}/arrivals`: how a dataset's recent records arrived (over
//! MQTT, NGSI-LD), for the explorer. The channel is the publisher's word, stored beside the
//! log, not in it: nothing here is verifiable, and the explorer says so.

use crate::auth::Caller;
use crate::db;
use crate::error::ApiResult;
use crate::services::datasets::load_visible;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use civicproof_schema::queries::arrivals;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ArrivalView {
    pub first_seq: u64,
    pub count: u32,
    /// `mqtt`, `ngsi-ld`, or what a publisher's `Ingest-Channel` said.
    pub channel: String,
    /// The channel's source: the MQTT topic filter, the NGSI-LD operation.
    pub source: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Arrivals {
    /// Newest first; with `seq`, the one arrival that appended it (or none).
    pub arrivals: Vec<ArrivalView>,
}

fn view(a: arrivals::Arrival) -> ArrivalView {
    ArrivalView {
        first_seq: a.first_seq as u64,
        count: a.count.max(0) as u32,
        channel: a.channel,
        source: a.source,
        at: a.created_at,
    }
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
    seq: Option<i64>,
    limit: i64,
) -> ApiResult<Arrivals> {
    let (ds, _) = load_visible(state, caller, institution, dataset).await?;
    let id = ds.id;
    let found = db::run(&state.pool, move |conn| {
        Ok(match seq {
            Some(seq) => arrivals::covering(conn, id, seq)?.into_iter().collect(),
            None => arrivals::recent(conn, id, limit)?,
        })
    })
    .await?;
    Ok(Arrivals {
        arrivals: found.into_iter().map(view).collect(),
    })
}
