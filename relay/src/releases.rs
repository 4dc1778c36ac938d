//! Key releases recorded on chain, several to a transaction.
//!
//! Every release waits for its `record_release` to be in a block before the envelope
//! leaves (for a priced share that call consumes the payment, so it must come first).
//! One transaction per release would cap releases at the chain's block rate and queue
//! the rest behind it; instead the releases that arrive while a transaction is on its
//! way go together in the next one (`Utility::force_batch`), each call succeeding or
//! failing on its own. Under load a release waits for about two blocks, not for every
//! release before it.

use crate::state::AppState;
use datamgmt_abi::{AccountId, ShareId};
use datamgmt_client::chain::{messages, ChainError, Confirmation};
use tokio::sync::{mpsc, oneshot};

/// Most releases in one transaction (each call's proof is about 100 kB, and a block
/// holds a few MB).
const MAX_BATCH: usize = 24;

/// Transactions of releases on their way at once: while one waits for its block, the
/// next can be signed and sent (the chain client keeps their nonces in order).
const BATCHES_IN_FLIGHT: usize = 3;

/// Releases waiting for the next transaction.
const QUEUE: usize = 4096;

struct Waiting {
    share_id: ShareId,
    recipient: AccountId,
    done: oneshot::Sender<Result<(), ChainError>>,
}

/// Hands releases to the recording task.
#[derive(Clone)]
pub struct ReleaseRecorder {
    queue: mpsc::Sender<Waiting>,
}

impl ReleaseRecorder {
    /// A recorder and the receiving end its task works from.
    pub(crate) fn new() -> (Self, ReleaseQueue) {
        let (queue, receiver) = mpsc::channel(QUEUE);
        (Self { queue }, ReleaseQueue(receiver))
    }

    /// Records on chain that `recipient` gets the key of `share_id`; returns once the
    /// record is in a block, or why it is not.
    pub async fn record(&self, share_id: ShareId, recipient: AccountId) -> Result<(), ChainError> {
        let (done, outcome) = oneshot::channel();
        let stopped = || ChainError::Transaction("the release recorder stopped".to_owned());
        self.queue.send(Waiting { share_id, recipient, done }).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

/// The receiving end of a [`ReleaseRecorder`].
pub struct ReleaseQueue(mpsc::Receiver<Waiting>);

/// Records queued releases for as long as the process lives: whatever is waiting when a
/// transaction can go goes in it.
pub(crate) fn spawn(state: AppState, ReleaseQueue(mut queue): ReleaseQueue) {
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(BATCHES_IN_FLIGHT));
    tokio::spawn(async move {
        while let Some(first) = queue.recv().await {
            let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let state = state.clone();
            tokio::spawn(async move {
                record_batch(&state, batch).await;
                drop(permit);
            });
        }
    });
}

async fn record_batch(state: &AppState, batch: Vec<Waiting>) {
    let chain = match state.chain().client().await {
        Ok(chain) => chain,
        Err(error) => {
            for waiting in batch {
                let _ = waiting.done.send(Err(ChainError::Transaction(error.to_string())));
            }
            return;
        }
    };
    let signer = &state.node().signer;
    let messages: Vec<_> =
        batch.iter().map(|w| messages::record_release(w.share_id, &w.recipient)).collect();
    let started = std::time::Instant::now();
    let outcomes: Vec<Result<(), ChainError>> = if messages.len() == 1 {
        vec![chain.submit(signer, &messages[0], Confirmation::InBlock).await.map(|_| ())]
    } else {
        match chain.submit_batch(signer, &messages).await {
            Ok(outcomes) => outcomes.into_iter().map(|o| o.map(|_| ())).collect(),
            Err(error) => {
                let text = error.to_string();
                batch.iter().map(|_| Err(ChainError::Transaction(text.clone()))).collect()
            }
        }
    };
    state.metrics().chain_call(started);
    tracing::debug!(releases = batch.len(), "recorded a batch of releases");
    for (waiting, outcome) in batch.into_iter().zip(outcomes) {
        let _ = waiting.done.send(outcome);
    }
}
