//! Message selectors, pinned.
//!
//! The contract names each of these with an explicit `selector = …`, so renaming a
//! message never changes what callers send. The values are ink!'s defaults for the
//! message names (the first 4 bytes of blake2-256 of the name); the end-to-end suite
//! checks them against the built contract's metadata.

/// Selector of the constructor `new()`.
pub const NEW: [u8; 4] = [0x9b, 0xae, 0x9d, 0x5e];
/// `register_node(encryption_key, key_version, endpoint)`.
pub const REGISTER_NODE: [u8; 4] = [0x4b, 0xe5, 0x88, 0xc5];
/// `update_node(encryption_key, key_version, endpoint)`.
pub const UPDATE_NODE: [u8; 4] = [0xf5, 0x98, 0x16, 0xf7];
/// `share(share_id, recipient, data_hash, price, expires_at, key_version)`.
pub const SHARE: [u8; 4] = [0xe2, 0x51, 0xef, 0x0a];
/// `revoke(share_id)`.
pub const REVOKE: [u8; 4] = [0x0a, 0x53, 0x8d, 0x12];
/// `set_expiry(share_id, expires_at)`.
pub const SET_EXPIRY: [u8; 4] = [0xdf, 0x08, 0x80, 0xaf];
/// `pay_for_access(share_id)`, payable.
pub const PAY_FOR_ACCESS: [u8; 4] = [0x27, 0x14, 0x12, 0xc6];
/// `can_access(share_id, account)`, read-only.
pub const CAN_ACCESS: [u8; 4] = [0x8f, 0x8b, 0x2c, 0x36];
/// `record_release(share_id, recipient, released_at)`.
pub const RECORD_RELEASE: [u8; 4] = [0xbe, 0x44, 0x49, 0xd1];
/// `record_releases(releases)`: several `record_release`s, each on its own.
pub const RECORD_RELEASES: [u8; 4] = [0x3e, 0xe6, 0x22, 0xfb];
/// `set_code_hash(code_hash)`, admin only.
pub const SET_CODE_HASH: [u8; 4] = [0x9e, 0x5c, 0x57, 0x58];
/// `node(account)`, read-only.
pub const NODE: [u8; 4] = [0x0d, 0x53, 0x62, 0x10];
/// `node_account(node_id)`, read-only.
pub const NODE_ACCOUNT: [u8; 4] = [0x22, 0x1b, 0x3d, 0x12];
/// `share_record(share_id)`, read-only.
pub const SHARE_RECORD: [u8; 4] = [0x75, 0x66, 0xe2, 0x00];
/// `receipt(share_id, account)`, read-only.
pub const RECEIPT: [u8; 4] = [0x62, 0x77, 0xbc, 0xd6];
/// `admin()`, read-only.
pub const ADMIN: [u8; 4] = [0x1a, 0xa6, 0x6b, 0x39];
/// `share_count()`, read-only.
pub const SHARE_COUNT: [u8; 4] = [0x4e, 0x3f, 0x94, 0x25];

/// Every message's name and selector, constructor first, for checks against metadata.
pub const ALL: [(&str, [u8; 4]); 17] = [
    ("new", NEW),
    ("register_node", REGISTER_NODE),
    ("update_node", UPDATE_NODE),
    ("share", SHARE),
    ("revoke", REVOKE),
    ("set_expiry", SET_EXPIRY),
    ("pay_for_access", PAY_FOR_ACCESS),
    ("can_access", CAN_ACCESS),
    ("record_release", RECORD_RELEASE),
    ("record_releases", RECORD_RELEASES),
    ("set_code_hash", SET_CODE_HASH),
    ("node", NODE),
    ("node_account", NODE_ACCOUNT),
    ("share_record", SHARE_RECORD),
    ("receipt", RECEIPT),
    ("admin", ADMIN),
    ("share_count", SHARE_COUNT),
];

#[cfg(test)]
mod tests {
    use blake2::{digest::consts::U32, Blake2b, Digest};

    #[test]
    fn selectors_are_ink_defaults_for_their_names() {
        for (name, selector) in super::ALL {
            let digest = Blake2b::<U32>::digest(name.as_bytes());
            assert_eq!(&digest[..4], &selector, "selector of `{name}`");
        }
    }
}
