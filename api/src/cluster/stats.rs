//! Cache hit counters and their ratios, exported to `/metrics`.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, IntCounterVec, Opts};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Hits and misses of one cache.
#[derive(Debug, Default)]
pub struct CacheCounters {
    /// Answered from process memory.
    pub local: AtomicU64,
    /// Answered from Redis.
    pub redis: AtomicU64,
    /// Computed from PostgreSQL.
    pub miss: AtomicU64,
}

impl CacheCounters {
    pub fn hit_local(&self) {
        self.local.fetch_add(1, Ordering::Relaxed);
    }
    pub fn hit_redis(&self) {
        self.redis.fetch_add(1, Ordering::Relaxed);
    }
    pub fn missed(&self) {
        self.miss.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
pub struct CacheStats {
    pub bundles: CacheCounters,
    pub feed_pages: CacheCounters,
    /// Whether Redis answered the last probe (absent without Redis).
    pub redis_configured: bool,
    pub redis_up: Arc<AtomicBool>,
    pub rate_limited: AtomicU64,
    pub sse_clients: AtomicU64,
}

/// Collects `cache_requests_total{cache,result}`, `cache_hit_ratio{cache}`, `redis_up`,
/// `rate_limited_total` and `sse_clients` at scrape time.
pub struct StatsCollector {
    pub stats: Arc<CacheStats>,
    descs: Vec<Desc>,
}

impl StatsCollector {
    pub fn new(stats: Arc<CacheStats>) -> Self {
        let descs = Self::families(&stats)
            .iter()
            .flat_map(|f| f.desc().into_iter().cloned().collect::<Vec<_>>())
            .collect();
        Self { stats, descs }
    }

    fn families(stats: &CacheStats) -> Vec<Box<dyn Collector>> {
        let requests = IntCounterVec::new(
            Opts::new(
                "cache_requests_total",
                "Cache lookups by cache and where they were answered (local, redis, miss)",
            ),
            &["cache", "result"],
        )
        .expect("valid metric");
        let ratio = GaugeVec::new(
            Opts::new(
                "cache_hit_ratio",
                "Share of lookups answered from a cache (process memory or Redis) since start",
            ),
            &["cache"],
        )
        .expect("valid metric");
        for (name, c) in [
            ("bundles", &stats.bundles),
            ("feed_pages", &stats.feed_pages),
        ] {
            let (l, r, m) = (
                c.local.load(Ordering::Relaxed),
                c.redis.load(Ordering::Relaxed),
                c.miss.load(Ordering::Relaxed),
            );
            requests.with_label_values(&[name, "local"]).inc_by(l);
            requests.with_label_values(&[name, "redis"]).inc_by(r);
            requests.with_label_values(&[name, "miss"]).inc_by(m);
            let total = l + r + m;
            ratio.with_label_values(&[name]).set(if total == 0 {
                0.0
            } else {
                (l + r) as f64 / total as f64
            });
        }
        let up = prometheus::IntGauge::new(
            "redis_up",
            "1 when Redis answers, 0 when it does not, -1 when none is configured",
        )
        .expect("valid metric");
        up.set(
            match (
                stats.redis_configured,
                stats.redis_up.load(Ordering::Relaxed),
            ) {
                (false, _) => -1,
                (true, true) => 1,
                (true, false) => 0,
            },
        );
        let limited = prometheus::IntCounter::new(
            "rate_limited_total",
            "Requests answered 429 by the rate limiter",
        )
        .expect("valid metric");
        limited.inc_by(stats.rate_limited.load(Ordering::Relaxed));
        let sse = prometheus::IntGauge::new("sse_clients", "Open Server-Sent Events streams")
            .expect("valid metric");
        sse.set(stats.sse_clients.load(Ordering::Relaxed) as i64);
        vec![
            Box::new(requests),
            Box::new(ratio),
            Box::new(up),
            Box::new(limited),
            Box::new(sse),
        ]
    }
}

impl Collector for StatsCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        Self::families(&self.stats)
            .iter()
            .flat_map(|c| c.collect())
            .collect()
    }
}
