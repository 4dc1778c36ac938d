//! The DataMgmt Node relay: a node's server. It encrypts what its organisation shares,
//! stores the envelopes in object storage, records shares on chain, and releases data
//! keys only when the contract allows it.
//!
//! # Layout
//!
//! - [`config`]: the TOML configuration and its environment overrides;
//! - [`state`]: what handlers share, including the chain connection made in the
//!   background;
//! - [`auth`]: bearer tokens (stored hashed) with roles;
//! - [`error`]: the API's error type and JSON error shape;
//! - [`health`]: `/healthz` and `/readyz`;
//! - [`index`]: the SQLite index of shares and their on-chain state (the outbox);
//! - [`keys`]: administrators rotate keys and re-wrap envelopes onto the newest one;
//! - [`node`]: the relay's keyring and its registration in the contract;
//! - [`shares`]: `POST /share_data`;
//! - [`reading`]: `GET /data/{hash}`, for the owner (custody stanza) or the recipient
//!   (fetched from the owner over P2P);
//! - [`p2p`]: signed node-to-node requests: the owner's relay releases an envelope as
//!   the contract allows;
//! - [`chain_reads`]: the chain reads a release is decided on, once per block and only
//!   at the newest block seen;
//! - [`peers`]: calling other nodes' registered endpoints, which anyone can choose;
//! - [`rate`]: how often one caller may do one thing;
//! - [`releases`]: key releases recorded on chain, several to a transaction, and the
//!   gate that stops releases while records do not keep up;
//! - [`server`]: connections, timeouts, load shedding and request head limits;
//! - [`listing`]: `GET /data/list`, paged, from the index;
//! - [`paging`]: page sizes and page tokens of the listings;
//! - [`lifecycle`]: an owner revokes a share or changes its expiry;
//! - [`indexer`]: copies the contract's share events from finalized blocks into the index;
//! - [`verify`]: `GET /verify_data/{hash}`, the on-chain proof, from the index;
//! - [`metrics`]: Prometheus metrics at `/metrics`;
//! - [`storage`]: envelopes in object storage (local filesystem or any S3-compatible
//!   service), written so that nothing is visible until complete.
//!
//! `/openapi.json` serves [`OPENAPI`], the hand-written description of every route.
//!
//! [`app`] builds the router and [`run`] serves it until a shutdown signal, so tests can
//! drive the router in process or bind `127.0.0.1:0`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod chain_reads;
pub mod config;
pub mod error;
pub mod health;
pub mod index;
pub mod indexer;
pub mod keys;
pub mod lifecycle;
pub mod listing;
pub mod metrics;
pub mod node;
pub mod p2p;
pub mod paging;
pub mod peers;
pub mod rate;
pub mod reading;
pub mod releases;
pub mod server;
pub mod shares;
pub mod state;
pub mod storage;
pub mod verify;

use axum::{http::Request, Router};
use state::AppState;
use std::future::Future;
use std::time::Duration;
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
    let json_limit = error::JsonBodyLimit(state.limits().max_json_body);
    let server_limits = state.settings().server;
    let metrics = state.metrics().clone();
    let metrics_route = Router::new()
        .route("/metrics", axum::routing::get(metrics::serve))
        .route("/openapi.json", axum::routing::get(openapi))
        .with_state(metrics.clone());
    Router::new()
        .merge(health::router())
        .merge(shares::router())
        .merge(reading::router())
        .merge(p2p::router())
        .merge(listing::router())
        .merge(lifecycle::router())
        .merge(keys::router())
        .merge(releases::router())
        .merge(verify::router())
        .with_state(state)
        .merge(metrics_route)
        .fallback(server::no_route)
        .method_not_allowed_fallback(server::wrong_method)
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

/// The OpenAPI description of these routes (checked against the router by the tests).
pub const OPENAPI: &str = include_str!("../openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Serves the relay on `listener` until `shutdown` completes, then finishes the requests
/// in progress (see [`server`] for the connection limits).
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.settings().server;
    server::serve(listener, app(state), limits, shutdown).await
}
