//! Which replica writes to the chain, and the order of the node account's submissions.
//!
//! Replicas of one node share its PostgreSQL index. Any of them serves the API and P2P,
//! but one at a time, the holder of the chain writer lease, runs what works through the
//! shared outboxes and follows the chain (release recorder, share outbox, indexer).
//! The lease is a session-level advisory lock on a connection of its own: when the
//! holder dies its connection closes and PostgreSQL frees the lock, so another replica
//! takes over. Every submission of the node account, from whichever replica, also holds
//! a transaction-level advisory lock from reading the nonce until the transaction is in
//! the pool, so no two replicas sign with one nonce.
//!
//! On SQLite the index belongs to one process, which always holds the lease.

use super::columns::IndexError;
use super::database::{Engine, Index};
use datamgmt_client::chain::SharedSubmitLock;
use sqlx::{Connection, Row};
use std::sync::Arc;
use std::time::Duration;

/// The advisory lock key of the chain writer lease ("dmn_writ").
const CHAIN_WRITER_KEY: i64 = 0x646d_6e5f_7772_6974;
/// The advisory lock key held around each submission ("dmn_nonc").
const SUBMIT_KEY: i64 = 0x646d_6e5f_6e6f_6e63;
/// How long a lease check may take before the lease counts as lost.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// This replica's hold on the chain writer lease, for as long as it is kept.
pub struct WriterLease {
    /// The connection holding the advisory lock (none on SQLite).
    session: Option<sqlx::AnyConnection>,
}

impl std::fmt::Debug for WriterLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterLease").field("shared", &self.session.is_some()).finish()
    }
}

impl WriterLease {
    /// Whether the lease is still held: its session answers. An error means it may
    /// have passed to another replica already, so the writer's work must stop.
    pub async fn check(&mut self) -> Result<(), IndexError> {
        let Some(session) = self.session.as_mut() else { return Ok(()) };
        match tokio::time::timeout(CHECK_TIMEOUT, session.ping()).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(IndexError::Write("the lease's session did not answer".to_owned())),
        }
    }

    /// Gives the lease up, so another replica can take it at once.
    pub async fn release(self) {
        if let Some(mut session) = self.session {
            // Unlocked before the session closes: a closed session's locks go only when
            // the server has ended its backend, a moment after the client is told.
            // Should the unlock fail, closing the session still frees the lock.
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(CHAIN_WRITER_KEY)
                .execute(&mut session)
                .await;
            let _ = session.close().await;
        }
    }
}

impl Index {
    /// Takes the chain writer lease if no other replica holds it; `None` when one does.
    pub async fn try_writer_lease(&self) -> Result<Option<WriterLease>, IndexError> {
        if self.engine() == Engine::Sqlite {
            return Ok(Some(WriterLease { session: None }));
        }
        // A connection of its own, outside the pool: the lock lives as long as it does.
        let mut session = self.pool.acquire().await?.detach();
        let taken: bool = sqlx::query("SELECT pg_try_advisory_lock($1) AS taken")
            .bind(CHAIN_WRITER_KEY)
            .fetch_one(&mut session)
            .await?
            .try_get("taken")?;
        if taken {
            Ok(Some(WriterLease { session: Some(session) }))
        } else {
            let _ = session.close().await;
            Ok(None)
        }
    }

    /// The lock the node account's submissions take across replicas; none on SQLite,
    /// whose one process orders its submissions itself.
    pub fn shared_submit_lock(&self) -> Option<Arc<dyn SharedSubmitLock>> {
        match self.engine() {
            Engine::Sqlite => None,
            Engine::Postgres => Some(Arc::new(SubmitLock { index: self.clone() })),
        }
    }
}

/// [`SharedSubmitLock`] as a transaction-level advisory lock: rolling the transaction
/// back (dropping the guard) frees it, and so does a replica dying with it.
struct SubmitLock {
    index: Index,
}

impl SharedSubmitLock for SubmitLock {
    fn acquire(
        &self,
    ) -> futures::future::BoxFuture<'_, Result<Box<dyn std::any::Any + Send>, String>> {
        Box::pin(async move {
            let take = async {
                let mut transaction = self.index.pool.begin().await?;
                // A replica stuck while holding it fails the others' submissions (503)
                // rather than stalling them for good.
                sqlx::query("SET LOCAL lock_timeout = '10s'").execute(&mut *transaction).await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(SUBMIT_KEY)
                    .execute(&mut *transaction)
                    .await?;
                Ok::<_, sqlx::Error>(transaction)
            };
            match take.await {
                Ok(transaction) => Ok(Box::new(transaction) as Box<dyn std::any::Any + Send>),
                Err(error) => Err(error.to_string()),
            }
        })
    }
}
