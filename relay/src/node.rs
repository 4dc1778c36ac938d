//! The relay's identity as a node: its chain account, its keyring, and its record in
//! the contract's node registry, which it keeps current at start-up.

pub use datamgmt_client::chain::{ensure_registered, Registration};
use datamgmt_client::chain::{AccountId32, NodeSigner};
use datamgmt_client::keyring::{Keyring, KeyringError};
use datamgmt_client::keys::Passphrase;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::RwLock;

/// Who this relay is: its chain account, its keys, the URL it is reached at.
#[derive(Clone)]
pub struct NodeIdentity {
    /// Signs the node's transactions.
    pub signer: NodeSigner,
    /// Master keys and X25519 keys; written only by key rotation.
    pub keyring: Arc<RwLock<Keyring>>,
    /// The keyring's file, which key rotation writes.
    pub keyring_path: PathBuf,
    /// The endpoint registered on chain.
    pub public_url: String,
}

impl NodeIdentity {
    /// This node's account, in the contract's form.
    pub fn account(&self) -> datamgmt_abi::AccountId {
        datamgmt_client::chain::to_abi_account(&self.signer.account_id())
    }
}

/// Opens the keyring at `path`, creating one with fresh keys when there is none yet.
pub fn open_or_create_keyring(
    path: &Path,
    passphrase: &Passphrase,
) -> Result<Keyring, KeyringError> {
    let (keyring, created) = Keyring::open_or_create(path, passphrase)?;
    if created {
        tracing::info!(path = %path.display(), "created a new keyring");
    }
    Ok(keyring)
}

/// The account a signer acts for, for logs.
pub fn describe(signer: &NodeSigner) -> (AccountId32, datamgmt_abi::NodeId) {
    let account = signer.account_id();
    let node_id = datamgmt_client::chain::node_id_of(&account);
    (account, node_id)
}
