//! `civicproof serve` as an OS process of its own, started from a [`Config`].

use super::db::uuid_like;
use civicproof_api::Config;
use std::net::TcpListener;
use std::path::PathBuf;

/// A `civicproof serve` OS process (the binary `./run test` builds before the suite), started
/// from a [`Config`] rendered into its environment. Nothing is inherited from this process's
/// environment, so a `DATABASE_URL` or `REDIS_URL` set around the test run cannot leak in.
pub struct ServerProcess {
    pub(crate) child: std::process::Child,
    pub base: String,
    log: PathBuf,
}

/// The `civicproof` binary as a command (operator commands run against a test's database).
pub fn civicproof_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(ServerProcess::binary());
    cmd.env_clear().env("NO_COLOR", "1").env("RUST_LOG", "warn");
    cmd
}

impl ServerProcess {
    pub(crate) fn binary() -> PathBuf {
        if let Some(p) = std::env::var_os("CIVICPROOF_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().unwrap();
        let bin = exe
            .parent()
            .and_then(|d| d.parent())
            .unwrap()
            .join("civicproof");
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build -p civicproof-api --bin civicproof` (./run test does)",
            bin.display()
        );
        bin
    }

    pub(crate) fn start(config: &Config) -> Self {
        // A free port: bound, released, then handed to the child (which binds it at once).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(config, port)
    }

    pub(crate) fn start_on(config: &Config, port: u16) -> Self {
        let log = std::env::temp_dir().join(format!("civicproof-replica-{}.log", uuid_like()));
        let mut cmd = std::process::Command::new(Self::binary());
        cmd.arg("serve")
            .env_clear()
            .envs(config_env(config))
            .env("CIVICPROOF_BIND", format!("127.0.0.1:{port}"))
            .env("NO_COLOR", "1")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .current_dir(std::env::temp_dir())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("starting civicproof serve");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Panics with the process's log if it has exited.
    pub(crate) fn check_running(&self) {
        // `try_wait` needs `&mut`; `/proc` says the same without reaping.
        let status =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let state = status
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if matches!(state, None | Some('Z') | Some('X')) {
            panic!(
                "civicproof serve exited:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }

    /// SIGTERM, then waits for the drain (SIGKILL after 20 s); the log goes when it exited 0.
    pub(crate) fn stop(&mut self) -> Result<(), String> {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => {
                    let _ = std::fs::remove_file(&self.log);
                    return Ok(());
                }
                Ok(Some(status)) => {
                    return Err(format!(
                        "civicproof serve exited with {status}:\n{}",
                        std::fs::read_to_string(&self.log).unwrap_or_default()
                    ));
                }
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err("civicproof serve did not drain within 20 s".into());
                }
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The environment that makes `civicproof serve` run with `config` (API.md's operating
/// table). Every field is named, so a new setting fails to compile here until it is passed on.
fn config_env(config: &Config) -> Vec<(&'static str, String)> {
    use civicproof_api::cluster::config::{ClusterConfig, FailMode, RateSpec};
    let Config {
        bind: _,
        database_url,
        db_pool_size,
        db_statement_timeout_ms,
        admin_token,
        origin_prefix,
        public_url,
        log_key_file,
        checkpoint_interval_ms,
        witnesses,
        witness_timeout_ms,
        metrics_bind,
        migrate,
        trusted_proxies,
        limits,
        anchor,
        cluster,
    } = config;
    let civicproof_api::config::Limits {
        max_body_bytes,
        max_payload_bytes,
        max_batch_records,
        max_page_size,
        max_schema_bytes,
        dedup_window_secs,
    } = limits;
    let civicproof_api::anchor::settings::AnchorSettings {
        rpc_url,
        chain_id,
        contract,
        deploy,
        key_file,
        key,
        interval_ms,
        fee_bump_secs,
        confirmations,
    } = anchor;
    let ClusterConfig {
        redis_url,
        rate_limit_admin,
        rate_limit_publisher,
        rate_limit_reader,
        rate_limit_anonymous,
        rate_limit_fail,
        bundle_cache_entries,
        bundle_cache_ttl_secs,
        feed_cache_bytes,
        tile_cache_bytes,
        sse_heartbeat_ms,
        max_streams_per_client,
    } = cluster;
    let rate = |r: &RateSpec| match r {
        RateSpec::Off => "off".to_owned(),
        RateSpec::Limit { count, window } => {
            let unit = match window.as_secs() {
                1 => "s",
                60 => "m",
                3600 => "h",
                other => panic!("no rate unit for a {other} s window"),
            };
            format!("{count}/{unit}")
        }
    };
    let mut env = vec![
        ("DATABASE_URL", database_url.clone()),
        ("CIVICPROOF_WITNESSES", witnesses.clone()),
        (
            "CIVICPROOF_WITNESS_TIMEOUT_MS",
            witness_timeout_ms.to_string(),
        ),
        ("CIVICPROOF_DB_POOL_SIZE", db_pool_size.to_string()),
        (
            "CIVICPROOF_DB_STATEMENT_TIMEOUT_MS",
            db_statement_timeout_ms.to_string(),
        ),
        ("CIVICPROOF_ORIGIN_PREFIX", origin_prefix.clone()),
        (
            "CIVICPROOF_LOG_KEY_FILE",
            log_key_file.to_string_lossy().into_owned(),
        ),
        (
            "CIVICPROOF_CHECKPOINT_INTERVAL_MS",
            checkpoint_interval_ms.to_string(),
        ),
        ("CIVICPROOF_MIGRATE", migrate.to_string()),
        ("CIVICPROOF_MAX_BODY_BYTES", max_body_bytes.to_string()),
        (
            "CIVICPROOF_MAX_PAYLOAD_BYTES",
            max_payload_bytes.to_string(),
        ),
        (
            "CIVICPROOF_MAX_BATCH_RECORDS",
            max_batch_records.to_string(),
        ),
        ("CIVICPROOF_MAX_PAGE_SIZE", max_page_size.to_string()),
        ("CIVICPROOF_MAX_SCHEMA_BYTES", max_schema_bytes.to_string()),
        (
            "CIVICPROOF_DEDUP_WINDOW_SECS",
            dedup_window_secs.to_string(),
        ),
        ("CIVICPROOF_ANCHOR_DEPLOY", deploy.to_string()),
        ("CIVICPROOF_ANCHOR_INTERVAL_MS", interval_ms.to_string()),
        ("CIVICPROOF_ANCHOR_FEE_BUMP_SECS", fee_bump_secs.to_string()),
        ("CIVICPROOF_RATE_LIMIT_ADMIN", rate(rate_limit_admin)),
        (
            "CIVICPROOF_RATE_LIMIT_PUBLISHER",
            rate(rate_limit_publisher),
        ),
        ("CIVICPROOF_RATE_LIMIT_READER", rate(rate_limit_reader)),
        (
            "CIVICPROOF_RATE_LIMIT_ANONYMOUS",
            rate(rate_limit_anonymous),
        ),
        (
            "CIVICPROOF_RATE_LIMIT_FAIL",
            match rate_limit_fail {
                FailMode::Open => "open",
                FailMode::Closed => "closed",
            }
            .to_owned(),
        ),
        (
            "CIVICPROOF_BUNDLE_CACHE_ENTRIES",
            bundle_cache_entries.to_string(),
        ),
        (
            "CIVICPROOF_BUNDLE_CACHE_TTL_SECS",
            bundle_cache_ttl_secs.to_string(),
        ),
        ("CIVICPROOF_FEED_CACHE_BYTES", feed_cache_bytes.to_string()),
        ("CIVICPROOF_TILE_CACHE_BYTES", tile_cache_bytes.to_string()),
        ("CIVICPROOF_SSE_HEARTBEAT_MS", sse_heartbeat_ms.to_string()),
        (
            "CIVICPROOF_MAX_STREAMS_PER_CLIENT",
            max_streams_per_client.to_string(),
        ),
    ];
    let optional = [
        ("CIVICPROOF_ADMIN_TOKEN", admin_token.clone()),
        ("CIVICPROOF_PUBLIC_URL", public_url.clone()),
        (
            "CIVICPROOF_METRICS_BIND",
            metrics_bind.map(|a| a.to_string()),
        ),
        (
            "CIVICPROOF_TRUSTED_PROXIES",
            (!trusted_proxies.is_empty()).then(|| {
                trusted_proxies
                    .iter()
                    .map(|ip| ip.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            }),
        ),
        ("CIVICPROOF_CHAIN_RPC_URL", rpc_url.clone()),
        ("CIVICPROOF_CHAIN_ID", chain_id.map(|c| c.to_string())),
        ("CIVICPROOF_ANCHOR_CONTRACT", contract.clone()),
        (
            "CIVICPROOF_ANCHOR_KEY_FILE",
            key_file.as_ref().map(|p| p.to_string_lossy().into_owned()),
        ),
        ("CIVICPROOF_ANCHOR_KEY", key.clone()),
        (
            "CIVICPROOF_ANCHOR_CONFIRMATIONS",
            confirmations.map(|c| c.to_string()),
        ),
        ("REDIS_URL", redis_url.clone()),
    ];
    env.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    env
}
