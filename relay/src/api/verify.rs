//! `GET /verify_data/{hash}`: the on-chain proof that data was shared with or by this
//! node: the share events about that data hash in which this node owns or receives the
//! share, with block number and hash, extrinsic hash, event index, parties, block time
//! and finality, in pages. Answered from the index (finalized blocks); this node's own
//! shares that are recorded but not yet finalized close the last page as unfinalized.
//! Other pairs' shares of the same data are theirs to show (anyone can read every
//! event straight from the chain with `dmn audit`).

use crate::api::extract::{AppJson, AppQuery};
use crate::api::paging;
use crate::api::responses::{
    BadRequest, Forbidden, HeadersTooLarge, NotFound, Unauthorized, Unavailable, UriTooLong,
};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::state::AppState;
use crate::time::rfc3339;
use datamgmt_client::api::{Party, ProofRecord, VerifyParams, VerifyResponse};

use axum::{
    extract::{Path, State},
    routing::get,
    Router,
};
use datamgmt_abi::{events::ShareAction, AccountId};
use datamgmt_client::chain::{from_abi_account, node_id_of};

/// The verification route.
pub fn router() -> Router<AppState> {
    Router::new().route("/verify_data/{hash}", get(verify))
}

/// Records per page when the request names no `limit`.
const DEFAULT_LIMIT: u32 = 100;
/// Largest page a request may ask for.
const MAX_LIMIT: u32 = 500;

fn party(account: &AccountId) -> Party {
    let account = from_abi_account(account);
    Party { node_id: node_id_of(&account), account: account.to_string() }
}

#[utoipa::path(
    get,
    path = "/verify_data/{hash}",
    tag = "audit",
    params(("hash" = String, Path, description = "`sha256:` and 64 hex"), VerifyParams),
    responses(
        (status = 200, body = VerifyResponse, description = "The on-chain records of this node's shares of the hash"),
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        UriTooLong,
        HeadersTooLarge,
        Unavailable,
    ),
    security(("bearer" = []))
)]
async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Path(hash): Path<String>,
    AppQuery(params): AppQuery<VerifyParams>,
) -> Result<AppJson<VerifyResponse>, ApiError> {
    caller.require(Role::User)?;
    let data_hash = crate::api::params::parse_data_hash(&hash)?;
    let limit = paging::limit(params.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = params.page_token.as_deref().map(paging::decode_token).transpose()?;
    let index = state.index();
    let own = state.node().account();
    let events = index.events_for(data_hash, &own, after, limit).await?;
    let last_page = events.len() < limit as usize;
    let next_page_token = (!last_page)
        .then(|| events.last().map(|e| paging::encode_token(e.block_number, e.event_index)))
        .flatten();
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
    // Own shares recorded in a block the indexer has not reached yet close the last
    // page.
    if last_page {
        let indexed_up_to = index.indexed_up_to().await?.unwrap_or(0);
        for row in index.by_hash(data_hash).await? {
            let Some(record) = row.recorded else { continue };
            if row.owner != own || record.block_number <= indexed_up_to {
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
    }
    if records.is_empty() && after.is_none() {
        return Err(ApiError::NotFound(format!(
            "no share of {data_hash} by or to this node is recorded on chain"
        )));
    }
    Ok(AppJson(VerifyResponse {
        data_hash,
        recorded: true,
        records,
        indexed_up_to: index.indexed_up_to().await?,
        next_page_token,
    }))
}
