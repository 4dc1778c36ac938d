//! `GET /contract`: what a dApp needs to call the `access` contract itself, from any
//! origin the relay's CORS settings allow.

use serde::{Deserialize, Serialize};

/// The contract a relay works with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContractInfo {
    /// The contract's address (SS58).
    pub address: String,
    /// The hash of the contract's code (`0x…`), as its metadata states it.
    pub code_hash: String,
    /// A chain node's WebSocket URL the operator chose to publish (`[chain]
    /// public_node_url`), if any: the relay's own node may be private. A dApp may use its
    /// own node either way.
    pub node_url: Option<String>,
    /// The contract's ink! metadata (what `cargo contract build` writes beside the code),
    /// which `@polkadot/api-contract` and `dedot` read.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: serde_json::Value,
}
