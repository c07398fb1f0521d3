//! The witness's HTTP interface (C2SP tlog-witness): `POST /add-checkpoint` (submission
//! prefix) and `GET /<origin hash>/checkpoint` (monitoring prefix), plus `/metrics` and
//! `/healthz`. Every refusal is logged and counted: a 422 may be evidence of a fork or rollback.

use actix_web::http::header::ContentType;
use actix_web::{App, HttpResponse, HttpServer, web};
use prometheus::{Encoder, IntCounterVec, Opts, Registry, TextEncoder};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::witness::{Refusal, Witness};

/// Largest request body: a 128 KiB note, 63 proof lines and the size line fit with room.
const MAX_BODY: usize = 256 * 1024;

/// At most one log line per origin and kind of 422 in this interval (the metric counts all):
/// anyone can replay a log's public checkpoint with a wrong proof.
const ALERT_EVERY: Duration = Duration::from_secs(60);

struct Shared {
    witness: Witness,
    registry: Registry,
    requests: IntCounterVec,
    alerted: Mutex<HashMap<(String, &'static str), Instant>>,
}

impl Shared {
    fn should_alert(&self, origin: &str, kind: &'static str) -> bool {
        let mut alerted = self.alerted.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        // Bounded: forget old entries before the map grows past what origins justify.
        if alerted.len() > 10_000 {
            alerted.retain(|_, t| now.duration_since(*t) < ALERT_EVERY);
        }
        match alerted.get(&(origin.to_owned(), kind)) {
            Some(t) if now.duration_since(*t) < ALERT_EVERY => false,
            _ => {
                alerted.insert((origin.to_owned(), kind), now);
                true
            }
        }
    }
}

/// Serves `witness` on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    witness: Witness,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new(
            "civicproof_witness_add_checkpoint_total",
            "add-checkpoint requests by outcome (cosigned, conflict, inconsistent, …)",
        ),
        &["outcome"],
    )?;
    registry.register(Box::new(requests.clone()))?;
    let shared = Arc::new(Shared {
        witness,
        registry,
        requests,
        alerted: Mutex::new(HashMap::new()),
    });
    let server = HttpServer::new({
        let shared = shared.clone();
        move || {
            App::new()
                .app_data(web::Data::from(shared.clone()))
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .route("/add-checkpoint", web::post().to(add_checkpoint))
                .route("/metrics", web::get().to(metrics))
                .route("/healthz", web::get().to(|| async { "ok\n" }))
                .route("/{origin_hash}/checkpoint", web::get().to(checkpoint))
        }
    })
    .listen(listener)?
    .disable_signals()
    .workers(2)
    .shutdown_timeout(5)
    .run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    tokio::pin!(shutdown);
    tokio::select! {
        res = task => { res??; }
        () = &mut shutdown => handle.stop(true).await,
    }
    Ok(())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs())
}

async fn add_checkpoint(shared: web::Data<Shared>, body: web::Bytes) -> HttpResponse {
    let worker = shared.clone();
    let result = web::block(move || worker.witness.add_checkpoint_with_clock(&body, &unix_now))
        .await
        .unwrap_or_else(|e| Err(Refusal::Storage(anyhow::anyhow!("{e}"))));
    match result {
        Ok(lines) => {
            shared.requests.with_label_values(&["cosigned"]).inc();
            HttpResponse::Ok()
                .content_type(ContentType::plaintext())
                .body(lines)
        }
        Err(refusal) => {
            shared
                .requests
                .with_label_values(&[refusal.outcome()])
                .inc();
            match &refusal {
                Refusal::Fork { origin, why } => {
                    if shared.should_alert(origin, "fork") {
                        tracing::error!(origin, reason = %why, "ALERT: the log signed two different trees of one size (a fork); refused");
                    }
                }
                Refusal::BadProof { origin, why } => {
                    if shared.should_alert(origin, "bad_proof") {
                        tracing::error!(origin, reason = %why, "ALERT: refused a checkpoint not proven consistent with the one cosigned before (a fork, or a broken or replayed submission)");
                    }
                }
                Refusal::Conflict(_) => tracing::debug!(%refusal, "old size conflict"),
                other => {
                    tracing::warn!(status = other.status(), reason = %other, "refused a checkpoint")
                }
            }
            let status = actix_web::http::StatusCode::from_u16(refusal.status())
                .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
            match refusal {
                Refusal::Conflict(size) => HttpResponse::build(status)
                    .insert_header(("Content-Type", "text/x.tlog.size"))
                    .body(format!("{size}\n")),
                // A storage failure's details stay in the log.
                Refusal::Storage(_) => {
                    HttpResponse::build(status).body("witness state unavailable\n")
                }
                other => HttpResponse::build(status)
                    .content_type(ContentType::plaintext())
                    .body(format!("{other}\n")),
            }
        }
    }
}

async fn checkpoint(shared: web::Data<Shared>, path: web::Path<String>) -> HttpResponse {
    match shared.witness.checkpoint_by_origin_hash(&path) {
        Ok(Some(note)) => HttpResponse::Ok()
            .content_type(ContentType::plaintext())
            .insert_header(("Cache-Control", "no-cache"))
            .body(note),
        Ok(None) => HttpResponse::NotFound().body("never cosigned a checkpoint of this origin\n"),
        Err(e) => {
            tracing::error!(error = %e, "reading witness state");
            HttpResponse::InternalServerError().body("witness state unavailable\n")
        }
    }
}

async fn metrics(shared: web::Data<Shared>) -> HttpResponse {
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&shared.registry.gather(), &mut out);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out)
}
