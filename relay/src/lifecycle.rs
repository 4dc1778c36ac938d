//! What an owner does to a share after sharing it: revoke it, change its expiry. Both
//! are contract calls signed by this node; the index follows once the chain accepts.

use crate::auth::{Caller, Role};
use crate::error::{ApiError, AppJson};
use crate::index::ShareRow;
use crate::shares::{
    chain_record, chain_unavailable, contract_refusal, now_ms, parse_expiry, NumberOrText,
};
use crate::state::AppState;
use axum::{
    extract::{Path, State},
    routing::{post, put},
    Router,
};
use datamgmt_abi::ShareId;
use datamgmt_client::chain::{messages, ChainError, Confirmation, ContractMessage};
use serde::{Deserialize, Serialize};

/// The owner's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/shares/{share_id}/revoke", post(revoke))
        .route("/shares/{share_id}/expiry", put(set_expiry))
}

/// The answer to a lifecycle change.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChangeResponse {
    /// The share.
    pub share_id: ShareId,
    /// `revoked` or `expiry_changed`.
    pub status: String,
    /// Where the change is recorded.
    pub compliance: crate::shares::Compliance,
}

/// `PUT /shares/{share_id}/expiry`: the new expiry, or `null` for none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryRequest {
    /// RFC 3339 time, Unix seconds, or null.
    pub expires_at: Option<NumberOrText>,
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(share_id): Path<String>,
) -> Result<AppJson<ChangeResponse>, ApiError> {
    caller.require(Role::User)?;
    let share = own_share(&state, &share_id).await?;
    let response =
        submit(&state, share.share_id, messages::revoke(share.share_id), "revoked").await?;
    state.index().mark_revoked(share.share_id, now_ms()).await?;
    Ok(AppJson(response))
}

async fn set_expiry(
    State(state): State<AppState>,
    caller: Caller,
    Path(share_id): Path<String>,
    AppJson(request): AppJson<ExpiryRequest>,
) -> Result<AppJson<ChangeResponse>, ApiError> {
    caller.require(Role::User)?;
    let expires_at = request.expires_at.as_ref().map(parse_expiry).transpose()?;
    if expires_at.is_some_and(|at| at <= now_ms()) {
        return Err(ApiError::BadRequest("`expires_at` is in the past".into()));
    }
    let share = own_share(&state, &share_id).await?;
    let message = messages::set_expiry(share.share_id, expires_at);
    let response = submit(&state, share.share_id, message, "expiry_changed").await?;
    state.index().set_expiry(share.share_id, expires_at).await?;
    Ok(AppJson(response))
}

/// The share with this id, if this node made it.
async fn own_share(state: &AppState, share_id: &str) -> Result<ShareRow, ApiError> {
    let share_id: ShareId = share_id
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("the share id {e} (share_ and 32 hex)")))?;
    state
        .index()
        .get(share_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("this node made no share {share_id}")))
}

async fn submit(
    state: &AppState,
    share_id: ShareId,
    message: ContractMessage,
    status: &str,
) -> Result<ChangeResponse, ApiError> {
    let chain = state.chain().client().await?;
    let receipt = chain
        .submit(&state.node().signer, &message, Confirmation::InBlock)
        .await
        .map_err(|error| match error {
            ChainError::Contract(refusal) => contract_refusal(refusal),
            other => chain_unavailable(other),
        })?;
    let record = chain_record(&receipt);
    Ok(ChangeResponse {
        share_id,
        status: status.to_owned(),
        compliance: crate::shares::Compliance {
            tx_hash: record.tx_hash,
            block_number: record.block_number,
            block_hash: record.block_hash,
            recorded: true,
        },
    })
}
