//! The connection to a civicproof server: base URL, bearer token (never printed, never in a
//! URL), retries with exponential backoff, and RFC 9457 problem documents turned into text.

use super::Failure;
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// Where the server is and who the caller is; flattened into every client command.
#[derive(clap::Args, Clone)]
pub struct ServerArgs {
    /// Base URL of the civicproof server.
    #[arg(
        long,
        env = "CIVICPROOF_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// Bearer token (publisher token to publish; reader token for restricted datasets).
    /// Prefer `--token-file`: a token on the command line ends up in shell history.
    #[arg(long, env = "CIVICPROOF_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the bearer token (surrounding whitespace ignored); wins over `--token`.
    #[arg(long, env = "CIVICPROOF_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Attempts after the first on network errors, 409 (in flight), 429, 502, 503 and 504.
    #[arg(long, default_value_t = 8)]
    pub retries: u32,
    /// Timeout of one HTTP request, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// An HTTP answer read in full.
pub struct Answer {
    pub status: StatusCode,
    /// `Idempotent-Replayed: true`: the server answered from its idempotency store.
    pub replayed: bool,
    /// `Retry-After` in seconds (capped at 5 minutes).
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Result<Value, Failure> {
        serde_json::from_slice(&self.body).map_err(|_| {
            Failure::Unavailable(format!(
                "the server answered {} with a body that is not JSON",
                self.status
            ))
        })
    }

    /// `HTTP 422 Validation failed: detail` from a problem document (or the bare status).
    pub fn problem_text(&self) -> String {
        let problem: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        let title = problem["title"]
            .as_str()
            .or(self.status.canonical_reason())
            .unwrap_or("");
        match problem["detail"].as_str() {
            Some(detail) if !detail.is_empty() => {
                format!("HTTP {} {title}: {detail}", self.status.as_u16())
            }
            _ => format!("HTTP {} {title}", self.status.as_u16()),
        }
    }

    /// The last segment of the problem `type` (`validation-failed`, …).
    pub fn problem_code(&self) -> Option<String> {
        let problem: Value = serde_json::from_slice(&self.body).ok()?;
        let ty = problem["type"].as_str()?;
        Some(ty.rsplit('/').next().unwrap_or(ty).to_owned())
    }
}

/// A client of one server.
pub struct Api {
    base: Url,
    token: Option<String>,
    client: Client,
    retries: u32,
    /// Retries made so far (reported in summaries).
    retried: std::cell::Cell<u64>,
}

impl Api {
    pub fn new(args: &ServerArgs) -> Result<Self, Failure> {
        let mut base = Url::parse(&args.server)
            .map_err(|e| Failure::Usage(format!("--server `{}`: {e}", args.server)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Failure::Usage(format!(
                "--server `{}` is not an http(s) URL",
                args.server
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let token = match &args.token_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| Failure::Usage(format!("--token-file {}: {e}", path.display())))?
                    .trim()
                    .to_owned(),
            ),
            None => args.token.as_ref().map(|t| t.trim().to_owned()),
        }
        .filter(|t| !t.is_empty());
        if let Some(t) = &token
            && !t.bytes().all(|b| (0x21..=0x7e).contains(&b))
        {
            return Err(Failure::Usage(
                "the token holds characters a bearer token cannot have".into(),
            ));
        }
        let client = Client::builder()
            .timeout(Duration::from_secs(args.timeout.max(1)))
            .user_agent(concat!("civicproof-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::Usage(format!("cannot start the HTTP client: {e}")))?;
        Ok(Self {
            base,
            token,
            client,
            retries: args.retries,
            retried: std::cell::Cell::new(0),
        })
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The URL of `segments` under the base URL (each segment percent-encoded).
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().expect("checked in new");
            path.pop_if_empty();
            path.extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// GET with retries; 2xx answers parsed as JSON, anything else a [`Failure`].
    pub fn get_json(&self, url: Url, what: &str) -> Result<Value, Failure> {
        let answer = self.get(url, what)?;
        if answer.status.is_success() {
            answer.json()
        } else {
            Err(rejected(what, &answer))
        }
    }

    /// GET with retries, any status.
    pub fn get(&self, url: Url, what: &str) -> Result<Answer, Failure> {
        self.send(what, || self.client.get(url.clone()))
    }

    /// Sends a request built by `build` (rebuilt for every attempt) with the token, retrying
    /// network errors, 409 (in flight), 429, 502, 503 and 504 with exponential backoff that
    /// honours `Retry-After`. Other statuses come back as they are.
    pub fn send(&self, what: &str, build: impl Fn() -> RequestBuilder) -> Result<Answer, Failure> {
        let mut attempt: u32 = 0;
        loop {
            let mut request = build();
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let problem = match request.send().and_then(read_answer) {
                Ok(answer) if !retryable(answer.status) => return Ok(answer),
                Ok(answer) => (answer.problem_text(), answer.retry_after),
                Err(e) => (describe_network_error(&e), None),
            };
            if attempt >= self.retries {
                return Err(Failure::Unavailable(format!(
                    "{what}: {} (gave up after {} attempts)",
                    problem.0,
                    attempt + 1
                )));
            }
            let wait = problem.1.unwrap_or_else(|| backoff(attempt));
            eprintln!(
                "civicproof: {what}: {}; retrying in {:.1} s ({}/{})",
                problem.0,
                wait.as_secs_f64(),
                attempt + 1,
                self.retries
            );
            std::thread::sleep(wait);
            attempt += 1;
            self.retried.set(self.retried.get() + 1);
        }
    }

    /// How many requests were retried so far.
    pub fn retried(&self) -> u64 {
        self.retried.get()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// A non-2xx answer as a failure: 5xx is the server's trouble (exit 3), the rest a rejection.
pub fn rejected(what: &str, answer: &Answer) -> Failure {
    let text = if answer.status == StatusCode::NOT_FOUND {
        format!(
            "{what}: not found (or not visible with these credentials): {}",
            answer.problem_text()
        )
    } else {
        format!("{what}: {}", answer.problem_text())
    };
    if answer.status.is_server_error() {
        Failure::Unavailable(text)
    } else {
        Failure::Rejected(text)
    }
}

fn read_answer(response: Response) -> reqwest::Result<Answer> {
    let status = response.status();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = response.bytes()?.to_vec();
    Ok(Answer {
        status,
        replayed,
        retry_after: retry_after.map(|s| Duration::from_secs(s.min(300))),
        body,
    })
}

fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 409 | 429 | 502 | 503 | 504)
}

/// 0.5 s, 1 s, 2 s, … capped at 30 s, with up to 25 % jitter so that many clients spread out.
fn backoff(attempt: u32) -> Duration {
    let base = 500u64.saturating_mul(1 << attempt.min(6)).min(30_000);
    let jitter = rand::random_range(0..=base / 4);
    Duration::from_millis(base + jitter)
}

fn describe_network_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "network error"
    };
    let mut text = format!("{kind}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
