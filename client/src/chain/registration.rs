//! A node's record in the contract's registry: its X25519 key, key version and endpoint,
//! kept equal to what its keyring and configuration say.

use super::{messages, to_abi_account, ChainClient, ChainError, Confirmation, NodeSigner};
use crate::keyring::Keyring;

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
