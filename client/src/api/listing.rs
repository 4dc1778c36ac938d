//! `GET /data/list`: the shares the node made, received, or both, newest first,
//! filtered by time, sender or recipient, in pages, each with where it stands.

use datamgmt_abi::{DataHash, NodeId, ShareId};
use serde::{Deserialize, Serialize};

/// Query parameters of `GET /data/list`, all optional and all checked by the relay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Shared at or after (RFC 3339 or Unix seconds).
    pub from: Option<String>,
    /// Shared before (RFC 3339 or Unix seconds).
    pub to: Option<String>,
    /// Sender: node id or SS58 account.
    pub sender: Option<String>,
    /// Recipient: node id or SS58 account.
    pub recipient: Option<String>,
    /// Page size, 1 to 500 (default 50), as text: the relay checks it.
    pub limit: Option<String>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
    /// Which shares: those this node made (`shared`, the default), those made to it
    /// (`received`), or both (`all`).
    pub direction: Option<Direction>,
}

/// Which side of a share this node is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// This node made the share.
    Shared,
    /// The share was made to this node.
    Received,
    /// Both (a listing parameter only).
    All,
}

/// Where a share stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ShareStatus {
    /// Made by this node and stored, waiting for the chain to record it.
    Pending,
    /// On chain, neither revoked nor expired.
    Active,
    /// Its expiry has passed (by the relay's clock).
    Expired,
    /// Its owner revoked it (through a relay or straight on the contract).
    Revoked,
    /// A status this client does not know (a newer relay's), or none (an older one).
    #[default]
    #[serde(other)]
    Unknown,
}

fn shared() -> Direction {
    Direction::Shared
}

/// One page of shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListResponse {
    /// The shares, newest first.
    pub items: Vec<ListedShare>,
    /// Pass as `page_token` for the next page; `null` on the last page.
    pub next_page_token: Option<String>,
}

/// A share as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListedShare {
    /// The share.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::share_id)
    )]
    pub share_id: ShareId,
    /// SHA-256 of the data.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::data_hash)
    )]
    pub data_hash: DataHash,
    /// Sending node.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::node_id)
    )]
    pub sender: NodeId,
    /// Receiving node.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::node_id)
    )]
    pub recipient: NodeId,
    /// Price per access, decimal.
    #[cfg_attr(feature = "openapi", schema(example = "0"))]
    pub price: String,
    /// Expiry (RFC 3339), if any.
    pub expires_at: Option<String>,
    /// When it was shared (RFC 3339).
    pub shared_at: String,
    /// Whether the chain has recorded it.
    pub recorded: bool,
    /// The recording extrinsic, once recorded.
    pub tx_hash: Option<String>,
    /// The recording block, once recorded.
    pub block_number: Option<u64>,
    /// Whether this node made the share or received it (relays before this field:
    /// `shared`).
    #[serde(default = "shared")]
    pub direction: Direction,
    /// Where it stands now (`unknown` from relays before this field).
    #[serde(default)]
    pub status: ShareStatus,
    /// When it was revoked (RFC 3339), if it was.
    pub revoked_at: Option<String>,
    /// For a priced share received: whether a payment is waiting for its key release.
    /// `null` for shares made by this node and free ones.
    pub payment_open: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_round_trip_with_their_nulls() {
        let page = json!({
            "items": [{
                "share_id": "share_abababababababababababababababab",
                "data_hash": "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
                "sender": "node_b2c3d4e5f6a1",
                "recipient": "node_0102030405ff",
                "price": "3",
                "expires_at": null,
                "shared_at": "2026-01-01T00:00:00Z",
                "recorded": false,
                "tx_hash": null,
                "block_number": null,
                "direction": "shared",
                "status": "pending",
                "revoked_at": null,
                "payment_open": null
            }],
            "next_page_token": null
        });
        let decoded: ListResponse = serde_json::from_value(page.clone()).unwrap();
        assert_eq!(serde_json::to_value(&decoded).unwrap(), page);
        let mut bad_id = page;
        bad_id["items"][0]["share_id"] = json!("share_zz");
        assert!(serde_json::from_value::<ListResponse>(bad_id).is_err());
    }
}
