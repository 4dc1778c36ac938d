//! What the parties do to a share after it is made: its owner revokes it or changes its
//! expiry, its recipient pays for an access to a priced share. Each is a contract call
//! signed by this node; the index follows once the chain accepts.

use crate::error::{chain_unavailable, contract_refusal, ApiError};
use crate::index::{ChainRecord, ShareRow};
use crate::share::create::chain_record;
use crate::state::AppState;
use crate::time::now_ms;
use datamgmt_abi::Timestamp;

use datamgmt_abi::ShareId;
use datamgmt_client::chain::{messages, ChainError, Confirmation, ContractMessage};

/// Revokes the share `share_id` this node made: no key of it leaves from the block
/// that records this on.
pub async fn revoke(state: &AppState, share_id: ShareId) -> Result<ChainRecord, ApiError> {
    let share = own_share(state, share_id).await?;
    let message = messages::revoke(share.share_id);
    let record = submit(state, message, Confirmation::InBlock).await?;
    state.index().mark_revoked(share.share_id, now_ms()).await?;
    Ok(record)
}

/// Sets (or, with `None`, removes) the expiry of the share `share_id` this node made.
pub async fn set_expiry(
    state: &AppState,
    share_id: ShareId,
    expires_at: Option<Timestamp>,
) -> Result<ChainRecord, ApiError> {
    if expires_at.is_some_and(|at| at <= now_ms()) {
        return Err(ApiError::BadRequest("`expires_at` is in the past".into()));
    }
    let share = own_share(state, share_id).await?;
    let message = messages::set_expiry(share.share_id, expires_at);
    let record = submit(state, message, Confirmation::InBlock).await?;
    state.index().set_expiry(share.share_id, expires_at).await?;
    Ok(record)
}

/// Pays the price of the share `share_id` made to this node, for one access; the
/// payment goes to the owner at once, and the owner's relay consumes it with the next
/// key release. Answers once the payment's block is final, as a key is released on a
/// payment only then: a reader who asks right after paying is not told to wait.
pub async fn pay(state: &AppState, share_id: ShareId) -> Result<ChainRecord, ApiError> {
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
    submit(state, message, Confirmation::Finalized).await
}

/// The share with this id, if this node made it.
async fn own_share(state: &AppState, share_id: ShareId) -> Result<ShareRow, ApiError> {
    state
        .index()
        .get(share_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("this node made no share {share_id}")))
}

/// Signs and submits `message` as this node, waiting for `confirmation`.
async fn submit(
    state: &AppState,
    message: ContractMessage,
    confirmation: Confirmation,
) -> Result<ChainRecord, ApiError> {
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
    Ok(chain_record(&receipt))
}
