//! The index database: opening it (migrations applied) and running its group writer.
//! Each table's queries live in a module of their own.

use super::columns::{node_of, IndexError};
use super::group_commit::GroupCommit;
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
    SqlitePool,
};
use std::str::FromStr;
use tokio_util::sync::CancellationToken;

/// The index database.
#[derive(Clone, Debug)]
pub struct Index {
    pub(super) pool: SqlitePool,
    /// Nonces and releases, committed in groups.
    pub(super) hot_writes: GroupCommit,
    /// When old P2P nonces were last forgotten (ms).
    pub(super) nonces_pruned_at: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Index {
    /// Opens (creating if missing) the SQLite database at `url` (`sqlite://path` or
    /// `sqlite::memory:`) and applies pending migrations. Starts nothing: the hot path's
    /// writes commit in groups once [`write_groups`](Self::write_groups) runs.
    pub async fn open(url: &str) -> Result<Self, IndexError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true);
        // One connection for an in-memory database: each connection would see its own.
        let max = if url.contains(":memory:") { 1 } else { 8 };
        let pool = SqlitePoolOptions::new().max_connections(max).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        fill_owner_nodes(&pool).await?;
        let hot_writes = GroupCommit::new(pool.clone());
        Ok(Self { pool, hot_writes, nonces_pruned_at: Default::default() })
    }

    /// Commits the hot path's writes (nonces, releases) in groups until `stopping` is
    /// cancelled, then what is still queued; until it runs, and after, each such write
    /// commits alone.
    pub fn write_groups(
        &self,
        stopping: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.hot_writes.clone().run(stopping)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), IndexError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Gives the share events indexed before `owner_node` existed their sharer's node id
/// (once: later rows are written with it).
pub(super) async fn fill_owner_nodes(pool: &SqlitePool) -> Result<(), IndexError> {
    let owners: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT owner FROM share_events WHERE owner_node IS NULL")
            .fetch_all(pool)
            .await?;
    for owner in owners {
        let account: datamgmt_abi::AccountId =
            owner.parse().map_err(|_| IndexError::Corrupt(format!("owner = {owner:?}")))?;
        sqlx::query(
            "UPDATE share_events SET owner_node = ? WHERE owner = ? AND owner_node IS NULL",
        )
        .bind(node_of(&account).to_string())
        .bind(&owner)
        .execute(pool)
        .await?;
    }
    Ok(())
}
