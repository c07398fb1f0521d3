//! Prometheus metrics. Labels carry route patterns, never dataset names, so restricted
//! datasets leave no trace here.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub records_published: IntCounter,
    pub batches_published: IntCounter,
    pub erasures: IntCounter,
    pub checkpoints_signed: IntCounter,
    pub signing_halts: IntCounter,
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
        let records_published =
            IntCounter::new("records_published_total", "Records appended").expect("valid metric");
        let batches_published =
            IntCounter::new("publish_batches_total", "Publishing requests that appended")
                .expect("valid metric");
        let erasures = IntCounter::new("erasures_total", "Records erased").expect("valid metric");
        let checkpoints_signed = IntCounter::new("checkpoints_signed_total", "Checkpoints signed")
            .expect("valid metric");
        let signing_halts = IntCounter::new(
            "signing_halts_total",
            "Origins halted because their tree was inconsistent with their last checkpoint (alert on > 0)",
        )
        .expect("valid metric");
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(records_published.clone()),
            Box::new(batches_published.clone()),
            Box::new(erasures.clone()),
            Box::new(checkpoints_signed.clone()),
            Box::new(signing_halts.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            records_published,
            batches_published,
            erasures,
            checkpoints_signed,
            signing_halts,
        }
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
