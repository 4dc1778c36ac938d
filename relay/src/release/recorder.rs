//! Recording the outbox on chain: batches of releases in `record_releases` calls, each
//! release recorded or refused on its own, and what became of each marked in the
//! outbox.

use crate::error::{chain_unavailable, ApiError};
use crate::index::{IndexError, PendingRelease};
use crate::release::gate::{ReleaseRecorder, RETRY_AFTER_MS};
use crate::state::AppState;
use crate::time::now_ms;

use datamgmt_abi::{
    events::{ContractEvent, ShareAction},
    AccountId, DenyReason, ShareId, Timestamp,
};
use datamgmt_client::chain::{messages, ChainClient, ChainError, Confirmation, NodeSigner};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Most releases in one transaction: one `record_releases` call, whose weight counts the
/// contract's code (about 100 kB of proof) once for all of them.
const MAX_BATCH: usize = datamgmt_abi::MAX_RELEASES_PER_CALL;

/// Transactions of releases on their way at once: while one waits for its block, the
/// next can be signed and sent (the chain client keeps their nonces in order).
const BATCHES_IN_FLIGHT: usize = 3;

/// How long a batch may take from its dry-run to its block. Past it the batch counts as
/// failed (releases stop) and its releases are tried again; should the first
/// transaction still land, a free release is recorded twice (more records than keys,
/// never fewer), and a paid one's second record, refused, is known for recorded by the
/// first one's event ([`recorded_earlier`]).
pub(crate) const BATCH_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a release may take to be decided again after its write (then it is taken
/// back, unsent).
pub(crate) const CONFIRM_WITHIN: Duration = Duration::from_secs(4);

/// How old an unconfirmed release must be to count as abandoned (its relay died while
/// deciding): far past [`CONFIRM_WITHIN`], and past any difference of replicas' clocks.
const ABANDONED_AFTER_MS: u64 = 60_000;

/// How often the outbox is looked at without being woken (for retries, and for rows
/// another replica confirmed).
const POLL: Duration = Duration::from_millis(250);

/// Least time between two record transactions, unless a full batch waits: on a chain
/// that makes a block per transaction each record is a block, and each block makes
/// every release wait for reads at it; gathering a second of releases into one
/// transaction keeps blocks (and fees) few. Far below `max_record_lag_secs`.
const RECORD_EVERY: Duration = Duration::from_secs(1);

/// Wait before recording a release again whose transaction landed without it (ms).
const RETRY_SOON_MS: u64 = 1_000;

/// How long recorded releases stay in the outbox (ms); the chain has them.
const KEEP_RECORDED_MS: u64 = 60 * 60 * 1000;

/// How often the outbox is read for the gate.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Keeps the gate's inputs current from the outbox (the first pass opens the gate), and
/// while recording fails with nothing left to retry, sends an empty record now and
/// then to learn when the chain takes this node's records again.
pub async fn watch(state: AppState) {
    let mut last_probe = 0;
    loop {
        let recorder = state.releases();
        let index = state.index();
        let refusals_before = recorder.refusals_seen();
        let read = async {
            let (pending, oldest) = index.pending_releases().await?;
            let refused = index.unacknowledged_refusals().await?;
            Ok::<_, IndexError>((pending, oldest, refused))
        };
        match read.await {
            Ok((pending, oldest, refused)) => {
                recorder.outbox_read(pending as usize, oldest, refused, refusals_before)
            }
            Err(error) => tracing::error!(%error, "cannot read the release outbox"),
        }
        let now = now_ms();
        let idle_failure = recorder.failing_while_idle();
        if idle_failure && now.saturating_sub(last_probe) >= RETRY_AFTER_MS {
            last_probe = now;
            let attempt = recorder.next_attempt();
            match probe(&state).await {
                Ok(()) => recorder.attempted(attempt, None),
                Err(error) => recorder.attempted(attempt, Some(error.to_string())),
            }
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// Records the outbox, until the relay stops.
pub async fn run(state: AppState) {
    let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    let mut last_prune = 0;
    let mut last_batch = tokio::time::Instant::now() - RECORD_EVERY;
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let recorder = state.releases().clone();
        let now = now_ms();
        if now.saturating_sub(last_prune) > ABANDONED_AFTER_MS {
            last_prune = now;
            prune(&state, now).await;
        }
        let skip = recorder.busy_rows();
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
        let since_last = last_batch.elapsed();
        if due.len() < MAX_BATCH && since_last < RECORD_EVERY {
            drop(slot);
            tokio::time::sleep(RECORD_EVERY - since_last).await;
            continue;
        }
        last_batch = tokio::time::Instant::now();
        let carrying = Carrying::new(&recorder, &due);
        let batch_state = state.clone();
        // On the tracker, not under the cancellation: a batch sent to the chain is seen
        // through, and shutdown waits for it (at most BATCH_TIMEOUT).
        state.tasks().spawn(async move {
            record_batch(&batch_state, due).await;
            drop(carrying);
            drop(slot);
        });
    }
}

/// The rows a batch carries, marked in flight until it ends, however it ends (a panic
/// included), so that no row is skipped for good.
struct Carrying {
    recorder: ReleaseRecorder,
    ids: Vec<i64>,
}

impl Carrying {
    fn new(recorder: &ReleaseRecorder, batch: &[PendingRelease]) -> Self {
        let ids: Vec<i64> = batch.iter().map(|row| row.id).collect();
        recorder.in_flight().extend(ids.iter().copied());
        Self { recorder: recorder.clone(), ids }
    }
}

impl Drop for Carrying {
    fn drop(&mut self) {
        let mut in_flight = self.recorder.in_flight();
        for id in &self.ids {
            in_flight.remove(id);
        }
        drop(in_flight);
        // More may have arrived while this batch was out.
        self.recorder.wake.notify_one();
    }
}

async fn prune(state: &AppState, now: u64) {
    match state.index().forget_abandoned_releases(now.saturating_sub(ABANDONED_AFTER_MS)).await {
        Ok(0) => {}
        Ok(forgotten) => tracing::info!(forgotten, "forgot releases abandoned unconfirmed"),
        Err(error) => tracing::warn!(%error, "cannot prune the release outbox"),
    }
    match state.index().prune_recorded_releases(now.saturating_sub(KEEP_RECORDED_MS)).await {
        Ok(0) => {}
        Ok(pruned) => tracing::debug!(pruned, "forgot releases recorded on chain"),
        Err(error) => tracing::warn!(%error, "cannot prune the release outbox"),
    }
    let keep_refused_ms = state.releases().policy.keep_refused_days.saturating_mul(86_400_000);
    match state.index().prune_refused_releases(now.saturating_sub(keep_refused_ms)).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "forgot refused release records past their retention"),
        Err(error) => tracing::warn!(%error, "cannot prune the release outbox"),
    }
}

/// Sends an empty `record_releases` call, signed by this node, and waits for its block:
/// whether the chain takes this node's records (fees included) again.
pub(super) async fn probe(state: &AppState) -> Result<(), ApiError> {
    let chain = state.chain().client().await?;
    let signer = &state.node().signer;
    let message = messages::record_releases(&[]);
    let sent = async {
        let dry_run = chain.dry_run(&signer.account_id(), &message).await?;
        chain.submit_dry_run(signer, &message, &dry_run, Confirmation::InBlock).await
    };
    match tokio::time::timeout(BATCH_TIMEOUT, sent).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(chain_unavailable(error)),
        Err(_) => Err(ApiError::Unavailable {
            dependency: "the chain",
            cause: format!("no block within {} s", BATCH_TIMEOUT.as_secs()),
        }),
    }
}

/// Where one release's record went.
enum Outcome {
    Recorded {
        tx_hash: String,
        block_number: u64,
    },
    Refused(ChainError),
    /// A paid release whose record an earlier transaction put on chain, although the
    /// outbox never learned it (its writer died, or lost its lease, with the batch out):
    /// the chain refused its second record, and the index has the first one's event.
    RecordedEarlier {
        tx_hash: String,
        block_number: u64,
    },
    /// The chain did not take it (unreachable, transaction refused, no block in time):
    /// releases stop until a record sent later lands.
    Failed(ChainError),
    /// The chain moved between the dry-run and the block, or another transaction of
    /// this account took the nonce: tried again shortly.
    Retry(ChainError),
}

/// A release as `record_releases` takes it.
type Item = (ShareId, AccountId, Timestamp);

async fn record_batch(state: &AppState, batch: Vec<PendingRelease>) {
    // Without a connection to the chain (the relay just started, or the node is gone)
    // nothing is attempted: the rows wait, and releases are already refused for want of
    // a chain, not for a failed record.
    let Ok(chain) = state.chain().client().await else {
        tokio::time::sleep(POLL).await;
        return;
    };
    let attempt = state.releases().next_attempt();
    let started = std::time::Instant::now();
    let recording = record_on_chain(&chain, &state.node().signer, &batch);
    let mut outcomes = tokio::time::timeout(BATCH_TIMEOUT, recording).await.unwrap_or_else(|_| {
        let why = format!("no block within {} s", BATCH_TIMEOUT.as_secs());
        batch.iter().map(|_| Outcome::Failed(ChainError::Transaction(why.clone()))).collect()
    });
    state.metrics().chain_call(started);
    // A paid release the contract refuses may be one an earlier batch recorded without
    // its writer learning it.
    for (row, outcome) in batch.iter().zip(outcomes.iter_mut()) {
        if let Outcome::Refused(ChainError::Contract(refusal)) = outcome {
            if row.release.receipt_paid_at.is_some() {
                *outcome = recorded_earlier(state, &chain, row, *refusal).await;
            }
        }
    }
    if let Err(error) = store_outcomes(state, attempt, &batch, outcomes).await {
        // The rows stay pending and would be recorded again at once: releases pause,
        // and the rows stay in flight a while before they are looked at again.
        tracing::error!(%error, "cannot mark releases in the outbox");
        let failure = format!("the release outbox cannot be written: {error}");
        state.releases().attempted(attempt, Some(failure));
        tokio::time::sleep(Duration::from_millis(RETRY_AFTER_MS)).await;
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
    let fail_all = |error: ChainError| {
        let text = error.to_string();
        batch.iter().map(|_| Outcome::Failed(ChainError::Transaction(text.clone()))).collect()
    };
    let items: Vec<Item> = batch
        .iter()
        .map(|row| (row.release.share_id, row.release.recipient, row.release.released_at))
        .collect();
    let origin = signer.account_id();
    let message = messages::record_releases(&items);
    let dry_run = match chain.dry_run(&origin, &message).await {
        Ok(dry_run) => dry_run,
        Err(error) => return fail_all(error),
    };
    let verdicts = match dry_run.decode_result::<Vec<Result<(), datamgmt_abi::Error>>>() {
        Ok(verdicts) if verdicts.len() == items.len() => verdicts,
        Ok(_) => return fail_all(ChainError::Decode("one verdict per release expected".into())),
        Err(error) => return fail_all(error),
    };
    let accepted: Vec<Item> =
        items.iter().zip(&verdicts).filter(|(_, v)| v.is_ok()).map(|(item, _)| *item).collect();
    // The transaction's extrinsic hash and block, or why it did not land and whether
    // that was a race, tried again shortly with a fresh dry-run: a nonce taken by another
    // transaction of this account, or limits the chain's newer state outgrew (a share
    // revoked since the dry-run reads larger). Nothing is wrong with the chain; a race
    // that keeps coming back still stops releases once records lag too long.
    let mut landed: Result<(String, u64), (String, bool)> = Err((String::new(), false));
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
            Err(error) => {
                let race = error.is_nonce_clash() || error.is_over_dry_run_limits();
                Err((error.to_string(), race))
            }
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
            (Ok(()), Err((error, true))) => Outcome::Retry(ChainError::Transaction(error.clone())),
            (Ok(()), Err((error, false))) => {
                Outcome::Failed(ChainError::Transaction(error.clone()))
            }
        })
        .collect()
}

/// What the contract's refusal of a paid release's record really is. A writer that died
/// (or lost its lease) with a batch out leaves its rows pending, and should the batch
/// land, the next writer sends them again: the contract then refuses a paid release,
/// whose receipt its own first record used (or, once the recipient paid again, refuses
/// it for want of payment at its release time). So when the index holds a paid
/// `KeyReleased` event for exactly this share, recipient and release time, the release
/// is recorded. A refusal for the used-up receipt stands (the receipt was used by
/// another record, a dApp's signed with the node's account, say) once the receipt reads
/// used at a finalized block the index had reached before it was looked in; until then
/// (the record that used it not final or not indexed yet) the release is tried again
/// shortly. Any other refusal stands as it is.
async fn recorded_earlier(
    state: &AppState,
    chain: &ChainClient,
    row: &PendingRelease,
    refusal: datamgmt_abi::Error,
) -> Outcome {
    let release = &row.release;
    let index = state.index();
    let looked = async {
        let indexed = index.indexed_up_to().await.map_err(|e| e.to_string())?.unwrap_or(0);
        let record = index
            .paid_release_record(release.share_id, &release.recipient, release.released_at)
            .await
            .map_err(|e| e.to_string())?;
        if let Some((tx_hash, block_number)) = record {
            return Ok(Outcome::RecordedEarlier { tx_hash, block_number });
        }
        let refused = Outcome::Refused(ChainError::Contract(refusal));
        if refusal != datamgmt_abi::Error::AccessDenied(DenyReason::ReceiptUsedUp) {
            return Ok(refused);
        }
        let (finalized, hash) = chain.finalized_block().await.map_err(|e| e.to_string())?;
        let receipt = chain
            .receipt_at(release.share_id, &release.recipient, hash)
            .await
            .map_err(|e| e.to_string())?;
        if receipt.is_some_and(|r| r.releases_left == 0) && indexed >= finalized {
            return Ok(refused);
        }
        Err("its receipt is used: waiting for the record that used it to be final and indexed"
            .to_owned())
    };
    looked.await.unwrap_or_else(|why: String| Outcome::Retry(ChainError::Transaction(why)))
}

/// Marks each row as its outcome says, then tells the gate: a failure pauses releases,
/// a record lifts a failure that came before this attempt, and the settled rows (and
/// refusals) are counted only once they are marked.
async fn store_outcomes(
    state: &AppState,
    attempt: u64,
    batch: &[PendingRelease],
    outcomes: Vec<Outcome>,
) -> Result<(), IndexError> {
    let index = state.index();
    let now = now_ms();
    // Rows with the same outcome are marked by one statement.
    let mut recorded: BTreeMap<(String, u64), Vec<i64>> = BTreeMap::new();
    let mut failed: BTreeMap<(String, Option<Timestamp>), Vec<i64>> = BTreeMap::new();
    // Of those, rows an earlier batch recorded: they lift no failure, since nothing
    // landed now.
    let mut found_earlier = 0usize;
    let mut chain_failure = None;
    let mut refused = 0u64;
    for (row, outcome) in batch.iter().zip(outcomes) {
        let release = &row.release;
        match outcome {
            Outcome::Recorded { tx_hash, block_number } => {
                recorded.entry((tx_hash, block_number)).or_default().push(row.id);
            }
            Outcome::RecordedEarlier { tx_hash, block_number } => {
                tracing::info!(
                    share_id = %release.share_id, recipient = %release.recipient, %tx_hash,
                    "a paid release was on chain already: an earlier batch recorded it"
                );
                found_earlier += 1;
                recorded.entry((tx_hash, block_number)).or_default().push(row.id);
            }
            Outcome::Refused(error) => {
                tracing::error!(
                    share_id = %release.share_id, recipient = %release.recipient, %error,
                    "the chain refused the record of a key release that was sent"
                );
                refused += 1;
                failed.entry((error.to_string(), None)).or_default().push(row.id);
            }
            Outcome::Failed(error) => {
                chain_failure = Some(error.to_string());
                let retry_at = Some(now + RETRY_AFTER_MS);
                failed.entry((error.to_string(), retry_at)).or_default().push(row.id);
            }
            Outcome::Retry(error) => {
                let retry_at = Some(now + RETRY_SOON_MS);
                failed.entry((error.to_string(), retry_at)).or_default().push(row.id);
            }
        }
    }
    let landed = recorded.values().map(Vec::len).sum::<usize>() - found_earlier;
    if chain_failure.is_some() || landed > 0 {
        state.releases().attempted(attempt, chain_failure);
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
    state.metrics().record_release_records(landed as u64, found_earlier as u64, refused);
    state.releases().settled(landed + found_earlier + refused as usize, refused);
    tracing::debug!(releases = batch.len(), "recorded a batch of releases");
    Ok(())
}
