//! The relay's index, in SQLite: the shares it made and where each stands on chain.
//!
//! Every share is written here before its chain call, as pending; that row is the
//! outbox entry the retry worker works from, so a chain failure after the upload is
//! retried and never silently lost. Schema changes are migrations in `migrations/`,
//! applied at start-up.

use datamgmt_abi::{
    events::{ShareAction, ShareEvent},
    AccountId, Balance, DataHash, KeyVersion, NodeId, ShareId, Timestamp,
};
use group_commit::{GroupCommit, Write};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
    Row, SqlitePool,
};
use std::str::FromStr;

mod group_commit;

/// Why the index failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database could not be opened, migrated or queried.
    #[error("index database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("index migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A grouped write failed (the whole group's transaction did).
    #[error("index database: {0}")]
    Write(String),
    /// A stored value does not parse (the database was edited by hand?).
    #[error("index row is corrupt: {0}")]
    Corrupt(String),
}

/// Where a share was recorded on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRecord {
    /// Extrinsic hash (`0x…`).
    pub tx_hash: String,
    /// Block number.
    pub block_number: u64,
    /// Block hash (`0x…`).
    pub block_hash: String,
}

/// A share as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRow {
    /// The share.
    pub share_id: ShareId,
    /// SHA-256 of the plaintext.
    pub data_hash: DataHash,
    /// The owner's account.
    pub owner: AccountId,
    /// The recipient's account.
    pub recipient: AccountId,
    /// Price per access.
    pub price: Balance,
    /// Expiry (ms), if any.
    pub expires_at: Option<Timestamp>,
    /// Master key version of the custody stanza; 0 for an end-to-end share, which has
    /// none.
    pub key_version: KeyVersion,
    /// Plaintext bytes.
    pub plaintext_len: u64,
    /// Envelope bytes.
    pub envelope_len: u64,
    /// When the relay accepted it (ms).
    pub created_at: Timestamp,
    /// Where the chain recorded it; `None` while pending.
    pub recorded: Option<ChainRecord>,
    /// When the owner revoked it (ms), if revoked.
    pub revoked_at: Option<Timestamp>,
    /// Chain calls tried so far.
    pub attempts: u32,
    /// The last chain failure, if any.
    pub last_error: Option<String>,
}

/// A share event as indexed from a finalized block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedEvent {
    /// Block number.
    pub block_number: u64,
    /// Block hash (`0x…`).
    pub block_hash: String,
    /// Extrinsic index in the block.
    pub extrinsic_index: u32,
    /// Extrinsic hash (`0x…`).
    pub extrinsic_hash: String,
    /// Event index in the block.
    pub event_index: u32,
    /// The event.
    pub event: ShareEvent,
}

/// A key release to another node, as the outbox keeps it until the chain has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRelease {
    /// The share.
    pub share_id: ShareId,
    /// The node that got the key.
    pub recipient: AccountId,
    /// Block time of the chain state the release was decided on (ms).
    pub released_at: Timestamp,
    /// For a priced share, the paid receipt it used (the receipt's `paid_at`).
    pub receipt_paid_at: Option<Timestamp>,
}

/// A key release in the outbox, as `/admin/releases` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRelease {
    /// Its row.
    pub id: i64,
    /// The release.
    pub release: KeyRelease,
    /// `pending`, `recorded` or `refused`.
    pub state: String,
    /// Attempts to record it so far.
    pub attempts: u32,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was written (ms, relay clock).
    pub written_at: Timestamp,
    /// When it last changed (ms, relay clock).
    pub updated_at: Timestamp,
}

/// A key release waiting for its chain record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRelease {
    /// Its row.
    pub id: i64,
    /// The release.
    pub release: KeyRelease,
}

/// The index database.
#[derive(Clone, Debug)]
pub struct Index {
    pool: SqlitePool,
    /// Nonces and releases, committed in groups.
    hot_writes: GroupCommit,
    /// When old P2P nonces were last forgotten (ms).
    nonces_pruned_at: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// How often old P2P nonces are forgotten (ms).
const NONCE_PRUNE_EVERY_MS: Timestamp = 10_000;

const SHARE_COLUMNS: &str = "share_id, data_hash, owner, recipient, price, expires_at, \
    key_version, plaintext_len, envelope_len, created_at, state, tx_hash, block_number, \
    block_hash, attempts, last_error, owner_node, recipient_node, revoked_at";

/// Which shares a listing wants, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShareQuery {
    /// Shared at or after (ms).
    pub from: Option<Timestamp>,
    /// Shared before (ms).
    pub to: Option<Timestamp>,
    /// Only this sender.
    pub sender: Option<NodeId>,
    /// Only this recipient.
    pub recipient: Option<NodeId>,
    /// Continue after this (created_at, share id), exclusive.
    pub after: Option<(Timestamp, ShareId)>,
    /// At most this many.
    pub limit: u32,
}

impl Index {
    /// Opens (creating if missing) the SQLite database at `url` (`sqlite://path` or
    /// `sqlite::memory:`) and applies pending migrations. Starts the task that commits
    /// the hot path's writes, so it must run inside a Tokio runtime.
    pub async fn open(url: &str) -> Result<Self, IndexError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true);
        // One connection for an in-memory database: each connection would see its own.
        let max = if url.contains(":memory:") { 1 } else { 8 };
        let pool = SqlitePoolOptions::new().max_connections(max).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let hot_writes = GroupCommit::start(pool.clone());
        Ok(Self { pool, hot_writes, nonces_pruned_at: Default::default() })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), IndexError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Records a share before its chain call, as pending.
    pub async fn insert_pending(&self, share: &ShareRow) -> Result<(), IndexError> {
        sqlx::query(&format!(
            "INSERT INTO shares ({SHARE_COLUMNS}) VALUES \
             (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', NULL, NULL, NULL, 0, NULL, ?, ?, NULL)"
        ))
        .bind(share.share_id.to_string())
        .bind(share.data_hash.to_string())
        .bind(share.owner.to_string())
        .bind(share.recipient.to_string())
        .bind(share.price.to_string())
        .bind(share.expires_at.map(to_i64))
        .bind(i64::from(share.key_version))
        .bind(to_i64(share.plaintext_len))
        .bind(to_i64(share.envelope_len))
        .bind(to_i64(share.created_at))
        .bind(node_of(&share.owner).to_string())
        .bind(node_of(&share.recipient).to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a share as recorded on chain.
    pub async fn mark_recorded(
        &self,
        share_id: ShareId,
        record: &ChainRecord,
    ) -> Result<(), IndexError> {
        sqlx::query(
            "UPDATE shares SET state = 'recorded', tx_hash = ?, block_number = ?, \
             block_hash = ?, attempts = attempts + 1, last_error = NULL WHERE share_id = ?",
        )
        .bind(&record.tx_hash)
        .bind(to_i64(record.block_number))
        .bind(&record.block_hash)
        .bind(share_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Notes a failed chain call on a pending share.
    pub async fn mark_attempt_failed(
        &self,
        share_id: ShareId,
        error: &str,
    ) -> Result<(), IndexError> {
        sqlx::query("UPDATE shares SET attempts = attempts + 1, last_error = ? WHERE share_id = ?")
            .bind(error)
            .bind(share_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a revocation the chain accepted.
    pub async fn mark_revoked(&self, share_id: ShareId, at: Timestamp) -> Result<(), IndexError> {
        sqlx::query("UPDATE shares SET revoked_at = ? WHERE share_id = ?")
            .bind(to_i64(at))
            .bind(share_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records an expiry change the chain accepted.
    pub async fn set_expiry(
        &self,
        share_id: ShareId,
        expires_at: Option<Timestamp>,
    ) -> Result<(), IndexError> {
        sqlx::query("UPDATE shares SET expires_at = ? WHERE share_id = ?")
            .bind(expires_at.map(to_i64))
            .bind(share_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records that the custody stanza of `share_id`'s envelope now uses master key
    /// `version`.
    pub async fn set_key_version(
        &self,
        share_id: ShareId,
        version: KeyVersion,
    ) -> Result<(), IndexError> {
        sqlx::query("UPDATE shares SET key_version = ? WHERE share_id = ?")
            .bind(i64::from(version))
            .bind(share_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Up to `limit` shares whose custody stanza uses a master key older than `version`,
    /// in share id order, after `after` if given. End-to-end shares (key version 0) have
    /// no custody stanza and are never listed.
    pub async fn below_key_version(
        &self,
        version: KeyVersion,
        after: Option<ShareId>,
        limit: u32,
    ) -> Result<Vec<ShareRow>, IndexError> {
        let sql = format!(
            "SELECT {SHARE_COLUMNS} FROM shares WHERE key_version > 0 AND key_version < ? \
             AND share_id > ? ORDER BY share_id LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(i64::from(version))
            .bind(after.map(|id| id.to_string()).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(share_from_row).collect()
    }

    /// How many shares have a custody stanza older than master key `version`.
    pub async fn count_below_key_version(&self, version: KeyVersion) -> Result<u64, IndexError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM shares WHERE key_version > 0 AND key_version < ?",
        )
        .bind(i64::from(version))
        .fetch_one(&self.pool)
        .await?;
        Ok(count.max(0) as u64)
    }

    /// Remembers the nonce of a signed request; `false` when it was seen before (a
    /// replay). Forgets nonces seen before `forget_before` (ms), every few seconds.
    pub async fn remember_nonce(
        &self,
        account: &AccountId,
        nonce: &str,
        now: Timestamp,
        forget_before: Timestamp,
    ) -> Result<bool, IndexError> {
        // Forgetting is housekeeping: done at most once per `NONCE_PRUNE_EVERY_MS`, not
        // on every request.
        let last = self.nonces_pruned_at.load(std::sync::atomic::Ordering::Relaxed);
        let forget = now.saturating_sub(last) >= NONCE_PRUNE_EVERY_MS;
        if forget {
            self.nonces_pruned_at.store(now, std::sync::atomic::Ordering::Relaxed);
        }
        let write = Write::Nonce {
            account: *account,
            nonce: nonce.to_owned(),
            seen_at: now,
            forget_before: forget.then_some(forget_before),
        };
        Ok(self.hot_writes.write(write).await?.is_some())
    }

    /// Forgets a share the chain refused for good (its object is deleted too).
    pub async fn remove(&self, share_id: ShareId) -> Result<(), IndexError> {
        sqlx::query("DELETE FROM shares WHERE share_id = ?")
            .bind(share_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Shares still waiting for their chain call, oldest first.
    pub async fn pending(&self) -> Result<Vec<ShareRow>, IndexError> {
        self.select("WHERE state = 'pending' ORDER BY created_at", None).await
    }

    /// Shares of the data with this hash, newest first.
    pub async fn by_hash(&self, data_hash: DataHash) -> Result<Vec<ShareRow>, IndexError> {
        self.select("WHERE data_hash = ? ORDER BY created_at DESC", Some(data_hash.to_string()))
            .await
    }

    /// A page of shares matching `query`, newest first.
    pub async fn list(&self, query: &ShareQuery) -> Result<Vec<ShareRow>, IndexError> {
        let mut sql = format!("SELECT {SHARE_COLUMNS} FROM shares WHERE 1 = 1");
        if query.from.is_some() {
            sql.push_str(" AND created_at >= ?");
        }
        if query.to.is_some() {
            sql.push_str(" AND created_at < ?");
        }
        if query.sender.is_some() {
            sql.push_str(" AND owner_node = ?");
        }
        if query.recipient.is_some() {
            sql.push_str(" AND recipient_node = ?");
        }
        if query.after.is_some() {
            sql.push_str(" AND (created_at < ? OR (created_at = ? AND share_id < ?))");
        }
        sql.push_str(" ORDER BY created_at DESC, share_id DESC LIMIT ?");
        let mut select = sqlx::query(&sql);
        if let Some(from) = query.from {
            select = select.bind(to_i64(from));
        }
        if let Some(to) = query.to {
            select = select.bind(to_i64(to));
        }
        if let Some(sender) = query.sender {
            select = select.bind(sender.to_string());
        }
        if let Some(recipient) = query.recipient {
            select = select.bind(recipient.to_string());
        }
        if let Some((created_at, share_id)) = query.after {
            select =
                select.bind(to_i64(created_at)).bind(to_i64(created_at)).bind(share_id.to_string());
        }
        select = select.bind(i64::from(query.limit));
        select.fetch_all(&self.pool).await?.iter().map(share_from_row).collect()
    }

    /// Stores one finalized block's share events and moves the cursor past it, at once:
    /// a crash leaves either both or neither.
    pub async fn record_block(
        &self,
        block_number: u64,
        events: &[IndexedEvent],
    ) -> Result<(), IndexError> {
        let mut tx = self.pool.begin().await?;
        for indexed in events {
            let event = &indexed.event;
            let action = serde_json::to_string(&event.action)
                .map_err(|e| IndexError::Corrupt(e.to_string()))?;
            sqlx::query(
                "INSERT OR IGNORE INTO share_events (block_number, event_index, block_hash, \
                 extrinsic_index, extrinsic_hash, share_id, owner, recipient, data_hash, at, \
                 action) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(to_i64(indexed.block_number))
            .bind(i64::from(indexed.event_index))
            .bind(&indexed.block_hash)
            .bind(i64::from(indexed.extrinsic_index))
            .bind(&indexed.extrinsic_hash)
            .bind(event.share_id.to_string())
            .bind(event.owner.to_string())
            .bind(event.recipient.to_string())
            .bind(event.data_hash.to_string())
            .bind(to_i64(event.at))
            .bind(action)
            .execute(&mut *tx)
            .await?;
            // A revocation or expiry change made straight on the contract (by a dApp)
            // reaches this node's own share here: the P2P route refuses on it at once.
            match &event.action {
                ShareAction::Revoked => {
                    sqlx::query(
                        "UPDATE shares SET revoked_at = COALESCE(revoked_at, ?) WHERE share_id = ?",
                    )
                    .bind(to_i64(event.at))
                    .bind(event.share_id.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
                ShareAction::ExpiryChanged { new, .. } => {
                    sqlx::query("UPDATE shares SET expires_at = ? WHERE share_id = ?")
                        .bind(new.map(to_i64))
                        .bind(event.share_id.to_string())
                        .execute(&mut *tx)
                        .await?;
                }
                _ => {}
            }
            if matches!(event.action, ShareAction::Created { .. }) {
                // A share whose chain call landed unseen is settled here.
                sqlx::query(
                    "UPDATE shares SET state = 'recorded', tx_hash = ?, block_number = ?, \
                     block_hash = ?, last_error = NULL WHERE share_id = ? AND state = 'pending'",
                )
                .bind(&indexed.extrinsic_hash)
                .bind(to_i64(indexed.block_number))
                .bind(&indexed.block_hash)
                .bind(event.share_id.to_string())
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query(
            "INSERT INTO indexer_cursor (id, last_block) VALUES (1, ?) \
             ON CONFLICT (id) DO UPDATE SET last_block = excluded.last_block",
        )
        .bind(to_i64(block_number))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The last block the indexer finished, if any.
    pub async fn indexed_up_to(&self) -> Result<Option<u64>, IndexError> {
        let row = sqlx::query("SELECT last_block FROM indexer_cursor WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let value: i64 = row.try_get("last_block")?;
            Ok(value.max(0) as u64)
        })
        .transpose()
    }

    /// Indexed events about data with this hash in which `party` owns or receives the
    /// share, in chain order, after `after` (block number, event index) if given, at
    /// most `limit`.
    pub async fn events_for(
        &self,
        data_hash: DataHash,
        party: &AccountId,
        after: Option<(u64, u32)>,
        limit: u32,
    ) -> Result<Vec<IndexedEvent>, IndexError> {
        let (block, event) = after.map_or((-1, -1), |(b, e)| (to_i64(b), i64::from(e)));
        let rows = sqlx::query(
            "SELECT block_number, event_index, block_hash, extrinsic_index, extrinsic_hash, \
             share_id, owner, recipient, data_hash, at, action FROM share_events \
             WHERE data_hash = ? AND (owner = ? OR recipient = ?) \
             AND (block_number > ? OR (block_number = ? AND event_index > ?)) \
             ORDER BY block_number, event_index LIMIT ?",
        )
        .bind(data_hash.to_string())
        .bind(party.to_string())
        .bind(party.to_string())
        .bind(block)
        .bind(block)
        .bind(event)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The shares of data with this hash made to `recipient` (their `created` events),
    /// newest first.
    pub async fn received(
        &self,
        data_hash: DataHash,
        recipient: &AccountId,
    ) -> Result<Vec<IndexedEvent>, IndexError> {
        let rows = sqlx::query(
            "SELECT block_number, event_index, block_hash, extrinsic_index, extrinsic_hash, \
             share_id, owner, recipient, data_hash, at, action FROM share_events \
             WHERE data_hash = ? AND recipient = ? AND json_extract(action, '$.kind') = 'created' \
             ORDER BY block_number DESC, event_index DESC",
        )
        .bind(data_hash.to_string())
        .bind(recipient.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The share with this id.
    pub async fn get(&self, share_id: ShareId) -> Result<Option<ShareRow>, IndexError> {
        Ok(self.select("WHERE share_id = ?", Some(share_id.to_string())).await?.pop())
    }

    /// Writes a key release down before its envelope leaves, as pending its chain
    /// record; its row id. A release that uses a paid receipt (`receipt_paid_at`) is
    /// refused with `None` when another release already used the same receipt.
    pub async fn insert_release(
        &self,
        release: &KeyRelease,
        now: Timestamp,
    ) -> Result<Option<i64>, IndexError> {
        self.hot_writes.write(Write::Release { release: release.clone(), now }).await
    }

    /// Takes back a release written but not sent (row `id`, while still pending).
    pub async fn cancel_release(&self, id: i64) -> Result<bool, IndexError> {
        let deleted = sqlx::query("DELETE FROM key_releases WHERE id = ? AND state = 'pending'")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() == 1)
    }

    /// How many releases wait for their chain record, and when the oldest of them was
    /// written (ms).
    pub async fn pending_releases(&self) -> Result<(u64, Option<Timestamp>), IndexError> {
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(written_at) FROM key_releases WHERE state = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((count.max(0) as u64, oldest.map(|at| at.max(0) as u64)))
    }

    /// Whether a release used the paid receipt of `recipient` for `share_id` paid at
    /// `paid_at` (recorded on chain or not).
    pub async fn receipt_released(
        &self,
        share_id: ShareId,
        recipient: &AccountId,
        paid_at: Timestamp,
    ) -> Result<bool, IndexError> {
        let found = sqlx::query(
            "SELECT 1 FROM key_releases \
             WHERE share_id = ? AND recipient = ? AND receipt_paid_at = ? LIMIT 1",
        )
        .bind(share_id.to_string())
        .bind(recipient.to_string())
        .bind(to_i64(paid_at))
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Releases still to record whose next attempt is due at `now` and that were written
    /// before `written_before`, oldest first, leaving out `skip` (those being recorded
    /// already).
    pub async fn due_releases(
        &self,
        now: Timestamp,
        written_before: Timestamp,
        skip: &std::collections::HashSet<i64>,
        limit: usize,
    ) -> Result<Vec<PendingRelease>, IndexError> {
        let rows = sqlx::query(
            "SELECT id, share_id, recipient, released_at, receipt_paid_at FROM key_releases \
             WHERE state = 'pending' AND next_attempt_at <= ? AND written_at <= ? \
             ORDER BY id LIMIT ?",
        )
        .bind(to_i64(now))
        .bind(to_i64(written_before))
        .bind(i64::try_from(skip.len() + limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut due = Vec::with_capacity(limit);
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            if skip.contains(&id) {
                continue;
            }
            let receipt_paid_at: Option<i64> = row.try_get("receipt_paid_at")?;
            due.push(PendingRelease {
                id,
                release: KeyRelease {
                    share_id: parse(row, "share_id")?,
                    recipient: parse(row, "recipient")?,
                    released_at: unsigned(row, "released_at")?,
                    receipt_paid_at: receipt_paid_at.map(|v| v.max(0) as u64),
                },
            });
            if due.len() == limit {
                break;
            }
        }
        Ok(due)
    }

    /// Marks releases as recorded on chain by the transaction `tx_hash` in block
    /// `block_number`.
    pub async fn mark_releases_recorded(
        &self,
        ids: &[i64],
        tx_hash: &str,
        block_number: u64,
        now: Timestamp,
    ) -> Result<(), IndexError> {
        sqlx::query(
            "UPDATE key_releases SET state = 'recorded', tx_hash = ?, block_number = ?, \
             attempts = attempts + 1, last_error = NULL, updated_at = ? \
             WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'",
        )
        .bind(tx_hash)
        .bind(to_i64(block_number))
        .bind(to_i64(now))
        .bind(id_list(ids)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Notes a failed attempt to record releases: tried again from `retry_at` (ms), or
    /// never when `retry_at` is `None` (the contract refused them).
    pub async fn mark_releases_failed(
        &self,
        ids: &[i64],
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), IndexError> {
        sqlx::query(
            "UPDATE key_releases SET state = CASE WHEN ? IS NULL THEN 'refused' ELSE state END, \
             next_attempt_at = COALESCE(?, next_attempt_at), attempts = attempts + 1, \
             last_error = ?, updated_at = ? \
             WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'",
        )
        .bind(retry_at.map(to_i64))
        .bind(retry_at.map(to_i64))
        .bind(error)
        .bind(to_i64(now))
        .bind(id_list(ids)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Releases by state: `(pending, recorded, refused)`.
    pub async fn count_releases(&self) -> Result<(u64, u64, u64), IndexError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM key_releases GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut counts = (0, 0, 0);
        for row in &rows {
            let state: String = row.try_get("state")?;
            let n = unsigned(row, "n")?;
            match state.as_str() {
                "pending" => counts.0 = n,
                "recorded" => counts.1 = n,
                _ => counts.2 = n,
            }
        }
        Ok(counts)
    }

    /// How many refused records no operator has acknowledged yet.
    pub async fn unacknowledged_refusals(&self) -> Result<u64, IndexError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM key_releases WHERE state = 'refused' AND acknowledged_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(count.max(0) as u64)
    }

    /// Marks the refused records up to row `up_to_id` as acknowledged at `now` (ms); how
    /// many were not yet.
    pub async fn acknowledge_refusals(
        &self,
        up_to_id: i64,
        now: Timestamp,
    ) -> Result<u64, IndexError> {
        let updated = sqlx::query(
            "UPDATE key_releases SET acknowledged_at = ? \
             WHERE state = 'refused' AND acknowledged_at IS NULL AND id <= ?",
        )
        .bind(to_i64(now))
        .bind(up_to_id)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected())
    }

    /// Up to `limit` releases in `state` (`pending` or `refused`), oldest first, with
    /// their row ids.
    pub async fn releases_in_state(
        &self,
        state: &str,
        limit: u32,
    ) -> Result<Vec<OutboxRelease>, IndexError> {
        let rows = sqlx::query(
            "SELECT id, share_id, recipient, released_at, receipt_paid_at, state, attempts, \
             last_error, written_at, updated_at FROM key_releases WHERE state = ? \
             ORDER BY id LIMIT ?",
        )
        .bind(state)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let receipt_paid_at: Option<i64> = row.try_get("receipt_paid_at")?;
                Ok(OutboxRelease {
                    id: row.try_get("id")?,
                    release: KeyRelease {
                        share_id: parse(row, "share_id")?,
                        recipient: parse(row, "recipient")?,
                        released_at: unsigned(row, "released_at")?,
                        receipt_paid_at: receipt_paid_at.map(|v| v.max(0) as u64),
                    },
                    state: row.try_get("state")?,
                    attempts: u32::try_from(unsigned(row, "attempts")?).unwrap_or(u32::MAX),
                    last_error: row.try_get("last_error")?,
                    written_at: unsigned(row, "written_at")?,
                    updated_at: unsigned(row, "updated_at")?,
                })
            })
            .collect()
    }

    /// Forgets free releases the contract refused before `before` (ms), once they have
    /// been acknowledged and listed long enough. A refused paid release is kept: its
    /// receipt was never consumed on chain, and the row is what stops it buying a second
    /// key.
    pub async fn prune_refused_releases(&self, before: Timestamp) -> Result<u64, IndexError> {
        let deleted = sqlx::query(
            "DELETE FROM key_releases WHERE state = 'refused' AND receipt_paid_at IS NULL \
             AND acknowledged_at IS NOT NULL AND updated_at < ?",
        )
        .bind(to_i64(before))
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected())
    }

    /// Forgets releases recorded before `before` (ms): the chain holds them, and its
    /// state shows their receipts used.
    pub async fn prune_recorded_releases(&self, before: Timestamp) -> Result<u64, IndexError> {
        let deleted =
            sqlx::query("DELETE FROM key_releases WHERE state = 'recorded' AND updated_at < ?")
                .bind(to_i64(before))
                .execute(&self.pool)
                .await?;
        Ok(deleted.rows_affected())
    }

    async fn select(
        &self,
        filter: &str,
        bind: Option<String>,
    ) -> Result<Vec<ShareRow>, IndexError> {
        let sql = format!("SELECT {SHARE_COLUMNS} FROM shares {filter}");
        let mut query = sqlx::query(&sql);
        if let Some(value) = bind {
            query = query.bind(value);
        }
        query.fetch_all(&self.pool).await?.iter().map(share_from_row).collect()
    }
}

fn node_of(account: &AccountId) -> NodeId {
    datamgmt_client::chain::node_id_of(&datamgmt_client::chain::from_abi_account(account))
}

/// A text column parsed as `T`.
fn parse<T: FromStr>(row: &sqlx::sqlite::SqliteRow, column: &str) -> Result<T, IndexError> {
    let text: String = row.try_get(column)?;
    text.parse().map_err(|_| IndexError::Corrupt(format!("{column} = {text:?}")))
}

/// An integer column that must not be negative.
fn unsigned(row: &sqlx::sqlite::SqliteRow, column: &str) -> Result<u64, IndexError> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value).map_err(|_| IndexError::Corrupt(format!("{column} = {value}")))
}

fn event_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<IndexedEvent, IndexError> {
    let number = |column: &str| unsigned(row, column);
    let action: String = row.try_get("action")?;
    Ok(IndexedEvent {
        block_number: number("block_number")?,
        block_hash: row.try_get("block_hash")?,
        extrinsic_index: number("extrinsic_index")? as u32,
        extrinsic_hash: row.try_get("extrinsic_hash")?,
        event_index: number("event_index")? as u32,
        event: ShareEvent {
            share_id: parse(row, "share_id")?,
            owner: parse(row, "owner")?,
            recipient: parse(row, "recipient")?,
            data_hash: parse(row, "data_hash")?,
            at: number("at")?,
            action: serde_json::from_str(&action)
                .map_err(|_| IndexError::Corrupt(format!("action = {action:?}")))?,
        },
    })
}

/// Row ids as a JSON array, for `IN (SELECT value FROM json_each(?))`: one statement for
/// a whole batch.
fn id_list(ids: &[i64]) -> Result<String, IndexError> {
    serde_json::to_string(ids).map_err(|e| IndexError::Corrupt(e.to_string()))
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn share_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ShareRow, IndexError> {
    let state: String = row.try_get("state")?;
    let recorded = match state.as_str() {
        "recorded" => Some(ChainRecord {
            tx_hash: row.try_get("tx_hash")?,
            block_number: unsigned(row, "block_number")?,
            block_hash: row.try_get("block_hash")?,
        }),
        _ => None,
    };
    let expires_at: Option<i64> = row.try_get("expires_at")?;
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    Ok(ShareRow {
        share_id: parse(row, "share_id")?,
        data_hash: parse(row, "data_hash")?,
        owner: parse(row, "owner")?,
        recipient: parse(row, "recipient")?,
        price: parse(row, "price")?,
        expires_at: expires_at.map(|v| v.max(0) as u64),
        key_version: u32::try_from(unsigned(row, "key_version")?)
            .map_err(|_| IndexError::Corrupt("key_version".into()))?,
        plaintext_len: unsigned(row, "plaintext_len")?,
        envelope_len: unsigned(row, "envelope_len")?,
        created_at: unsigned(row, "created_at")?,
        recorded,
        revoked_at: revoked_at.map(|v| v.max(0) as u64),
        attempts: u32::try_from(unsigned(row, "attempts")?).unwrap_or(u32::MAX),
        last_error: row.try_get("last_error")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u8) -> ShareRow {
        ShareRow {
            share_id: ShareId([id; 16]),
            data_hash: DataHash([7; 32]),
            owner: AccountId([1; 32]),
            recipient: AccountId([2; 32]),
            price: u128::MAX,
            expires_at: Some(1_800_000_000_000),
            key_version: 3,
            plaintext_len: 10,
            envelope_len: 200,
            created_at: 1_700_000_000_000 + u64::from(id),
            recorded: None,
            revoked_at: None,
            attempts: 0,
            last_error: None,
        }
    }

    #[tokio::test]
    async fn received_finds_the_shares_made_to_a_node_by_index() {
        let index = Index::open("sqlite::memory:").await.unwrap();
        let (me, other) = (AccountId([2; 32]), AccountId([3; 32]));
        let event =
            |block: u64, share: u8, recipient: AccountId, action: ShareAction| IndexedEvent {
                block_number: block,
                block_hash: format!("0x{block:064x}"),
                extrinsic_index: 1,
                extrinsic_hash: format!("0x{:064x}", block + 1000),
                event_index: 0,
                event: ShareEvent {
                    share_id: ShareId([share; 16]),
                    owner: AccountId([1; 32]),
                    recipient,
                    data_hash: DataHash([7; 32]),
                    at: block * 1000,
                    action,
                },
            };
        let created = ShareAction::Created { price: 0, expires_at: None, key_version: 1 };
        let released = ShareAction::KeyReleased { paid: 0 };
        index.record_block(1, &[event(1, 1, me, created.clone())]).await.unwrap();
        index.record_block(2, &[event(2, 2, other, created.clone())]).await.unwrap();
        index.record_block(3, &[event(3, 1, me, released)]).await.unwrap();
        index.record_block(4, &[event(4, 3, me, created)]).await.unwrap();
        let received = index.received(DataHash([7; 32]), &me).await.unwrap();
        let shares: Vec<ShareId> = received.iter().map(|e| e.event.share_id).collect();
        assert_eq!(shares, [ShareId([3; 16]), ShareId([1; 16])], "created for me, newest first");

        // The lookup uses its partial index, however many releases the data has.
        let plan: Vec<String> = sqlx::query(
            "EXPLAIN QUERY PLAN SELECT share_id FROM share_events WHERE data_hash = ? \
             AND recipient = ? AND json_extract(action, '$.kind') = 'created'",
        )
        .bind("x")
        .bind("y")
        .fetch_all(&index.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>("detail"))
        .collect();
        assert!(plan.iter().any(|step| step.contains("share_events_created")), "{plan:?}");
    }

    #[tokio::test]
    async fn release_outbox_keeps_one_release_per_receipt_until_recorded() {
        let index = Index::open("sqlite::memory:").await.unwrap();
        let release = |share: u8, paid_at: Option<u64>| KeyRelease {
            share_id: ShareId([share; 16]),
            recipient: AccountId([2; 32]),
            released_at: 5_000,
            receipt_paid_at: paid_at,
        };
        // Free releases repeat; a receipt buys one, a new receipt another.
        assert!(index.insert_release(&release(1, None), 10).await.unwrap().is_some());
        assert!(index.insert_release(&release(1, None), 10).await.unwrap().is_some());
        assert!(index.insert_release(&release(2, Some(4_000)), 10).await.unwrap().is_some());
        assert!(index.insert_release(&release(2, Some(4_000)), 10).await.unwrap().is_none());
        let later = index.insert_release(&release(2, Some(4_500)), 10).await.unwrap().unwrap();
        let me = AccountId([2; 32]);
        assert!(index.receipt_released(ShareId([2; 16]), &me, 4_000).await.unwrap());
        assert!(!index.receipt_released(ShareId([2; 16]), &me, 4_600).await.unwrap());
        assert!(!index.receipt_released(ShareId([1; 16]), &me, 4_000).await.unwrap());

        let none = std::collections::HashSet::new();
        let due = index.due_releases(10, 10, &none, 10).await.unwrap();
        assert!(index.due_releases(10, 9, &none, 10).await.unwrap().is_empty(), "held");
        assert_eq!(due.len(), 4);
        assert_eq!(due[2].release, release(2, Some(4_000)));
        let ids: Vec<i64> = due.iter().map(|d| d.id).collect();
        assert_eq!(ids[3], later, "the id of the row written");
        assert_eq!(index.pending_releases().await.unwrap(), (4, Some(10)));
        // Rows being recorded are left out, and the limit holds.
        let skip = std::collections::HashSet::from([ids[0], ids[1]]);
        let rest = index.due_releases(10, 10, &skip, 1).await.unwrap();
        assert_eq!(rest.iter().map(|d| d.id).collect::<Vec<_>>(), [ids[2]]);

        index.mark_releases_recorded(&ids[..2], "0xabc", 7, 20).await.unwrap();
        index.mark_releases_failed(&ids[2..3], "chain down", Some(30), 20).await.unwrap();
        index.mark_releases_failed(&ids[3..], "contract refused", None, 20).await.unwrap();
        assert_eq!(index.count_releases().await.unwrap(), (1, 2, 1));
        // A retry is due when its time comes; a refused one never again.
        assert!(index.due_releases(29, 29, &none, 10).await.unwrap().is_empty());
        assert_eq!(index.due_releases(30, 30, &none, 10).await.unwrap().len(), 1);
        // A recorded receipt still counts as used, even once recorded.
        assert!(index.insert_release(&release(2, Some(4_000)), 40).await.unwrap().is_none());
        assert_eq!(index.prune_recorded_releases(21).await.unwrap(), 2);
        assert_eq!(index.count_releases().await.unwrap(), (1, 0, 1));
        // A refused record waits for an operator; a refused paid release outlives its
        // listing even then: its receipt stays used here.
        assert_eq!(index.unacknowledged_refusals().await.unwrap(), 1);
        assert_eq!(index.acknowledge_refusals(later - 1, 45).await.unwrap(), 0, "not looked at");
        assert_eq!(index.acknowledge_refusals(later, 45).await.unwrap(), 1);
        assert_eq!(index.unacknowledged_refusals().await.unwrap(), 0);
        assert_eq!(index.prune_refused_releases(1_000).await.unwrap(), 0);
        assert!(index.insert_release(&release(2, Some(4_500)), 50).await.unwrap().is_none());
        // A release written but not sent is taken back, once.
        let unsent = index.insert_release(&release(1, None), 60).await.unwrap().unwrap();
        assert!(index.cancel_release(unsent).await.unwrap());
        assert!(!index.cancel_release(unsent).await.unwrap());
        assert_eq!(index.count_releases().await.unwrap(), (1, 0, 1));
    }

    #[tokio::test]
    async fn pending_share_becomes_recorded() {
        let index = Index::open("sqlite::memory:").await.unwrap();
        index.insert_pending(&row(1)).await.unwrap();
        index.insert_pending(&row(2)).await.unwrap();
        assert_eq!(index.pending().await.unwrap().len(), 2);
        index.mark_attempt_failed(ShareId([1; 16]), "chain down").await.unwrap();
        let failed = index.get(ShareId([1; 16])).await.unwrap().unwrap();
        assert_eq!((failed.attempts, failed.last_error.as_deref()), (1, Some("chain down")));
        let record =
            ChainRecord { tx_hash: "0xab".into(), block_number: 9, block_hash: "0xcd".into() };
        index.mark_recorded(ShareId([1; 16]), &record).await.unwrap();
        let recorded = index.get(ShareId([1; 16])).await.unwrap().unwrap();
        assert_eq!(recorded.recorded, Some(record));
        assert_eq!(recorded.price, u128::MAX, "prices keep every digit");
        assert_eq!(index.pending().await.unwrap(), vec![row(2)]);
        assert_eq!(index.by_hash(DataHash([7; 32])).await.unwrap().len(), 2);
        index.remove(ShareId([2; 16])).await.unwrap();
        assert!(index.get(ShareId([2; 16])).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn listing_filters_and_pages() {
        let index = Index::open("sqlite::memory:").await.unwrap();
        for id in 1..=5 {
            index.insert_pending(&row(id)).await.unwrap();
        }
        let mut query = ShareQuery { limit: 2, ..Default::default() };
        let first = index.list(&query).await.unwrap();
        assert_eq!(first.iter().map(|r| r.share_id.0[0]).collect::<Vec<_>>(), [5, 4]);
        query.after = Some((first[1].created_at, first[1].share_id));
        let second = index.list(&query).await.unwrap();
        assert_eq!(second.iter().map(|r| r.share_id.0[0]).collect::<Vec<_>>(), [3, 2]);
        let window = ShareQuery {
            from: Some(row(2).created_at),
            to: Some(row(4).created_at),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(index.list(&window).await.unwrap().len(), 2);
        let sender = node_of(&AccountId([1; 32]));
        let by_sender = ShareQuery { sender: Some(sender), limit: 10, ..Default::default() };
        assert_eq!(index.list(&by_sender).await.unwrap().len(), 5);
        let other = ShareQuery { recipient: Some(sender), limit: 10, ..Default::default() };
        assert!(index.list(&other).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_share_id_is_stored_once() {
        let index = Index::open("sqlite::memory:").await.unwrap();
        index.insert_pending(&row(1)).await.unwrap();
        assert!(index.insert_pending(&row(1)).await.is_err());
    }

    #[tokio::test]
    async fn reopening_keeps_rows_and_migrations_run_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("index.db").display());
        Index::open(&url).await.unwrap().insert_pending(&row(4)).await.unwrap();
        let reopened = Index::open(&url).await.unwrap();
        assert_eq!(reopened.get(ShareId([4; 16])).await.unwrap(), Some(row(4)));
    }
}
