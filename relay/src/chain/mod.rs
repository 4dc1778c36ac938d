//! The chain, as the relay sees it: the connection to the node (kept in the background,
//! following best blocks), the reads a release is decided on (once per block, only at
//! the newest block seen), and the indexer that copies this node's events from
//! finalized blocks into the index.

pub mod connection;
pub mod indexer;
pub mod reads;
