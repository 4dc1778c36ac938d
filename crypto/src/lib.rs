//! The DataMgmt Node key model: what a node encrypts with, and the format it encrypts to.
//!
//! Every object is sealed under a fresh data key; the data key travels only wrapped, for
//! the node's own custody (under a master key) and per recipient (HPKE to the
//! recipient's X25519 key). This crate is that model and nothing else: no network, no
//! chain, no object storage. It is its own crate so that its hot loops (PBKDF2, the
//! generic HMAC and HPKE code) are optimized even in development builds (see the
//! workspace's `[profile.dev.package]`), while the crates around it build fast.
//!
//! - [`envelope`]: the encrypted object format (Fernet chunks under a per-object data
//!   key, with key stanzas for custody and recipients), streamed in constant memory.
//! - [`keys`]: secret key types (data keys, master keys, X25519 node keys, passphrases).
//! - [`keyring`]: a node's versioned keys in a passphrase-encrypted file: rotation,
//!   re-wrapping, retirement.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod envelope;
pub mod keyring;
pub mod keys;
