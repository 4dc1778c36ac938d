//! The decision to release a key: the contract's answer and this relay's re-check, on the
//! newest block seen, and the check made again just before the envelope leaves.

use crate::chain::connection::Block;
use crate::chain::reads::ReleaseView;
use crate::error::{chain_unavailable, internal, ApiError};
use crate::state::AppState;
use crate::time::now_ms;

use datamgmt_abi::{decide, AccessGrant, AccountId, Decision, DenyReason, ShareId, Timestamp};
use datamgmt_client::chain::{AccessView, ChainClient, ChainError};
use std::sync::Arc;
use std::time::Duration;

/// How long a release on a payment waits for the payment's block to be finalized.
const PAYMENT_FINALITY_WAIT: Duration = Duration::from_secs(5);

/// How long one chain read may take: a node that does not answer within it is taken
/// for gone (503), as the connection's heartbeat is about to find (see
/// [`crate::chain::connection::LIVENESS`]).
const CHAIN_READ_TIMEOUT: Duration = Duration::from_secs(3);

/// `read`, or a 503 once it has taken [`CHAIN_READ_TIMEOUT`].
pub(crate) async fn bounded<T>(
    read: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    tokio::time::timeout(CHAIN_READ_TIMEOUT, read).await.unwrap_or_else(|_| {
        Err(ApiError::Unavailable {
            dependency: "the chain",
            cause: format!("no answer within {} s", CHAIN_READ_TIMEOUT.as_secs()),
        })
    })
}

/// The chain state a release of `share_id` to `caller` is decided on, and the paid
/// receipt the release would use, once the contract's decision and this relay's
/// re-check agree that `caller` may have it.
///
/// Decided on the newest block this relay has seen, read again while newer blocks
/// arrive ([`crate::chain::reads::at_newest`]), and only if that block is recent: a chain whose
/// newest block is older than `max_view_age_secs` is asked for a new one (a node that
/// seals on demand makes it at once), and releases stop while none comes, so no
/// release is decided on a state its record could not be checked against. What a
/// newer block could change is read again at the node's own best block: a share not
/// found yet, a refusal the recipient or owner may just have lifted (a payment, a new
/// expiry), and a receipt this relay already released on. A payment must be final
/// before it buys a key: one reorganised away would have bought it for nothing.
pub(crate) async fn release_decision(
    state: &AppState,
    share_id: ShareId,
    caller: AccountId,
) -> Result<(Block, Arc<ReleaseView>, Option<Timestamp>), ApiError> {
    let chain = state.chain().client().await?;
    let max_age_ms = state.settings().releases.max_view_age_secs.saturating_mul(1000);
    let (mut refreshed, mut produced) = (false, false);
    loop {
        let chain = &chain;
        let (block, view) = view_at_newest(state, chain, share_id, caller).await?;
        let age_ms = now_ms().saturating_sub(view.access.now);
        if age_ms > max_age_ms {
            if produced {
                return Err(ApiError::Unavailable {
                    dependency: "the chain",
                    cause: format!("its newest block is {} s old", age_ms / 1000),
                });
            }
            produced = true;
            state.chain().produce_block(chain, &state.node().signer, block).await?;
            continue;
        }
        let outcome = check_decision(&view.access, share_id, &caller, &state.node().account());
        let newer_may_differ = match &outcome {
            Err(ApiError::NotFound(_)) => true,
            Err(_) => matches!(
                view.access.decision,
                Some(Decision::Denied(
                    DenyReason::PaymentRequired | DenyReason::ReceiptUsedUp | DenyReason::Expired
                ))
            ),
            Ok(Some(paid_at)) => {
                state.index().receipt_released(share_id, &caller, *paid_at).await?
            }
            Ok(None) => false,
        };
        if newer_may_differ && !refreshed {
            refreshed = true;
            let best = bounded(state.chain().refresh_best(chain)).await?;
            if best != block {
                continue;
            }
        }
        let receipt_paid_at = outcome?;
        if let Some(paid_at) = receipt_paid_at {
            payment_final(chain, share_id, &caller, paid_at).await?;
        }
        return Ok((block, view, receipt_paid_at));
    }
}

/// What a release of `share_id` to `caller` is decided on, read at the newest block
/// this relay has seen (and again while newer ones arrive: [`crate::chain::reads::at_newest`]),
/// with that block.
async fn view_at_newest(
    state: &AppState,
    chain: &ChainClient,
    share_id: ShareId,
    caller: AccountId,
) -> Result<(Block, Arc<ReleaseView>), ApiError> {
    let read = crate::chain::reads::at_newest(
        || state.chain().newest(chain),
        |block| async move {
            state
                .reads()
                .release_view(chain, block, share_id, caller)
                .await
                .map_err(chain_unavailable)
        },
    );
    bounded(read).await?.ok_or_else(|| ApiError::Unavailable {
        dependency: "the chain",
        cause: "blocks arrive faster than this relay can read them".into(),
    })
}

/// Whether a release decided on block `decided` may still leave: if a newer block has
/// been seen since, decided again on the newest, which must allow it with the same paid
/// receipt (if any). The refusal otherwise.
pub(crate) async fn still_allowed(
    state: &AppState,
    share_id: ShareId,
    caller: AccountId,
    decided: Block,
    paid_at: Option<Timestamp>,
) -> Result<(), ApiError> {
    if state.chain().newest_known() == Some(decided) {
        return Ok(());
    }
    let chain = state.chain().client().await?;
    let (_, view) = view_at_newest(state, &chain, share_id, caller).await?;
    if check_decision(&view.access, share_id, &caller, &state.node().account())? != paid_at {
        return Err(ApiError::Conflict(
            "the payment this release was decided on changed meanwhile; ask again".into(),
        ));
    }
    Ok(())
}

/// Waits (up to [`PAYMENT_FINALITY_WAIT`]) until `caller`'s receipt paid at `paid_at`
/// is in a finalized block and still unused there.
async fn payment_final(
    chain: &ChainClient,
    share_id: ShareId,
    caller: &AccountId,
    paid_at: Timestamp,
) -> Result<(), ApiError> {
    let deadline = tokio::time::Instant::now() + PAYMENT_FINALITY_WAIT;
    loop {
        let receipt = bounded(async {
            let (_, finalized) = chain.finalized_block().await.map_err(chain_unavailable)?;
            match chain.receipt_at(share_id, caller, finalized).await {
                Ok(receipt) => Ok(receipt),
                // The contract (or the share) came after the finalized block.
                Err(ChainError::Dispatch(_) | ChainError::Reverted(_) | ChainError::Decode(_)) => {
                    Ok(None)
                }
                Err(error) => Err(chain_unavailable(error)),
            }
        })
        .await?;
        if receipt.is_some_and(|r| r.paid_at == paid_at && r.releases_left > 0) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Conflict(
                "the payment for this share is not final yet; ask again in a few seconds".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The paid receipt (its `paid_at`) a release to `caller` would use, `None` for a free
/// share, or why there is no release: the contract's decision, re-checked. Only a share
/// this node (`own`) owns on chain releases this node's keys.
fn check_decision(
    access: &AccessView,
    share_id: ShareId,
    caller: &AccountId,
    own: &AccountId,
) -> Result<Option<Timestamp>, ApiError> {
    let (Some(share), Some(contract_decision)) = (&access.share, access.decision) else {
        return Err(ApiError::NotFound(format!("share {share_id} is not on chain (yet)")));
    };
    if share.owner != *own {
        return Err(ApiError::AccessDenied(format!(
            "share {share_id} on chain is another node's; nothing was released"
        )));
    }
    let local_decision = decide(share, access.receipt.as_ref(), caller, access.now);
    if local_decision != contract_decision {
        tracing::error!(%share_id, ?local_decision, ?contract_decision, "access rule mismatch");
        return Err(ApiError::AccessDenied(
            "this relay and the contract disagree about this access; nothing was released".into(),
        ));
    }
    match contract_decision {
        Decision::Allowed(AccessGrant::Recipient) => Ok(None),
        // `decide` grants this only on a receipt, so there is one.
        Decision::Allowed(AccessGrant::PaidRecipient) => Ok(Some(
            access
                .receipt
                .as_ref()
                .ok_or_else(|| internal("a paid grant without receipt"))?
                .paid_at,
        )),
        Decision::Allowed(AccessGrant::Owner) => {
            Err(ApiError::AccessDenied("the owner reads its data from its own relay".into()))
        }
        Decision::Denied(reason) => {
            Err(ApiError::AccessDenied(format!("the contract denies access: {reason}")))
        }
    }
}
