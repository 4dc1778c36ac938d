//! The DataMgmt Node SDK: everything a program needs to take part in sharing.
//!
//! # Layout
//!
//! - [`api`]: the relay's REST API: every request and response type, with the relay's
//!   wire shape (and `utoipa` schemas with the `openapi` feature), and [`api::RelayClient`],
//!   which calls it.
//! - [`audit`]: compliance exports straight from the chain, and their re-verification.
//! - [`chain`]: the connection to the chain and the `access` contract (subxt): signing,
//!   dry-runs, calls, reads, and decoding the contract's events into `datamgmt_abi` types.
//!   The rest of the code base sees plain Rust types, never subxt's.
//! - [`envelope`], [`keys`], [`keyring`]: the key model and the encrypted object format,
//!   from `datamgmt_crypto` (re-exported here, so a program needs only this crate).
//! - [`p2p`]: requests between nodes signed with the node's chain account.
//! - [`timefmt`]: times as the API writes them (RFC 3339 or Unix seconds).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod audit;
pub mod chain;
pub mod p2p;
pub mod timefmt;

pub use datamgmt_abi as abi;
pub use datamgmt_crypto::{envelope, keyring, keys};
