//! What the parties do to a share after it is made: its owner revokes it or changes its
//! expiry, its recipient pays for an access to a priced share. Each is a contract call
//! signed by this node; the index follows once the chain accepts.

use crate::auth::{Caller, Role};
use crate::error::{ApiError, AppJson};
use crate::index::ShareRow;
use crate::shares::{
    chain_record, chain_unavailable, contract_refusal, now_ms, parse_expiry, parse_share_id,
    NumberOrText,
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
        .route("/shares/{share_id}/pay", post(pay))
}

/// The answer to a lifecycle change.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChangeResponse {
    /// The share.
    pub share_id: ShareId,
    /// `revoked`, `expiry_changed` or `paid`.
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
    let response = submit(
        &state,
        share.share_id,
        messages::revoke(share.share_id),
        "revoked",
        Confirmation::InBlock,
    )
    .await?;
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
    let response =
        submit(&state, share.share_id, message, "expiry_changed", Confirmation::InBlock).await?;
    state.index().set_expiry(share.share_id, expires_at).await?;
    Ok(AppJson(response))
}

/// The recipient pays the share's price for one access; the payment goes to the owner
/// at once, and the owner's relay consumes it with the next key release.
async fn pay(
    State(state): State<AppState>,
    caller: Caller,
    Path(share_id): Path<String>,
) -> Result<AppJson<ChangeResponse>, ApiError> {
    caller.require(Role::User)?;
    let share_id = parse_share_id(&share_id)?;
    let chain = state.chain().client().await?;
    let share = chain
        .share_record(share_id)
        .await
        .map_err(chain_unavailable)?
        .ok_or_else(|| ApiError::NotFound(format!("no share {share_id} on chain")))?;
    if share.recipient != state.node().account() {
        return Err(ApiError::AccessDenied("this node is not the share's recipient".into()));
    }
    if share.price == 0 {
        return Err(ApiError::Conflict("the share is free; there is nothing to pay".into()));
    }
    let message = messages::pay_for_access(share_id, share.price);
    // A key is released on a payment only once its block is final, so the answer waits
    // for that too: a reader who asks right after paying is not told to wait.
    Ok(AppJson(submit(&state, share_id, message, "paid", Confirmation::Finalized).await?))
}

/// The share with this id, if this node made it.
async fn own_share(state: &AppState, share_id: &str) -> Result<ShareRow, ApiError> {
    let share_id = parse_share_id(share_id)?;
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
    confirmation: Confirmation,
) -> Result<ChangeResponse, ApiError> {
    let chain = state.chain().client().await?;
    let receipt =
        chain.submit(&state.node().signer, &message, confirmation).await.map_err(|error| {
            match error {
                ChainError::Contract(refusal) => contract_refusal(refusal),
                other => chain_unavailable(other),
            }
        })?;
    // Whatever this relay decides from now on is decided on this block or a newer one (a
    // revocation takes effect on the next request), even before the best-block
    // subscription says so.
    state.chain().saw_block(receipt.block_number, receipt.block_hash);
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
