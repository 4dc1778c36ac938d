//! Making shares and what their parties do to them afterwards:
//!
//! - `POST /share_data`: a [`ShareDataRequest`] as JSON, or the data itself as a raw
//!   body (`Content-Type: application/octet-stream`) with [`StreamShareParams`] in the
//!   query; the relay encrypts it. Answered with a [`ShareDataResponse`].
//! - `POST /share_envelope`: an envelope the sharer encrypted itself (end-to-end mode)
//!   as a raw body, with [`StreamShareParams`] including `data_hash`. Answered with a
//!   [`ShareDataResponse`].
//! - `POST /shares/{share_id}/revoke`, `PUT /shares/{share_id}/expiry` (an
//!   [`ExpiryRequest`]) and `POST /shares/{share_id}/pay`: answered with a
//!   [`ChangeResponse`].

use datamgmt_abi::{DataHash, KeyVersion, ShareId};
use serde::{Deserialize, Serialize};

/// `POST /share_data` as JSON, as the seed API defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ShareDataRequest {
    /// The data, as text.
    pub data: String,
    /// A node id (`node_…`) or an SS58 account.
    #[cfg_attr(feature = "openapi", schema(example = super::examples::node_id))]
    pub recipient: String,
    /// Must be true: the relay always encrypts.
    #[serde(default = "default_true")]
    pub encrypt: bool,
    /// Whether the recipient pays per access.
    #[serde(default)]
    pub require_payment: bool,
    /// Price per access in the chain's smallest unit (integer, or decimal string).
    #[serde(default)]
    pub price: Option<NumberOrText>,
    /// RFC 3339 time or Unix seconds.
    #[serde(default)]
    pub expires_at: Option<NumberOrText>,
}

fn default_true() -> bool {
    true
}

impl ShareDataRequest {
    /// A free share of `data` with `recipient` (a node id or an SS58 account) that never
    /// expires.
    pub fn new(data: impl Into<String>, recipient: impl Into<String>) -> Self {
        Self {
            data: data.into(),
            recipient: recipient.into(),
            encrypt: true,
            require_payment: false,
            price: None,
            expires_at: None,
        }
    }
}

/// A JSON value given either as a number or as a string (prices, times).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum NumberOrText {
    /// A JSON number.
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    Number(serde_json::Number),
    /// A JSON string.
    Text(String),
}

impl From<u64> for NumberOrText {
    fn from(value: u64) -> Self {
        Self::Number(value.into())
    }
}

impl From<u128> for NumberOrText {
    /// As a decimal string: JSON numbers lose precision past 2^53.
    fn from(value: u128) -> Self {
        Self::Text(value.to_string())
    }
}

impl From<String> for NumberOrText {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&str> for NumberOrText {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

/// The seed API's answer to a share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShareDataResponse {
    /// Always `shared`.
    #[cfg_attr(feature = "openapi", schema(example = "shared"))]
    pub status: String,
    /// SHA-256 of the data.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::data_hash)
    )]
    pub data_hash: DataHash,
    /// The share's id.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::share_id)
    )]
    pub share_id: ShareId,
    /// How the data is encrypted.
    pub encryption: EncryptionInfo,
    /// Where the share is recorded.
    pub compliance: Compliance,
}

/// The encryption part of a share response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EncryptionInfo {
    /// Always `fernet`.
    #[cfg_attr(feature = "openapi", schema(example = "fernet"))]
    pub algorithm: String,
    /// Master key version of the custody stanza (0 for an end-to-end share, which has
    /// none).
    #[cfg_attr(feature = "openapi", schema(value_type = u32))]
    pub key_version: KeyVersion,
}

/// The on-chain part of a share or change response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Compliance {
    /// Extrinsic hash.
    pub tx_hash: String,
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: String,
    /// Whether the share is on chain (always true in a success response).
    pub recorded: bool,
}

/// Query parameters of a share whose body is raw bytes (`Content-Type:
/// application/octet-stream`): the JSON fields but `data`, which is the body; and, for
/// `POST /share_envelope` only, the data hash the sharer computed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct StreamShareParams {
    /// A node id (`node_…`) or an SS58 account.
    pub recipient: String,
    /// Whether the recipient pays per access.
    #[serde(default)]
    pub require_payment: bool,
    /// Price per access in the chain's smallest unit.
    pub price: Option<String>,
    /// RFC 3339 time or Unix seconds.
    pub expires_at: Option<String>,
    /// `sha256:…` of the plaintext (end-to-end shares only).
    pub data_hash: Option<String>,
}

impl StreamShareParams {
    /// A free share with `recipient` (a node id or an SS58 account) that never expires.
    pub fn new(recipient: impl Into<String>) -> Self {
        Self { recipient: recipient.into(), ..Self::default() }
    }
}

/// The answer to a lifecycle change (revoke, expiry, pay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeResponse {
    /// The share.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::share_id)
    )]
    pub share_id: ShareId,
    /// `revoked`, `expiry_changed` or `paid`.
    #[cfg_attr(feature = "openapi", schema(example = "revoked"))]
    pub status: String,
    /// Where the change is recorded.
    pub compliance: Compliance,
}

/// `PUT /shares/{share_id}/expiry`: the new expiry, or `null` for none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExpiryRequest {
    /// RFC 3339 time, Unix seconds, or null.
    pub expires_at: Option<NumberOrText>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_read_as_the_relay_reads_them() {
        let request: ShareDataRequest = serde_json::from_value(json!({
            "data": "Sensitive enterprise data...",
            "recipient": "node_b2c3d4e5f6a1",
            "require_payment": true,
            "price": 5,
            "expires_at": "2030-01-01T00:00:00Z"
        }))
        .unwrap();
        assert!(request.encrypt, "encrypt defaults to true");
        assert_eq!(request.price, Some(NumberOrText::from(5u64)));
        assert_eq!(request.expires_at, Some(NumberOrText::from("2030-01-01T00:00:00Z")));
        let unknown = json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "colour": "red"});
        assert!(serde_json::from_value::<ShareDataRequest>(unknown).is_err());
        let round = serde_json::to_value(&request).unwrap();
        assert_eq!(serde_json::from_value::<ShareDataRequest>(round).unwrap(), request);
        let none: ExpiryRequest = serde_json::from_value(json!({})).unwrap();
        assert_eq!(none.expires_at, None);
        assert_eq!(serde_json::to_value(&none).unwrap(), json!({"expires_at": null}));
    }

    #[test]
    fn a_renamed_response_field_fails_to_decode() {
        let answer = json!({
            "status": "shared",
            "data_hash": "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            "share_id": "share_7f3a9c2e4b1d6058a9e0c3f1b2d4e6a8",
            "encryption": {"algorithm": "fernet", "key_version": 1},
            "compliance": {"tx_hash": "0x01", "block_number": 7, "block_hash": "0x02",
                "recorded": true}
        });
        let response: ShareDataResponse = serde_json::from_value(answer.clone()).unwrap();
        assert_eq!(serde_json::to_value(&response).unwrap(), answer);
        let mut renamed = answer;
        let compliance = renamed["compliance"].as_object_mut().unwrap();
        let number = compliance.remove("block_number").unwrap();
        compliance.insert("block".into(), number);
        assert!(serde_json::from_value::<ShareDataResponse>(renamed).is_err());
    }
}
