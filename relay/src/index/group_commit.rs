//! Small writes on the key-release path, committed together.
//!
//! Every signed P2P request writes its nonce and every release its outbox row, and a
//! commit waits for the disk (SQLite and PostgreSQL sync each one). Committed one by one, they cap
//! releases at the disk's sync rate; here the writes that arrive while a commit is under
//! way go together in the next transaction, and each caller is answered once the commit
//! holding its write is durable, so nothing is acknowledged before it is on disk.

use super::columns::{to_i64, IndexError};
use datamgmt_abi::{AccountId, ShareId, Timestamp};
use sqlx::AnyPool;
use sqlx::Row;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Most writes in one transaction.
const MAX_GROUP: usize = 256;

/// A write on the hot path; each answers with its new row's id, or `None` when the row
/// was there already (a nonce seen, a receipt used).
pub(super) enum Write {
    /// A P2P request's nonce (and, now and then, forgetting old ones).
    Nonce {
        account: AccountId,
        nonce: String,
        seen_at: Timestamp,
        forget_before: Option<Timestamp>,
    },
    /// A key release, written unconfirmed (see `key_releases`).
    Release {
        share_id: ShareId,
        recipient: AccountId,
        released_at: Timestamp,
        receipt_paid_at: Option<Timestamp>,
        now: Timestamp,
    },
    /// An unconfirmed release confirmed: from now on it waits for its chain record.
    Confirm {
        /// Its row.
        id: i64,
        now: Timestamp,
    },
}

type Waiting = (Write, oneshot::Sender<Result<Option<i64>, String>>);

/// Hands writes to the committing task, [`GroupCommit::run`]; while none runs (before
/// the relay starts its tasks, after they stop, or in a test that starts none), each
/// write is committed on its own.
#[derive(Clone, Debug)]
pub(super) struct GroupCommit {
    pool: AnyPool,
    queue: mpsc::UnboundedSender<Waiting>,
    receiver: Arc<Mutex<Option<mpsc::UnboundedReceiver<Waiting>>>>,
    running: Arc<AtomicBool>,
}

impl GroupCommit {
    /// Writes on `pool`; nothing commits in groups until [`run`](Self::run) does.
    pub(super) fn new(pool: AnyPool) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel::<Waiting>();
        Self {
            pool,
            queue,
            receiver: Arc::new(Mutex::new(Some(receiver))),
            running: Default::default(),
        }
    }

    /// Commits the queued writes in groups until `stopping` is cancelled, then commits
    /// what is still queued and returns. Runs once: a second call returns at once.
    pub(super) async fn run(self, stopping: CancellationToken) {
        let taken = self.receiver.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let Some(mut receiver) = taken else { return };
        self.running.store(true, Ordering::SeqCst);
        let mut group = Vec::with_capacity(MAX_GROUP);
        loop {
            let received = tokio::select! {
                biased;
                () = stopping.cancelled() => break,
                received = receiver.recv_many(&mut group, MAX_GROUP) => received,
            };
            if received == 0 {
                return;
            }
            self.commit_group(&mut group).await;
        }
        // From here on writes commit on their own; those already queued go now.
        self.running.store(false, Ordering::SeqCst);
        receiver.close();
        while receiver.recv_many(&mut group, MAX_GROUP).await > 0 {
            self.commit_group(&mut group).await;
        }
    }

    async fn commit_group(&self, group: &mut Vec<Waiting>) {
        let outcome = commit(&self.pool, group).await;
        for (index, (_, done)) in group.drain(..).enumerate() {
            let answer = match &outcome {
                Ok(new_rows) => Ok(new_rows[index]),
                Err(error) => Err(error.clone()),
            };
            let _ = done.send(answer);
        }
    }

    /// Writes `write` in the next group (or alone, while no group writer runs); returns
    /// once it is committed, with the new row's id (`None`: nothing new was written).
    pub(super) async fn write(&self, write: Write) -> Result<Option<i64>, IndexError> {
        let (done, answer) = oneshot::channel();
        let alone = if self.running.load(Ordering::SeqCst) {
            match self.queue.send((write, done)) {
                Ok(()) => None,
                // The writer has just stopped.
                Err(mpsc::error::SendError(waiting)) => Some(waiting),
            }
        } else {
            Some((write, done))
        };
        if let Some(waiting) = alone {
            let new_rows = commit(&self.pool, &[waiting]).await.map_err(IndexError::Write)?;
            return Ok(new_rows[0]);
        }
        let stopped = || IndexError::Write("the index writer stopped".to_owned());
        answer.await.map_err(|_| stopped())?.map_err(IndexError::Write)
    }
}

/// Runs `group` in one transaction: per write, its new row's id if it wrote one.
///
/// Replicas sharing a PostgreSQL index commit groups side by side. Rows are written in
/// one order (by key), so two groups wait for each other's rows only one way round;
/// should PostgreSQL still find a deadlock (or a serialization failure) and abort a
/// group, it is tried once more.
async fn commit(pool: &AnyPool, group: &[Waiting]) -> Result<Vec<Option<i64>>, String> {
    match commit_once(pool, group).await {
        Err(error) if is_transient(&error) => {
            commit_once(pool, group).await.map_err(|error| error.to_string())
        }
        outcome => outcome.map_err(|error| error.to_string()),
    }
}

/// Whether PostgreSQL aborted a transaction only for its timing (deadlock detected,
/// serialization failure), so that it may simply run again.
fn is_transient(error: &sqlx::Error) -> bool {
    let code = error.as_database_error().and_then(|error| error.code());
    matches!(code.as_deref(), Some("40P01" | "40001"))
}

/// The order `group`'s rows are written in: by table, then key.
fn write_order(group: &[Waiting]) -> Vec<usize> {
    let key = |write: &Write| match write {
        Write::Nonce { account, nonce, .. } => (0, account.to_string(), nonce.clone(), None),
        Write::Release { share_id, recipient, receipt_paid_at, .. } => {
            (1, share_id.to_string(), recipient.to_string(), *receipt_paid_at)
        }
        Write::Confirm { id, .. } => (2, format!("{id:020}"), String::new(), None),
    };
    let mut order: Vec<usize> = (0..group.len()).collect();
    order.sort_by_cached_key(|&n| key(&group[n].0));
    order
}

async fn commit_once(pool: &AnyPool, group: &[Waiting]) -> Result<Vec<Option<i64>>, sqlx::Error> {
    let run = async {
        let mut transaction = pool.begin().await?;
        let mut new_rows = vec![None; group.len()];
        for n in write_order(group) {
            let write = &group[n].0;
            let new_row = match write {
                Write::Nonce { account, nonce, seen_at, forget_before } => {
                    if let Some(before) = forget_before {
                        sqlx::query("DELETE FROM p2p_nonces WHERE seen_at < $1")
                            .bind(to_i64(*before))
                            .execute(&mut *transaction)
                            .await?;
                    }
                    let inserted = sqlx::query(
                        "INSERT INTO p2p_nonces (account, nonce, seen_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (account, nonce) DO NOTHING",
                    )
                    .bind(account.to_string())
                    .bind(nonce)
                    .bind(to_i64(*seen_at))
                    .execute(&mut *transaction)
                    .await?;
                    // A nonce has no row id of its own: 0 says it is new.
                    (inserted.rows_affected() == 1).then_some(0)
                }
                Write::Release { share_id, recipient, released_at, receipt_paid_at, now } => {
                    // A receipt used already (the unique index) writes nothing.
                    let inserted = sqlx::query(
                        "INSERT INTO key_releases \
                         (share_id, recipient, released_at, receipt_paid_at, state, updated_at, \
                         written_at) VALUES ($1, $2, $3, $4, 'unconfirmed', $5, $6) \
                         ON CONFLICT DO NOTHING RETURNING id",
                    )
                    .bind(share_id.to_string())
                    .bind(recipient.to_string())
                    .bind(to_i64(*released_at))
                    .bind(receipt_paid_at.map(to_i64))
                    .bind(to_i64(*now))
                    .bind(to_i64(*now))
                    .fetch_optional(&mut *transaction)
                    .await?;
                    inserted.map(|row| row.try_get::<i64, _>("id")).transpose()?
                }
                Write::Confirm { id, now } => {
                    let confirmed = sqlx::query(
                        "UPDATE key_releases SET state = 'pending', updated_at = $1 \
                         WHERE id = $2 AND state = 'unconfirmed'",
                    )
                    .bind(to_i64(*now))
                    .bind(*id)
                    .execute(&mut *transaction)
                    .await?;
                    (confirmed.rows_affected() == 1).then_some(*id)
                }
            };
            new_rows[n] = new_row;
        }
        transaction.commit().await?;
        Ok::<_, sqlx::Error>(new_rows)
    };
    run.await
}
