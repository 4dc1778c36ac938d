//! The relay's identity as a node: its chain account, its keyring, and its record in
//! the contract's node registry, which it keeps current at start-up.

use datamgmt_client::chain::{
    messages, to_abi_account, AccountId32, ChainClient, ChainError, Confirmation, NodeSigner,
};
use datamgmt_client::keyring::{Keyring, KeyringError};
use datamgmt_client::keys::Passphrase;
use std::path::Path;

/// What start-up did to the node's on-chain record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// The record already matched.
    Unchanged,
    /// The node registered for the first time.
    Registered,
    /// The key or endpoint changed and the record was updated.
    Updated,
}

/// Opens the keyring at `path`, creating one with fresh keys when there is none yet.
pub fn open_or_create_keyring(
    path: &Path,
    passphrase: &Passphrase,
) -> Result<Keyring, KeyringError> {
    if path.exists() {
        return Keyring::open(path, passphrase);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let keyring = Keyring::generate(passphrase);
    keyring.save(path)?;
    tracing::info!(path = %path.display(), "created a new keyring");
    Ok(keyring)
}

/// Makes the contract's record of this node say what the keyring and the configuration
/// say: its current X25519 key and version, and `endpoint`.
pub async fn ensure_registered(
    chain: &ChainClient,
    signer: &NodeSigner,
    keyring: &Keyring,
    endpoint: &str,
) -> Result<Registration, ChainError> {
    let (key_version, key) = keyring.current_node_public_key();
    let account = to_abi_account(&signer.account_id());
    let (message, outcome) = match chain.node(&account).await? {
        None => (messages::register_node(key, key_version, endpoint), Registration::Registered),
        Some(node)
            if node.encryption_key == key
                && node.key_version == key_version
                && node.endpoint == endpoint =>
        {
            return Ok(Registration::Unchanged)
        }
        Some(node) if node.encryption_key != key && node.key_version >= key_version => {
            return Err(ChainError::Config(format!(
                "the chain has another encryption key for this node at version {} (this \
                 keyring's is version {key_version}): this is not the keyring the node \
                 registered with; restore that keyring, or rotate this one's node key past \
                 version {}",
                node.key_version, node.key_version
            )))
        }
        Some(_) => (messages::update_node(key, key_version, endpoint), Registration::Updated),
    };
    chain.submit(signer, &message, Confirmation::InBlock).await?;
    Ok(outcome)
}

/// The account a signer acts for, for logs.
pub fn describe(signer: &NodeSigner) -> (AccountId32, datamgmt_abi::NodeId) {
    let account = signer.account_id();
    let node_id = datamgmt_client::chain::node_id_of(&account);
    (account, node_id)
}
