//! The `shares` table: every share this node made, written before its chain call (the
//! outbox the retry worker works from) and settled when the chain answers; the shares
//! made to this node are found through the `events` table.

use super::columns::{node_of, parse, to_i64, unsigned, IndexError, Statement};
use super::database::Index;
use super::events::{event_from_row, IndexedEvent};
use datamgmt_abi::{AccountId, Balance, DataHash, KeyVersion, NodeId, ShareId, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

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
    /// Records a share before its chain call, as pending.
    pub async fn insert_pending(&self, share: &ShareRow) -> Result<(), IndexError> {
        sqlx::query(&format!(
            "INSERT INTO shares ({SHARE_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', NULL, NULL, NULL, 0, NULL, $11, $12, NULL)"
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
            "UPDATE shares SET state = 'recorded', tx_hash = $1, block_number = $2, \
             block_hash = $3, attempts = attempts + 1, last_error = NULL WHERE share_id = $4",
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
        sqlx::query(
            "UPDATE shares SET attempts = attempts + 1, last_error = $1 WHERE share_id = $2",
        )
        .bind(error)
        .bind(share_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a revocation the chain accepted.
    pub async fn mark_revoked(&self, share_id: ShareId, at: Timestamp) -> Result<(), IndexError> {
        sqlx::query("UPDATE shares SET revoked_at = $1 WHERE share_id = $2")
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
        sqlx::query("UPDATE shares SET expires_at = $1 WHERE share_id = $2")
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
        sqlx::query("UPDATE shares SET key_version = $1 WHERE share_id = $2")
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
            "SELECT {SHARE_COLUMNS} FROM shares WHERE key_version > 0 AND key_version < $1 \
             AND share_id > $2 ORDER BY share_id LIMIT $3"
        );
        let rows = sqlx::query_as(&sql)
            .bind(i64::from(version))
            .bind(after.map(|id| id.to_string()).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// How many shares have a custody stanza older than master key `version`.
    pub async fn count_below_key_version(&self, version: KeyVersion) -> Result<u64, IndexError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM shares WHERE key_version > 0 AND key_version < $1",
        )
        .bind(i64::from(version))
        .fetch_one(&self.pool)
        .await?;
        Ok(count.max(0) as u64)
    }

    /// Forgets a share the chain refused for good (its object is deleted too).
    pub async fn remove(&self, share_id: ShareId) -> Result<(), IndexError> {
        sqlx::query("DELETE FROM shares WHERE share_id = $1")
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
        self.select("WHERE data_hash = $1 ORDER BY created_at DESC", Some(data_hash.to_string()))
            .await
    }

    /// A page of shares matching `query`, newest first.
    pub async fn list(&self, query: &ShareQuery) -> Result<Vec<ShareRow>, IndexError> {
        let mut sql = Statement::new(format!("SELECT {SHARE_COLUMNS} FROM shares WHERE 1 = 1"));
        if let Some(from) = query.from {
            sql.push(" AND created_at >= ").bind(to_i64(from));
        }
        if let Some(to) = query.to {
            sql.push(" AND created_at < ").bind(to_i64(to));
        }
        if let Some(sender) = query.sender {
            sql.push(" AND owner_node = ").bind(sender.to_string());
        }
        if let Some(recipient) = query.recipient {
            sql.push(" AND recipient_node = ").bind(recipient.to_string());
        }
        if let Some((created_at, share_id)) = query.after {
            sql.push(" AND (created_at < ").bind(to_i64(created_at));
            sql.push(" OR (created_at = ").bind(to_i64(created_at));
            sql.push(" AND share_id < ").bind(share_id.to_string()).push("))");
        }
        sql.push(" ORDER BY created_at DESC, share_id DESC LIMIT ").bind(i64::from(query.limit));
        let rows = sql.fetch_all(&self.pool).await?;
        rows.iter().map(share_from_row).collect()
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
             WHERE data_hash = $1 AND recipient = $2 AND kind = 'created' \
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
        Ok(self.select("WHERE share_id = $1", Some(share_id.to_string())).await?.pop())
    }

    async fn select(
        &self,
        filter: &str,
        bind: Option<String>,
    ) -> Result<Vec<ShareRow>, IndexError> {
        let sql = format!("SELECT {SHARE_COLUMNS} FROM shares {filter}");
        let mut query = sqlx::query_as(&sql);
        if let Some(value) = bind {
            query = query.bind(value);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }
}

/// A `shares` row read by the `SHARE_COLUMNS` select; a value that does not parse is
/// a decoding error naming the column.
impl<'r> FromRow<'r, AnyRow> for ShareRow {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        share_from_row(row).map_err(|error| sqlx::Error::Decode(Box::new(error)))
    }
}

fn share_from_row(row: &AnyRow) -> Result<ShareRow, IndexError> {
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
