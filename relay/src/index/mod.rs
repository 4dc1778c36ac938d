//! The relay's index, in SQLite (embedded, the default) or PostgreSQL (shared by a
//! node's replicas): the shares it made and where each stands on chain, the contract
//! events that concern it, the nonces of node-to-node requests, the key release outbox,
//! and the directory of registered nodes. One module per table; [`database`] opens it.
//!
//! Every share is written here before its chain call, as pending; that row is the
//! outbox entry the retry worker works from, so a chain failure after the upload is
//! retried and never silently lost. Schema changes are migrations in `migrations/<engine>/`,
//! applied at start-up.

mod columns;
pub mod database;
pub mod events;
mod group_commit;
pub mod leases;
pub mod nodes;
pub mod nonces;
pub mod received;
pub mod releases;
#[cfg(any(test, feature = "testing"))]
pub mod scratch;
pub mod shares;
#[cfg(test)]
mod tests;

pub use columns::IndexError;
pub use database::{Engine, Index};
pub use events::IndexedEvent;
pub use leases::WriterLease;
pub use nodes::{DirectoryRow, IndexedNode};
pub use received::ReceivedShare;
pub use releases::{KeyRelease, OutboxRelease, PendingRelease};
pub use shares::{ChainRecord, ShareQuery, ShareRow};
