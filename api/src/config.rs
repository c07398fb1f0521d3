//! Configuration from the environment (a `.env` file may supply it); flags may override.
//! Names and defaults follow API.md's operating table.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Listen address.
    #[arg(long, env = "CIVICPROOF_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// `postgres://…` for PostgreSQL; a file path (or `sqlite://PATH`) for the embedded
    /// SQLite mode, the default.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = civicproof_schema::pool::DEFAULT_SQLITE_PATH
    )]
    pub database_url: String,

    /// Database connections in the pool.
    #[arg(long, env = "CIVICPROOF_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,

    /// PostgreSQL cancels a statement of a pooled connection after this many milliseconds
    /// (0: never); the request answers 503.
    #[arg(
        long,
        env = "CIVICPROOF_DB_STATEMENT_TIMEOUT_MS",
        default_value_t = 15_000
    )]
    pub db_statement_timeout_ms: u64,

    /// The admin bearer token; unset: admin routes answer 401.
    #[arg(long, env = "CIVICPROOF_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Instance prefix (PROTOCOL.md section 1): every dataset origin starts with it.
    #[arg(long, env = "CIVICPROOF_ORIGIN_PREFIX", default_value = "localhost")]
    pub origin_prefix: String,

    /// Public base URL of this server, used in links, `Link` headers and the DCAT catalog.
    /// Default: `http://<bind>`.
    #[arg(long, env = "CIVICPROOF_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Ed25519 log key file, created with mode 0600 on first start.
    #[arg(
        long,
        env = "CIVICPROOF_LOG_KEY_FILE",
        default_value = "./civicproof-data/log.key"
    )]
    pub log_key_file: PathBuf,

    /// Longest wait, in milliseconds, before a grown log is checkpointed.
    #[arg(
        long,
        env = "CIVICPROOF_CHECKPOINT_INTERVAL_MS",
        default_value_t = 1000
    )]
    pub checkpoint_interval_ms: u64,

    /// Witnesses that cosign every new checkpoint (C2SP tlog-witness), comma-separated
    /// `<witness vkey> <submission URL prefix>` pairs. Empty: no witnesses.
    #[arg(long, env = "CIVICPROOF_WITNESSES", default_value = "")]
    pub witnesses: String,

    /// Longest wait for one witness's answer, in milliseconds.
    #[arg(long, env = "CIVICPROOF_WITNESS_TIMEOUT_MS", default_value_t = 5000)]
    pub witness_timeout_ms: u64,

    /// Serve `/metrics` without a token on this separate address (keep it private).
    #[arg(long, env = "CIVICPROOF_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// Apply pending migrations before serving.
    #[arg(long, env = "CIVICPROOF_MIGRATE", default_value_t = false, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub migrate: bool,

    /// Peers whose `X-Forwarded-For` is believed (comma-separated IPs).
    #[arg(long, env = "CIVICPROOF_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    #[command(flatten)]
    pub limits: Limits,

    #[command(flatten)]
    pub anchor: crate::anchor::settings::AnchorSettings,
    /// Redis, caches, rate limits and live feeds.
    #[command(flatten)]
    pub cluster: crate::cluster::config::ClusterConfig,
}

/// Request and data limits (API.md, Conventions: Limits).
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Largest request body in bytes (413 above it).
    #[arg(long, env = "CIVICPROOF_MAX_BODY_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest `JCS(payload)` in bytes (422 with the record's index above it).
    #[arg(long, env = "CIVICPROOF_MAX_PAYLOAD_BYTES", default_value_t = 64 * 1024)]
    pub max_payload_bytes: usize,

    /// Most records in one publishing request.
    #[arg(long, env = "CIVICPROOF_MAX_BATCH_RECORDS", default_value_t = 10_000)]
    pub max_batch_records: usize,

    /// Largest page a feed or list request may ask for.
    #[arg(long, env = "CIVICPROOF_MAX_PAGE_SIZE", default_value_t = 1_000)]
    pub max_page_size: usize,

    /// Largest dataset JSON Schema in bytes (canonical form).
    #[arg(long, env = "CIVICPROOF_MAX_SCHEMA_BYTES", default_value_t = 64 * 1024)]
    pub max_schema_bytes: usize,

    /// How long a record's `dedup_key` is held at least, in seconds. Beyond it a key is
    /// forgotten only once its dataset holds `DEDUP_KEEP_NEWEST` newer ones (maintenance.rs).
    #[arg(long, env = "CIVICPROOF_DEDUP_WINDOW_SECS", default_value_t = 3600)]
    pub dedup_window_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 * 1024 * 1024,
            max_payload_bytes: 64 * 1024,
            max_batch_records: 10_000,
            max_page_size: 1_000,
            max_schema_bytes: 64 * 1024,
            dedup_window_secs: 3600,
        }
    }
}

impl Config {
    /// A configuration for tests and embedding: everything default but the database.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            db_pool_size: 8,
            db_statement_timeout_ms: 15_000,
            admin_token: None,
            origin_prefix: "localhost".into(),
            public_url: None,
            log_key_file: PathBuf::from("./civicproof-data/log.key"),
            checkpoint_interval_ms: 1000,
            witnesses: String::new(),
            witness_timeout_ms: 5000,
            metrics_bind: None,
            migrate: false,
            trusted_proxies: Vec::new(),
            limits: Limits::default(),
            anchor: Default::default(),
            cluster: Default::default(),
        }
    }

    /// Whether checkpoints are submitted to witnesses.
    pub fn witnesses_configured(&self) -> bool {
        !self.witnesses.trim().is_empty()
    }

    /// Checks what clap cannot: the origin prefix grammar of PROTOCOL.md section 1.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !is_valid_prefix(&self.origin_prefix) {
            anyhow::bail!(
                "CIVICPROOF_ORIGIN_PREFIX {:?} does not match ^[a-z0-9.-]+(:[0-9]{{1,5}})?(/[a-z0-9._~-]+)*$",
                self.origin_prefix
            );
        }
        parse_endpoints(&self.witnesses).map_err(anyhow::Error::msg)?;
        if self.limits.max_page_size == 0 || self.limits.max_batch_records == 0 {
            anyhow::bail!("page size and batch limits must be at least 1");
        }
        Ok(())
    }
}

/// One configured witness: its pinned identity and its submission URL prefix.
#[derive(Debug, Clone)]
pub struct WitnessEndpoint {
    pub witness: civicproof_verify::cosignature::Witness,
    /// Without a trailing slash; requests go to `<url>/add-checkpoint`.
    pub url: String,
}

/// Parses `CIVICPROOF_WITNESSES`: comma-separated `<witness vkey> <submission URL prefix>`.
pub fn parse_endpoints(setting: &str) -> Result<Vec<WitnessEndpoint>, String> {
    let mut out: Vec<WitnessEndpoint> = Vec::new();
    for entry in setting.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut parts = entry.split_whitespace();
        let (Some(vkey), Some(url), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "CIVICPROOF_WITNESSES entry {entry:?} is not \"<witness vkey> <URL>\""
            ));
        };
        let witness =
            civicproof_verify::cosignature::Witness::from_vkey(vkey).map_err(|e| e.to_string())?;
        let parsed = url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"));
        if parsed.is_none() {
            return Err(format!("witness URL {url:?} is not an http(s) URL"));
        }
        if out.iter().any(|e| e.witness.name == witness.name) {
            return Err(format!("witness {} is configured twice", witness.name));
        }
        // One key under two names would count as two witnesses in no verifier's policy (a
        // cosignature/v1 does not cover the name), and is a copy-paste slip.
        if let Some(e) = out
            .iter()
            .find(|e| e.witness.public_key == witness.public_key)
        {
            return Err(format!(
                "witnesses {} and {} have the same key",
                e.witness.name, witness.name
            ));
        }
        out.push(WitnessEndpoint {
            witness,
            url: url.trim_end_matches('/').to_owned(),
        });
    }
    Ok(out)
}

/// `^[a-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9._~-]+)*$`
pub fn is_valid_prefix(prefix: &str) -> bool {
    let (host_port, path) = match prefix.find('/') {
        Some(i) => (&prefix[..i], &prefix[i..]),
        None => (prefix, ""),
    };
    let (host, port) = match host_port.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (host_port, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    let path_ok = path.is_empty()
        || path[1..].split('/').all(|seg| {
            !seg.is_empty()
                && seg.bytes().all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || matches!(b, b'.' | b'_' | b'~' | b'-')
                })
        });
    host_ok && port_ok && path_ok
}

/// `^[a-z0-9][a-z0-9-]{0,62}$`
pub fn is_valid_slug(slug: &str) -> bool {
    let bytes = slug.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_the_grammar() {
        for ok in [
            "localhost",
            "data.katowice.example",
            "a.b:8080",
            "x.org/city/v1",
            "h:1/a_b~c",
        ] {
            assert!(is_valid_prefix(ok), "{ok}");
        }
        for bad in [
            "",
            "Data.example",
            "a:123456",
            "a:",
            "a/",
            "a//b",
            "a/B",
            "a b",
            "https://a",
        ] {
            assert!(!is_valid_prefix(bad), "{bad}");
        }
    }

    #[test]
    fn slugs_follow_the_grammar() {
        assert!(is_valid_slug("air-quality"));
        assert!(is_valid_slug("0"));
        assert!(is_valid_slug(&"a".repeat(63)));
        for bad in ["", "-a", "A", "a_b", "ą", &"a".repeat(64)] {
            assert!(!is_valid_slug(bad), "{bad}");
        }
    }
}
