//! Prometheus metrics. Labels carry route patterns, never dataset names, so restricted
//! datasets leave no trace here.

use prometheus::core::{Collector, Desc, Describer};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    /// Requests whose response head is not sent yet, by method and route pattern.
    pub http_in_flight: IntGaugeVec,
    pub records_published: IntCounter,
    /// Records whose `dedup_key` named a record appended before.
    pub records_replayed: IntCounter,
    /// NGSI-LD entities received, by outcome (appended, unchanged, stale, error).
    pub ngsi_ld_entities: prometheus::IntCounterVec,
    pub batches_published: IntCounter,
    pub erasures: IntCounter,
    pub checkpoints_signed: IntCounter,
    pub signing_halts: IntCounter,
    /// add-checkpoint submissions by witness and outcome (`cosigned`, `conflict`,
    /// `unavailable`, `refused_inconsistent`, …).
    pub witness_submissions: IntCounterVec,
    /// Unix time of each witness's last stored cosignature.
    pub witness_last_cosigned: IntGaugeVec,
    /// Live followers in this process (SSE streams and GraphQL subscriptions), set when the
    /// metrics are rendered.
    pub live_followers: IntGauge,
    /// Statements run on pooled database connections; the pool counts into it (see
    /// `civicproof_schema::connect_counted`) and `db_queries_total` reads it when gathered.
    pub db_queries: Arc<AtomicU64>,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("civicproof".into()), None).expect("valid prefix");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route pattern, method and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to response head by route pattern",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["method", "route"],
        )
        .expect("valid metric");
        let http_in_flight = IntGaugeVec::new(
            Opts::new(
                "http_requests_in_flight",
                "Requests being handled (response head not sent yet) by route pattern",
            ),
            &["method", "route"],
        )
        .expect("valid metric");
        let records_published =
            IntCounter::new("records_published_total", "Records appended").expect("valid metric");
        let records_replayed = IntCounter::new(
            "records_replayed_total",
            "Records answered by their dedup_key with a record appended before",
        )
        .expect("valid metric");
        let ngsi_ld_entities = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "ngsi_ld_entities_total",
                "NGSI-LD entities received, by outcome",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let batches_published =
            IntCounter::new("publish_batches_total", "Publishing requests that appended")
                .expect("valid metric");
        let erasures = IntCounter::new("erasures_total", "Records erased").expect("valid metric");
        let witness_submissions = IntCounterVec::new(
            Opts::new(
                "witness_submissions_total",
                "Checkpoints submitted to witnesses, by witness and outcome",
            ),
            &["witness", "outcome"],
        )
        .expect("valid metric");
        let witness_last_cosigned = IntGaugeVec::new(
            Opts::new(
                "witness_last_cosigned_timestamp_seconds",
                "Unix time of the last cosignature stored, by witness",
            ),
            &["witness"],
        )
        .expect("valid metric");
        let checkpoints_signed = IntCounter::new("checkpoints_signed_total", "Checkpoints signed")
            .expect("valid metric");
        let signing_halts = IntCounter::new(
            "signing_halts_total",
            "Origins halted because their tree was inconsistent with their last checkpoint (alert on > 0)",
        )
        .expect("valid metric");
        let live_followers = IntGauge::new(
            "live_followers",
            "Live feed followers (SSE streams and GraphQL subscriptions) in this process",
        )
        .expect("valid metric");
        let db_queries = Arc::new(AtomicU64::new(0));
        let db_queries_total = AtomicCounter::new(
            Opts::new(
                "db_queries_total",
                "Statements run on pooled database connections",
            ),
            db_queries.clone(),
        );
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(http_in_flight.clone()),
            Box::new(records_published.clone()),
            Box::new(records_replayed.clone()),
            Box::new(ngsi_ld_entities.clone()),
            Box::new(batches_published.clone()),
            Box::new(erasures.clone()),
            Box::new(checkpoints_signed.clone()),
            Box::new(witness_submissions.clone()),
            Box::new(witness_last_cosigned.clone()),
            Box::new(signing_halts.clone()),
            Box::new(live_followers.clone()),
            Box::new(db_queries_total),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            http_in_flight,
            records_published,
            records_replayed,
            ngsi_ld_entities,
            batches_published,
            erasures,
            checkpoints_signed,
            signing_halts,
            witness_submissions,
            witness_last_cosigned,
            live_followers,
            db_queries,
        }
    }

    /// Registers a collector owned elsewhere (anchoring, caches) on this registry.
    pub fn register(&self, c: Box<dyn Collector>) -> prometheus::Result<()> {
        self.registry.register(c)
    }

    /// The text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding to a Vec cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// One request counted in `http_requests_in_flight` until dropped: when its response head
/// is ready, or when the client went away and actix dropped the handler.
pub struct InFlight(IntGauge);

impl InFlight {
    pub fn enter(metrics: &Metrics, method: &str, route: &str) -> Self {
        let gauge = metrics.http_in_flight.with_label_values(&[method, route]);
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A counter whose value lives in an atomic updated elsewhere, read at gather time.
struct AtomicCounter {
    opts: Opts,
    desc: Desc,
    value: Arc<AtomicU64>,
}

impl AtomicCounter {
    fn new(opts: Opts, value: Arc<AtomicU64>) -> Self {
        let desc = opts.describe().expect("valid metric");
        Self { opts, desc, value }
    }
}

impl Collector for AtomicCounter {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let counter = IntCounter::with_opts(self.opts.clone()).expect("valid metric");
        counter.inc_by(self.value.load(Ordering::Relaxed));
        counter.collect()
    }
}
