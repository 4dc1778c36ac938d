//! `GET /contract` (no token): the contract's address, code hash and ink! metadata, so
//! a dApp on any origin the relay's CORS settings allow can call the contract itself.

use crate::api::responses::{HeadersTooLarge, NotFound, UriTooLong};
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{extract::State, routing::get, Router};
use datamgmt_client::api::ContractInfo;

/// The contract route.
pub fn router() -> Router<AppState> {
    Router::new().route("/contract", get(contract))
}

#[utoipa::path(
    get,
    path = "/contract",
    tag = "contract",
    responses(
        (status = 200, body = ContractInfo, description = "The contract's address, code hash and ink! metadata"),
        NotFound,
        UriTooLong,
        HeadersTooLarge,
    ),
    security(())
)]
async fn contract(State(state): State<AppState>) -> Result<Response, ApiError> {
    let json = state.contract_json().cloned().ok_or_else(|| {
        ApiError::NotFound(
            "this relay was not given the contract's metadata ([chain] metadata or a deploy \
             state)"
                .into(),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}
