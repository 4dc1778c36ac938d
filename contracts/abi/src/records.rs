//! What the contract stores: registered nodes, shares and payment receipts.

use crate::{AccountId, Balance, DataHash, EncryptionKey, KeyVersion, NodeId, Timestamp};
use alloc::string::String;
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;

/// Longest relay endpoint URL the contract accepts, in bytes.
pub const MAX_ENDPOINT_LEN: usize = 256;

/// A registered node: an organisation's relay, keyed on chain by its account.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Node {
    /// Short public name derived from the account.
    pub node_id: NodeId,
    /// X25519 public key that data keys for this node are wrapped to.
    pub encryption_key: EncryptionKey,
    /// Version of `encryption_key`; grows each time the key changes.
    pub key_version: KeyVersion,
    /// URL of the node's relay, at most [`MAX_ENDPOINT_LEN`] bytes.
    pub endpoint: String,
    /// Block time of the registration.
    pub registered_at: Timestamp,
    /// Block time of the last change (equal to `registered_at` until the first update).
    pub updated_at: Timestamp,
}

/// A grant: `owner` lets `recipient` have the data key of the object whose plaintext
/// hashes to `data_hash`, under the conditions below.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Share {
    /// The node that shared the data and releases its key.
    pub owner: AccountId,
    /// The only node that may receive the key.
    pub recipient: AccountId,
    /// SHA-256 of the plaintext.
    pub data_hash: DataHash,
    /// Price of each access in the smallest unit; 0 means free.
    #[cfg_attr(feature = "serde", serde(with = "balance_text"))]
    pub price: Balance,
    /// Block time from which access is refused (exclusive bound: at exactly this time
    /// the share has expired); `None` never expires.
    pub expires_at: Option<Timestamp>,
    /// Block time of the share.
    pub created_at: Timestamp,
    /// Block time of the revocation, if revoked.
    pub revoked_at: Option<Timestamp>,
    /// Version of the owner's master key the object's custody stanza was made with.
    pub key_version: KeyVersion,
}

/// A payment for one access to a priced share, kept per (share, payer).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Receipt {
    /// What the last payment was (the share's price at the time).
    #[cfg_attr(feature = "serde", serde(with = "balance_text"))]
    pub amount: Balance,
    /// Block time of the last payment.
    pub paid_at: Timestamp,
    /// Key releases the payment still covers: 1 after paying, 0 once the key was released.
    pub releases_left: u32,
}

/// Balances as decimal strings in text, since JSON numbers lose precision past 2^53.
#[cfg(feature = "serde")]
pub mod balance_text {
    use crate::Balance;
    use core::fmt;

    /// Writes the balance as a decimal string.
    pub fn serialize<S: serde::Serializer>(
        value: &Balance,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Reads a balance from a decimal string (an integer JSON number is accepted too).
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Balance, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Balance;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer amount, as a decimal string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Balance, E> {
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(E::custom("amount must be decimal digits only"));
                }
                text.parse().map_err(|_| E::custom("amount is too large"))
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Balance, E> {
                Ok(value.into())
            }
            fn visit_u128<E: serde::de::Error>(self, value: u128) -> Result<Balance, E> {
                Ok(value)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
