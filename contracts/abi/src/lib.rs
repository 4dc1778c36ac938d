//! Types shared by the `access` contract, the relay and the client.
//!
//! The contract, the relay and the SDK must agree byte for byte on what is stored, what
//! is emitted and how access is decided. This crate is that agreement, written once:
//!
//! - [`ids`]: account, share, node and data-hash identifiers with their text forms;
//! - [`records`]: what the contract stores (nodes, shares, payment receipts);
//! - [`decision`]: the pure access rule [`decide`], called by the contract and re-checked
//!   by the relay before it releases any key;
//! - [`events`]: the layout and topics of every event the contract emits;
//! - [`selectors`]: the pinned 4-byte selector of every contract message;
//! - [`error`]: the contract's documented [`Error`] enum.
//!
//! It has no ink! dependency and stays `no_std` so the wasm contract can use it; it is
//! built with the contract's pinned 1.81 toolchain, so its dependencies stay
//! 1.81-compatible. `serde` support for the text forms sits behind the `serde` feature.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod decision;
pub mod error;
pub mod events;
pub mod ids;
pub mod records;
pub mod selectors;

pub use decision::{decide, AccessGrant, Decision, DenyReason};
pub use error::Error;
pub use ids::{AccountId, DataHash, EncryptionKey, NodeId, ParseIdError, ShareId};
pub use records::{Node, Receipt, Share};

/// Amounts of the chain's native token, in its smallest unit.
pub type Balance = u128;

/// Milliseconds since the Unix epoch, as given by the block timestamp.
pub type Timestamp = u64;

/// How long after a key release its `record_release` may land: a relay sends the key
/// on the decision it read at one block and records it after, so a revocation or an
/// expiry in between must not make the record fail (ms).
pub const RELEASE_RECORD_WINDOW_MS: Timestamp = 10 * 60 * 1000;

/// Most releases one `record_releases` call takes.
pub const MAX_RELEASES_PER_CALL: usize = 256;

/// Version of a key (a node's X25519 key or a relay's master key); starts at 1.
pub type KeyVersion = u32;
