//! Key releases: written down before the envelope leaves, recorded on chain after.
//!
//! The P2P route decides a release on the chain state of one block, writes it to the
//! index's `key_releases` outbox and sends the envelope; it does not wait for a block.
//! This module's task records the outbox on chain, the releases waiting when a
//! transaction can go together in it (`Utility::force_batch`, each call succeeding or
//! failing on its own). The contract applies its rule at each release's own time
//! (`record_release(…, released_at)`), so a revocation or expiry that lands between
//! sending and recording does not lose the record, and a paid receipt is consumed on
//! chain when its release is recorded. Until then the outbox's unique index on the
//! receipt is what lets one payment buy one release.
//!
//! A record the chain could not take (node down) is tried again; one the contract
//! refuses is kept as `refused`, logged and counted, never dropped silently. Rows
//! survive a restart: the task picks up whatever is pending when it starts.

use crate::index::{IndexError, KeyRelease, PendingRelease};
use crate::shares::now_ms;
use crate::state::AppState;
use datamgmt_client::chain::{messages, ChainError, Confirmation};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// Most releases in one transaction (each call's proof is about 100 kB, and a block
/// holds a few MB).
const MAX_BATCH: usize = 24;

/// Transactions of releases on their way at once: while one waits for its block, the
/// next can be signed and sent (the chain client keeps their nonces in order).
const BATCHES_IN_FLIGHT: usize = 3;

/// How often the outbox is looked at without being woken (for retries).
const POLL: Duration = Duration::from_secs(1);

/// Wait before recording again after the chain could not be reached (ms).
const RETRY_AFTER_MS: u64 = 5_000;

/// How long recorded releases stay in the outbox (ms); the chain has them.
const KEEP_RECORDED_MS: u64 = 60 * 60 * 1000;

/// Writes releases to the outbox and wakes the recording task.
#[derive(Clone, Default)]
pub struct ReleaseRecorder {
    wake: Arc<Notify>,
    /// Rows a transaction is carrying now.
    in_flight: Arc<Mutex<HashSet<i64>>>,
}

impl ReleaseRecorder {
    /// Writes `release` down as pending its chain record. `false` when it uses a paid
    /// receipt another release used already: nothing is written, and nothing may be
    /// sent.
    pub async fn release(
        &self,
        index: &crate::index::Index,
        release: &KeyRelease,
    ) -> Result<bool, IndexError> {
        let written = index.insert_release(release, now_ms()).await?;
        if written {
            self.wake.notify_one();
        }
        Ok(written)
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Records the outbox for as long as the process lives.
pub(crate) fn spawn(state: AppState) {
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
        let mut last_prune = 0;
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            let recorder = state.releases().clone();
            let now = now_ms();
            let skip = recorder.in_flight().clone();
            let due = match state.index().due_releases(now, &skip, MAX_BATCH).await {
                Ok(due) => due,
                Err(error) => {
                    tracing::error!(%error, "cannot read the release outbox");
                    Vec::new()
                }
            };
            if due.is_empty() {
                drop(slot);
                if now.saturating_sub(last_prune) > KEEP_RECORDED_MS / 4 {
                    last_prune = now;
                    prune(&state, now).await;
                }
                let _ = tokio::time::timeout(POLL, recorder.wake.notified()).await;
                continue;
            }
            recorder.in_flight().extend(due.iter().map(|row| row.id));
            let state = state.clone();
            tokio::spawn(async move {
                let ids: Vec<i64> = due.iter().map(|row| row.id).collect();
                record_batch(&state, due).await;
                let recorder = state.releases();
                let mut in_flight = recorder.in_flight();
                for id in ids {
                    in_flight.remove(&id);
                }
                drop(in_flight);
                drop(slot);
                // More may have arrived while this batch was out.
                recorder.wake.notify_one();
            });
        }
    });
}

async fn prune(state: &AppState, now: u64) {
    match state.index().prune_recorded_releases(now.saturating_sub(KEEP_RECORDED_MS)).await {
        Ok(0) => {}
        Ok(pruned) => tracing::debug!(pruned, "forgot releases recorded on chain"),
        Err(error) => tracing::warn!(%error, "cannot prune the release outbox"),
    }
}

/// Where one release's record went.
enum Outcome {
    Recorded { tx_hash: String, block_number: u64 },
    Refused(ChainError),
    Retry(ChainError),
}

fn outcome_of(result: Result<(String, u64), ChainError>) -> Outcome {
    match result {
        Ok((tx_hash, block_number)) => Outcome::Recorded { tx_hash, block_number },
        Err(
            error @ (ChainError::Contract(_) | ChainError::Reverted(_) | ChainError::Dispatch(_)),
        ) => Outcome::Refused(error),
        Err(error) => Outcome::Retry(error),
    }
}

async fn record_batch(state: &AppState, batch: Vec<PendingRelease>) {
    let outcomes = match state.chain().client().await {
        Ok(chain) => {
            let signer = &state.node().signer;
            let messages: Vec<_> = batch
                .iter()
                .map(|row| {
                    let release = &row.release;
                    messages::record_release(
                        release.share_id,
                        &release.recipient,
                        release.released_at,
                    )
                })
                .collect();
            let started = std::time::Instant::now();
            let outcomes: Vec<Outcome> = if messages.len() == 1 {
                let result = chain.submit(signer, &messages[0], Confirmation::InBlock).await;
                vec![outcome_of(
                    result.map(|r| (format!("{:?}", r.extrinsic_hash), r.block_number)),
                )]
            } else {
                match chain.submit_batch(signer, &messages).await {
                    Ok(results) => results
                        .into_iter()
                        .map(|result| {
                            outcome_of(result.and_then(|events| {
                                events
                                    .first()
                                    .map(|e| (format!("{:?}", e.extrinsic_hash), e.block_number))
                                    .ok_or_else(|| {
                                        ChainError::Decode("a release recorded no event".into())
                                    })
                            }))
                        })
                        .collect(),
                    Err(error) => {
                        let text = error.to_string();
                        batch
                            .iter()
                            .map(|_| Outcome::Retry(ChainError::Transaction(text.clone())))
                            .collect()
                    }
                }
            };
            state.metrics().chain_call(started);
            outcomes
        }
        Err(error) => batch
            .iter()
            .map(|_| Outcome::Retry(ChainError::Transaction(error.to_string())))
            .collect(),
    };
    if let Err(error) = store_outcomes(state, &batch, outcomes).await {
        // The rows stay pending and are recorded again; a paid one the contract then
        // refuses as used up is marked refused, with this in the log to explain it.
        tracing::error!(%error, "cannot mark releases in the outbox");
    }
}

async fn store_outcomes(
    state: &AppState,
    batch: &[PendingRelease],
    outcomes: Vec<Outcome>,
) -> Result<(), IndexError> {
    let index = state.index();
    let now = now_ms();
    let mut recorded: std::collections::BTreeMap<(String, u64), Vec<i64>> = Default::default();
    for (row, outcome) in batch.iter().zip(outcomes) {
        let release = &row.release;
        match outcome {
            Outcome::Recorded { tx_hash, block_number } => {
                recorded.entry((tx_hash, block_number)).or_default().push(row.id);
                state.metrics().record_release_record(true);
            }
            Outcome::Refused(error) => {
                tracing::error!(
                    share_id = %release.share_id, recipient = %release.recipient, %error,
                    "the chain refused the record of a key release that was sent"
                );
                state.metrics().record_release_record(false);
                index.mark_release_failed(row.id, &error.to_string(), None, now).await?;
            }
            Outcome::Retry(error) => {
                tracing::warn!(share_id = %release.share_id, %error, "release not recorded yet");
                index
                    .mark_release_failed(
                        row.id,
                        &error.to_string(),
                        Some(now + RETRY_AFTER_MS),
                        now,
                    )
                    .await?;
            }
        }
    }
    for ((tx_hash, block_number), ids) in recorded {
        index.mark_releases_recorded(&ids, &tx_hash, block_number, now).await?;
    }
    tracing::debug!(releases = batch.len(), "recorded a batch of releases");
    Ok(())
}
