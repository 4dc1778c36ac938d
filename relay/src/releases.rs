//! Key releases: written down before the envelope leaves, recorded on chain after.
//!
//! The P2P route decides a release on the chain state of one block, writes it to the
//! index's `key_releases` outbox and sends the envelope; it does not wait for a block.
//! This module's task records the outbox on chain, the releases waiting when a
//! transaction can go together in it (one `record_releases` call, each release recorded
//! or refused on its own). The contract applies its rule at each release's own time, so
//! a revocation or expiry that lands between sending and recording does not lose the
//! record, and a paid receipt is consumed on chain when its release is recorded. Until
//! then the outbox's unique index on the receipt is what lets one payment buy one
//! release.
//!
//! A record the chain could not take (node down) is tried again; one the contract
//! refuses is kept as `refused`, logged and counted, never dropped silently. Rows
//! survive a restart: the task picks up whatever is pending when it starts.

use crate::error::ApiError;
use crate::index::{IndexError, KeyRelease, PendingRelease};
use crate::shares::now_ms;
use crate::state::AppState;
use datamgmt_abi::{
    events::{ContractEvent, ShareAction},
    AccountId, ShareId, Timestamp,
};
use datamgmt_client::chain::{messages, ChainClient, ChainError, Confirmation, NodeSigner};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// Most releases in one transaction: one `record_releases` call, whose weight counts the
/// contract's code (about 100 kB of proof) once for all of them.
const MAX_BATCH: usize = datamgmt_abi::MAX_RELEASES_PER_CALL;

/// Transactions of releases on their way at once: while one waits for its block, the
/// next can be signed and sent (the chain client keeps their nonces in order).
const BATCHES_IN_FLIGHT: usize = 3;

/// How often the outbox is looked at without being woken (for retries).
const POLL: Duration = Duration::from_secs(1);

/// Wait before recording again after the chain could not be reached (ms).
const RETRY_AFTER_MS: u64 = 5_000;

/// How long recorded releases stay in the outbox (ms); the chain has them.
const KEEP_RECORDED_MS: u64 = 60 * 60 * 1000;

/// Releases waiting for their record beyond which new ones are refused (503) until the
/// chain catches up: a record must land within `RELEASE_RECORD_WINDOW_MS` of its
/// release, and this is about a minute of records on the dev node.
const MAX_PENDING: usize = 50_000;

/// Writes releases to the outbox and wakes the recording task.
#[derive(Clone, Default)]
pub struct ReleaseRecorder {
    wake: Arc<Notify>,
    /// Rows a transaction is carrying now.
    in_flight: Arc<Mutex<HashSet<i64>>>,
    /// Rows waiting for their record (pending, not refused).
    pending: Arc<AtomicUsize>,
}

impl ReleaseRecorder {
    /// Writes `release` down as pending its chain record, and counts it. `false` when
    /// it uses a paid receipt another release used already: nothing is written, and
    /// nothing may be sent. A 503 while too many releases wait for their record.
    ///
    /// The write and its counting run to the end even if the request is dropped
    /// meanwhile (the asker hung up), so the outbox, the pending count and the metric
    /// always agree.
    pub async fn release(
        &self,
        index: &crate::index::Index,
        metrics: &crate::metrics::Metrics,
        release: KeyRelease,
    ) -> Result<bool, ApiError> {
        let waiting = self.pending.load(Ordering::Relaxed);
        if waiting >= MAX_PENDING {
            return Err(ApiError::Unavailable {
                dependency: "the chain",
                cause: format!("{waiting} key releases wait for their chain record"),
            });
        }
        let (recorder, index, metrics) = (self.clone(), index.clone(), metrics.clone());
        let write = tokio::spawn(async move {
            let written = index.insert_release(&release, now_ms()).await?;
            if written {
                recorder.pending.fetch_add(1, Ordering::Relaxed);
                metrics.record_key_release();
                recorder.wake.notify_one();
            }
            Ok::<_, IndexError>(written)
        });
        Ok(write.await.map_err(|e| ApiError::Internal(format!("release write: {e}")))??)
    }

    /// One pending release has its outcome.
    fn settled(&self) {
        let _ =
            self.pending.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Records the outbox for as long as the process lives.
pub(crate) fn spawn(state: AppState) {
    tokio::spawn(async move {
        match state.index().count_releases().await {
            Ok((pending, _, _)) => {
                state.releases().pending.store(pending as usize, Ordering::Relaxed);
            }
            Err(error) => tracing::error!(%error, "cannot count the release outbox"),
        }
        let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
        let mut last_prune = 0;
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            let recorder = state.releases().clone();
            let now = now_ms();
            if now.saturating_sub(last_prune) > KEEP_RECORDED_MS / 4 {
                last_prune = now;
                prune(&state, now).await;
            }
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

/// A release as `record_releases` takes it.
type Item = (ShareId, AccountId, Timestamp);

async fn record_batch(state: &AppState, batch: Vec<PendingRelease>) {
    let outcomes = match state.chain().client().await {
        Ok(chain) => {
            let started = std::time::Instant::now();
            let outcomes = record_on_chain(&chain, &state.node().signer, &batch).await;
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

/// One `record_releases` call for the batch: a dry-run first says which releases the
/// contract refuses (those are not sent), the rest go in one transaction, and each
/// `key_released` event in its block accounts for one of them.
async fn record_on_chain(
    chain: &ChainClient,
    signer: &NodeSigner,
    batch: &[PendingRelease],
) -> Vec<Outcome> {
    let retry_all = |error: ChainError| {
        let text = error.to_string();
        batch.iter().map(|_| Outcome::Retry(ChainError::Transaction(text.clone()))).collect()
    };
    let items: Vec<Item> = batch
        .iter()
        .map(|row| (row.release.share_id, row.release.recipient, row.release.released_at))
        .collect();
    let origin = signer.account_id();
    let message = messages::record_releases(&items);
    let dry_run = match chain.dry_run(&origin, &message).await {
        Ok(dry_run) => dry_run,
        Err(error) => return retry_all(error),
    };
    let verdicts = match dry_run.decode_result::<Vec<Result<(), datamgmt_abi::Error>>>() {
        Ok(verdicts) if verdicts.len() == items.len() => verdicts,
        Ok(_) => return retry_all(ChainError::Decode("one verdict per release expected".into())),
        Err(error) => return retry_all(error),
    };
    let accepted: Vec<Item> =
        items.iter().zip(&verdicts).filter(|(_, v)| v.is_ok()).map(|(item, _)| *item).collect();
    let mut landed: Result<(String, u64), String> = Err(String::new());
    let mut released: HashMap<Item, usize> = HashMap::new();
    if !accepted.is_empty() {
        let message = messages::record_releases(&accepted);
        let dry_run = if accepted.len() == items.len() {
            Ok(dry_run)
        } else {
            chain.dry_run(&origin, &message).await
        };
        let receipt = match dry_run {
            Ok(dry_run) => {
                chain.submit_dry_run(signer, &message, &dry_run, Confirmation::InBlock).await
            }
            Err(error) => Err(error),
        };
        landed = match receipt {
            Ok(receipt) => {
                for recorded in &receipt.events {
                    if let ContractEvent::Share(event) = &recorded.event {
                        if matches!(event.action, ShareAction::KeyReleased { .. }) {
                            let item = (event.share_id, event.recipient, event.at);
                            *released.entry(item).or_default() += 1;
                        }
                    }
                }
                Ok((format!("{:?}", receipt.extrinsic_hash), receipt.block_number))
            }
            Err(error) => Err(error.to_string()),
        };
    }
    items
        .iter()
        .zip(verdicts)
        .map(|(item, verdict)| match (verdict, &landed) {
            (Err(refusal), _) => Outcome::Refused(ChainError::Contract(refusal)),
            (Ok(()), Ok((tx_hash, block_number))) => match released.get_mut(item) {
                Some(count) if *count > 0 => {
                    *count -= 1;
                    Outcome::Recorded { tx_hash: tx_hash.clone(), block_number: *block_number }
                }
                // The chain changed between the dry-run and the block: try again.
                _ => Outcome::Retry(ChainError::Transaction(
                    "the transaction landed without this release".into(),
                )),
            },
            (Ok(()), Err(error)) => Outcome::Retry(ChainError::Transaction(error.clone())),
        })
        .collect()
}

async fn store_outcomes(
    state: &AppState,
    batch: &[PendingRelease],
    outcomes: Vec<Outcome>,
) -> Result<(), IndexError> {
    let index = state.index();
    let now = now_ms();
    // Rows with the same outcome are marked by one statement.
    let mut recorded: BTreeMap<(String, u64), Vec<i64>> = BTreeMap::new();
    let mut failed: BTreeMap<(String, Option<Timestamp>), Vec<i64>> = BTreeMap::new();
    for (row, outcome) in batch.iter().zip(outcomes) {
        let release = &row.release;
        match outcome {
            Outcome::Recorded { tx_hash, block_number } => {
                recorded.entry((tx_hash, block_number)).or_default().push(row.id);
                state.metrics().record_release_record(true);
                state.releases().settled();
            }
            Outcome::Refused(error) => {
                tracing::error!(
                    share_id = %release.share_id, recipient = %release.recipient, %error,
                    "the chain refused the record of a key release that was sent"
                );
                state.metrics().record_release_record(false);
                state.releases().settled();
                failed.entry((error.to_string(), None)).or_default().push(row.id);
            }
            Outcome::Retry(error) => {
                let retry_at = Some(now + RETRY_AFTER_MS);
                failed.entry((error.to_string(), retry_at)).or_default().push(row.id);
            }
        }
    }
    for ((tx_hash, block_number), ids) in recorded {
        index.mark_releases_recorded(&ids, &tx_hash, block_number, now).await?;
    }
    for ((error, retry_at), ids) in failed {
        if retry_at.is_some() {
            tracing::warn!(releases = ids.len(), %error, "releases not recorded yet");
        }
        index.mark_releases_failed(&ids, &error, retry_at, now).await?;
    }
    tracing::debug!(releases = batch.len(), "recorded a batch of releases");
    Ok(())
}
