//! The pending-share outbox: shares stored and indexed whose chain call failed are
//! retried until the chain records them.

use crate::error::{chain_unavailable, ApiError};
use crate::share::create::record_on_chain;
use crate::state::AppState;

/// Retries the chain call of every pending share once; returns how many got recorded.
/// A share the chain already has (an earlier call landed unseen) counts as recorded
/// once its record matches.
pub async fn retry_pending(state: &AppState) -> Result<usize, ApiError> {
    let chain = state.chain().client().await?;
    let pending = state.index().pending().await?;
    let mut recorded = 0;
    for row in pending {
        if chain.share_record(row.share_id).await.map_err(chain_unavailable)?.is_some() {
            // An earlier call landed without its answer reaching us: the share is safe on
            // chain, and the indexer, which sees every block, fills in where.
            let note = "already on chain; waiting for the indexer to find its block";
            let _ = state.index().mark_attempt_failed(row.share_id, note).await;
            continue;
        }
        if record_on_chain(state, &chain, &row).await.is_ok() {
            recorded += 1;
        }
    }
    Ok(recorded)
}

/// Runs [`retry_pending`] every `interval`, so a share whose chain call failed is
/// recorded once the chain is back.
pub async fn run(state: AppState, interval: std::time::Duration) {
    loop {
        tokio::time::sleep(interval).await;
        match retry_pending(&state).await {
            Ok(0) => {}
            Ok(recorded) => tracing::info!(recorded, "pending shares recorded on chain"),
            Err(error) => tracing::debug!(%error, "pending shares wait for the chain"),
        }
    }
}
