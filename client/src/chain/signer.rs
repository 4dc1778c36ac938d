//! A node's chain account key.

use super::{AccountId32, ChainError};
use std::str::FromStr;
use subxt_signer::{sr25519::Keypair, SecretUri};

/// The sr25519 key a node signs its transactions (and, later, its P2P requests) with.
/// Deliberately not `Debug`: it holds a secret.
#[derive(Clone)]
pub struct NodeSigner(Keypair);

impl NodeSigner {
    /// A key from a secret URI: a dev account (`//Alice`), a mnemonic or a raw seed, with
    /// optional derivation paths and password.
    pub fn from_suri(suri: &str) -> Result<Self, ChainError> {
        let uri = SecretUri::from_str(suri).map_err(|_| ChainError::BadSecretUri)?;
        Keypair::from_uri(&uri).map(Self).map_err(|_| ChainError::BadSecretUri)
    }

    /// The account this key signs for.
    pub fn account_id(&self) -> AccountId32 {
        self.0.public_key().to_account_id()
    }

    /// An sr25519 signature of `message` by this account's key (for P2P requests).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).0
    }

    /// The underlying subxt signer.
    pub(crate) fn keypair(&self) -> &Keypair {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_account_has_its_well_known_address() {
        let alice = NodeSigner::from_suri("//Alice").unwrap();
        assert_eq!(
            alice.account_id().to_string(),
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
        );
    }

    #[test]
    fn garbage_uri_is_refused() {
        assert!(matches!(NodeSigner::from_suri("not a key"), Err(ChainError::BadSecretUri)));
    }
}
