//! What every table of the index shares: its error type, the conversions between the
//! contract's types and columns, and the builder of statements whose filters vary.
//!
//! The index runs on SQLite or PostgreSQL through sqlx's `Any` driver, so every
//! statement here is written once, in the SQL both engines run, with `$N` placeholders
//! (which both accept).

use datamgmt_abi::{AccountId, NodeId};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Arguments, Row};
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
    /// The database URL names an engine the index does not run on.
    #[error("index database: {0:?} is neither sqlite:// nor postgres://")]
    UnsupportedUrl(String),
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
pub(super) fn parse<T: FromStr>(row: &AnyRow, column: &str) -> Result<T, IndexError> {
    let text: String = row.try_get(column)?;
    text.parse().map_err(|_| IndexError::Corrupt(format!("{column} = {text:?}")))
}

/// An integer column that must not be negative.
pub(super) fn unsigned(row: &AnyRow, column: &str) -> Result<u64, IndexError> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value).map_err(|_| IndexError::Corrupt(format!("{column} = {value}")))
}

/// An unsigned value as the index stores integers (saturating).
pub(super) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A statement built piece by piece, for filters that vary: each bound value gets the
/// next `$N` placeholder.
pub(super) struct Statement {
    sql: String,
    arguments: AnyArguments<'static>,
}

impl Statement {
    /// A statement starting with `sql`, which binds nothing.
    pub(super) fn new(sql: impl Into<String>) -> Self {
        Self { sql: sql.into(), arguments: AnyArguments::default() }
    }

    /// Appends `sql`.
    pub(super) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder for `value`.
    pub(super) fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any> + 'static,
    {
        // Encoding into the `Any` buffer only copies the value: it cannot fail for the
        // integers and strings bound here.
        let _ = self.arguments.add(value);
        self.sql.push('$');
        self.sql.push_str(&self.arguments.len().to_string());
        self
    }

    /// Appends placeholders for `values`, separated by commas.
    pub(super) fn bind_list(&mut self, values: &[i64]) -> &mut Self {
        for (n, value) in values.iter().enumerate() {
            if n > 0 {
                self.push(", ");
            }
            self.bind(*value);
        }
        self
    }

    /// Runs the statement for its rows.
    pub(super) async fn fetch_all<'e, E>(self, executor: E) -> Result<Vec<AnyRow>, sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query_with(&self.sql, self.arguments).fetch_all(executor).await
    }

    /// Runs the statement for its effect: how many rows it changed.
    pub(super) async fn execute<'e, E>(self, executor: E) -> Result<u64, sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        Ok(sqlx::query_with(&self.sql, self.arguments).execute(executor).await?.rows_affected())
    }
}
