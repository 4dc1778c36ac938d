//! Small writes on the key-release path, committed together.
//!
//! Every signed P2P request writes its nonce and every release its outbox row, and a
//! commit waits for the disk (SQLite syncs each one). Committed one by one, they cap
//! releases at the disk's sync rate; here the writes that arrive while a commit is under
//! way go together in the next transaction, and each caller is answered once the commit
//! holding its write is durable, so nothing is acknowledged before it is on disk.

use super::{to_i64, IndexError, KeyRelease};
use datamgmt_abi::{AccountId, Timestamp};
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

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
    /// A key release, pending its chain record.
    Release { release: KeyRelease, now: Timestamp },
}

type Waiting = (Write, oneshot::Sender<Result<Option<i64>, String>>);

/// Hands writes to the committing task.
#[derive(Clone, Debug)]
pub(super) struct GroupCommit {
    queue: mpsc::UnboundedSender<Waiting>,
}

impl GroupCommit {
    /// Starts the committing task on `pool`; it ends when every handle is dropped.
    pub(super) fn start(pool: SqlitePool) -> Self {
        let (queue, mut receiver) = mpsc::unbounded_channel::<Waiting>();
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(MAX_GROUP);
            while receiver.recv_many(&mut group, MAX_GROUP).await > 0 {
                let outcome = commit(&pool, &group).await;
                for (index, (_, done)) in group.drain(..).enumerate() {
                    let answer = match &outcome {
                        Ok(new_rows) => Ok(new_rows[index]),
                        Err(error) => Err(error.clone()),
                    };
                    let _ = done.send(answer);
                }
            }
        });
        Self { queue }
    }

    /// Writes `write` in the next group; returns once it is committed, with the new
    /// row's id (`None`: nothing new was written).
    pub(super) async fn write(&self, write: Write) -> Result<Option<i64>, IndexError> {
        let (done, answer) = oneshot::channel();
        let stopped = || IndexError::Write("the index writer stopped".to_owned());
        self.queue.send((write, done)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?.map_err(IndexError::Write)
    }
}

/// Runs `group` in one transaction: per write, its new row's id if it wrote one.
async fn commit(pool: &SqlitePool, group: &[Waiting]) -> Result<Vec<Option<i64>>, String> {
    let run = async {
        let mut transaction = pool.begin().await?;
        let mut new_rows = Vec::with_capacity(group.len());
        for (write, _) in group {
            let inserted = match write {
                Write::Nonce { account, nonce, seen_at, forget_before } => {
                    if let Some(before) = forget_before {
                        sqlx::query("DELETE FROM p2p_nonces WHERE seen_at < ?")
                            .bind(to_i64(*before))
                            .execute(&mut *transaction)
                            .await?;
                    }
                    sqlx::query(
                        "INSERT INTO p2p_nonces (account, nonce, seen_at) VALUES (?, ?, ?) \
                         ON CONFLICT (account, nonce) DO NOTHING",
                    )
                    .bind(account.to_string())
                    .bind(nonce)
                    .bind(to_i64(*seen_at))
                    .execute(&mut *transaction)
                    .await?
                }
                Write::Release { release, now } => {
                    sqlx::query(
                        "INSERT OR IGNORE INTO key_releases \
                         (share_id, recipient, released_at, receipt_paid_at, state, updated_at, \
                         written_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                    )
                    .bind(release.share_id.to_string())
                    .bind(release.recipient.to_string())
                    .bind(to_i64(release.released_at))
                    .bind(release.receipt_paid_at.map(to_i64))
                    .bind(to_i64(*now))
                    .bind(to_i64(*now))
                    .execute(&mut *transaction)
                    .await?
                }
            };
            new_rows.push((inserted.rows_affected() == 1).then(|| inserted.last_insert_rowid()));
        }
        transaction.commit().await?;
        Ok::<_, sqlx::Error>(new_rows)
    };
    run.await.map_err(|error| error.to_string())
}
