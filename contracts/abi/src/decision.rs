//! The access rule, written once.
//!
//! The contract calls [`decide`] in `can_access`, `pay_for_access` and `record_release`;
//! the relay calls it again on the records it read at the latest block before it
//! releases a key. Keeping it pure (no storage, no clock) is what makes that re-check
//! possible and what lets it be tested exhaustively off chain.

use crate::{AccountId, Receipt, Share, Timestamp};
use core::fmt;
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;

/// The outcome of asking whether an account may have a share's data key now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "snake_case", tag = "outcome", content = "reason")
)]
pub enum Decision {
    /// The key may be released, on the stated ground.
    Allowed(AccessGrant),
    /// The key must not be released, for the stated reason.
    Denied(DenyReason),
}

/// Why access is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum AccessGrant {
    /// The caller owns the share.
    Owner,
    /// The caller is the recipient of a free share.
    Recipient,
    /// The caller is the recipient of a priced share and holds an unused paid receipt;
    /// releasing the key consumes it.
    PaidRecipient,
}

/// Why access is refused, checked in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum DenyReason {
    /// The caller is neither the owner nor the recipient.
    NotRecipient,
    /// The owner revoked the share.
    Revoked,
    /// The block time has reached the share's `expires_at`.
    Expired,
    /// The share is priced and the recipient has not paid for this access.
    PaymentRequired,
    /// The recipient's payment already paid for a key release; pay again for another.
    ReceiptUsedUp,
}

impl DenyReason {
    /// A stable machine-readable code, as used in API errors.
    pub const fn code(self) -> &'static str {
        match self {
            Self::NotRecipient => "not_recipient",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::PaymentRequired => "payment_required",
            Self::ReceiptUsedUp => "receipt_used_up",
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotRecipient => "the caller is not the recipient of this share",
            Self::Revoked => "the share has been revoked",
            Self::Expired => "the share has expired",
            Self::PaymentRequired => "this share is priced: pay for access first",
            Self::ReceiptUsedUp => "the payment was already used for a key release: pay again",
        })
    }
}

impl Decision {
    /// Whether the key may be released.
    pub const fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed(_))
    }
}

/// Decides whether `caller` may have the data key of `share` at block time `now`.
///
/// `receipt` is the caller's payment receipt for this share, if any. The owner is always
/// allowed (revocation and expiry bind recipients, not owners). For anyone else the
/// checks run in the order of [`DenyReason`]'s variants, so a stranger learns only that
/// they are not the recipient. Expiry is exclusive: at `now == expires_at` the share has
/// expired. Revocation counts from its own block time on: asked about a moment before
/// it (a release decided before the revocation and recorded after it), the share was
/// still open.
pub fn decide(
    share: &Share,
    receipt: Option<&Receipt>,
    caller: &AccountId,
    now: Timestamp,
) -> Decision {
    if *caller == share.owner {
        return Decision::Allowed(AccessGrant::Owner);
    }
    if *caller != share.recipient {
        return Decision::Denied(DenyReason::NotRecipient);
    }
    if share.revoked_at.is_some_and(|revoked_at| now >= revoked_at) {
        return Decision::Denied(DenyReason::Revoked);
    }
    if share.expires_at.is_some_and(|expires_at| now >= expires_at) {
        return Decision::Denied(DenyReason::Expired);
    }
    if share.price == 0 {
        return Decision::Allowed(AccessGrant::Recipient);
    }
    match receipt {
        // A payment made after `now` did not pay for access at `now`.
        None => Decision::Denied(DenyReason::PaymentRequired),
        Some(receipt) if receipt.paid_at > now => Decision::Denied(DenyReason::PaymentRequired),
        Some(receipt) if receipt.releases_left == 0 => Decision::Denied(DenyReason::ReceiptUsedUp),
        Some(_) => Decision::Allowed(AccessGrant::PaidRecipient),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DataHash, Share};

    const OWNER: AccountId = AccountId([1; 32]);
    const RECIPIENT: AccountId = AccountId([2; 32]);
    const STRANGER: AccountId = AccountId([3; 32]);

    fn share(price: u128, expires_at: Option<Timestamp>, revoked_at: Option<Timestamp>) -> Share {
        Share {
            owner: OWNER,
            recipient: RECIPIENT,
            data_hash: DataHash([9; 32]),
            price,
            expires_at,
            created_at: 100,
            revoked_at,
            key_version: 1,
        }
    }

    fn receipt(releases_left: u32) -> Receipt {
        Receipt { amount: 10, paid_at: 150, releases_left }
    }

    #[test]
    fn owner_is_always_allowed() {
        let revoked_and_expired = share(10, Some(200), Some(150));
        assert_eq!(
            decide(&revoked_and_expired, None, &OWNER, 10_000),
            Decision::Allowed(AccessGrant::Owner)
        );
    }

    #[test]
    fn stranger_learns_only_not_recipient() {
        let revoked = share(10, Some(200), Some(150));
        assert_eq!(
            decide(&revoked, Some(&receipt(1)), &STRANGER, 10_000),
            Decision::Denied(DenyReason::NotRecipient)
        );
    }

    #[test]
    fn free_share_allows_recipient() {
        assert_eq!(
            decide(&share(0, None, None), None, &RECIPIENT, 1),
            Decision::Allowed(AccessGrant::Recipient)
        );
    }

    #[test]
    fn revocation_wins_over_payment() {
        assert_eq!(
            decide(&share(10, None, Some(120)), Some(&receipt(1)), &RECIPIENT, 130),
            Decision::Denied(DenyReason::Revoked)
        );
    }

    #[test]
    fn revocation_counts_from_its_block_time() {
        let s = share(0, None, Some(120));
        assert!(decide(&s, None, &RECIPIENT, 119).is_allowed());
        assert_eq!(decide(&s, None, &RECIPIENT, 120), Decision::Denied(DenyReason::Revoked));
    }

    #[test]
    fn expiry_is_exclusive_at_the_boundary() {
        let s = share(0, Some(200), None);
        assert!(decide(&s, None, &RECIPIENT, 199).is_allowed());
        assert_eq!(decide(&s, None, &RECIPIENT, 200), Decision::Denied(DenyReason::Expired));
        assert_eq!(decide(&s, None, &RECIPIENT, 201), Decision::Denied(DenyReason::Expired));
    }

    #[test]
    fn priced_share_needs_an_unused_receipt() {
        let s = share(10, None, None);
        assert_eq!(
            decide(&s, None, &RECIPIENT, 200),
            Decision::Denied(DenyReason::PaymentRequired)
        );
        assert_eq!(
            decide(&s, Some(&receipt(1)), &RECIPIENT, 200),
            Decision::Allowed(AccessGrant::PaidRecipient)
        );
        assert_eq!(
            decide(&s, Some(&receipt(0)), &RECIPIENT, 200),
            Decision::Denied(DenyReason::ReceiptUsedUp)
        );
    }

    #[test]
    fn a_receipt_counts_from_its_payment_on() {
        let s = share(10, None, None);
        // Paid at 150: it paid for nothing at 149.
        assert_eq!(
            decide(&s, Some(&receipt(1)), &RECIPIENT, 149),
            Decision::Denied(DenyReason::PaymentRequired)
        );
        assert!(decide(&s, Some(&receipt(1)), &RECIPIENT, 150).is_allowed());
    }

    #[test]
    fn deny_codes_are_distinct() {
        let all = [
            DenyReason::NotRecipient,
            DenyReason::Revoked,
            DenyReason::Expired,
            DenyReason::PaymentRequired,
            DenyReason::ReceiptUsedUp,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.code(), b.code());
            }
        }
    }
}
