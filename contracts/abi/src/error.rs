//! The contract's errors, shared so the relay and the client can decode and explain them.

use crate::{Balance, DenyReason};
use core::fmt;
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;

/// Every way a contract message can fail. A message that returns one of these reverts:
/// no state changes and any transferred value goes back to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Error {
    /// Returned if a message reserved to the contract's admin is called by anyone else.
    NotAdmin,
    /// Returned if `register_node` is called by an account that is already a node.
    NodeAlreadyRegistered,
    /// Returned if the caller must be a registered node and is not.
    NodeNotRegistered,
    /// Returned if the node id derived from the caller's account belongs to another node.
    NodeIdTaken,
    /// Returned if a node's endpoint URL is empty.
    EndpointEmpty,
    /// Returned if a node's endpoint URL is longer than `MAX_ENDPOINT_LEN` bytes.
    EndpointTooLong,
    /// Returned if a node changes its encryption key without raising its key version, or
    /// lowers the version.
    KeyVersionNotIncreasing,
    /// Returned if the recipient of a new share is not a registered node.
    RecipientNotRegistered,
    /// Returned if a node shares data with itself.
    CannotShareWithSelf,
    /// Returned if the share id is already used.
    ShareExists,
    /// Returned if no share has the given id.
    ShareNotFound,
    /// Returned if an expiry is not later than the current block time.
    ExpiryInPast,
    /// Returned if a message reserved to the share's owner is called by anyone else.
    NotOwner,
    /// Returned if the share was already revoked.
    AlreadyRevoked,
    /// Returned if the access rule refuses the account, with the rule's reason.
    AccessDenied(DenyReason),
    /// Returned if the owner of a share tries to pay for it.
    CannotPayOwnShare,
    /// Returned if a payment is made for a free share.
    NotPriced,
    /// Returned if the payer still holds an unused receipt for this share.
    AlreadyPaid,
    /// Returned if the transferred value is not exactly the share's price.
    WrongPayment {
        /// The share's price.
        expected: Balance,
        /// What was transferred.
        paid: Balance,
    },
    /// Returned if forwarding the payment to the owner failed.
    TransferFailed,
    /// Returned if the new code hash could not be set (no such code uploaded).
    CodeUpgradeFailed,
    /// Returned if a counter would overflow.
    Overflow,
    /// Returned if a release is recorded with a time later than the block's, earlier than
    /// the share, or more than `RELEASE_RECORD_WINDOW_MS` before the block.
    ReleaseTimeOutOfWindow,
    /// Returned if `record_releases` is given more than `MAX_RELEASES_PER_CALL` releases.
    TooManyReleases,
    /// Returned if a release is recorded to the share's owner, who holds the data
    /// already: such records would only cost fees and crowd the audit trail.
    ReleaseToOwner,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAdmin => f.write_str("only the contract admin may do this"),
            Self::NodeAlreadyRegistered => f.write_str("this account is already a registered node"),
            Self::NodeNotRegistered => f.write_str("this account is not a registered node"),
            Self::NodeIdTaken => f.write_str("the node id derived from this account is taken"),
            Self::EndpointEmpty => f.write_str("the endpoint URL is empty"),
            Self::EndpointTooLong => write!(
                f,
                "the endpoint URL is longer than {} bytes",
                crate::records::MAX_ENDPOINT_LEN
            ),
            Self::KeyVersionNotIncreasing => {
                f.write_str("a new encryption key needs a higher key version")
            }
            Self::RecipientNotRegistered => f.write_str("the recipient is not a registered node"),
            Self::CannotShareWithSelf => f.write_str("a node cannot share with itself"),
            Self::ShareExists => f.write_str("a share with this id already exists"),
            Self::ShareNotFound => f.write_str("no share has this id"),
            Self::ExpiryInPast => {
                f.write_str("the expiry must be later than the current block time")
            }
            Self::NotOwner => f.write_str("only the share's owner may do this"),
            Self::AlreadyRevoked => f.write_str("the share is already revoked"),
            Self::AccessDenied(reason) => write!(f, "access denied: {reason}"),
            Self::CannotPayOwnShare => f.write_str("the owner cannot pay for their own share"),
            Self::NotPriced => f.write_str("this share is free: there is nothing to pay"),
            Self::AlreadyPaid => f.write_str("an unused payment for this share already exists"),
            Self::WrongPayment { expected, paid } => {
                write!(f, "the payment must be exactly {expected}, got {paid}")
            }
            Self::TransferFailed => f.write_str("forwarding the payment to the owner failed"),
            Self::CodeUpgradeFailed => f.write_str("the new contract code could not be set"),
            Self::Overflow => f.write_str("a counter would overflow"),
            Self::ReleaseTimeOutOfWindow => write!(
                f,
                "a release must be recorded within {} s of its time, which cannot be later \
                 than the block's or earlier than the share",
                crate::RELEASE_RECORD_WINDOW_MS / 1000
            ),
            Self::TooManyReleases => write!(
                f,
                "at most {} releases can be recorded in one call",
                crate::MAX_RELEASES_PER_CALL
            ),
            Self::ReleaseToOwner => {
                f.write_str("a release to the share's owner is not recorded: it holds the data")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
