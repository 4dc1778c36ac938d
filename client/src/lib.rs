//! The DataMgmt Node SDK: everything a program needs to take part in sharing.
//!
//! # Layout
//!
//! - [`chain`]: the connection to the chain and the `access` contract (subxt): signing,
//!   dry-runs, calls, reads, and decoding the contract's events into `datamgmt_abi` types.
//!   The rest of the code base sees plain Rust types, never subxt's.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chain;

pub use datamgmt_abi as abi;
