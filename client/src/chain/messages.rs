//! The `access` contract's messages, encoded: selector (from `datamgmt_abi::selectors`)
//! followed by the SCALE-encoded arguments in declaration order.

use datamgmt_abi::{
    selectors, AccountId, Balance, DataHash, EncryptionKey, KeyVersion, NodeId, ShareId, Timestamp,
};
use parity_scale_codec::Encode;

/// A contract message ready to dry-run or submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractMessage {
    /// The message's name, for logs and errors.
    pub name: &'static str,
    /// Selector and encoded arguments.
    pub input: Vec<u8>,
    /// Value transferred with the call (only `pay_for_access` is payable).
    pub value: Balance,
}

fn message(name: &'static str, selector: [u8; 4], args: impl Encode) -> ContractMessage {
    let mut input = selector.to_vec();
    args.encode_to(&mut input);
    ContractMessage { name, input, value: 0 }
}

/// `register_node`: the caller becomes a node with this key and endpoint.
pub fn register_node(
    key: EncryptionKey,
    key_version: KeyVersion,
    endpoint: &str,
) -> ContractMessage {
    message("register_node", selectors::REGISTER_NODE, (key, key_version, endpoint))
}

/// `update_node`: change the caller's key and/or endpoint.
pub fn update_node(key: EncryptionKey, key_version: KeyVersion, endpoint: &str) -> ContractMessage {
    message("update_node", selectors::UPDATE_NODE, (key, key_version, endpoint))
}

/// `share`: grant `recipient` access to the data hashing to `data_hash`.
pub fn share(
    share_id: ShareId,
    recipient: &AccountId,
    data_hash: DataHash,
    price: Balance,
    expires_at: Option<Timestamp>,
    key_version: KeyVersion,
) -> ContractMessage {
    message(
        "share",
        selectors::SHARE,
        (share_id, recipient, data_hash, price, expires_at, key_version),
    )
}

/// `revoke`: end a share.
pub fn revoke(share_id: ShareId) -> ContractMessage {
    message("revoke", selectors::REVOKE, share_id)
}

/// `set_expiry`: change or clear a share's expiry.
pub fn set_expiry(share_id: ShareId, expires_at: Option<Timestamp>) -> ContractMessage {
    message("set_expiry", selectors::SET_EXPIRY, (share_id, expires_at))
}

/// `pay_for_access`: pay `price` (which must be the share's exact price) for one access.
pub fn pay_for_access(share_id: ShareId, price: Balance) -> ContractMessage {
    ContractMessage {
        value: price,
        ..message("pay_for_access", selectors::PAY_FOR_ACCESS, share_id)
    }
}

/// `can_access`: the access decision for `account` now.
pub fn can_access(share_id: ShareId, account: &AccountId) -> ContractMessage {
    message("can_access", selectors::CAN_ACCESS, (share_id, account))
}

/// `record_release`: the owner logs a key release to `recipient`, decided on the chain's
/// state at block time `released_at`.
pub fn record_release(
    share_id: ShareId,
    recipient: &AccountId,
    released_at: Timestamp,
) -> ContractMessage {
    message("record_release", selectors::RECORD_RELEASE, (share_id, recipient, released_at))
}

/// `record_releases`: the owner logs several key releases, `(share, recipient,
/// released_at)` each, recorded or refused one by one.
pub fn record_releases(releases: &[(ShareId, AccountId, Timestamp)]) -> ContractMessage {
    message("record_releases", selectors::RECORD_RELEASES, releases)
}

/// `set_code_hash`: replace the contract's code (admin only).
pub fn set_code_hash(code_hash: [u8; 32]) -> ContractMessage {
    message("set_code_hash", selectors::SET_CODE_HASH, code_hash)
}

/// `node`: the node record of `account`.
pub fn node(account: &AccountId) -> ContractMessage {
    message("node", selectors::NODE, account)
}

/// `node_account`: the account holding `node_id`.
pub fn node_account(node_id: NodeId) -> ContractMessage {
    message("node_account", selectors::NODE_ACCOUNT, node_id)
}

/// `share_record`: the share with this id.
pub fn share_record(share_id: ShareId) -> ContractMessage {
    message("share_record", selectors::SHARE_RECORD, share_id)
}

/// `receipt`: `account`'s payment receipt for a share.
pub fn receipt(share_id: ShareId, account: &AccountId) -> ContractMessage {
    message("receipt", selectors::RECEIPT, (share_id, account))
}

/// `admin`: the contract's admin.
pub fn admin() -> ContractMessage {
    message("admin", selectors::ADMIN, ())
}

/// `share_count`: shares ever created.
pub fn share_count() -> ContractMessage {
    message("share_count", selectors::SHARE_COUNT, ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_selector_then_arguments() {
        let msg = revoke(ShareId([7; 16]));
        assert_eq!(&msg.input[..4], &selectors::REVOKE);
        assert_eq!(&msg.input[4..], &[7; 16]);
        assert_eq!(msg.value, 0);
    }

    #[test]
    fn only_payment_carries_value() {
        assert_eq!(pay_for_access(ShareId([0; 16]), 42).value, 42);
    }

    #[test]
    fn endpoint_encodes_like_a_string() {
        let msg = register_node(EncryptionKey([1; 32]), 2, "ab");
        assert_eq!(&msg.input[4 + 32..], &[2, 0, 0, 0, 8, b'a', b'b']);
    }
}
