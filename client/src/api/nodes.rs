//! `GET /nodes`: the nodes registered on the contract, as the relay's indexer has seen
//! them in finalized blocks, for picking a recipient.

use datamgmt_abi::NodeId;
use serde::{Deserialize, Serialize};

/// Query parameters of `GET /nodes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct NodesParams {
    /// Page size, 1 to 500 (default 100), as text: the relay checks it.
    pub limit: Option<String>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// One page of the directory, by node id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodesResponse {
    /// The nodes, by node id.
    pub items: Vec<DirectoryNode>,
    /// Pass as `page_token` for the next page; `null` on the last page.
    pub next_page_token: Option<String>,
}

/// A registered node, as its last finalized registration or update left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryNode {
    /// The node's short public name.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::node_id)
    )]
    pub node_id: NodeId,
    /// The node's account (SS58).
    pub account: String,
    /// Its relay's URL, where envelopes are fetched from.
    pub endpoint: String,
    /// Version of the X25519 key data keys for it are wrapped to.
    pub key_version: u32,
    /// When it registered (RFC 3339, block time).
    pub registered_at: String,
    /// When it last changed its key or endpoint (RFC 3339, block time).
    pub updated_at: String,
    /// The finalized block of its last registration or update.
    pub block_number: u64,
    /// Whether this is the node of the relay that answered.
    pub this_node: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_round_trip_and_renamed_fields_fail() {
        let page = json!({
            "items": [{
                "node_id": "node_b2c3d4e5f6a1",
                "account": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
                "endpoint": "http://127.0.0.1:8080",
                "key_version": 1,
                "registered_at": "2026-12-02T10:00:00Z",
                "updated_at": "2026-12-02T10:00:00Z",
                "block_number": 7,
                "this_node": false
            }],
            "next_page_token": null
        });
        let decoded: NodesResponse = serde_json::from_value(page.clone()).unwrap();
        assert_eq!(serde_json::to_value(&decoded).unwrap(), page);
        let mut renamed = page;
        renamed["items"][0].as_object_mut().unwrap().remove("endpoint");
        assert!(serde_json::from_value::<NodesResponse>(renamed).is_err());
    }
}
