//! The `share_events` table: the contract's share events that concern this node, copied from
//! finalized blocks by the indexer, with the cursor of the last block done.

use super::columns::{node_of, parse, to_i64, unsigned, IndexError};
use super::database::Index;
use super::nodes::IndexedNode;
use datamgmt_abi::{
    events::{ShareAction, ShareEvent},
    AccountId, DataHash,
};
use sqlx::Row;

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

impl Index {
    /// Stores one finalized block's share events and node events and moves both cursors
    /// (share events, directory) to it unless one is already further, at once: a crash
    /// leaves either all or nothing. The caller passes share events only for blocks past
    /// the share cursor and node events only for blocks past the directory's.
    pub async fn record_block(
        &self,
        block_number: u64,
        events: &[IndexedEvent],
        nodes: &[IndexedNode],
    ) -> Result<(), IndexError> {
        let mut tx = self.pool.begin().await?;
        super::nodes::upsert(&mut tx, nodes).await?;
        for indexed in events {
            let event = &indexed.event;
            let action = serde_json::to_value(&event.action)
                .map_err(|e| IndexError::Corrupt(e.to_string()))?;
            let kind = action.get("kind").and_then(|kind| kind.as_str()).map(str::to_owned);
            let paid = match &event.action {
                ShareAction::KeyReleased { paid } => Some(paid.to_string()),
                _ => None,
            };
            let inserted = sqlx::query(
                "INSERT INTO share_events (block_number, event_index, block_hash, \
                 extrinsic_index, extrinsic_hash, share_id, owner, recipient, data_hash, at, \
                 action, owner_node, kind, paid) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT DO NOTHING",
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
            .bind(action.to_string())
            .bind(node_of(&event.owner).to_string())
            .bind(kind)
            .bind(paid)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                // Seen before: its effects below were applied then, in chain order.
                continue;
            }
            // A revocation or expiry change made straight on the contract (by a dApp)
            // reaches this node's own share here: the P2P route refuses on it at once.
            // (Only the owner's events touch its row: another node's share under the
            // same id, made to this node, must not.)
            match &event.action {
                ShareAction::Revoked => {
                    sqlx::query(
                        "UPDATE shares SET revoked_at = COALESCE(revoked_at, $1) \
                         WHERE share_id = $2 AND owner = $3",
                    )
                    .bind(to_i64(event.at))
                    .bind(event.share_id.to_string())
                    .bind(event.owner.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
                ShareAction::ExpiryChanged { new, .. } => {
                    sqlx::query(
                        "UPDATE shares SET expires_at = $1 WHERE share_id = $2 AND owner = $3",
                    )
                    .bind(new.map(to_i64))
                    .bind(event.share_id.to_string())
                    .bind(event.owner.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
                _ => {}
            }
            if matches!(event.action, ShareAction::Created { .. }) {
                // A share whose chain call landed unseen is settled here.
                sqlx::query(
                    "UPDATE shares SET state = 'recorded', tx_hash = $1, block_number = $2, \
                     block_hash = $3, last_error = NULL \
                     WHERE share_id = $4 AND owner = $5 AND state = 'pending'",
                )
                .bind(&indexed.extrinsic_hash)
                .bind(to_i64(indexed.block_number))
                .bind(&indexed.block_hash)
                .bind(event.share_id.to_string())
                .bind(event.owner.to_string())
                .execute(&mut *tx)
                .await?;
            }
        }
        for table in ["indexer_cursor", "directory_cursor"] {
            sqlx::query(&format!(
                "INSERT INTO {table} (id, last_block) VALUES (1, $1) ON CONFLICT (id) \
                 DO UPDATE SET last_block = excluded.last_block \
                 WHERE excluded.last_block > {table}.last_block"
            ))
            .bind(to_i64(block_number))
            .execute(&mut *tx)
            .await?;
        }
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
             WHERE data_hash = $1 AND (owner = $2 OR recipient = $3) \
             AND (block_number > $4 OR (block_number = $5 AND event_index > $6)) \
             ORDER BY block_number, event_index LIMIT $7",
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
}

pub(super) fn event_from_row(row: &sqlx::any::AnyRow) -> Result<IndexedEvent, IndexError> {
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
