//! The DataMgmt Node relay: a node's server. It encrypts what its organisation shares,
//! stores the envelopes in object storage, records shares on chain, and releases data
//! keys only when the contract allows it.
//!
//! # Layout
//!
//! - [`storage`]: envelopes in object storage (local filesystem or any S3-compatible
//!   service), written so that nothing is visible until complete.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod storage;
