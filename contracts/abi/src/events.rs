//! The layout and topics of every event the contract emits.
//!
//! The chain allows four topics per event. A share's lifecycle needs all four
//! (`share_id`, `owner`, `recipient`, `data_hash`) so a compliance team can filter by
//! share, by party or by data; [`ShareEvent`] is therefore emitted without a signature
//! topic (ink!'s `anonymous`), and what happened is the [`ShareAction`] in its data.
//! The other events carry a pinned signature topic first (see [`topics`]).
//!
//! [`ContractEvent::decode`] turns the topics and data of a `ContractEmitted` chain
//! event back into these types and refuses anything whose topics do not match its data.

use crate::{AccountId, Balance, DataHash, KeyVersion, Node, ShareId, Timestamp};
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;

/// Signature topics (first topic) of the events that have one.
pub mod topics {
    /// [`super::NodeEvent`]: blake2-256 of `datamgmt.access.NodeEvent.v1`.
    pub const NODE_EVENT: [u8; 32] = [
        0x82, 0x95, 0xda, 0x3d, 0x7e, 0x82, 0x85, 0x04, 0xe8, 0xab, 0x27, 0x9e, 0x6f, 0xdc, 0x65,
        0x3d, 0x6a, 0x1e, 0xcb, 0x1e, 0x27, 0x8e, 0x99, 0x1d, 0x44, 0x41, 0x74, 0x51, 0x82, 0xca,
        0x06, 0x67,
    ];
    /// [`super::CodeUpgraded`]: blake2-256 of `datamgmt.access.CodeUpgraded.v1`.
    pub const CODE_UPGRADED: [u8; 32] = [
        0x15, 0x3a, 0x5f, 0xea, 0x3c, 0xab, 0xbc, 0xea, 0x90, 0xb2, 0x52, 0x2c, 0x7a, 0xc3, 0xe5,
        0x62, 0xaa, 0x08, 0x45, 0x78, 0xbe, 0xbf, 0xef, 0xd5, 0x8b, 0xc0, 0xda, 0xd2, 0x22, 0x9a,
        0x3c, 0x73,
    ];

    /// Every event of the contract by name, with its signature topic (`None`: anonymous).
    pub const ALL: [(&str, Option<[u8; 32]>); 3] = [
        ("ShareEvent", None),
        ("NodeEvent", Some(NODE_EVENT)),
        ("CodeUpgraded", Some(CODE_UPGRADED)),
    ];
}

/// Something happened to a share. Topics: `share_id`, `owner`, `recipient`, `data_hash`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ShareEvent {
    /// The share.
    pub share_id: ShareId,
    /// Its owner.
    pub owner: AccountId,
    /// Its recipient.
    pub recipient: AccountId,
    /// SHA-256 of the shared plaintext.
    pub data_hash: DataHash,
    /// Block time of the change.
    pub at: Timestamp,
    /// What happened.
    pub action: ShareAction,
}

/// What happened to a share.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case", tag = "kind"))]
pub enum ShareAction {
    /// The owner shared the data with the recipient.
    Created {
        /// Price per access (0 = free).
        #[cfg_attr(feature = "serde", serde(with = "crate::records::balance_text"))]
        price: Balance,
        /// Expiry, if any.
        expires_at: Option<Timestamp>,
        /// Owner's master key version for the object.
        key_version: KeyVersion,
    },
    /// The owner revoked the share.
    Revoked,
    /// The owner changed the expiry.
    ExpiryChanged {
        /// Expiry before the change.
        old: Option<Timestamp>,
        /// Expiry after the change.
        new: Option<Timestamp>,
    },
    /// The recipient paid for one access; the amount went to the owner.
    Paid {
        /// What was paid.
        #[cfg_attr(feature = "serde", serde(with = "crate::records::balance_text"))]
        amount: Balance,
    },
    /// The owner's relay released the data key to the recipient.
    KeyReleased {
        /// The payment this release consumed (0 for a free share or the owner's own read).
        #[cfg_attr(feature = "serde", serde(with = "crate::records::balance_text"))]
        paid: Balance,
    },
}

/// A node registered or changed its record. Topics: signature, `account`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NodeEvent {
    /// The node's account.
    pub account: AccountId,
    /// Registration or update.
    pub action: NodeAction,
    /// The node's record after the change.
    pub node: Node,
}

/// Whether a node event is a registration or an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum NodeAction {
    /// First registration.
    Registered,
    /// Key or endpoint change.
    Updated,
}

/// The admin replaced the contract's code. Topics: signature, `admin`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CodeUpgraded {
    /// The admin who did it.
    pub admin: AccountId,
    /// Hash of the new code.
    pub code_hash: [u8; 32],
}

/// Any event of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case", tag = "event"))]
pub enum ContractEvent {
    /// A share changed.
    Share(ShareEvent),
    /// A node registered or changed.
    Node(NodeEvent),
    /// The contract's code was replaced.
    CodeUpgraded(CodeUpgraded),
}

/// Why chain event data could not be read as a contract event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventDecodeError {
    /// The topics match no event of this contract.
    UnknownEvent,
    /// The data does not decode as the event the topics name, or has trailing bytes.
    BadData,
    /// The data decodes, but its topic fields differ from the event's topics.
    TopicMismatch,
}

impl core::fmt::Display for EventDecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::UnknownEvent => "not an event of the access contract",
            Self::BadData => "event data does not match the event's layout",
            Self::TopicMismatch => "event topics do not match the event's data",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EventDecodeError {}

/// The topic the chain stores for a topic field: its SCALE encoding, zero-padded to 32
/// bytes (every topic field here encodes to at most 32 bytes).
pub fn topic_of<T: Encode>(value: &T) -> [u8; 32] {
    let mut topic = [0u8; 32];
    value.using_encoded(|encoded| {
        debug_assert!(encoded.len() <= 32, "topic fields encode to at most 32 bytes");
        let len = encoded.len().min(32);
        topic[..len].copy_from_slice(&encoded[..len]);
    });
    topic
}

impl ShareEvent {
    /// The event's topics, in the order the contract emits them.
    pub fn topics(&self) -> [[u8; 32]; 4] {
        [
            topic_of(&self.share_id),
            topic_of(&self.owner),
            topic_of(&self.recipient),
            topic_of(&self.data_hash),
        ]
    }
}

impl ContractEvent {
    /// Reads an event from the `topics` and `data` of a `ContractEmitted` chain event.
    pub fn decode(topics: &[[u8; 32]], data: &[u8]) -> Result<Self, EventDecodeError> {
        match topics {
            [signature, account] if *signature == topics::NODE_EVENT => {
                let event: NodeEvent = decode_exact(data)?;
                check(*account == topic_of(&event.account))?;
                Ok(Self::Node(event))
            }
            [signature, admin] if *signature == topics::CODE_UPGRADED => {
                let event: CodeUpgraded = decode_exact(data)?;
                check(*admin == topic_of(&event.admin))?;
                Ok(Self::CodeUpgraded(event))
            }
            [_, _, _, _] => {
                let event: ShareEvent = decode_exact(data)?;
                check(topics == event.topics())?;
                Ok(Self::Share(event))
            }
            _ => Err(EventDecodeError::UnknownEvent),
        }
    }
}

fn decode_exact<T: Decode>(mut data: &[u8]) -> Result<T, EventDecodeError> {
    parity_scale_codec::DecodeAll::decode_all(&mut data).map_err(|_| EventDecodeError::BadData)
}

fn check(matches: bool) -> Result<(), EventDecodeError> {
    matches.then_some(()).ok_or(EventDecodeError::TopicMismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EncryptionKey, NodeId};
    use alloc::string::String;
    use blake2::{digest::consts::U32, Blake2b, Digest};

    fn share_event() -> ShareEvent {
        ShareEvent {
            share_id: ShareId([7; 16]),
            owner: AccountId([1; 32]),
            recipient: AccountId([2; 32]),
            data_hash: DataHash([3; 32]),
            at: 42,
            action: ShareAction::Paid { amount: 5 },
        }
    }

    #[test]
    fn signature_topics_are_hashes_of_their_labels() {
        for (label, topic) in [
            ("datamgmt.access.NodeEvent.v1", topics::NODE_EVENT),
            ("datamgmt.access.CodeUpgraded.v1", topics::CODE_UPGRADED),
        ] {
            assert_eq!(Blake2b::<U32>::digest(label.as_bytes()).as_slice(), &topic, "{label}");
        }
    }

    #[test]
    fn share_event_round_trips_through_topics_and_data() {
        let event = share_event();
        let decoded = ContractEvent::decode(&event.topics(), &event.encode()).unwrap();
        assert_eq!(decoded, ContractEvent::Share(event));
    }

    #[test]
    fn share_id_topic_is_zero_padded() {
        let topic = topic_of(&ShareId([7; 16]));
        assert_eq!(&topic[..16], &[7; 16]);
        assert_eq!(&topic[16..], &[0; 16]);
    }

    #[test]
    fn node_event_round_trips() {
        let event = NodeEvent {
            account: AccountId([4; 32]),
            action: NodeAction::Registered,
            node: Node {
                node_id: NodeId([4; 6]),
                encryption_key: EncryptionKey([5; 32]),
                key_version: 1,
                endpoint: String::from("http://127.0.0.1:8080"),
                registered_at: 1,
                updated_at: 1,
            },
        };
        let topics = [topics::NODE_EVENT, topic_of(&event.account)];
        assert_eq!(ContractEvent::decode(&topics, &event.encode()), Ok(ContractEvent::Node(event)));
    }

    #[test]
    fn forged_topics_are_refused() {
        let event = share_event();
        let mut topics = event.topics();
        topics[2] = topic_of(&AccountId([9; 32]));
        assert_eq!(
            ContractEvent::decode(&topics, &event.encode()),
            Err(EventDecodeError::TopicMismatch)
        );
    }

    #[test]
    fn truncated_or_padded_data_is_refused() {
        let event = share_event();
        let data = event.encode();
        let topics = event.topics();
        assert_eq!(
            ContractEvent::decode(&topics, &data[..data.len() - 1]),
            Err(EventDecodeError::BadData)
        );
        let mut longer = data.clone();
        longer.push(0);
        assert_eq!(ContractEvent::decode(&topics, &longer), Err(EventDecodeError::BadData));
        assert_eq!(ContractEvent::decode(&topics[..3], &data), Err(EventDecodeError::UnknownEvent));
    }
}
