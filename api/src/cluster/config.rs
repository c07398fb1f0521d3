//! Configuration of the shared layer: Redis, caches, rate limits and live feeds.

use clap::Args;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct ClusterConfig {
    /// `redis://…`; unset: in-process cache, rate limiter and fan-out (one process).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Rate limit per admin token: `<requests>/<s|m|h>` (the count is also the burst) or `off`.
    #[arg(long, env = "CIVICPROOF_RATE_LIMIT_ADMIN", default_value = "off")]
    pub rate_limit_admin: RateSpec,

    /// Rate limit per publisher token.
    #[arg(
        long,
        env = "CIVICPROOF_RATE_LIMIT_PUBLISHER",
        default_value = "12000/m"
    )]
    pub rate_limit_publisher: RateSpec,

    /// Rate limit per reader token.
    #[arg(long, env = "CIVICPROOF_RATE_LIMIT_READER", default_value = "12000/m")]
    pub rate_limit_reader: RateSpec,

    /// Rate limit per client address for requests without a token.
    #[arg(
        long,
        env = "CIVICPROOF_RATE_LIMIT_ANONYMOUS",
        default_value = "6000/m"
    )]
    pub rate_limit_anonymous: RateSpec,

    /// When Redis is down: `open` limits each replica on its own, `closed` answers 503.
    #[arg(long, env = "CIVICPROOF_RATE_LIMIT_FAIL", default_value = "open")]
    pub rate_limit_fail: FailMode,

    /// Proof bundles kept in process memory (each a few KB); 0 turns the cache off.
    #[arg(
        long,
        env = "CIVICPROOF_BUNDLE_CACHE_ENTRIES",
        default_value_t = 100_000
    )]
    pub bundle_cache_entries: usize,

    /// Seconds a proof bundle stays in Redis.
    #[arg(
        long,
        env = "CIVICPROOF_BUNDLE_CACHE_TTL_SECS",
        default_value_t = 86_400
    )]
    pub bundle_cache_ttl_secs: u64,

    /// Bytes of feed pages kept in process memory; 0 turns the page cache off.
    #[arg(long, env = "CIVICPROOF_FEED_CACHE_BYTES", default_value_t = 64 << 20)]
    pub feed_cache_bytes: usize,

    /// Bytes of full tlog tiles kept in process memory (8 KiB a hash tile); 0 turns the tile
    /// cache off.
    #[arg(long, env = "CIVICPROOF_TILE_CACHE_BYTES", default_value_t = 64 << 20)]
    pub tile_cache_bytes: usize,

    /// Milliseconds between heartbeat comments on idle Server-Sent Events streams.
    #[arg(long, env = "CIVICPROOF_SSE_HEARTBEAT_MS", default_value_t = 15_000)]
    pub sse_heartbeat_ms: u64,

    /// Live connections (Server-Sent Events streams, GraphQL WebSockets) one client may hold
    /// open on one replica: per token, or per client address without one.
    #[arg(long, env = "CIVICPROOF_MAX_STREAMS_PER_CLIENT", default_value_t = 64)]
    pub max_streams_per_client: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            rate_limit_admin: RateSpec::Off,
            rate_limit_publisher: RateSpec::per(12_000, Duration::from_secs(60)),
            rate_limit_reader: RateSpec::per(12_000, Duration::from_secs(60)),
            rate_limit_anonymous: RateSpec::per(6_000, Duration::from_secs(60)),
            rate_limit_fail: FailMode::Open,
            bundle_cache_entries: 100_000,
            bundle_cache_ttl_secs: 86_400,
            feed_cache_bytes: 64 << 20,
            tile_cache_bytes: 64 << 20,
            sse_heartbeat_ms: 15_000,
            max_streams_per_client: 64,
        }
    }
}

/// `N/s`, `N/m`, `N/h` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateSpec {
    Off,
    Limit { count: u32, window: Duration },
}

impl RateSpec {
    pub fn per(count: u32, window: Duration) -> Self {
        Self::Limit { count, window }
    }
}

impl FromStr for RateSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        let err = || format!("{s:?} is not `off` or `<requests>/<s|m|h>`");
        let (n, unit) = s.split_once('/').ok_or_else(err)?;
        let count: u32 = n.trim().parse().map_err(|_| err())?;
        let window = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(err()),
        };
        if count == 0 {
            return Err(err());
        }
        Ok(Self::Limit { count, window })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailMode {
    Open,
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_specs_parse() {
        assert_eq!("off".parse::<RateSpec>(), Ok(RateSpec::Off));
        assert_eq!(
            "100/m".parse::<RateSpec>(),
            Ok(RateSpec::per(100, Duration::from_secs(60)))
        );
        for bad in ["", "0/s", "10", "10/d", "x/s", "-1/s"] {
            assert!(bad.parse::<RateSpec>().is_err(), "{bad}");
        }
    }
}
