//! `GET /verify_data/{hash}`: the on-chain proof that data was shared with or by the
//! node: the share events about that data hash in which the node owns or receives the
//! share, in pages, from the relay's index of finalized blocks; the node's own shares
//! recorded but not yet finalized close the last page.

use datamgmt_abi::{events::ShareAction, DataHash, NodeId, ShareId};
use serde::{Deserialize, Serialize};

/// Query parameters of `GET /verify_data/{hash}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct VerifyParams {
    /// Page size, 1 to 500 (default 100), as text: the relay checks it.
    pub limit: Option<String>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// The proof for one data hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyResponse {
    /// The data hash asked about.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::data_hash)
    )]
    pub data_hash: DataHash,
    /// Whether any share of it is recorded on chain.
    pub recorded: bool,
    /// The records, in chain order.
    pub records: Vec<ProofRecord>,
    /// The last finalized block the index has read.
    pub indexed_up_to: Option<u64>,
    /// Pass as `page_token` for the next page; `null` on the last page.
    pub next_page_token: Option<String>,
}

/// One on-chain record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProofRecord {
    /// What happened (`kind`: created, revoked, expiry_changed, paid, key_released).
    #[cfg_attr(feature = "openapi", schema(value_type = ShareActionSchema))]
    pub action: ShareAction,
    /// The share.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::share_id)
    )]
    pub share_id: ShareId,
    /// The sending node.
    pub sender: Party,
    /// The receiving node.
    pub recipient: Party,
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: String,
    /// Extrinsic hash.
    pub tx_hash: String,
    /// Index of the event in its block (`null` until indexed).
    pub event_index: Option<u32>,
    /// Time the event records (RFC 3339): its block's, or for a key release the block
    /// time it was decided at; the relay's time for an unindexed record.
    pub timestamp: String,
    /// Whether the block is finalized.
    pub finalized: bool,
}

impl ProofRecord {
    /// What happened, as `action`'s `kind` says: `created`, `revoked`,
    /// `expiry_changed`, `paid` or `key_released`.
    pub fn kind(&self) -> &'static str {
        action_kind(&self.action)
    }
}

/// The `kind` a [`ShareAction`] is written with.
pub fn action_kind(action: &ShareAction) -> &'static str {
    match action {
        ShareAction::Created { .. } => "created",
        ShareAction::Revoked => "revoked",
        ShareAction::ExpiryChanged { .. } => "expiry_changed",
        ShareAction::Paid { .. } => "paid",
        ShareAction::KeyReleased { .. } => "key_released",
    }
}

/// A party by node id and account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Party {
    /// Node id.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::node_id)
    )]
    pub node_id: NodeId,
    /// SS58 account.
    pub account: String,
}

/// The schema of [`ShareAction`] as JSON writes it (the type itself lives in
/// `datamgmt_abi`, which knows nothing of OpenAPI). Never built: only described.
#[cfg(feature = "openapi")]
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
#[schema(as = ShareAction)]
#[serde(rename_all = "snake_case", tag = "kind")]
enum ShareActionSchema {
    /// The owner shared the data with the recipient.
    Created {
        /// Price per access, decimal (0 = free).
        price: String,
        /// Expiry (Unix milliseconds), if any.
        expires_at: Option<u64>,
        /// Owner's master key version for the object.
        key_version: u32,
    },
    /// The owner revoked the share.
    Revoked,
    /// The owner changed the expiry.
    ExpiryChanged {
        /// Expiry before the change (Unix milliseconds).
        old: Option<u64>,
        /// Expiry after the change (Unix milliseconds).
        new: Option<u64>,
    },
    /// The recipient paid for one access; the amount went to the owner.
    Paid {
        /// What was paid, decimal.
        amount: String,
    },
    /// The owner's relay released the data key to the recipient.
    KeyReleased {
        /// The payment this release consumed, decimal (0 for a free share or the
        /// owner's own read).
        paid: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_the_ones_serde_writes() {
        let actions = [
            ShareAction::Created { price: 3, expires_at: None, key_version: 1 },
            ShareAction::Revoked,
            ShareAction::ExpiryChanged { old: None, new: Some(5) },
            ShareAction::Paid { amount: 3 },
            ShareAction::KeyReleased { paid: 0 },
        ];
        for action in actions {
            let json = serde_json::to_value(&action).unwrap();
            assert_eq!(json.get("kind").and_then(|k| k.as_str()), Some(action_kind(&action)));
        }
    }
}
