//! Identifiers and their text forms.
//!
//! Every identifier is a fixed-size byte array on chain (SCALE: the raw bytes) and a
//! prefixed lowercase hex string in text (`share_…`, `node_…`, `sha256:…`, `0x…`), so a
//! value can be told apart from another kind of id at a glance and parsed back exactly.

use core::{fmt, str::FromStr};
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;

/// Why a text form could not be parsed into an identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseIdError {
    /// The text does not start with the identifier's prefix.
    MissingPrefix(&'static str),
    /// The hex part has the wrong number of characters.
    WrongLength {
        /// Hex characters expected after the prefix.
        expected: usize,
        /// Hex characters found.
        found: usize,
    },
    /// The hex part has a character outside `0-9a-f` (uppercase is refused so that each
    /// identifier has exactly one text form).
    NotLowercaseHex,
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingPrefix(prefix) => write!(f, "must start with `{prefix}`"),
            Self::WrongLength { expected, found } => {
                write!(f, "must have {expected} hex characters after the prefix, found {found}")
            }
            Self::NotLowercaseHex => f.write_str("must be lowercase hex (0-9, a-f)"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ParseIdError {}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for byte in bytes {
        write!(f, "{byte:02x}")?;
    }
    Ok(())
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Parses `prefix` followed by exactly `2 * N` lowercase hex characters.
fn parse_prefixed_hex<const N: usize>(
    text: &str,
    prefix: &'static str,
) -> Result<[u8; N], ParseIdError> {
    let hex = text.strip_prefix(prefix).ok_or(ParseIdError::MissingPrefix(prefix))?.as_bytes();
    if hex.len() != 2 * N {
        return Err(ParseIdError::WrongLength { expected: 2 * N, found: hex.len() });
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let high = hex_value(pair[0]).ok_or(ParseIdError::NotLowercaseHex)?;
        let low = hex_value(pair[1]).ok_or(ParseIdError::NotLowercaseHex)?;
        *byte = (high << 4) | low;
    }
    Ok(out)
}

/// Defines a byte-array identifier with a prefixed hex text form.
macro_rules! prefixed_hex_id {
    ($(#[$doc:meta])* $name:ident, $len:literal, $prefix:literal) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode,
            TypeInfo,
        )]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Prefix of the text form.
            pub const PREFIX: &'static str = $prefix;

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(Self::PREFIX)?;
                write_hex(f, &self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                parse_prefixed_hex(text, Self::PREFIX).map(Self)
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "`{}` followed by {} lowercase hex characters", $prefix, 2 * $len)
                    }
                    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<$name, E> {
                        text.parse().map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(Visitor)
            }
        }
    };
}

prefixed_hex_id!(
    /// A chain account (32 bytes, SCALE-identical to ink!'s and Substrate's `AccountId32`).
    /// Text form `0x` + 64 hex; the SS58 form is the client's business.
    AccountId, 32, "0x"
);

prefixed_hex_id!(
    /// A share, chosen at random by the owner before anything is stored, so the object key
    /// and every retry of the on-chain write name the same share.
    ShareId, 16, "share_"
);

prefixed_hex_id!(
    /// A node's short public name: the first 6 bytes of blake2-256 of its account
    /// (`node_` + 12 hex). The contract refuses a registration whose id is taken.
    NodeId, 6, "node_"
);

prefixed_hex_id!(
    /// SHA-256 of a shared object's plaintext (`sha256:` + 64 hex).
    DataHash, 32, "sha256:"
);

prefixed_hex_id!(
    /// A node's X25519 public key, to which data keys are wrapped (`x25519:` + 64 hex).
    EncryptionKey, 32, "x25519:"
);

impl NodeId {
    /// The node id of the account whose blake2-256 digest is `account_digest`.
    ///
    /// The digest is taken by the caller (the contract with the chain's hash host
    /// function, off-chain code with a blake2 crate) so this crate needs no hasher.
    pub fn from_account_digest(account_digest: &[u8; 32]) -> Self {
        let mut id = [0u8; 6];
        id.copy_from_slice(&account_digest[..6]);
        Self(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use proptest::prelude::*;

    #[test]
    fn text_forms_round_trip() {
        let share = ShareId([0xab; 16]);
        assert_eq!(share.to_string(), "share_abababababababababababababababab");
        assert_eq!(share.to_string().parse::<ShareId>(), Ok(share));
        let hash: DataHash =
            "sha256:7f83b1657ff1fc53b92dc18148a1d65dfc2d4b1fa3d677284addd200126d9069"
                .parse()
                .unwrap();
        assert_eq!(hash.0[0], 0x7f);
        assert_eq!(hash.0[31], 0x69);
    }

    #[test]
    fn bad_text_forms_are_refused() {
        assert_eq!("7f83".parse::<DataHash>(), Err(ParseIdError::MissingPrefix("sha256:")));
        assert_eq!(
            "sha256:7f83".parse::<DataHash>(),
            Err(ParseIdError::WrongLength { expected: 64, found: 4 })
        );
        let upper = "sha256:7F83B1657FF1FC53B92DC18148A1D65DFC2D4B1FA3D677284ADDD200126D9069";
        assert_eq!(upper.parse::<DataHash>(), Err(ParseIdError::NotLowercaseHex));
        assert_eq!(
            "node_../../etc".parse::<NodeId>(),
            Err(ParseIdError::WrongLength { expected: 12, found: 9 })
        );
        assert_eq!("node_zzzzzzzzzzzz".parse::<NodeId>(), Err(ParseIdError::NotLowercaseHex));
        // Multi-byte characters must not be split mid-character or accepted.
        assert!("node_ééééééé".parse::<NodeId>().is_err());
    }

    #[test]
    fn node_id_is_the_digest_prefix() {
        let digest: [u8; 32] = core::array::from_fn(|i| i as u8);
        assert_eq!(NodeId::from_account_digest(&digest).to_string(), "node_000102030405");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_the_text_form() {
        let id = NodeId([1, 2, 3, 4, 5, 6]);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"node_010203040506\"");
        assert_eq!(serde_json::from_str::<NodeId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<NodeId>("\"node_01\"").is_err());
    }

    proptest! {
        #[test]
        fn any_share_id_round_trips(bytes in any::<[u8; 16]>()) {
            let id = ShareId(bytes);
            prop_assert_eq!(id.to_string().parse::<ShareId>(), Ok(id));
        }

        #[test]
        fn parsing_never_panics(text in ".{0,80}") {
            let _ = text.parse::<DataHash>();
            let _ = text.parse::<AccountId>();
        }
    }
}
