//! Reading data back: this node's own share, or one shared with it (fetched from the
//! owner's relay through [`crate::release::fetch`]), decrypted and answered only if it
//! hashes to what was asked for.

pub mod answer;
pub mod candidates;
