use crate::auth::Caller;
use crate::domain::Seq;
use crate::error::{ApiError, ApiResult, Problem};
use crate::routes::datasets::with_access_headers;
use crate::routes::proofs::{Freshness, conditional};
use crate::services::datasets::load_visible;
use crate::services::erasure::{self, EraseRequest, Erased};
use crate::services::feed::{self as feed_svc, FeedFormat};
use crate::services::input;
use crate::services::publish::{
    self as publish_svc, PublishOutcome, PublishRequest, PublishResult,
};
use crate::services::records;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::StreamExt;

/// Append a batch, all-or-nothing: a JSON array of `{"key"?, "payload"}`, NDJSON of the
/// same objects, or CSV. Answers the entries' seqs and leaf hashes in input order.
#[utoipa::path(post, path = "/v1/datasets/{inst}/{ds}/records", tag = "records",
    params(("inst" = String, Path), ("ds" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key, kept 24 h per dataset"),
           ("Ingest-Channel" = Option<String>, Header, description = "How the records arrived (mqtt, …): shown by the explorer, not verifiable"),
           ("Ingest-Source" = Option<String>, Header, description = "The channel's source (an MQTT topic filter)")),
    request_body(description = "JSON array, NDJSON or CSV of records",
                 content((String = "application/json"), (String = "application/x-ndjson"), (String = "text/csv"))),
    responses((status = 201, body = PublishResult),
              (status = 200, body = PublishResult, description = "Every record's dedup_key named a record appended before; nothing was appended"),
              (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
#[post("/v1/datasets/{inst}/{ds}/records")]
pub async fn publish(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (inst, ds) = path.into_inner();
    caller.require_authenticated()?;
    let format = input::batch_format(
        req.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )?;
    let idempotency_key = match req.headers().get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII.".into()))?
                .to_owned(),
        ),
        None => None,
    };
    let text = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let arrival =
        publish_svc::Arrival::from_headers(text("ingest-channel"), text("ingest-source"))?;
    crate::edge::body::check_declared_length(&req, state.config.limits.max_body_bytes)?;
    // Streamed to the parser as it arrives (services::input): never held whole.
    let body = payload.map(|chunk| chunk.map_err(|_| ()));
    let outcome = publish_svc::publish(
        &state,
        &caller,
        &inst,
        &ds,
        PublishRequest {
            format,
            body,
            idempotency_key,
            arrival,
        },
    )
    .await?;
    Ok(match outcome {
        PublishOutcome::Created(result) if result.status() == 200 => {
            HttpResponse::Ok().json(result)
        }
        PublishOutcome::Created(result) => HttpResponse::Created().json(result),
        PublishOutcome::Replayed(r) => {
            let status =
                actix_web::http::StatusCode::from_u16(r.status).map_err(ApiError::internal)?;
            let ct = if status.is_success() {
                "application/json"
            } else {
                "application/problem+json"
            };
            HttpResponse::build(status)
                .insert_header((header::CONTENT_TYPE, ct))
                .insert_header(("Idempotent-Replayed", "true"))
                .body(r.body)
        }
    })
}

/// The feed: entries in `seq` order. Query: `after` (seq or cursor), `limit`, `key`,
/// `published_after`, `published_before`, `payload.<field>=value`, `current=true`,
/// `format=json|ndjson|csv` (or `Accept`). NDJSON and CSV without `limit` stream everything.
#[utoipa::path(get, path = "/v1/datasets/{inst}/{ds}/records", tag = "records",
    params(("inst" = String, Path), ("ds" = String, Path),
           ("after" = Option<String>, Query), ("limit" = Option<u32>, Query), ("key" = Option<String>, Query),
           ("published_after" = Option<String>, Query), ("published_before" = Option<String>, Query),
           ("current" = Option<bool>, Query), ("format" = Option<String>, Query)),
    responses((status = 200, description = "`{\"records\": [record], \"next_cursor\"}`, NDJSON or CSV"),
              (status = 400, body = Problem), (status = 404, body = Problem)))]
#[get("/v1/datasets/{inst}/{ds}/records")]
pub async fn feed(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (inst, ds_slug) = path.into_inner();
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let query = feed_svc::parse_query(
        req.query_string(),
        accept,
        state.config.limits.max_page_size,
    )?;
    let (ds, institution) = load_visible(&state, &caller, &inst, &ds_slug).await?;
    let origin = state.origin(&institution.slug, &ds.slug);
    let mut resp = with_access_headers(HttpResponse::Ok(), ds.is_public());
    // One URL, three formats chosen by Accept: caches must key on it.
    let vary = if ds.is_public() {
        "Accept"
    } else {
        "Authorization, Accept"
    };
    resp.insert_header((header::VARY, vary));
    resp.insert_header((header::CONTENT_TYPE, query.format.content_type()));
    if query.format != FeedFormat::Json && query.limit.is_none() {
        let stream = feed_svc::stream(state.get_ref().clone(), ds.id, origin, query);
        return Ok(resp.streaming(stream));
    }
    let limit = feed_svc::default_limit(&query);
    // Through the page cache (keyed by the dataset head; see `services::feed::cached_page`).
    let (body, next) = feed_svc::cached_page(
        &state,
        &ds,
        &institution.slug,
        req.query_string(),
        query.format,
        async {
            let (rows, more) = feed_svc::page(&state, ds.id, &query, limit).await?;
            let next = if more {
                rows.last().map(|e| feed_svc::cursor(e.seq))
            } else {
                None
            };
            let body = match query.format {
                FeedFormat::Json => feed_svc::render_json_page(&origin, &rows, next.as_deref())?,
                other => feed_svc::render_rows(other, &origin, &rows, true)?,
            };
            Ok((body, next))
        },
    )
    .await?;
    if let Some(c) = &next {
        let mut pairs = query.passthrough.clone();
        pairs.push(("after".into(), c.clone()));
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        resp.insert_header((
            header::LINK,
            format!(
                "<{}/v1/datasets/{}/{}/records?{qs}>; rel=\"next\"",
                state.public_url, institution.slug, ds.slug
            ),
        ));
    }
    Ok(resp.body(body))
}

/// One entry as read. Strong ETag; changes only by erasure. `?format=ngsi-ld` answers an
/// NGSI-LD entity record as the entity itself (`application/ld+json`, its `@context`
/// inside), with `Link: <…/proof>; rel="describedby"` to its proof bundle.
#[utoipa::path(get, path = "/v1/datasets/{inst}/{ds}/records/{seq}", tag = "records",
    params(("inst" = String, Path), ("ds" = String, Path), ("seq" = u64, Path),
           ("format" = Option<String>, Query, description = "ngsi-ld: the NGSI-LD entity")),
    responses((status = 200, description = "`{\"envelope\", \"payload\", \"salt\", \"leaf_hash\"}`, or with format=ngsi-ld the entity"),
              (status = 304, description = "Not modified"), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 406, body = Problem, description = "format=ngsi-ld of a record that is not an NGSI-LD entity"),
              (status = 410, body = Problem, description = "format=ngsi-ld of an erased record")))]
#[get("/v1/datasets/{inst}/{ds}/records/{seq}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String, Seq)>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (inst, ds, seq) = path.into_inner();
    let mut ngsi = false;
    for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if name == "format" {
            match value.as_ref() {
                "ngsi-ld" => ngsi = true,
                "json" => ngsi = false,
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "format={other} is not a record format: json or ngsi-ld."
                    )));
                }
            }
        }
    }
    let read = records::get(&state, &caller, &inst, &ds, seq).await?;
    if ngsi {
        return ngsi_entity(&req, &inst, &ds, seq, read);
    }
    let etag = format!(
        "\"{}{}\"",
        hex::encode(&read.leaf_hash),
        if read.erased { "-erased" } else { "" }
    );
    Ok(conditional(
        &req,
        Some(etag),
        read.public,
        "application/json",
        read.json,
        Freshness::Revalidate,
    ))
}

/// A record's payload as an NGSI-LD entity (it must have `id`, `type` and `@context`).
fn ngsi_entity(
    req: &HttpRequest,
    inst: &str,
    ds: &str,
    seq: Seq,
    read: records::RecordRead,
) -> ApiResult<HttpResponse> {
    if read.erased {
        return Err(ApiError::Gone(
            "This record's payload was erased; its proof still verifies.".into(),
        ));
    }
    let record: serde_json::Value =
        serde_json::from_slice(&read.json).map_err(ApiError::internal)?;
    let payload = &record["payload"];
    if !(payload["id"].is_string()
        && payload["type"].is_string()
        && payload.get("@context").is_some())
    {
        return Err(ApiError::NotAcceptable(
            "This record is not an NGSI-LD entity (it has no id, type and @context).".into(),
        ));
    }
    let body = serde_json::to_vec(payload).map_err(ApiError::internal)?;
    let etag = format!("\"{}-ngsi\"", hex::encode(&read.leaf_hash));
    let mut resp = conditional(
        req,
        Some(etag),
        read.public,
        "application/ld+json",
        body,
        Freshness::Revalidate,
    );
    let link = format!(
        "</v1/datasets/{inst}/{ds}/records/{}/proof>; rel=\"describedby\"",
        seq.0
    );
    resp.headers_mut().insert(
        header::LINK,
        header::HeaderValue::from_str(&link).map_err(ApiError::internal)?,
    );
    Ok(resp)
}

/// Exactly `JCS(envelope)`: SHA-256(0x00 || these bytes) is the leaf hash.
#[utoipa::path(get, path = "/v1/datasets/{inst}/{ds}/records/{seq}/leaf", tag = "records",
    params(("inst" = String, Path), ("ds" = String, Path), ("seq" = u64, Path)),
    responses((status = 200, description = "JCS(envelope)", content_type = "application/json"), (status = 404, body = Problem)))]
#[get("/v1/datasets/{inst}/{ds}/records/{seq}/leaf")]
pub async fn leaf(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String, Seq)>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (inst, ds, seq) = path.into_inner();
    let read = records::get(&state, &caller, &inst, &ds, seq).await?;
    let etag = format!("\"{}\"", hex::encode(&read.leaf_hash));
    Ok(conditional(
        &req,
        Some(etag),
        read.public,
        "application/json",
        read.leaf,
        Freshness::Revalidate,
    ))
}

/// Erase a record's payload and salt, appending an erasure entry.
#[utoipa::path(post, path = "/v1/datasets/{inst}/{ds}/records/{seq}/erasure", tag = "records",
    params(("inst" = String, Path), ("ds" = String, Path), ("seq" = u64, Path)),
    request_body = EraseRequest,
    responses((status = 201, body = Erased), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
#[post("/v1/datasets/{inst}/{ds}/records/{seq}/erasure")]
pub async fn erase(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String, Seq)>,
    body: web::Json<EraseRequest>,
) -> ApiResult<HttpResponse> {
    let (inst, ds, seq) = path.into_inner();
    let erased = erasure::erase(&state, &caller, &inst, &ds, seq, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(erased))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrivalsParams {
    seq: Option<u64>,
    limit: Option<u32>,
}

/// How the dataset's recent records arrived (over MQTT, NGSI-LD), newest first; with `seq`,
/// the arrival that appended that record. Operational metadata beside the log: the channel
/// is the publisher's word and is not verifiable.
#[utoipa::path(get, path = "/v1/datasets/{inst}/{ds}/arrivals", tag = "records",
    params(("inst" = String, Path), ("ds" = String, Path),
           ("seq" = Option<u64>, Query, description = "the arrival that appended this record"),
           ("limit" = Option<u32>, Query, description = "at most this many, 1 to 100 (default 20)")),
    responses((status = 200, body = crate::services::arrivals::Arrivals), (status = 400, body = Problem),
              (status = 404, body = Problem)))]
#[get("/v1/datasets/{inst}/{ds}/arrivals")]
pub async fn arrivals(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (inst, ds) = path.into_inner();
    let q = web::Query::<ArrivalsParams>::from_query(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("Bad query: {e}")))?
        .into_inner();
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be from 1 to 100.".into()));
    }
    let seq = match q.seq {
        Some(s) => Some(
            i64::try_from(s).map_err(|_| ApiError::BadRequest("seq is out of range.".into()))?,
        ),
        None => None,
    };
    let found =
        crate::services::arrivals::list(&state, &caller, &inst, &ds, seq, i64::from(limit)).await?;
    Ok(HttpResponse::Ok().json(found))
}
