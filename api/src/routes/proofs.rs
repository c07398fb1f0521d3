use crate::auth::Caller;
use crate::domain::Seq;
use crate::error::{ApiError, ApiResult, Problem};
use crate::routes::datasets::with_access_headers;
use crate::services::proofs::{self, BundleFormat, ConsistencyProof};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};

/// The proof bundle of an entry (PROTOCOL.md section 6): `?tree_size=N` for the proof at a
/// signed checkpoint, `?format=tlog-proof` for C2SP tlog-proof text. 409 when the entry is
/// not yet in a signed checkpoint after waiting up to the checkpoint interval.
#[utoipa::path(get, path = "/v1/datasets/{inst}/{ds}/records/{seq}/proof", tag = "proofs",
    params(("inst" = String, Path), ("ds" = String, Path), ("seq" = u64, Path),
           ("tree_size" = Option<u64>, Query), ("format" = Option<String>, Query, description = "`tlog-proof`")),
    responses((status = 200, description = "application/vnd.civicproof.bundle+json, or tlog-proof text"),
              (status = 304, description = "Not modified"), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
#[get("/v1/datasets/{inst}/{ds}/records/{seq}/proof")]
pub async fn proof(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String, Seq)>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (inst, ds, seq) = path.into_inner();
    let mut tree_size = None;
    let mut format = BundleFormat::Json;
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match k.as_ref() {
            "tree_size" => {
                tree_size = Some(
                    crate::domain::Seq::parse(&v)
                        .map(crate::domain::Seq::as_i64)
                        .ok_or_else(|| {
                            ApiError::BadRequest("tree_size must be a decimal integer.".into())
                        })? as u64,
                )
            }
            "format" if v == "tlog-proof" => format = BundleFormat::TlogProof,
            "format" if v == "json" => format = BundleFormat::Json,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unknown query parameter or value {other:?}."
                )));
            }
        }
    }
    let (bundle, public) =
        proofs::bundle(&state, &caller, &inst, &ds, seq, tree_size, format).await?;
    Ok(conditional(
        &req,
        Some(bundle.etag),
        public,
        bundle.content_type,
        bundle.body,
        Freshness::Revalidate,
    ))
}

/// The newest signed checkpoint (a C2SP signed note).
#[utoipa::path(get, path = "/v1/datasets/{inst}/{ds}/checkpoint", tag = "proofs",
    params(("inst" = String, Path), ("ds" = String, Path)),
    responses((status = 200, description = "signed note", content_type = "text/plain"), (status = 404, body = Problem)))]
#[get("/v1/datasets/{inst}/{ds}/checkpoint")]
pub async fn checkpoint(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (inst, ds) = path.into_inner();
    let (note, public) = proofs::latest_checkpoint(&state, &caller, &inst, &ds).await?;
    Ok(conditional(
        &req,
        None,
        public,
        "text/plain; charset=utf-8",
        note.into_bytes(),
        Freshness::Revalidate,
    ))
}

/// A C2SP tlog-tiles tile of the dataset's log (PROTOCOL.md section 9): `tile/<L>/<N>[.p/<W>]`
/// (hashes) or `tile/entries/<N>[.p/<W>]` (each entry `JCS(envelope)` with a big-endian
/// uint16 length). The dataset's URL is the tlog-tiles prefix; its `checkpoint` is the newest
/// signed checkpoint. Full tiles are immutable; partial ones are cached for a few seconds.
#[utoipa::path(get, path = "/v1/datasets/{inst}/{ds}/tile/{tile}", tag = "proofs",
    params(("inst" = String, Path), ("ds" = String, Path),
           ("tile" = String, Path, description = "`<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, N in 3-digit groups (`x001/x234/067`)")),
    responses((status = 200, description = "the tile", content_type = "application/octet-stream"),
              (status = 304, description = "Not modified"),
              (status = 400, body = Problem), (status = 404, body = Problem)))]
#[get("/v1/datasets/{inst}/{ds}/tile/{tile:.*}")]
pub async fn tile(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (inst, ds, tile) = path.into_inner();
    let served = crate::services::tiles::tile(&state, &caller, &inst, &ds, &tile).await?;
    // A partial tile's bytes never change either, but a client should move on to the full
    // tile once the log has grown past it.
    let freshness = if served.full {
        Freshness::Immutable
    } else {
        Freshness::ShortLived(5)
    };
    Ok(conditional(
        &req,
        Some(served.etag),
        served.public,
        "application/octet-stream",
        served.body,
        freshness,
    ))
}

/// The checkpoint at a size: immutable once signed and settled.
///
/// With witnesses, cosignatures may be added for 30 s after signing (PROTOCOL.md section
/// 10.3); until then it is `no-cache`.
#[utoipa::path(get, path = "/v1/datasets/{inst}/{ds}/checkpoints/{size}", tag = "proofs",
    params(("inst" = String, Path), ("ds" = String, Path), ("size" = u64, Path)),
    responses((status = 200, description = "signed note", content_type = "text/plain"), (status = 404, body = Problem)))]
#[get("/v1/datasets/{inst}/{ds}/checkpoints/{size}")]
pub async fn checkpoint_at(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String, Seq)>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (inst, ds, size) = path.into_inner();
    let (note, public, settled) = proofs::checkpoint_at(&state, &caller, &inst, &ds, size).await?;
    // Immutable once witnesses can add no more cosignatures (PROTOCOL.md section 10.3).
    Ok(conditional(
        &req,
        None,
        public,
        "text/plain; charset=utf-8",
        note.into_bytes(),
        Freshness::immutable_if(settled),
    ))
}

/// A consistency proof between two signed checkpoints (PROTOCOL.md section 7).
#[utoipa::path(get, path = "/v1/datasets/{inst}/{ds}/consistency", tag = "proofs",
    params(("inst" = String, Path), ("ds" = String, Path), ("first" = u64, Query), ("second" = u64, Query)),
    responses((status = 200, body = ConsistencyProof), (status = 400, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/v1/datasets/{inst}/{ds}/consistency")]
pub async fn consistency(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (inst, ds) = path.into_inner();
    let (mut first, mut second) = (None, None);
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match k.as_ref() {
            "first" => first = Some(v.into_owned()),
            "second" => second = Some(v.into_owned()),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unknown query parameter {other:?}."
                )));
            }
        }
    }
    let (answer, public, settled) = proofs::consistency(
        &state,
        &caller,
        &inst,
        &ds,
        first.as_deref(),
        second.as_deref(),
    )
    .await?;
    let body = serde_json::to_vec(&answer).map_err(ApiError::internal)?;
    // The proof never changes; the notes are final once both are settled (no more
    // cosignatures).
    Ok(conditional(
        &req,
        None,
        public,
        "application/json",
        body,
        Freshness::immutable_if(settled),
    ))
}

/// How long a response may be reused without asking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Never changes: cached for a year (`immutable`).
    Immutable,
    /// May be reused for this many seconds (a partial tile, say).
    ShortLived(u32),
    /// Revalidated on every use (the default `no-cache`).
    Revalidate,
}

impl Freshness {
    /// Immutable when `settled`, else revalidated.
    pub fn immutable_if(settled: bool) -> Freshness {
        if settled {
            Freshness::Immutable
        } else {
            Freshness::Revalidate
        }
    }
}

/// A response with a strong ETag (given, or from the SHA-256 of the body) that answers 304
/// to a matching `If-None-Match`, cached as `freshness` says (privately when not `public`).
pub fn conditional(
    req: &HttpRequest,
    etag: Option<String>,
    public: bool,
    content_type: &str,
    body: impl Into<bytes::Bytes>,
    freshness: Freshness,
) -> HttpResponse {
    let body: bytes::Bytes = body.into();
    let etag = etag.unwrap_or_else(|| crate::cache::strong_etag(&body));
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            // If-None-Match uses weak comparison (RFC 9110 section 13.1.2).
            v.split(',')
                .map(|t| t.trim())
                .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
        });
    let mut resp = with_access_headers(
        if matches {
            HttpResponse::NotModified()
        } else {
            HttpResponse::Ok()
        },
        public,
    );
    let scope = if public { "public" } else { "private" };
    match freshness {
        Freshness::Immutable => {
            let cc = if public {
                "public, max-age=31536000, immutable"
            } else {
                "private, max-age=31536000, immutable"
            };
            resp.insert_header((header::CACHE_CONTROL, cc));
        }
        Freshness::ShortLived(secs) => {
            resp.insert_header((header::CACHE_CONTROL, format!("{scope}, max-age={secs}")));
        }
        Freshness::Revalidate => {}
    }
    resp.insert_header((header::ETAG, etag));
    if matches {
        resp.finish()
    } else {
        resp.insert_header((header::CONTENT_TYPE, content_type.to_owned()));
        resp.body(body)
    }
}
