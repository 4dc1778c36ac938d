//! `/healthz` (the process answers) and `/readyz` (the chain, the object store and the
//! index answer too, so a load balancer can route around a relay that cannot serve).

use crate::api::responses::{HeadersTooLarge, UriTooLong};
use crate::state::AppState;
use axum::{extract::State, http::StatusCode, routing::get, Json, Router};
use datamgmt_client::api::{Health, Readiness};

/// The health routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses(
        (status = 200, body = Health, description = "The process answers"),
        UriTooLong,
        HeadersTooLarge,
    ),
    security(())
)]
async fn healthz(State(state): State<AppState>) -> Json<Health> {
    let account = state.node().signer.account_id();
    Json(Health {
        status: "ok".to_owned(),
        node_id: datamgmt_client::chain::node_id_of(&account).to_string(),
        account: account.to_string(),
    })
}

/// How long each dependency has to answer a readiness check.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `check`'s answer, or why there was none in time.
async fn within(
    check: impl std::future::Future<Output = Result<String, String>>,
) -> Result<String, String> {
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())))
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, body = Readiness, description = "Ready: the chain, the store and the index answer"),
        UriTooLong,
        HeadersTooLarge,
        (status = 503, body = Readiness, description = "Not ready: which dependency does not answer"),
    ),
    security(())
)]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let chain = within(async {
        let client = state.chain().client().await.map_err(|e| e.to_string())?;
        state.chain().live().map_err(|e| match e {
            crate::error::ApiError::Unavailable { cause, .. } => cause,
            other => other.to_string(),
        })?;
        match client.best_block().await {
            Ok((number, _)) => Ok(format!("ok, best block {number}")),
            Err(error) => Err(format!("unreachable: {error}")),
        }
    });
    let storage = within(async {
        match state.store().exists(datamgmt_abi::ShareId([0; 16])).await {
            Ok(_) => Ok("ok".to_owned()),
            Err(error) => Err(error.to_string()),
        }
    });
    let index = within(async {
        match state.index().ping().await {
            Ok(()) => Ok("ok".to_owned()),
            Err(error) => Err(error.to_string()),
        }
    });
    let (chain, storage, index) = tokio::join!(chain, storage, index);
    let releases = state.releases().status(crate::time::now_ms());
    let ready = chain.is_ok() && storage.is_ok() && index.is_ok();
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" }.to_owned(),
        chain: chain.unwrap_or_else(|e| e),
        storage: storage.unwrap_or_else(|e| e),
        index: index.unwrap_or_else(|e| e),
        releases: releases.reason.unwrap_or_else(|| "ok".to_owned()),
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}
