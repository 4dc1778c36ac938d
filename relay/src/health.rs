//! `/healthz` (the process answers) and `/readyz` (the chain, the object store and the
//! index answer too, so a load balancer can route around a relay that cannot serve).

use crate::state::AppState;
use axum::{extract::State, http::StatusCode, routing::get, Json, Router};
use serde::Serialize;

/// The health routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

/// Liveness, and which node this is (public facts: both are on chain).
#[derive(Serialize)]
struct Health {
    status: &'static str,
    node_id: String,
    account: String,
}

async fn healthz(State(state): State<AppState>) -> Json<Health> {
    let account = state.node().signer.account_id();
    Json(Health {
        status: "ok",
        node_id: datamgmt_client::chain::node_id_of(&account).to_string(),
        account: account.to_string(),
    })
}

/// Readiness and what each dependency said.
#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    chain: String,
    storage: String,
    index: String,
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let chain = match state.chain().client().await {
        Ok(client) => match client.best_block().await {
            Ok((number, _)) => Ok(format!("ok, best block {number}")),
            Err(error) => Err(format!("unreachable: {error}")),
        },
        Err(error) => Err(error.to_string()),
    };
    let storage = match state.store().exists(datamgmt_abi::ShareId([0; 16])).await {
        Ok(_) => Ok("ok".to_owned()),
        Err(error) => Err(error.to_string()),
    };
    let index = match state.index().ping().await {
        Ok(()) => Ok("ok".to_owned()),
        Err(error) => Err(error.to_string()),
    };
    let ready = chain.is_ok() && storage.is_ok() && index.is_ok();
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        chain: chain.unwrap_or_else(|e| e),
        storage: storage.unwrap_or_else(|e| e),
        index: index.unwrap_or_else(|e| e),
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}
