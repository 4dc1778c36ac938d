//! Key material: per-object data keys, master keys, node X25519 keys, passphrases.
//!
//! Every secret is a newtype that is zeroized on drop and has no `Debug`, so it can
//! neither linger in freed memory nor end up in a log line by accident. Public halves
//! (`datamgmt_abi::EncryptionKey`) print freely.

use base64::{engine::general_purpose::URL_SAFE, Engine as _};
use datamgmt_abi::EncryptionKey;
use fernet::Fernet;
use hpke::{kem::X25519HkdfSha256, Deserializable, Kem as _, Serializable};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Fills a fresh array from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

/// Defines a 32-byte secret: zeroized on drop, no `Debug`, bytes only inside the crate
/// (and to test suites, with the `test-support` feature).
macro_rules! secret_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; 32]);

        impl $name {
            /// A new random key.
            pub fn generate() -> Self {
                Self(random_bytes())
            }

            /// The key from its 32 bytes (for keyring files and tests).
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            pub(crate) fn expose(&self) -> &[u8; 32] {
                &self.0
            }

            /// The raw bytes, for test suites that look for a key where it must not be
            /// (feature `test-support`; never in a product build).
            #[cfg(feature = "test-support")]
            pub fn expose_for_tests(&self) -> &[u8; 32] {
                &self.0
            }
        }
    };
}

secret_key!(
    /// The key of one object (its "DEK"): a Fernet key (16 bytes HMAC, 16 bytes AES).
    DataKey
);

secret_key!(
    /// One version of a node's master key: a Fernet key that wraps data keys in custody
    /// stanzas.
    MasterKey
);

secret_key!(
    /// A node's X25519 secret key; data keys for this node are wrapped to its public half.
    NodeSecretKey
);

/// A Fernet instance for a 32-byte Fernet key, without leaving the key's text form in
/// memory.
pub(crate) fn fernet_for(key: &[u8; 32]) -> Fernet {
    let text = Zeroizing::new(URL_SAFE.encode(key));
    Fernet::new(&text).expect("a 32-byte key is a valid Fernet key")
}

impl DataKey {
    pub(crate) fn fernet(&self) -> Fernet {
        fernet_for(&self.0)
    }
}

impl MasterKey {
    pub(crate) fn fernet(&self) -> Fernet {
        fernet_for(&self.0)
    }
}

impl NodeSecretKey {
    pub(crate) fn hpke_key(&self) -> <X25519HkdfSha256 as hpke::Kem>::PrivateKey {
        <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(&self.0)
            .expect("every 32-byte string is an X25519 secret key")
    }

    /// The public half, as registered on chain.
    pub fn public_key(&self) -> EncryptionKey {
        let public = X25519HkdfSha256::sk_to_pk(&self.hpke_key()).to_bytes();
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&public);
        EncryptionKey(bytes)
    }
}

/// The passphrase a keyring file is encrypted under.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Passphrase(String);

impl Passphrase {
    /// Wraps a passphrase; the caller's `String` is moved, not copied.
    pub fn new(passphrase: String) -> Self {
        Self(passphrase)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl From<&str> for Passphrase {
    fn from(passphrase: &str) -> Self {
        Self(passphrase.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_is_deterministic_and_distinct() {
        let secret = NodeSecretKey::from_bytes([7; 32]);
        assert_eq!(secret.public_key(), secret.clone().public_key());
        assert_ne!(secret.public_key(), NodeSecretKey::generate().public_key());
    }

    #[test]
    fn data_key_is_a_fernet_key() {
        let key = DataKey::generate();
        let fernet = key.fernet();
        assert_eq!(fernet.decrypt(&fernet.encrypt(b"x")).unwrap(), b"x");
    }
}
