//! The directory of registered nodes, kept from the contract's node events by the
//! indexer, for recipient pickers (`GET /nodes`).

use super::columns::{parse, to_i64, unsigned, IndexError};
use super::Index;
use datamgmt_abi::{records::Node, AccountId, NodeId, Timestamp};
use sqlx::Row;

/// A node event of a finalized block, as the indexer hands it over.
#[derive(Debug, Clone)]
pub struct IndexedNode {
    /// The block it is in.
    pub block_number: u64,
    /// The node's account.
    pub account: AccountId,
    /// The node's record after the event.
    pub node: Node,
}

/// A directory row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRow {
    /// The node's short public name.
    pub node_id: NodeId,
    /// The node's account.
    pub account: AccountId,
    /// Its relay's URL.
    pub endpoint: String,
    /// Version of its encryption key.
    pub key_version: u32,
    /// Block time of its registration, ms.
    pub registered_at: Timestamp,
    /// Block time of its last change, ms.
    pub updated_at: Timestamp,
    /// The block of its last change.
    pub block_number: u64,
}

/// Writes `nodes` (in chain order) into the directory, inside the indexer's transaction.
pub(super) async fn upsert(
    tx: &mut sqlx::AnyConnection,
    nodes: &[IndexedNode],
) -> Result<(), IndexError> {
    for indexed in nodes {
        let node = &indexed.node;
        sqlx::query(
            "INSERT INTO nodes (account, node_id, endpoint, key_version, registered_at, \
             updated_at, block_number) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (account) DO UPDATE SET node_id = excluded.node_id, \
             endpoint = excluded.endpoint, key_version = excluded.key_version, \
             registered_at = excluded.registered_at, updated_at = excluded.updated_at, \
             block_number = excluded.block_number \
             WHERE excluded.block_number >= nodes.block_number",
        )
        .bind(indexed.account.to_string())
        .bind(node.node_id.to_string())
        .bind(&node.endpoint)
        .bind(i64::from(node.key_version))
        .bind(to_i64(node.registered_at))
        .bind(to_i64(node.updated_at))
        .bind(to_i64(indexed.block_number))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

impl Index {
    /// The last block whose node events the directory holds, if any.
    pub async fn directory_up_to(&self) -> Result<Option<u64>, IndexError> {
        let row = sqlx::query("SELECT last_block FROM directory_cursor WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| unsigned(&row, "last_block")).transpose()
    }

    /// A page of the directory by node id (then account), after `after` if given.
    pub async fn nodes(
        &self,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<DirectoryRow>, IndexError> {
        let (node_id, account) = after.unwrap_or_default();
        let rows = sqlx::query(
            "SELECT account, node_id, endpoint, key_version, registered_at, updated_at, \
             block_number FROM nodes WHERE (node_id, account) > ($1, $2) \
             ORDER BY node_id, account LIMIT $3",
        )
        .bind(node_id)
        .bind(account)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let key_version = unsigned(row, "key_version")?;
                Ok(DirectoryRow {
                    node_id: parse(row, "node_id")?,
                    account: parse(row, "account")?,
                    endpoint: row.try_get("endpoint")?,
                    key_version: u32::try_from(key_version)
                        .map_err(|_| IndexError::Corrupt(format!("key_version = {key_version}")))?,
                    registered_at: unsigned(row, "registered_at")?,
                    updated_at: unsigned(row, "updated_at")?,
                    block_number: unsigned(row, "block_number")?,
                })
            })
            .collect()
    }
}
