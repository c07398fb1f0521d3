//! The feed (`GET …/records`): entries in `seq` order after a cursor, filtered, as JSON,
//! NDJSON or CSV. NDJSON and CSV without `limit` are a full export, streamed page by page
//! so memory stays flat whatever the result size.

use crate::db;
use crate::domain::Seq;
use crate::error::{ApiError, ApiResult};
use crate::services::records::{envelope_of, write_record_json};
use crate::state::AppState;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use civicproof_schema::models::Entry;
use civicproof_schema::queries::entries::{self, FeedFilter, PayloadFilter};
use futures_util::Stream;

/// Rows fetched per database round trip while streaming.
const STREAM_PAGE: usize = 1_000;
/// Page size of JSON responses without `limit`.
const DEFAULT_LIMIT: usize = 100;

pub use crate::domain::FeedFormat;

#[derive(Debug, Clone)]
pub struct FeedQuery {
    pub after: Option<i64>,
    /// `None`: JSON pages of the default size; NDJSON and CSV stream everything.
    pub limit: Option<usize>,
    pub format: FeedFormat,
    pub filter: FeedFilter,
    /// The query pairs other than `after`, to build the next link.
    pub passthrough: Vec<(String, String)>,
}

/// Parses the feed's query string; unknown parameters are 400 so typos do not silently
/// return unfiltered data.
pub fn parse_query(query: &str, accept: Option<&str>, max_page: usize) -> ApiResult<FeedQuery> {
    let mut q = FeedQuery {
        after: None,
        limit: None,
        format: format_from_accept(accept),
        filter: FeedFilter::default(),
        passthrough: Vec::new(),
    };
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let (name, value) = (name.into_owned(), value.into_owned());
        match name.as_str() {
            "after" => q.after = Some(parse_after(&value)?),
            "limit" => {
                let n = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=max_page).contains(n))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "limit must be an integer from 1 to {max_page}."
                        ))
                    })?;
                q.limit = Some(n);
            }
            "format" => {
                q.format = FeedFormat::from_key(&value).ok_or_else(|| {
                    ApiError::BadRequest(format!("format must be {}.", FeedFormat::keys_listed()))
                })?;
            }
            "key" => q.filter.key = Some(value.clone()),
            "published_after" => q.filter.published_after = Some(parse_time(&name, &value)?),
            "published_before" => q.filter.published_before = Some(parse_time(&name, &value)?),
            "current" => {
                q.filter.current = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::BadRequest(
                            "current must be true or false.".into(),
                        ));
                    }
                }
            }
            other => match other
                .strip_prefix("payload.")
                .and_then(|f| payload_filter(f, &value))
            {
                Some(filter) => q.filter.payload.push(filter),
                None => {
                    return Err(ApiError::BadRequest(format!(
                        "Unknown query parameter {other:?}."
                    )));
                }
            },
        }
        if name != "after" {
            q.passthrough.push((name, value));
        }
    }
    if q.filter.payload.len() > MAX_PAYLOAD_FILTERS {
        return Err(ApiError::BadRequest("At most 10 payload filters.".into()));
    }
    crate::services::text::check_feed_filter(&q.filter)?;
    Ok(q)
}

/// Most `payload.<field>` filters in one feed request.
pub const MAX_PAYLOAD_FILTERS: usize = 10;

/// A top-level payload filter, `payload.<field>=value` (GraphQL passes the same pairs): the
/// value compares as a number when it reads as one and the field holds a number. `None` for
/// an empty or over-long field name.
pub fn payload_filter(field: &str, value: &str) -> Option<PayloadFilter> {
    if field.is_empty() || field.len() > 256 {
        return None;
    }
    // Numbers compare as their doubles (PROTOCOL.md section 2), so the filter binds the
    // canonical form: `0.10000000000000001` finds a stored `0.1`.
    let number = civicproof_verify::json::parse_strict(value.as_bytes())
        .ok()
        .filter(serde_json::Value::is_number)
        .and_then(|v| String::from_utf8(civicproof_verify::jcs::canonicalize(&v)).ok());
    Some(PayloadFilter {
        field: field.to_owned(),
        value: value.to_owned(),
        number,
    })
}

fn format_from_accept(accept: Option<&str>) -> FeedFormat {
    FeedFormat::from_accept(accept.unwrap_or(""))
}

pub fn parse_time(name: &str, value: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::BadRequest(format!("{name} must be an RFC 3339 timestamp.")))
}

/// `after` is a plain seq or a cursor from `next_cursor`.
pub fn parse_after(value: &str) -> ApiResult<i64> {
    if let Some(seq) = Seq::parse(value).map(Seq::as_i64) {
        return Ok(seq);
    }
    URL_SAFE_NO_PAD
        .decode(value)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("seq:").and_then(Seq::parse).map(Seq::as_i64))
        .ok_or_else(|| {
            ApiError::BadRequest("after must be a seq or a cursor from next_cursor.".into())
        })
}

/// The opaque cursor that continues after `seq`.
pub fn cursor(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
}

/// One page: the entries and whether more follow.
pub async fn page(
    state: &AppState,
    dataset_id: i64,
    q: &FeedQuery,
    limit: usize,
) -> ApiResult<(Vec<Entry>, bool)> {
    crate::services::text::check_feed_filter(&q.filter)?;
    if !q.filter.payload.is_empty() {
        db::scan()?;
    }
    let (after, filter) = (q.after, q.filter.clone());
    let mut rows = db::run(&state.pool, move |conn| {
        Ok(entries::page(
            conn,
            dataset_id,
            after,
            &filter,
            limit as i64 + 1,
        )?)
    })
    .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    Ok((rows, more))
}

/// One page read backwards (GraphQL `last`/`before`): up to `limit` entries above
/// `q.after` and below `before`, the highest seqs, returned in ascending order, and whether
/// more precede them.
pub async fn page_before(
    state: &AppState,
    dataset_id: i64,
    q: &FeedQuery,
    before: Option<i64>,
    limit: usize,
) -> ApiResult<(Vec<Entry>, bool)> {
    crate::services::text::check_feed_filter(&q.filter)?;
    if !q.filter.payload.is_empty() {
        db::scan()?;
    }
    let (after, filter) = (q.after, q.filter.clone());
    let mut rows = db::run(&state.pool, move |conn| {
        Ok(entries::page_before(
            conn,
            dataset_id,
            after,
            before,
            &filter,
            limit as i64 + 1,
        )?)
    })
    .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    rows.reverse();
    Ok((rows, more))
}

/// How many entries match the filter (cursors ignored).
pub async fn count(state: &AppState, dataset_id: i64, filter: &FeedFilter) -> ApiResult<u64> {
    crate::services::text::check_feed_filter(filter)?;
    db::scan()?;
    let filter = filter.clone();
    let n = db::run(&state.pool, move |conn| {
        Ok(entries::count(conn, dataset_id, &filter)?)
    })
    .await?;
    Ok(n as u64)
}

pub fn default_limit(q: &FeedQuery) -> usize {
    q.limit.unwrap_or(DEFAULT_LIMIT)
}

/// Renders a JSON page body `{"records": […], "next_cursor": …}`.
pub fn render_json_page(origin: &str, rows: &[Entry], next: Option<&str>) -> ApiResult<Vec<u8>> {
    let mut out = Vec::with_capacity(rows.len() * 600 + 64);
    out.extend_from_slice(b"{\"records\":[");
    for (i, e) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_record_json(&mut out, origin, e)?;
    }
    out.extend_from_slice(b"],\"next_cursor\":");
    match next {
        Some(c) => out.extend_from_slice(
            serde_json::to_string(c)
                .map_err(ApiError::internal)?
                .as_bytes(),
        ),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
    Ok(out)
}

/// Renders rows as NDJSON lines or CSV rows (with the header when `header` is set).
pub fn render_rows(
    format: FeedFormat,
    origin: &str,
    rows: &[Entry],
    header: bool,
) -> ApiResult<Vec<u8>> {
    let mut out = Vec::with_capacity(rows.len() * 600);
    match format {
        FeedFormat::Csv => {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(&mut out);
            if header {
                w.write_record(CSV_HEADER).map_err(ApiError::internal)?;
            }
            for e in rows {
                let env = envelope_of(origin, e)?;
                let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
                w.write_record([
                    e.seq.to_string(),
                    e.kind.as_str().to_owned(),
                    e.key.clone().unwrap_or_default(),
                    civicproof_verify::envelope::format_published_at(
                        e.published_at.timestamp_millis(),
                    ),
                    opt(e.supersedes),
                    opt(e.erases),
                    e.erasure_reason.clone().unwrap_or_default(),
                    e.payload_digest
                        .as_deref()
                        .map(hex::encode)
                        .unwrap_or_default(),
                    e.salt.as_deref().map(hex::encode).unwrap_or_default(),
                    hex::encode(&e.leaf_hash),
                    e.payload.clone().unwrap_or_default(),
                    String::from_utf8(env.canonical_bytes()).map_err(ApiError::internal)?,
                ])
                .map_err(ApiError::internal)?;
            }
            w.flush().map_err(ApiError::internal)?;
        }
        // JSON pages are rendered whole (`render_json_page`); a stream of them is NDJSON.
        FeedFormat::Ndjson | FeedFormat::Json => {
            for e in rows {
                write_record_json(&mut out, origin, e)?;
                out.push(b'\n');
            }
        }
    }
    Ok(out)
}

const CSV_HEADER: [&str; 12] = [
    "seq",
    "kind",
    "key",
    "published_at",
    "supersedes",
    "erases",
    "reason",
    "payload_digest",
    "salt",
    "leaf_hash",
    "payload",
    "envelope",
];

/// Streams every matching entry (up to `limit` when set) page by page.
pub fn stream(
    state: AppState,
    dataset_id: i64,
    origin: String,
    q: FeedQuery,
) -> impl Stream<Item = Result<Bytes, ApiError>> {
    struct Cursor {
        after: Option<i64>,
        remaining: usize,
        first: bool,
        done: bool,
    }
    let start = Cursor {
        after: q.after,
        remaining: q.limit.unwrap_or(usize::MAX),
        first: true,
        done: false,
    };
    futures_util::stream::unfold(start, move |mut cur| {
        let (state, origin, filter, format) =
            (state.clone(), origin.clone(), q.filter.clone(), q.format);
        async move {
            if cur.done {
                return None;
            }
            let want = cur.remaining.min(STREAM_PAGE);
            let after = cur.after;
            let rows = match db::run(&state.pool, move |conn| {
                Ok(entries::page(
                    conn,
                    dataset_id,
                    after,
                    &filter,
                    want as i64,
                )?)
            })
            .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    cur.done = true;
                    return Some((Err(e), cur));
                }
            };
            let header = cur.first && format == FeedFormat::Csv;
            cur.first = false;
            if rows.len() < want {
                cur.done = true;
            }
            cur.remaining -= rows.len();
            if cur.remaining == 0 {
                cur.done = true;
            }
            cur.after = rows.last().map(|e| e.seq).or(cur.after);
            if rows.is_empty() && !header {
                return None;
            }
            Some((
                render_rows(format, &origin, &rows, header).map(Bytes::from),
                cur,
            ))
        }
    })
}

/// One feed page through the page cache: keyed by the dataset head this process knows (read
/// once from PostgreSQL, then advanced by every announced append), the raw query string and
/// the format. `compute` renders the page body and its next cursor on a miss.
pub async fn cached_page(
    state: &AppState,
    dataset: &civicproof_schema::models::Dataset,
    institution: &str,
    query: &str,
    format: crate::services::feed::FeedFormat,
    compute: impl Future<Output = ApiResult<(Vec<u8>, Option<String>)>>,
) -> ApiResult<(Bytes, Option<String>)> {
    let cluster = &state.cluster;
    let counters = &cluster.stats.feed_pages;
    if !cluster.feed.enabled() || !cluster.local_caches_usable() {
        let (body, next) = compute.await?;
        return Ok((Bytes::from(body), next));
    }
    let head = match cluster.feed.head(dataset.id) {
        Some(h) => h,
        None => {
            let (inst, slug) = (institution.to_owned(), dataset.slug.clone());
            let row = crate::db::run(&state.pool, move |conn| {
                Ok(civicproof_schema::queries::datasets::find_any(
                    conn, &inst, &slug,
                )?)
            })
            .await?;
            let Some((d, _)) = row else {
                return Err(ApiError::NotFound);
            };
            cluster.feed.grown(d.id, d.entry_count);
            cluster.feed.head(d.id).unwrap_or(d.entry_count)
        }
    };
    let key = crate::cluster::feed_cache::FeedKey {
        dataset_id: dataset.id,
        head,
        query: query.to_owned(),
        format: format as u8,
    };
    if let Some(hit) = cluster.feed.get(&key) {
        counters.hit_local();
        return Ok((hit.body, hit.next_cursor));
    }
    counters.missed();
    let (body, next) = compute.await?;
    let body = Bytes::from(body);
    cluster.feed.put(
        key,
        crate::cluster::feed_cache::CachedPage {
            body: body.clone(),
            next_cursor: next.clone(),
        },
    );
    Ok((body, next))
}
