//! The index database: opening it on SQLite or PostgreSQL (migrations applied) and
//! running its group writer. Each table's queries live in a module of their own.

use super::columns::{node_of, IndexError};
use super::group_commit::GroupCommit;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::AnyPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The SQLite schema's history.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
/// The PostgreSQL schema's history.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a database connection before it is answered 503: a
/// database that is down (restarting, say) fails requests quickly instead of holding
/// them.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The database engine an index runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// A SQLite file (or memory), embedded in the relay.
    Sqlite,
    /// A PostgreSQL server, which several replicas of one node may share.
    Postgres,
}

impl Engine {
    /// The engine `url` names.
    pub fn of(url: &str) -> Result<Self, IndexError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(IndexError::UnsupportedUrl(redact_url(url)))
        }
    }
}

/// `url` without a password, for messages.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        // It may hold a password where a parser would not find it.
        Err(_) => "(a URL that does not parse)".to_owned(),
    }
}

/// The index database.
#[derive(Clone, Debug)]
pub struct Index {
    pub(super) pool: AnyPool,
    engine: Engine,
    /// Nonces and releases, committed in groups.
    pub(super) hot_writes: GroupCommit,
    /// When old P2P nonces were last forgotten (ms).
    pub(super) nonces_pruned_at: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Index {
    /// Opens the database at `url` and applies pending migrations: a SQLite file
    /// (`sqlite://path`, created when missing, or `sqlite::memory:`) or a PostgreSQL
    /// database (`postgres://user:password@host:port/name`). Starts nothing: the hot
    /// path's writes commit in groups once [`write_groups`](Self::write_groups) runs.
    ///
    /// Replicas starting together on one PostgreSQL database migrate it once: sqlx
    /// holds an advisory lock while it migrates.
    pub async fn open(url: &str) -> Result<Self, IndexError> {
        sqlx::any::install_default_drivers();
        let engine = Engine::of(url)?;
        let (pool, migrations) = match engine {
            Engine::Sqlite => {
                let memory = url.contains(":memory:");
                let url = if memory || url.contains("mode=") {
                    url.to_owned()
                } else {
                    format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
                };
                let pool = AnyPoolOptions::new()
                    // One connection for an in-memory database: each would see its own.
                    .max_connections(if memory { 1 } else { 8 })
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .after_connect(move |connection, _| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            if !memory {
                                connection.execute("PRAGMA journal_mode = WAL").await?;
                            }
                            connection.execute("PRAGMA foreign_keys = ON").await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                (pool, &SQLITE_MIGRATIONS)
            }
            Engine::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(url)
                    .await?;
                (pool, &POSTGRES_MIGRATIONS)
            }
        };
        migrations.run(&pool).await?;
        fill_owner_nodes(&pool).await?;
        let hot_writes = GroupCommit::new(pool.clone());
        Ok(Self { pool, engine, hot_writes, nonces_pruned_at: Default::default() })
    }

    /// The engine this index runs on.
    pub fn engine(&self) -> Engine {
        self.engine
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
pub(super) async fn fill_owner_nodes(pool: &AnyPool) -> Result<(), IndexError> {
    let owners: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT owner FROM share_events WHERE owner_node IS NULL")
            .fetch_all(pool)
            .await?;
    for owner in owners {
        let account: datamgmt_abi::AccountId =
            owner.parse().map_err(|_| IndexError::Corrupt(format!("owner = {owner:?}")))?;
        sqlx::query(
            "UPDATE share_events SET owner_node = $1 WHERE owner = $2 AND owner_node IS NULL",
        )
        .bind(node_of(&account).to_string())
        .bind(&owner)
        .execute(pool)
        .await?;
    }
    Ok(())
}
