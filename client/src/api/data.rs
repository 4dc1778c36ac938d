//! `GET /data/{hash}`: the data back, decrypted by the relay, and only if it hashes to
//! what was asked for. As JSON (a [`DataResponse`], at most 16 MiB of data) or, with
//! `Accept: application/octet-stream`, as the raw bytes, with [`SENDER_HEADER`] and
//! [`CONTENT_SHA256_HEADER`].

use datamgmt_abi::NodeId;
use serde::{Deserialize, Serialize};

/// Header of a streamed answer naming the node whose share the data comes from.
pub const SENDER_HEADER: &str = "x-dmn-sender";
/// Header of a streamed answer with the data hash (`sha256:…`) the data was checked
/// against.
pub const CONTENT_SHA256_HEADER: &str = "x-content-sha256";
/// Largest data `GET /data/{hash}` answers inside JSON; larger data must be streamed.
pub const MAX_JSON_DATA: u64 = 16 << 20;

/// Query parameters of `GET /data/{hash}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    /// Read only the share this node (node id or SS58 account) made.
    pub sender: Option<String>,
}

/// `GET /data/{hash}` as JSON: the data, for the node that shared it or the one it was
/// shared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataResponse {
    /// The data (UTF-8 text, or base64 when `encoding` says so).
    pub data: String,
    /// `utf-8` or `base64`.
    #[cfg_attr(feature = "openapi", schema(example = "utf-8"))]
    pub encoding: String,
    /// The sharing node's id.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::node_id)
    )]
    pub sender: NodeId,
    /// When it was shared (RFC 3339).
    pub timestamp: String,
    /// Whether the decrypted data hashes to the requested hash (always true: data
    /// that does not is never answered).
    pub verified: bool,
}

/// `data` in an encoding other than `utf-8` and `base64`, or not valid base64.
#[derive(Debug, thiserror::Error)]
#[error("the data cannot be decoded: {0}")]
pub struct DataEncodingError(String);

impl DataResponse {
    /// The data as bytes, decoded as `encoding` says.
    pub fn bytes(&self) -> Result<Vec<u8>, DataEncodingError> {
        use base64::Engine as _;
        match self.encoding.as_str() {
            "utf-8" => Ok(self.data.clone().into_bytes()),
            "base64" => base64::engine::general_purpose::STANDARD
                .decode(&self.data)
                .map_err(|e| DataEncodingError(e.to_string())),
            other => Err(DataEncodingError(format!("unknown encoding {other:?}"))),
        }
    }
}
