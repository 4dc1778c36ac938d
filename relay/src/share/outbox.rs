//! The pending-share outbox: shares stored and indexed whose chain call failed are
//! retried until the chain records them.

use crate::error::{chain_unavailable, ApiError};
use crate::share::create::{discard, on_chain, record_on_chain, OnChain};
use crate::state::AppState;

/// How long a share's first chain call may take before the outbox retries it (ms).
const IN_FLIGHT_MS: u64 = 30_000;

/// Retries the chain call of every pending share once; returns how many got recorded.
/// A share the chain already has (an earlier call landed unseen) counts as recorded
/// once its record matches.
pub async fn retry_pending(state: &AppState) -> Result<usize, ApiError> {
    let chain = state.chain().client().await?;
    let pending = state.index().pending().await?;
    let settled_before = crate::time::now_ms().saturating_sub(IN_FLIGHT_MS);
    let mut recorded = 0;
    // A share younger than that may still have its first chain call under way (on any
    // replica): it is left to that call.
    for row in pending.into_iter().filter(|row| row.created_at <= settled_before) {
        match on_chain(&chain, &row).await.map_err(chain_unavailable)? {
            OnChain::Absent => {}
            OnChain::Ours => {
                // An earlier call landed without its answer reaching us: the share is safe
                // on chain, and the indexer, which sees every block, fills in where.
                let note = "already on chain; waiting for the indexer to find its block";
                let _ = state.index().mark_attempt_failed(row.share_id, note).await;
                continue;
            }
            OnChain::Taken => {
                tracing::warn!(share_id = %row.share_id, "another share took this id on chain; discarding it");
                discard(state, &row).await;
                continue;
            }
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
