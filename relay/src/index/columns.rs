//! What every table of the index shares: its error type and the conversions between
//! the contract's types and SQLite columns.

use datamgmt_abi::{AccountId, NodeId};
use sqlx::Row;
use std::str::FromStr;

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

/// The node id of `account`, as the index stores it.
pub(super) fn node_of(account: &AccountId) -> NodeId {
    datamgmt_client::chain::node_id_of(&datamgmt_client::chain::from_abi_account(account))
}

/// A text column parsed as `T`.
pub(super) fn parse<T: FromStr>(
    row: &sqlx::sqlite::SqliteRow,
    column: &str,
) -> Result<T, IndexError> {
    let text: String = row.try_get(column)?;
    text.parse().map_err(|_| IndexError::Corrupt(format!("{column} = {text:?}")))
}

/// An integer column that must not be negative.
pub(super) fn unsigned(row: &sqlx::sqlite::SqliteRow, column: &str) -> Result<u64, IndexError> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value).map_err(|_| IndexError::Corrupt(format!("{column} = {value}")))
}

/// Row ids as a JSON array, for `IN (SELECT value FROM json_each(?))`: one statement for
/// a whole batch.
pub(super) fn id_list(ids: &[i64]) -> Result<String, IndexError> {
    serde_json::to_string(ids).map_err(|e| IndexError::Corrupt(e.to_string()))
}

/// An unsigned value as SQLite stores integers (saturating).
pub(super) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
