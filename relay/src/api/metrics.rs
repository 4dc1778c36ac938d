//! `GET /metrics`: the relay's Prometheus metrics ([`crate::metrics`]), for scrapers;
//! no token.

use crate::api::responses::{HeadersTooLarge, UriTooLong};
use crate::metrics::Metrics;
use axum::{extract::State, http::header, response::IntoResponse};

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses(
        (status = 200, content_type = "application/openmetrics-text", description = "Prometheus metrics (OpenMetrics text)"),
        UriTooLong,
        HeadersTooLarge,
    ),
    security(())
)]
pub async fn serve(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        metrics.render(),
    )
}
