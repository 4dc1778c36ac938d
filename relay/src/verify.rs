//! `GET /verify_data/{hash}`: the on-chain proof that data was shared: every share event
//! about that data hash, with block number and hash, extrinsic hash, event index,
//! parties, block time and finality. Answered from the index (finalized blocks); this
//! node's own shares that are recorded but not yet finalized are listed as unfinalized.

use crate::auth::{Caller, Role};
use crate::error::{ApiError, AppJson};
use crate::shares::rfc3339;
use crate::state::AppState;
use axum::{
    extract::{Path, State},
    routing::get,
    Router,
};
use datamgmt_abi::{events::ShareAction, AccountId, DataHash, NodeId, ShareId};
use datamgmt_client::chain::{from_abi_account, node_id_of};
use serde::{Deserialize, Serialize};

/// The verification route.
pub fn router() -> Router<AppState> {
    Router::new().route("/verify_data/{hash}", get(verify))
}

/// The proof for one data hash.
#[derive(Debug, Serialize, Deserialize)]
pub struct VerifyResponse {
    /// The data hash asked about.
    pub data_hash: DataHash,
    /// Whether any share of it is recorded on chain.
    pub recorded: bool,
    /// The records, in chain order.
    pub records: Vec<ProofRecord>,
    /// The last finalized block the index has read.
    pub indexed_up_to: Option<u64>,
}

/// One on-chain record.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProofRecord {
    /// What happened (`kind`: created, revoked, expiry_changed, paid, key_released).
    pub action: ShareAction,
    /// The share.
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
    /// Index of the event in its block (absent until indexed).
    pub event_index: Option<u32>,
    /// Time the event records (RFC 3339): its block's, or for a key release the block
    /// time it was decided at; this relay's time for an unindexed record.
    pub timestamp: String,
    /// Whether the block is finalized.
    pub finalized: bool,
}

/// A party by node id and account.
#[derive(Debug, Serialize, Deserialize)]
pub struct Party {
    /// Node id.
    pub node_id: NodeId,
    /// SS58 account.
    pub account: String,
}

fn party(account: &AccountId) -> Party {
    let account = from_abi_account(account);
    Party { node_id: node_id_of(&account), account: account.to_string() }
}

async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Path(hash): Path<String>,
) -> Result<AppJson<VerifyResponse>, ApiError> {
    caller.require(Role::User)?;
    let data_hash = crate::shares::parse_data_hash(&hash)?;
    let index = state.index();
    let events = index.events_for(data_hash).await?;
    let mut records: Vec<ProofRecord> = events
        .iter()
        .map(|indexed| ProofRecord {
            action: indexed.event.action.clone(),
            share_id: indexed.event.share_id,
            sender: party(&indexed.event.owner),
            recipient: party(&indexed.event.recipient),
            block_number: indexed.block_number,
            block_hash: indexed.block_hash.clone(),
            tx_hash: indexed.extrinsic_hash.clone(),
            event_index: Some(indexed.event_index),
            timestamp: rfc3339(indexed.event.at),
            finalized: true,
        })
        .collect();
    // Own shares recorded in a block the indexer has not reached yet.
    for row in index.by_hash(data_hash).await? {
        let Some(record) = row.recorded else { continue };
        if events.iter().any(|e| e.extrinsic_hash == record.tx_hash) {
            continue;
        }
        records.push(ProofRecord {
            action: ShareAction::Created {
                price: row.price,
                expires_at: row.expires_at,
                key_version: row.key_version,
            },
            share_id: row.share_id,
            sender: party(&row.owner),
            recipient: party(&row.recipient),
            block_number: record.block_number,
            block_hash: record.block_hash,
            tx_hash: record.tx_hash,
            event_index: None,
            timestamp: rfc3339(row.created_at),
            finalized: false,
        });
    }
    if records.is_empty() {
        return Err(ApiError::NotFound(format!("no share of {data_hash} is recorded on chain")));
    }
    Ok(AppJson(VerifyResponse {
        data_hash,
        recorded: true,
        records,
        indexed_up_to: index.indexed_up_to().await?,
    }))
}
