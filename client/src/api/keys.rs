//! Key management for administrators (admin token): `GET /admin/keys` ([`KeyStatus`]),
//! `POST /admin/keys/rotate` ([`RotateRequest`] → [`RotateResponse`]) and
//! `POST /admin/keys/rewrap` ([`RewrapRequest`] → [`RewrapResponse`]).

use datamgmt_abi::{KeyVersion, ShareId};
use serde::{Deserialize, Serialize};

/// Which key a rotation replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// The master key that wraps the custody stanza of new envelopes.
    Master,
    /// The X25519 key other nodes wrap data keys to; registered on chain.
    Node,
}

/// `GET /admin/keys`: where the keyring stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyStatus {
    /// The master key version new envelopes use.
    #[cfg_attr(feature = "openapi", schema(value_type = u32))]
    pub master_version: KeyVersion,
    /// Master key versions below this one no longer decrypt.
    #[cfg_attr(feature = "openapi", schema(value_type = u32))]
    pub min_decrypt_version: KeyVersion,
    /// The X25519 key version registered (or to be registered) on chain.
    #[cfg_attr(feature = "openapi", schema(value_type = u32))]
    pub node_key_version: KeyVersion,
    /// Stored envelopes whose custody stanza uses an older master key.
    pub envelopes_on_older_master: u64,
}

/// `POST /admin/keys/rotate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// `master` or `node`.
    pub key: KeyKind,
}

/// The answer to a rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotateResponse {
    /// The key rotated.
    pub key: KeyKind,
    /// Its version before.
    #[cfg_attr(feature = "openapi", schema(value_type = u32))]
    pub previous_version: KeyVersion,
    /// Its version now.
    #[cfg_attr(feature = "openapi", schema(value_type = u32))]
    pub version: KeyVersion,
    /// For a node key: `updated` once the chain has the new key (always `null` for
    /// the master key, which never leaves the node).
    pub chain: Option<String>,
}

/// `POST /admin/keys/rewrap`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RewrapRequest {
    /// After re-wrapping, retire every older master key (only when no envelope still
    /// needs one).
    #[serde(default)]
    pub retire_older: bool,
}

/// The answer to a re-wrap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RewrapResponse {
    /// The master key version envelopes were moved to.
    #[cfg_attr(feature = "openapi", schema(value_type = u32))]
    pub master_version: KeyVersion,
    /// Envelopes re-wrapped by this call.
    pub rewrapped: u64,
    /// Shares whose envelope is no longer stored (nothing to re-wrap).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub missing: Vec<ShareId>,
    /// Envelopes that could not be re-wrapped, with why.
    pub failed: Vec<RewrapFailure>,
    /// The lowest master key version that still decrypts, after this call.
    #[cfg_attr(feature = "openapi", schema(value_type = u32))]
    pub min_decrypt_version: KeyVersion,
}

/// One envelope that could not be re-wrapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RewrapFailure {
    /// The share.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::share_id)
    )]
    pub share_id: ShareId,
    /// Why.
    pub error: String,
}
