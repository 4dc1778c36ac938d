//! The shares made to this node, as its `share_events` tell them: each `created` event
//! to this node, with what later events of the same share changed (expiry, revocation)
//! and whether a payment waits for its key release. Nothing here is kept apart from the
//! events: a dApp's revocation straight on the contract shows as soon as the indexer has
//! copied its block.

use super::columns::{node_of, parse, to_i64, unsigned, IndexError, Statement};
use super::database::Index;
use super::shares::ShareQuery;
use datamgmt_abi::events::ShareAction;
use datamgmt_abi::{AccountId, Balance, DataHash, ShareId, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;

/// A share made to this node, as of the newest event indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedShare {
    /// The share.
    pub share_id: ShareId,
    /// SHA-256 of the data.
    pub data_hash: DataHash,
    /// Who made it.
    pub owner: AccountId,
    /// This node.
    pub recipient: AccountId,
    /// Price per access (0 = free).
    pub price: Balance,
    /// Expiry (ms), after the last change, if any.
    pub expires_at: Option<Timestamp>,
    /// Block time of its creation (ms).
    pub shared_at: Timestamp,
    /// The block that created it.
    pub block_number: u64,
    /// The extrinsic that created it.
    pub tx_hash: String,
    /// Block time of its revocation (ms), if revoked.
    pub revoked_at: Option<Timestamp>,
    /// Payments made for it.
    pub payments: u64,
    /// Key releases that consumed a payment.
    pub paid_releases: u64,
}

impl Index {
    /// The shares made to `me` that `query` asks for, newest first. A `recipient`
    /// filter other than `me` matches nothing.
    pub async fn received_shares(
        &self,
        me: &AccountId,
        query: &ShareQuery,
    ) -> Result<Vec<ReceivedShare>, IndexError> {
        if query.recipient.is_some_and(|recipient| recipient != node_of(me)) {
            return Ok(Vec::new());
        }
        self.received_page(me, query).await
    }

    async fn received_page(
        &self,
        me: &AccountId,
        query: &ShareQuery,
    ) -> Result<Vec<ReceivedShare>, IndexError> {
        let later = |kind: &'static str, what: &'static str| {
            format!(
                "(SELECT {what} FROM share_events e WHERE e.share_id = c.share_id \
                 AND e.kind = '{kind}')"
            )
        };
        let mut sql = Statement::new(format!(
            "SELECT c.share_id, c.data_hash, c.owner, c.recipient, c.at, c.block_number, \
             c.extrinsic_hash, c.action AS created, \
             (SELECT e.action FROM share_events e \
              WHERE e.share_id = c.share_id \
              AND e.kind = 'expiry_changed' \
              ORDER BY e.block_number DESC, e.event_index DESC LIMIT 1) AS expiry_changed, \
             {} AS revoked_at, {} AS payments, \
             (SELECT COUNT(*) FROM share_events e WHERE e.share_id = c.share_id \
              AND e.kind = 'key_released' AND e.paid != '0') AS paid_releases \
             FROM share_events c \
             WHERE c.kind = 'created' AND c.recipient = ",
            later("revoked", "MIN(e.at)"),
            later("paid", "COUNT(*)"),
        ));
        sql.bind(me.to_string());
        if let Some(from) = query.from {
            sql.push(" AND c.at >= ").bind(to_i64(from));
        }
        if let Some(to) = query.to {
            sql.push(" AND c.at < ").bind(to_i64(to));
        }
        if let Some(sender) = query.sender {
            sql.push(" AND c.owner_node = ").bind(sender.to_string());
        }
        if let Some((at, share_id)) = query.after {
            sql.push(" AND (c.at < ").bind(to_i64(at));
            sql.push(" OR (c.at = ").bind(to_i64(at));
            sql.push(" AND c.share_id < ").bind(share_id.to_string()).push("))");
        }
        sql.push(" ORDER BY c.at DESC, c.share_id DESC LIMIT ").bind(i64::from(query.limit));
        let rows = sql.fetch_all(&self.pool).await?;
        rows.iter().map(received_from_row).collect()
    }
}

/// The action stored in `column` (the event's JSON, decoded as the contract wrote it:
/// amounts and times of any size, not the database's numbers).
fn action(row: &AnyRow, column: &str) -> Result<Option<ShareAction>, IndexError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|e| IndexError::Corrupt(format!("{column}: {e}")))
    })
    .transpose()
}

fn received_from_row(row: &AnyRow) -> Result<ReceivedShare, IndexError> {
    let Some(ShareAction::Created { price, expires_at, .. }) = action(row, "created")? else {
        return Err(IndexError::Corrupt("a created event without its terms".into()));
    };
    let expires_at = match action(row, "expiry_changed")? {
        Some(ShareAction::ExpiryChanged { new, .. }) => new,
        _ => expires_at,
    };
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    Ok(ReceivedShare {
        share_id: parse(row, "share_id")?,
        data_hash: parse(row, "data_hash")?,
        owner: parse(row, "owner")?,
        recipient: parse(row, "recipient")?,
        price,
        expires_at,
        shared_at: unsigned(row, "at")?,
        block_number: unsigned(row, "block_number")?,
        tx_hash: row.try_get("extrinsic_hash")?,
        revoked_at: revoked_at.map(|at| at.max(0) as u64),
        payments: unsigned(row, "payments")?,
        paid_releases: unsigned(row, "paid_releases")?,
    })
}
