//! `GET /v1/datasets/{inst}/{ds}/events`: the log as Server-Sent Events (API.md, Events).
//!
//! Each entry is `id: <seq>\nevent: entry\ndata: <record as read>\n\n`. A client resumes
//! with `Last-Event-ID` (what `EventSource` sends on reconnect) or `?after=<seq>`, and gets
//! every entry after it without gaps; without either, it follows from the next append. Idle
//! streams carry a heartbeat comment. A per-stream task writes into a small bounded channel:
//! a slow client stalls only its own task, whose follower then falls behind the fan-out and
//! catches up from the database in pages, so memory stays bounded whatever the client does.

use crate::auth::{Caller, bearer};
use crate::domain::Seq;
use crate::error::{ApiError, ApiResult, Problem};
use crate::services::events::Follower;
use crate::services::records::write_record_json;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

/// Events buffered per stream between its follower and the socket.
const STREAM_BUFFER: usize = 64;

/// Live Server-Sent Events of a dataset's log (records and erasures, in seq order).
#[utoipa::path(get, path = "/v1/datasets/{inst}/{ds}/events", tag = "records",
    params(("inst" = String, Path), ("ds" = String, Path),
           ("after" = Option<u64>, Query, description = "Resume after this seq (`Last-Event-ID` takes precedence)"),
           ("Last-Event-ID" = Option<u64>, Header, description = "The last seq received")),
    responses((status = 200, description = "`text/event-stream`: `id: <seq>`, `event: entry`, `data: <record as read>`; heartbeat comments", content_type = "text/event-stream"),
              (status = 400, body = Problem), (status = 404, body = Problem)),
    security((), ("bearer" = [])))]
#[get("/v1/datasets/{inst}/{ds}/events")]
pub async fn events(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (inst, ds) = path.into_inner();
    let mut after = None;
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match k.as_ref() {
            "after" => {
                after =
                    Some(Seq::parse(&v).map(Seq::as_i64).ok_or_else(|| {
                        ApiError::BadRequest("after must be a decimal seq.".into())
                    })?)
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unknown query parameter {other:?}."
                )));
            }
        }
    }
    if let Some(v) = req.headers().get("last-event-id") {
        let seq = v
            .to_str()
            .ok()
            .and_then(Seq::parse)
            .map(Seq::as_i64)
            .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be a decimal seq.".into()))?;
        after = Some(seq);
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .map(str::to_owned);
    let addr = crate::edge::limits::request_addr(&req, &state.config.trusted_proxies);
    let slot = state
        .cluster
        .streams
        .take(crate::edge::limits::who(&caller, addr).0)?;
    let follower = Follower::start(&state, caller, token, &inst, &ds, after).await?;
    let public = follower.public;
    let (tx, rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
    let heartbeat = Duration::from_millis(state.config.cluster.sse_heartbeat_ms.max(100));
    tokio::spawn(pump(state.get_ref().clone(), follower, tx, heartbeat, slot));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, actix_web::Error>(b), rx))
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        // A restricted stream must never sit in a shared cache.
        .insert_header((
            header::CACHE_CONTROL,
            if public {
                "no-cache"
            } else {
                "private, no-store"
            },
        ))
        .insert_header((
            header::VARY,
            if public { "Accept" } else { "Authorization" },
        ))
        // Proxies must not buffer a live stream.
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

/// Moves entries from the follower to the client until either side ends.
async fn pump(
    state: AppState,
    mut follower: Follower,
    tx: mpsc::Sender<Bytes>,
    heartbeat: Duration,
    _slot: crate::cluster::streams::Slot,
) {
    let clients = &state.cluster.stats.sse_clients;
    clients.fetch_add(1, Ordering::Relaxed);
    // A revoked token ends its streams at once (this process, the bus or the outbox).
    let mut revocations = state.cluster.revocations.subscribe();
    let token_id = follower.token_id();
    let mut stopping = state.stopping.subscribe();
    // Tell EventSource how soon to reconnect, and flush the headers at once.
    if tx
        .send(Bytes::from_static(b"retry: 1000\n: ok\n\n"))
        .await
        .is_ok()
    {
        loop {
            let event = tokio::select! {
                () = tx.closed() => break,
                // Shutting down: the client resumes elsewhere with Last-Event-ID.
                _ = stopping.wait_for(|s| *s) => break,
                revoked = revocations.recv(), if token_id.is_some() => match revoked {
                    Ok(id) if Some(id) == token_id => break,
                    Ok(_) => continue,
                    Err(_) => {
                        follower.recheck_token();
                        continue;
                    }
                },
                next = tokio::time::timeout(heartbeat, follower.next()) => next,
            };
            let bytes = match event {
                Err(_) => Bytes::from_static(b": heartbeat\n\n"),
                Ok(Ok(Some(entry))) => {
                    let mut out = Vec::with_capacity(700);
                    out.extend_from_slice(
                        format!("id: {}\nevent: entry\ndata: ", entry.seq).as_bytes(),
                    );
                    if write_record_json(&mut out, &follower.origin, &entry).is_err() {
                        break;
                    }
                    out.extend_from_slice(b"\n\n");
                    Bytes::from(out)
                }
                // Shutdown, a dataset no longer visible, a revoked token or a database
                // error: end the stream; the client resumes with Last-Event-ID.
                Ok(Ok(None)) | Ok(Err(_)) => break,
            };
            if tx.send(bytes).await.is_err() {
                break;
            }
        }
    }
    clients.fetch_sub(1, Ordering::Relaxed);
}
