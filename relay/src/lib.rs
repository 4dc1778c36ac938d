//! The DataMgmt Node relay: a node's server. It encrypts what its organisation shares,
//! stores the envelopes in object storage, records shares on chain, and releases data
//! keys only when the contract allows it.
//!
//! # Layout
//!
//! - [`api`]: the REST API, one module per resource (`shares`, `data`, `listing`,
//!   `verify`, `p2p`, `keys`, `releases`, `health`), with its extractors, parameter
//!   parsing and paging;
//! - [`share`]: making a share (upload → envelope → index → chain), the pending-share
//!   outbox, and revocation, expiry and payment afterwards;
//! - [`read`]: reading data back, own or received, checked against its hash before the
//!   answer completes;
//! - [`release`]: key releases: the owner's decision at the newest block, the gate that
//!   fails closed, the outbox recorder, and the recipient's fetch;
//! - [`chain`]: the chain connection and best-block following, the per-block reads, and
//!   the indexer of finalized events;
//! - [`index`]: the SQLite index, one module per table;
//! - [`keys`]: rotating the node's keys and re-wrapping envelopes onto the newest;
//! - [`storage`]: envelopes in object storage (local filesystem or any S3-compatible
//!   service), written so that nothing is visible until complete;
//! - [`peers`]: calling other nodes' registered endpoints, which anyone can choose;
//! - [`node`]: who this relay is: its account, keyring and registered endpoint;
//! - [`state`]: what handlers share, and the tracker of background tasks;
//! - [`config`]: the TOML configuration and its environment overrides;
//! - [`console`]: the web console's pages and assets, under a strict CSP;
//! - [`auth`]: bearer tokens (stored hashed) with roles;
//! - [`error`]: the API's error type and JSON error shape;
//! - [`rate`]: how often one caller may do one thing;
//! - [`server`]: connections, timeouts, load shedding and request head limits;
//! - [`metrics`]: Prometheus metrics at `/metrics`;
//! - [`time`]: the clock, in the contract's unit;
//! - [`tls`]: HTTPS certificates, and roots trusted for other nodes;
//! - `testing` (feature `testing`): a relay in process for tests and benches.
//!
//! [`app`] builds the router, [`start`] starts the background tasks, [`run`] serves
//! until a shutdown signal and [`stop`] ends the tasks, so tests can drive the router
//! in process or bind `127.0.0.1:0`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod chain;
pub mod config;
pub mod console;
pub mod error;
pub mod index;
pub mod keys;
pub mod metrics;
pub mod node;
pub mod peers;
pub mod rate;
pub mod read;
pub mod release;
pub mod server;
pub mod share;
pub mod state;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
pub mod tls;

use axum::{http::Request, Router};
use state::AppState;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

/// The relay's router over `state`.
pub fn app(state: AppState) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<_>| {
            tracing::info_span!(
                "request",
                method = %request.method(),
                path = %request.uri().path(),
                caller = tracing::field::Empty,
            )
        })
        // A 503 while a dependency is down is expected, not an error of this relay; the
        // cause is logged where it is known.
        .on_failure(DefaultOnFailure::new().level(tracing::Level::WARN));
    let json_limit = api::extract::JsonBodyLimit(state.limits().max_json_body);
    let cors_origins = state.public().cors_origins.clone();
    let console = state.public().console.clone();
    let server_limits = state.settings().server;
    let metrics = state.metrics().clone();
    let metrics_route = Router::new()
        .route("/metrics", axum::routing::get(api::metrics::serve))
        .route("/openapi.json", axum::routing::get(api::openapi::serve))
        .with_state(metrics.clone());
    let mut router = Router::new()
        .merge(api::health::router())
        .merge(api::shares::router())
        .merge(api::data::router())
        .merge(api::p2p::router())
        .merge(api::listing::router())
        .merge(api::keys::router())
        .merge(api::releases::router())
        .merge(api::verify::router())
        .merge(api::contract::router())
        .merge(api::nodes::router())
        .merge(console.map(|console| console.router()).unwrap_or_default())
        .with_state(state)
        .merge(metrics_route)
        .fallback(server::no_route)
        .method_not_allowed_fallback(server::wrong_method);
    // Only with origins configured: the CORS layer answers OPTIONS requests itself.
    if !cors_origins.is_empty() {
        router = router.layer(cors(&cors_origins));
    }
    router
        .layer(axum::Extension(json_limit))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(Duration::from_secs(
            server_limits.body_timeout_secs,
        )))
        .layer(axum::middleware::from_fn_with_state(
            server::InFlight::new(&server_limits),
            server::limit_requests,
        ))
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::track))
        .layer(trace)
}

/// Browsers may call the API from `origins` only (checked when the configuration was
/// read): with a bearer token or without (`GET /contract`), reading the headers a
/// checked answer carries.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    let origins: Vec<HeaderValue> =
        origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()).collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::PUT])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([
            HeaderName::from_static("x-content-sha256"),
            HeaderName::from_static("x-dmn-sender"),
        ])
        .max_age(Duration::from_secs(600))
}

/// Serves the relay on `listener` until `shutdown` completes, then finishes the requests
/// in progress (see [`server`] for the connection limits); HTTPS with `tls`.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.settings().server;
    server::serve(listener, app(state), limits, tls, shutdown).await
}

/// Where the relay's chain is: the node's RPC URL and the contract's address.
#[derive(Clone, Debug)]
pub struct ChainEndpoint {
    /// `ws://` or `wss://` URL of a chain node.
    pub url: String,
    /// The `access` contract.
    pub contract: datamgmt_client::chain::AccountId32,
}

/// How often pending shares are retried.
const OUTBOX_INTERVAL: Duration = Duration::from_secs(5);

/// How often the indexer looks for newly finalized blocks.
const INDEXER_INTERVAL: Duration = Duration::from_secs(1);

/// Which of the optional background tasks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workers {
    /// The pending-share outbox, retrying chain calls that failed.
    pub share_outbox: bool,
    /// The indexer, copying this node's events from finalized blocks.
    pub indexer: bool,
}

impl Workers {
    /// Every task: what a relay runs.
    pub const ALL: Self = Self { share_outbox: true, indexer: true };
    /// Neither: for tests that drive the outbox and the indexer themselves.
    pub const NONE: Self = Self { share_outbox: false, indexer: false };
}

/// Starts every background task of the relay over `state`, on [`AppState::tasks`]:
/// the connection to `chain` (none: the relay stays without one, as in router tests),
/// the index's group writer and the release recorder's watch, and, while this replica
/// holds the chain writer lease ([`index::leases`]), the release recorder and the
/// pending-share outbox and the indexer as `workers` says. Each ends when [`stop`]
/// cancels it.
pub fn start(state: &AppState, chain: Option<ChainEndpoint>, workers: Workers) {
    let tasks = state.tasks();
    let stopping = state.stopping().clone();
    if let Some(ChainEndpoint { url, contract }) = chain {
        let connection = state.chain().clone();
        let node = state.node().clone();
        let submit_lock = state.index().shared_submit_lock();
        tasks.spawn(connection.maintain(url, contract, node, submit_lock, stopping.clone()));
    }
    tasks.spawn(state.index().write_groups(stopping.clone()));
    tasks.spawn(until_stopped(stopping.clone(), release::recorder::watch(state.clone())));
    tasks.spawn(chain_writer(state.clone(), workers, stopping));
}

/// How often the chain writer checks that it still holds its lease, and how often a
/// replica without it tries to take it: the bound on a failover.
const LEASE_EVERY: Duration = Duration::from_millis(500);

/// Runs the chain writer's tasks while this replica holds the lease, and tries to take
/// the lease again whenever it does not, until `stopping` is cancelled. The tasks are
/// stopped before a lost lease is let go, so two replicas never work the outboxes at
/// once by this replica's doing.
async fn chain_writer(state: AppState, workers: Workers, stopping: CancellationToken) {
    while !stopping.is_cancelled() {
        let lease = match state.index().try_writer_lease().await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                let _ = tokio::time::timeout(LEASE_EVERY, stopping.cancelled()).await;
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot ask for the chain writer lease");
                let _ = tokio::time::timeout(LEASE_EVERY, stopping.cancelled()).await;
                continue;
            }
        };
        tracing::info!("this replica is the chain writer");
        state.metrics().chain_writer(true);
        let term = stopping.child_token();
        let work = tokio_util::task::TaskTracker::new();
        work.spawn(until_stopped(term.clone(), release::recorder::run(state.clone())));
        if workers.share_outbox {
            work.spawn(until_stopped(
                term.clone(),
                share::outbox::run(state.clone(), OUTBOX_INTERVAL),
            ));
        }
        if workers.indexer {
            work.spawn(until_stopped(
                term.clone(),
                chain::indexer::run(state.clone(), INDEXER_INTERVAL),
            ));
        }
        work.close();
        let mut lease = lease;
        loop {
            tokio::select! {
                () = stopping.cancelled() => break,
                () = tokio::time::sleep(LEASE_EVERY) => {}
            }
            if let Err(error) = lease.check().await {
                tracing::warn!(%error, "lost the chain writer lease; stopping the writer's tasks");
                break;
            }
        }
        term.cancel();
        work.wait().await;
        // Record batches already sent are seen through (at most BATCH_TIMEOUT each)
        // before another replica may take the lease and send their releases again.
        let deadline =
            tokio::time::Instant::now() + release::recorder::BATCH_TIMEOUT + Duration::from_secs(5);
        while !state.releases().in_flight().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        state.metrics().chain_writer(false);
        lease.release().await;
    }
}

/// `work`, until `stopping` is cancelled.
async fn until_stopped(stopping: CancellationToken, work: impl Future<Output = ()>) {
    tokio::select! {
        () = stopping.cancelled() => {}
        () = work => {}
    }
}

/// Ends the relay's background tasks: cancels them and waits until every one of them
/// (and everything requests handed off: release writes, record batches already sent to
/// the chain) has ended. The chain connection is closed, so a request still in flight
/// gets a 503 rather than a decision nobody records; pending releases and shares stay in
/// the index for the next start. A state is started once: `start` after `stop` starts
/// nothing that runs.
pub async fn stop(state: &AppState) {
    state.stopping().cancel();
    state.tasks().close();
    state.tasks().wait().await;
}
