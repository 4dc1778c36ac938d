//! The chain client: one connection to a `substrate-contracts-node` and one deployed
//! `access` contract.
//!
//! Reads (dry-runs) go over a raw `state_call`, the fastest path there is (key release
//! waits on it); transactions go through subxt's legacy backend, which is also much faster
//! than the chainHead backend against a local node.
//!
//! - [`ChainClient`]: connect, dry-run, call, query, read events;
//! - [`messages`]: the encoded contract messages;
//! - [`NodeSigner`]: a node's sr25519 account key;
//! - [`ensure_registered`]: a node's record in the contract, kept current;
//! - [`events`]: contract events found in blocks, with their on-chain coordinates;
//! - [`DeployState`]: where the node and the contract are, as `scripts/deploy.sh` wrote.

mod client;
mod deploy_state;
mod dry_run;
mod error;
pub mod events;
pub mod messages;
mod registration;
mod signer;

pub use client::{AccessView, CallReceipt, ChainClient, Confirmation, SharedSubmitLock};
pub use deploy_state::{DeployState, DEPLOY_STATE_ENV};
pub use dry_run::{DryRun, StorageDeposit, Weight};
pub use error::ChainError;
pub use events::RecordedEvent;
pub use messages::ContractMessage;
pub use registration::{
    check_endpoint_scheme, ensure_registered, is_literal_loopback, Registration,
};
pub use signer::NodeSigner;

/// An account as subxt spells it (SS58 text form via `Display`/`FromStr`).
pub use subxt::utils::AccountId32;
/// A block or extrinsic hash.
pub use subxt::utils::H256;

/// Converts a subxt account into the shared abi type (same 32 bytes).
pub fn to_abi_account(account: &AccountId32) -> datamgmt_abi::AccountId {
    datamgmt_abi::AccountId(account.0)
}

/// Converts an abi account into subxt's type (same 32 bytes).
pub fn from_abi_account(account: &datamgmt_abi::AccountId) -> AccountId32 {
    AccountId32(account.0)
}

/// The node id the contract derives for `account`: `node_` + the first 6 bytes of
/// blake2-256 of the account.
pub fn node_id_of(account: &AccountId32) -> datamgmt_abi::NodeId {
    use blake2::{digest::consts::U32, Blake2b, Digest};
    let digest: [u8; 32] = Blake2b::<U32>::digest(account.0).into();
    datamgmt_abi::NodeId::from_account_digest(&digest)
}
