//! Prometheus metrics, served at `/metrics` in the text exposition format: requests by
//! route and status, request latency by route, shares by outcome, chain call latency, the
//! last block the indexer has read, and key releases to other nodes with their chain
//! records.

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};
use std::{sync::Arc, time::Instant};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

/// What happened to a share request, for `datamgmt_shares_total`.
#[derive(Debug, Clone, Copy)]
pub enum ShareOutcome {
    /// Stored and recorded on chain.
    Recorded,
    /// Stored; the chain call failed and waits in the outbox.
    Pending,
    /// The contract refused it; nothing kept.
    Refused,
}

/// The relay's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    shares: Family<OutcomeLabels, Counter>,
    chain_calls: Histogram,
    indexed_block: Gauge,
    chain_writer: Gauge,
    key_releases: Counter,
    release_records: Family<OutcomeLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 33 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("datamgmt");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register("http_request_duration_seconds", "HTTP request latency", latency.clone());
        let shares = Family::<OutcomeLabels, Counter>::default();
        registry.register("shares", "share requests by outcome", shares.clone());
        let chain_calls = latency_histogram();
        registry.register(
            "chain_call_duration_seconds",
            "contract calls from submission to inclusion",
            chain_calls.clone(),
        );
        let indexed_block = Gauge::default();
        registry.register("indexed_block", "last finalized block indexed", indexed_block.clone());
        let chain_writer = Gauge::default();
        registry.register(
            "chain_writer",
            "1 while this replica holds the chain writer lease (records, outbox, indexer)",
            chain_writer.clone(),
        );
        let key_releases = Counter::default();
        registry.register(
            "key_releases",
            "envelopes released to recipients (each written to the outbox first)",
            key_releases.clone(),
        );
        let release_records = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "release_records",
            "key releases recorded on chain, or refused by the contract",
            release_records.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                latency,
                shares,
                chain_calls,
                indexed_block,
                chain_writer,
                key_releases,
                release_records,
            }),
        }
    }
}

impl Metrics {
    /// Counts a share request's outcome.
    pub fn share(&self, outcome: ShareOutcome) {
        let outcome = match outcome {
            ShareOutcome::Recorded => "recorded",
            ShareOutcome::Pending => "pending",
            ShareOutcome::Refused => "refused",
        };
        self.inner.shares.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
    }

    /// Records how long a contract call took.
    pub fn chain_call(&self, started: Instant) {
        self.inner.chain_calls.observe(started.elapsed().as_secs_f64());
    }

    /// Counts an envelope released to a recipient.
    pub fn record_key_release(&self) {
        self.inner.key_releases.inc();
    }

    /// Counts key releases' chain records: `recorded` landed, `recorded_earlier` found
    /// landed by a batch whose writer never learned it, `refused` refused by the contract.
    pub fn record_release_records(&self, recorded: u64, recorded_earlier: u64, refused: u64) {
        let outcomes =
            [("recorded", recorded), ("recorded_earlier", recorded_earlier), ("refused", refused)];
        for (outcome, count) in outcomes {
            if count > 0 {
                self.inner
                    .release_records
                    .get_or_create(&OutcomeLabels { outcome: outcome.to_owned() })
                    .inc_by(count);
            }
        }
    }

    /// Records whether this replica holds the chain writer lease.
    pub fn chain_writer(&self, holding: bool) {
        self.inner.chain_writer.set(i64::from(holding));
    }

    /// Records the last block the indexer has read.
    pub fn indexed_block(&self, block: u64) {
        self.inner.indexed_block.set(i64::try_from(block).unwrap_or(i64::MAX));
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.inner.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Middleware: counts and times every request by its route template.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    // Clients choose methods: only the standard ones get a label of their own, so the
    // metric's size stays bounded.
    let method = match request.method().as_str() {
        known @ ("GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "OPTIONS" | "PATCH") => known,
        _ => "other",
    }
    .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let inner = &metrics.inner;
    inner.requests.get_or_create(&RequestLabels { method, route: route.clone(), status }).inc();
    inner.latency.get_or_create(&RouteLabels { route }).observe(started.elapsed().as_secs_f64());
    response
}
