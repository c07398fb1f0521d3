//! Records pages over REST and GraphQL, and PostGraphile serving the same rows: concurrent
//! clients each walk the feed forward page by page (wrapping at its end), for a fixed number
//! of requests or a time limit, whichever comes first. Every response is checked: status,
//! no GraphQL errors, a full page of records with a cursor to continue.

use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// civicproof's records query: one page of a dataset's log.
const CIVICPROOF_QUERY: &str = "query Page($institution: String!, $slug: String!, $first: Int!, $after: String) { dataset(institution: $institution, slug: $slug) { records(first: $first, after: $after) { edges { node { seq key publishedAt payload leafHash } } pageInfo { endCursor hasNextPage } } } }";

/// PostGraphile's equivalent: its generated connection on `entries`, filtered to the dataset
/// in primary-key order (`offset` only positions a client before the timed pass).
const POSTGRAPHILE_QUERY: &str = "query Page($datasetId: BigInt!, $first: Int!, $after: Cursor, $offset: Int) { allEntries(condition: {datasetId: $datasetId}, orderBy: PRIMARY_KEY_ASC, first: $first, after: $after, offset: $offset) { edges { node { seq key publishedAt payload leafHash } } pageInfo { endCursor hasNextPage } } }";

#[derive(Clone)]
pub enum Target {
    /// `GET …/records?limit=&after=`.
    Rest { url: String },
    /// civicproof's `POST /graphql`.
    Graphql {
        url: String,
        institution: String,
        slug: String,
    },
    /// PostGraphile's `POST /graphql`.
    Postgraphile { url: String, dataset_id: i64 },
}

/// Where a client's next page starts.
#[derive(Clone)]
enum Start {
    Beginning,
    /// After this seq (positioning; PostGraphile uses `offset`).
    AfterSeq(i64),
    Cursor(String),
}

pub struct Options {
    pub clients: usize,
    pub requests: usize,
    pub warmup: usize,
    pub max_secs: f64,
    pub page: usize,
    pub graphql_only: bool,
    pub rounds: usize,
}

pub struct Figures {
    pub requests: usize,
    pub records: usize,
    pub bytes: usize,
    pub secs: f64,
}

impl Figures {
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.secs
    }

    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.secs
    }
}

/// `serde_json::from_str` with what was being read in the error.
macro_rules! parse {
    ($text:expr, $what:expr $(,)?) => {
        serde_json::from_str($text).map_err(|e| anyhow::anyhow!("{}: {e}", $what))
    };
}

/// The first `chars` characters of `s` (for error messages).
fn head(s: &str, chars: usize) -> &str {
    s.char_indices().nth(chars).map_or(s, |(i, _)| &s[..i])
}

/// One member of a JSON object, unparsed.
fn member<'a>(raw: &'a str, name: &str) -> anyhow::Result<&'a RawValue> {
    let mut map: HashMap<String, &'a RawValue> = parse!(raw, name)?;
    map.remove(name)
        .ok_or_else(|| anyhow::anyhow!("no {name} in {}", head(raw, 300)))
}

/// `(records, next cursor)` of a GraphQL connection `{edges, pageInfo}`; checks the first
/// node's fields when `check` is set.
fn connection(raw: &str, check: bool) -> anyhow::Result<(usize, Option<String>)> {
    let edges: Vec<&RawValue> = parse!(member(raw, "edges")?.get(), "edges")?;
    if check && let Some(first) = edges.first() {
        let node: Value = parse!(first.get(), "edge")?;
        for field in ["seq", "key", "publishedAt", "payload", "leafHash"] {
            anyhow::ensure!(
                node["node"].get(field).is_some(),
                "node without {field}: {node}"
            );
        }
    }
    let info: Value = parse!(member(raw, "pageInfo")?.get(), "pageInfo")?;
    let next = match info["hasNextPage"].as_bool() {
        Some(true) => Some(
            info["endCursor"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("hasNextPage without endCursor"))?
                .to_owned(),
        ),
        Some(false) => None,
        None => anyhow::bail!("pageInfo without hasNextPage: {info}"),
    };
    Ok((edges.len(), next))
}

/// The `data` of a GraphQL response, failing on any error.
fn graphql_data(body: &str) -> anyhow::Result<&RawValue> {
    let map: HashMap<String, &RawValue> = parse!(body, "response")?;
    if let Some(errors) = map.get("errors") {
        anyhow::bail!("GraphQL errors: {}", errors.get());
    }
    map.get("data")
        .copied()
        .ok_or_else(|| anyhow::anyhow!("response without data"))
}

impl Target {
    /// One page: `(records, bytes, next cursor)` (`None` at the end of the log).
    async fn page(
        &self,
        client: &reqwest::Client,
        page: usize,
        start: &Start,
        check: bool,
    ) -> anyhow::Result<(usize, usize, Option<String>)> {
        let after = match start {
            Start::Beginning => None,
            Start::AfterSeq(s) => Some(s.to_string()),
            Start::Cursor(c) => Some(c.clone()),
        };
        let request = match self {
            Target::Rest { url } => {
                let mut q = vec![("limit", page.to_string())];
                q.extend(after.map(|a| ("after", a)));
                client.get(url).query(&q)
            }
            Target::Graphql {
                url,
                institution,
                slug,
            } => client.post(url).json(&serde_json::json!({
                "query": CIVICPROOF_QUERY,
                "variables": {"institution": institution, "slug": slug, "first": page, "after": after},
            })),
            Target::Postgraphile { url, dataset_id } => {
                let (after, offset) = match start {
                    Start::Beginning => (None, None),
                    Start::AfterSeq(s) => (None, Some(s + 1)),
                    Start::Cursor(c) => (Some(c.clone()), None),
                };
                client.post(url).json(&serde_json::json!({
                    "query": POSTGRAPHILE_QUERY,
                    "variables": {"datasetId": dataset_id.to_string(), "first": page, "after": after, "offset": offset},
                }))
            }
        };
        let r = request.send().await?;
        let status = r.status();
        let body = r.text().await?;
        anyhow::ensure!(status == 200, "{status}: {}", head(&body, 500));
        let (records, next) = match self {
            Target::Rest { .. } => {
                let map: HashMap<String, &RawValue> = parse!(&body, "page")?;
                let records: Vec<&RawValue> = parse!(
                    map.get("records")
                        .ok_or_else(|| anyhow::anyhow!("page without records"))?
                        .get(),
                    "records",
                )?;
                let next: Option<String> = parse!(
                    map.get("next_cursor")
                        .ok_or_else(|| anyhow::anyhow!("page without next_cursor"))?
                        .get(),
                    "next_cursor",
                )?;
                (records.len(), next)
            }
            Target::Graphql { .. } => {
                let data = graphql_data(&body)?;
                let dataset = member(data.get(), "dataset")?;
                anyhow::ensure!(dataset.get() != "null", "no such dataset");
                connection(member(dataset.get(), "records")?.get(), check)?
            }
            Target::Postgraphile { .. } => {
                let data = graphql_data(&body)?;
                connection(member(data.get(), "allEntries")?.get(), check)?
            }
        };
        anyhow::ensure!(
            records == page || (next.is_none() && records <= page),
            "a page of {records} records with more to come"
        );
        Ok((records, body.len(), next))
    }
}

/// One pass of `requests` pages from every client's cursor onwards; returns the figures
/// and where each client stopped.
async fn pass(
    target: &Target,
    opts: &Options,
    starts: Vec<Start>,
    requests: usize,
) -> anyhow::Result<(Figures, Vec<Start>, Vec<Duration>)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.clients)
        .build()?;
    let issued = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(opts.max_secs);
    let mut tasks = Vec::new();
    for (c, start) in starts.into_iter().enumerate() {
        let (client, target, issued, page) =
            (client.clone(), target.clone(), issued.clone(), opts.page);
        tasks.push(tokio::spawn(async move {
            let (mut start, mut records, mut bytes, mut pages) = (start, 0, 0, 0);
            let mut latencies = Vec::new();
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < requests {
                let t = Instant::now();
                let (n, b, next) = target
                    .page(&client, page, &start, pages == 0 && c == 0)
                    .await?;
                latencies.push(t.elapsed());
                (records, bytes, pages) = (records + n, bytes + b, pages + 1);
                start = next.map_or(Start::Beginning, Start::Cursor);
            }
            Ok::<_, anyhow::Error>((start, records, bytes, pages, latencies))
        }));
    }
    let (mut ends, mut all) = (Vec::new(), Vec::new());
    let mut figures = Figures {
        requests: 0,
        records: 0,
        bytes: 0,
        secs: 0.0,
    };
    for t in tasks {
        let (end, records, bytes, pages, latencies) = t.await??;
        ends.push(end);
        all.extend(latencies);
        figures.requests += pages;
        figures.records += records;
        figures.bytes += bytes;
    }
    figures.secs = started.elapsed().as_secs_f64();
    Ok((figures, ends, all))
}

/// Measures one target: clients start spread over the log (`size` entries), a warm-up pass
/// moves them on, then the timed pass continues from there.
pub async fn measure(
    label: &str,
    target: &Target,
    opts: &Options,
    size: i64,
) -> anyhow::Result<Figures> {
    let starts = (0..opts.clients)
        .map(|c| match size * c as i64 / opts.clients as i64 {
            0 => Start::Beginning,
            s => Start::AfterSeq(s - 1),
        })
        .collect();
    let (_, starts, _) = pass(target, opts, starts, opts.warmup.max(opts.clients)).await?;
    let (f, _, mut latencies) = pass(target, opts, starts, opts.requests).await?;
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * p) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "  {label}: {} requests ({} records, {:.0} MB) in {:.2} s = {:.0} requests/s, {:.0} records/s (p50 {:.1} ms, p99 {:.1} ms)",
        f.requests,
        f.records,
        f.bytes as f64 / 1e6,
        f.secs,
        f.requests_per_sec(),
        f.records_per_sec(),
        pct(0.5),
        pct(0.99),
    );
    Ok(f)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => 0.0,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// The whole comparison: `opts.rounds` rounds, each measuring every target in turn (so a
/// change in the machine's other load falls on all of them), then the median per target.
pub async fn run(
    server: &str,
    dataset: &str,
    postgraphile: Option<(String, i64)>,
    opts: &Options,
) -> anyhow::Result<()> {
    let (institution, slug) = dataset
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("--dataset is institution/dataset"))?;
    let ds: Value = reqwest::get(format!("{server}/v1/datasets/{dataset}"))
        .await?
        .json()
        .await?;
    let size = ds["entry_count"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("no entry_count in {ds}"))?;
    let mut targets = Vec::new();
    if !opts.graphql_only {
        let url = format!("{server}/v1/datasets/{dataset}/records");
        targets.push(("REST feed pages", Target::Rest { url }));
    }
    let url = format!("{server}/graphql");
    let (institution, slug) = (institution.to_owned(), slug.to_owned());
    targets.push((
        "civicproof GraphQL records pages",
        Target::Graphql {
            url,
            institution,
            slug,
        },
    ));
    if let Some((url, dataset_id)) = postgraphile.filter(|_| !opts.graphql_only) {
        targets.push((
            "PostGraphile 4.14 allEntries pages",
            Target::Postgraphile { url, dataset_id },
        ));
    }
    let mut figures: Vec<Vec<Figures>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 1..=opts.rounds {
        println!("round {round} of {}:", opts.rounds);
        for ((label, target), got) in targets.iter().zip(&mut figures) {
            got.push(measure(label, target, opts, size).await?);
        }
    }
    let medians: Vec<(f64, f64)> = figures
        .iter()
        .map(|f| {
            (
                median(f.iter().map(Figures::requests_per_sec).collect()),
                median(f.iter().map(Figures::records_per_sec).collect()),
            )
        })
        .collect();
    println!(
        "medians of {} rounds ({} requests each, {} clients, pages of {}):",
        opts.rounds, opts.requests, opts.clients, opts.page
    );
    for ((label, _), (rps, recs)) in targets.iter().zip(&medians) {
        println!("  {label}: {rps:.0} requests/s, {recs:.0} records/s");
    }
    let rps = |label: &str| {
        targets
            .iter()
            .zip(&medians)
            .find(|((l, _), _)| *l == label)
            .map(|(_, m)| m.0)
    };
    let gql = rps("civicproof GraphQL records pages").unwrap_or(0.0);
    if let Some(rest) = rps("REST feed pages") {
        println!(
            "civicproof GraphQL / REST: {:.2}x requests/s (target >= 0.7x)",
            gql / rest
        );
    }
    if let Some(pg) = rps("PostGraphile 4.14 allEntries pages") {
        println!(
            "civicproof GraphQL / PostGraphile: {:.2}x requests/s (target >= 2x)",
            gql / pg
        );
    }
    Ok(())
}
