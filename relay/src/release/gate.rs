//! Key releases: written down before the envelope leaves, recorded on chain after, and
//! stopped while their records do not keep up.
//!
//! The P2P route decides a release on the chain state of one block, writes it to the
//! index's `key_releases` outbox and sends the envelope; it does not wait for a block.
//! [`super::recorder`] records the outbox on chain, the releases waiting when a transaction can
//! go together in it (one `record_releases` call, each release recorded or refused on
//! its own). The contract applies its rule at each release's own time, so a revocation
//! or expiry that lands between sending and recording does not lose the record, and a
//! paid receipt is consumed on chain when its release is recorded. Until then the
//! outbox's unique index on the receipt is what lets one payment buy one release.
//!
//! A record the chain could not take (node down) is tried again; one the contract
//! refuses is kept as `refused`, logged, counted and listed at `/admin/releases`
//! ([`crate::api::releases`]), never dropped silently. Rows survive a restart: the task picks up
//! whatever is pending when it starts.
//!
//! # Failing closed
//!
//! Sending before recording is safe only while records keep up, so the P2P route asks
//! [`ReleaseRecorder::gate`] before every release, and it refuses (503, with why) while
//!
//! - the outbox has not been read yet since the relay started,
//! - [`MAX_PENDING`] releases wait,
//! - the last attempt to record failed for a reason other than the contract's refusal
//!   (node unreachable, transaction not accepted: an account that cannot pay its fees,
//!   no block within [`super::recorder::BATCH_TIMEOUT`]) and no record sent after it has landed,
//! - the contract refused a record that an operator has not acknowledged yet (a key
//!   left without its record: `POST /admin/releases/acknowledge` once looked at), or
//! - a release has waited longer than `max_record_lag_secs` for its record.
//!
//! All but the refusal lift by themselves once their cause is gone: the pending rows
//! are retried every few seconds, and when none is left to prove that the chain takes
//! this node's records again, an empty `record_releases` call is sent instead (a
//! contract call of the same kind, so it needs the fees a record does).
//!
//! A release is written down before it is confirmed: if a block newer than the one it
//! was decided on has been seen meanwhile and no longer allows it, it is taken back,
//! unsent ([`ReleaseRecorder::release`]). Until confirmed its row is `unconfirmed`, which
//! the recorder (of whichever replica holds the chain writer lease) never reads, so one
//! taken back is never recorded.

use crate::config::ReleasePolicy;
use crate::error::ApiError;
use crate::index::KeyRelease;
use crate::time::now_ms;
use datamgmt_client::api::GateStatus;
use tokio_util::task::TaskTracker;

use datamgmt_abi::Timestamp;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Releases waiting for their record beyond which new ones are refused (503) until the
/// chain catches up: a record must land within `RELEASE_RECORD_WINDOW_MS` of its
/// release, and this is about a minute of records on the dev node.
pub const MAX_PENDING: usize = 50_000;

/// Wait before recording again after the chain did not take a record (ms).
pub(crate) const RETRY_AFTER_MS: u64 = 5_000;

/// Writes releases to the outbox, wakes the recording task, and says whether releases
/// may go on.
#[derive(Clone, Default)]
pub struct ReleaseRecorder {
    pub(crate) policy: ReleasePolicy,
    pub(crate) wake: Arc<Notify>,
    /// Rows a transaction is carrying now.
    in_flight: Arc<Mutex<HashSet<i64>>>,
    /// What the gate decides on.
    gate: Arc<Mutex<GateInputs>>,
    /// Attempts to record, numbered as they start: only a record sent after a failure
    /// can show that the failure's cause is gone.
    attempts: Arc<AtomicU64>,
}

#[derive(Default)]
struct GateInputs {
    /// Whether the outbox has been read since start-up.
    loaded: bool,
    /// Rows waiting for their record.
    pending: usize,
    /// When the oldest of them was written (ms).
    oldest_pending_at: Option<Timestamp>,
    /// The latest failed attempt (its number) and why, until a later one lands.
    failing: Option<(u64, String)>,
    /// Records the contract refused that no operator has acknowledged.
    unacknowledged_refusals: u64,
    /// Changes whenever this process changes the refusals (a refusal marked, an
    /// acknowledgement): a watchdog read from before such a change is not applied.
    refusals_changed: u64,
}

/// What became of a release written to the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Written and confirmed; send it.
    Released,
    /// Its paid receipt bought a release already: nothing written, nothing to send.
    ReceiptUsed,
}

impl ReleaseRecorder {
    /// A recorder under `policy`.
    pub fn new(policy: ReleasePolicy) -> Self {
        Self { policy, ..Self::default() }
    }

    fn inputs(&self) -> MutexGuard<'_, GateInputs> {
        self.gate.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn in_flight(&self) -> MutexGuard<'_, HashSet<i64>> {
        self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The rows the recorder must leave alone now: those being recorded. (Releases that
    /// may still be taken back are `unconfirmed` in the outbox, which the recorder does
    /// not read.)
    pub(crate) fn busy_rows(&self) -> HashSet<i64> {
        self.in_flight().clone()
    }

    /// Whether releases may go on at `now` (ms), and if not, why.
    pub fn status(&self, now: Timestamp) -> GateStatus {
        let inputs = self.inputs();
        let oldest_pending_secs = inputs.oldest_pending_at.map(|at| now.saturating_sub(at) / 1000);
        let reason = self.pause(&inputs, now).map(|(_, detail)| detail);
        GateStatus {
            releasing: reason.is_none(),
            reason,
            pending: inputs.pending,
            oldest_pending_secs,
        }
    }

    /// Why releases are paused at `now`: in general terms (what a peer is told), and in
    /// detail (what an operator is told).
    fn pause(&self, inputs: &GateInputs, now: Timestamp) -> Option<(&'static str, String)> {
        if !inputs.loaded {
            let why = "the release outbox is being read";
            return Some((why, why.to_owned()));
        }
        if inputs.pending >= MAX_PENDING {
            return Some((
                "too many key releases wait for their chain record",
                format!("{} key releases wait for their chain record", inputs.pending),
            ));
        }
        if let Some((_, error)) = &inputs.failing {
            return Some((
                "recording key releases on chain fails",
                format!("recording key releases on chain fails: {error}"),
            ));
        }
        if inputs.unacknowledged_refusals > 0 {
            return Some((
                "the contract refused release records an operator has not looked at",
                format!(
                    "the contract refused {} release records (keys that left without their \
                     record): see /admin/releases?state=refused, then POST \
                     /admin/releases/acknowledge",
                    inputs.unacknowledged_refusals
                ),
            ));
        }
        let age = now.saturating_sub(inputs.oldest_pending_at?) / 1000;
        (age > self.policy.max_record_lag_secs).then(|| {
            (
                "key releases wait too long for their chain record",
                format!(
                    "a key release has waited {age} s for its chain record ({} waiting; the \
                     limit is {} s)",
                    inputs.pending, self.policy.max_record_lag_secs
                ),
            )
        })
    }

    /// A 503 saying why, unless releases may go on now.
    pub fn gate(&self) -> Result<(), ApiError> {
        let inputs = self.inputs();
        match self.pause(&inputs, now_ms()) {
            None => Ok(()),
            Some((reason, _)) => Err(ApiError::ReleasesPaused(reason)),
        }
    }

    /// Writes `release` down, unconfirmed, then has `confirm` say whether it may still
    /// leave (the caller decides again if a newer block was seen since the decision). If
    /// it may not, the row is taken back and `confirm`'s refusal is the answer; if it
    /// may, the row is confirmed (pending its chain record from then on, so the recorder
    /// of any replica records it), counted, and the release may be sent. A row the
    /// outbox no longer holds to confirm is not sent. A 503 while releases are paused.
    ///
    /// This runs to the end, on `tasks`, even if the request is dropped meanwhile (the
    /// asker hung up), so the outbox, the pending count and the metric always agree, and
    /// shutdown waits for it.
    pub async fn release<C, F>(
        &self,
        tasks: &TaskTracker,
        index: &crate::index::Index,
        metrics: &crate::metrics::Metrics,
        release: KeyRelease,
        confirm: C,
    ) -> Result<Written, ApiError>
    where
        C: FnOnce() -> F + Send + 'static,
        F: std::future::Future<Output = Result<(), ApiError>> + Send + 'static,
    {
        self.gate()?;
        let (recorder, index, metrics) = (self.clone(), index.clone(), metrics.clone());
        let write = tasks.spawn(async move {
            let now = now_ms();
            let Some(id) = index.insert_release(&release, now).await? else {
                return Ok(Written::ReceiptUsed);
            };
            if let Err(refusal) = confirm().await {
                // Should the take-back fail, the row stays unconfirmed: never recorded,
                // and forgotten as abandoned later.
                index.cancel_release(id).await?;
                return Err(refusal);
            }
            if !index.confirm_release(id, now_ms()).await? {
                return Err(ApiError::Unavailable {
                    dependency: "the index",
                    cause: "the release was forgotten before it was confirmed".into(),
                });
            }
            {
                let mut inputs = recorder.inputs();
                inputs.pending += 1;
                inputs.oldest_pending_at.get_or_insert(now);
            }
            metrics.record_key_release();
            recorder.wake.notify_one();
            Ok::<_, ApiError>(Written::Released)
        });
        write.await.map_err(|e| ApiError::Internal(format!("release write: {e}")))?
    }

    /// The number of an attempt to record that starts now.
    pub(crate) fn next_attempt(&self) -> u64 {
        self.attempts.fetch_add(1, Ordering::SeqCst)
    }

    /// Notes how attempt `number` went: `Some(error)` when the chain did not take it,
    /// `None` when its record landed (which clears a failure only if the attempt
    /// started after it).
    pub(crate) fn attempted(&self, number: u64, failure: Option<String>) {
        let mut inputs = self.inputs();
        match (failure, inputs.failing.take()) {
            (Some(error), None) => {
                tracing::error!(%error, "key releases stop: recording fails");
                inputs.failing = Some((number, error));
            }
            (Some(error), Some((before, _))) => inputs.failing = Some((before.max(number), error)),
            (None, Some((failed, error))) if failed >= number => {
                inputs.failing = Some((failed, error));
            }
            (None, Some(_)) => tracing::info!("key releases resume: a record landed"),
            (None, None) => {}
        }
    }

    /// `count` pending releases have their outcome (recorded or refused), `refused` of
    /// them refused.
    pub(crate) fn settled(&self, count: usize, refused: u64) {
        let mut inputs = self.inputs();
        inputs.pending = inputs.pending.saturating_sub(count);
        if inputs.pending == 0 {
            inputs.oldest_pending_at = None;
        }
        if refused > 0 {
            inputs.unacknowledged_refusals += refused;
            inputs.refusals_changed += 1;
        }
    }

    /// How many times refusals changed so far: read before the outbox is, and given
    /// back to [`outbox_read`](Self::outbox_read), so a count read while they changed
    /// is not taken for current.
    pub(crate) fn refusals_seen(&self) -> u64 {
        self.inputs().refusals_changed
    }

    /// What the outbox holds, as just read: `pending` rows, the oldest written at
    /// `oldest`, and `refused` unacknowledged refusals (ignored if refusals changed
    /// since `refusals_before`). The first call opens the gate.
    pub(crate) fn outbox_read(
        &self,
        pending: usize,
        oldest: Option<Timestamp>,
        refused: u64,
        refusals_before: u64,
    ) {
        let mut inputs = self.inputs();
        inputs.pending = pending;
        inputs.oldest_pending_at = oldest;
        if inputs.refusals_changed == refusals_before {
            inputs.unacknowledged_refusals = refused;
        }
        inputs.loaded = true;
    }

    /// Whether recording is failing with nothing pending to prove it works again.
    pub(crate) fn failing_while_idle(&self) -> bool {
        let inputs = self.inputs();
        inputs.failing.is_some() && inputs.pending == 0
    }

    /// An operator acknowledged the refusals; how many are still unacknowledged.
    pub(crate) fn acknowledged(&self, left: u64) {
        let mut inputs = self.inputs();
        inputs.unacknowledged_refusals = left;
        inputs.refusals_changed += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(policy: ReleasePolicy) -> ReleaseRecorder {
        let recorder = ReleaseRecorder::new(policy);
        recorder.inputs().loaded = true;
        recorder
    }

    #[test]
    fn the_gate_is_closed_until_the_outbox_is_read() {
        let recorder = ReleaseRecorder::new(ReleasePolicy::default());
        assert!(matches!(recorder.gate(), Err(ApiError::ReleasesPaused(_))));
        recorder.inputs().loaded = true;
        assert!(recorder.gate().is_ok());
    }

    #[test]
    fn only_a_record_sent_after_a_failure_lifts_it() {
        let recorder = loaded(ReleasePolicy::default());
        let (early, late) = (recorder.next_attempt(), recorder.next_attempt());
        recorder.attempted(late, Some("fees".into()));
        assert!(recorder.gate().is_err());
        // A batch sent before the failure lands: the failure's cause may remain.
        recorder.attempted(early, None);
        assert!(recorder.gate().is_err(), "an earlier attempt does not lift it");
        let after = recorder.next_attempt();
        recorder.attempted(after, None);
        assert!(recorder.gate().is_ok());
    }

    #[tokio::test]
    async fn a_release_decided_before_a_newer_block_is_taken_back_unsent() {
        let index =
            crate::index::Index::open(&crate::index::scratch::ephemeral_url().await).await.unwrap();
        let metrics = crate::metrics::Metrics::default();
        let recorder = loaded(ReleasePolicy::default());
        let release = |paid_at: Option<u64>| KeyRelease {
            share_id: datamgmt_abi::ShareId([1; 16]),
            recipient: datamgmt_abi::AccountId([2; 32]),
            released_at: 1_000,
            receipt_paid_at: paid_at,
        };
        let refuse = || async { Err(ApiError::AccessDenied("revoked meanwhile".into())) };
        let allow = || async { Ok(()) };
        let refused = recorder
            .release(&TaskTracker::new(), &index, &metrics, release(Some(900)), refuse)
            .await;
        assert!(matches!(refused, Err(ApiError::AccessDenied(_))), "{refused:?}");
        assert_eq!(index.pending_releases().await.unwrap(), (0, None), "nothing to record");
        // The receipt was not spent by the release taken back.
        let sent = recorder
            .release(&TaskTracker::new(), &index, &metrics, release(Some(900)), allow)
            .await;
        assert_eq!(sent.unwrap(), Written::Released);
        let again = recorder
            .release(&TaskTracker::new(), &index, &metrics, release(Some(900)), allow)
            .await;
        assert_eq!(again.unwrap(), Written::ReceiptUsed);
        assert_eq!(recorder.status(0).pending, 1);
        assert!(metrics.render().contains("datamgmt_key_releases_total 1"));
    }

    #[test]
    fn refusals_pause_until_acknowledged_and_lag_pauses_until_recorded() {
        let policy = ReleasePolicy { max_record_lag_secs: 15, ..ReleasePolicy::default() };
        let recorder = loaded(policy);
        {
            let mut inputs = recorder.inputs();
            inputs.pending = 2;
            inputs.oldest_pending_at = Some(1_000);
        }
        assert!(recorder.status(15_000).releasing);
        let lagging = recorder.status(17_000);
        assert!(!lagging.releasing && lagging.reason.unwrap().contains("waited 16 s"));
        recorder.settled(2, 1);
        let refused = recorder.status(17_000);
        assert!(refused.reason.unwrap().contains("refused 1 release record"));
        recorder.inputs().unacknowledged_refusals = 0;
        assert!(recorder.status(17_000).releasing);
    }
}
