//! `GET /nodes`: the directory of registered nodes, from the index (the indexer copies
//! every node event of finalized blocks), by node id, in pages: what a recipient picker
//! shows.

use crate::api::extract::{AppJson, AppQuery};
use crate::api::paging;
use crate::api::responses::{
    BadRequest, Forbidden, HeadersTooLarge, Unauthorized, Unavailable, UriTooLong,
};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::index::DirectoryRow;
use crate::state::AppState;
use crate::time::rfc3339;
use axum::{extract::State, routing::get, Router};
use datamgmt_abi::AccountId;
use datamgmt_client::api::{DirectoryNode, NodesParams, NodesResponse};
use datamgmt_client::chain::from_abi_account;

/// Page size when the request names none.
const DEFAULT_LIMIT: u32 = 100;
/// Largest page a request may ask for.
const MAX_LIMIT: u32 = 500;

/// The directory route.
pub fn router() -> Router<AppState> {
    Router::new().route("/nodes", get(nodes))
}

#[utoipa::path(
    get,
    path = "/nodes",
    tag = "data",
    params(NodesParams),
    responses(
        (status = 200, body = NodesResponse, description = "A page of the registered nodes, by node id"),
        BadRequest,
        Unauthorized,
        Forbidden,
        UriTooLong,
        HeadersTooLarge,
        Unavailable,
    ),
    security(("bearer" = []))
)]
async fn nodes(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(params): AppQuery<NodesParams>,
) -> Result<AppJson<NodesResponse>, ApiError> {
    caller.require(Role::User)?;
    let limit = paging::limit(params.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = params
        .page_token
        .as_deref()
        .map(|token| {
            // The account must be one: a token names a row by its node id and account.
            let (node_id, account) = paging::decode_token::<String, AccountId>(token)?;
            Ok::<_, ApiError>((node_id, account.to_string()))
        })
        .transpose()?;
    let rows = state.index().nodes(after, limit).await?;
    let next_page_token = (rows.len() == limit as usize)
        .then(|| rows.last().map(|row| paging::encode_token(row.node_id, row.account)))
        .flatten();
    let this_node = state.node().account();
    Ok(AppJson(NodesResponse {
        items: rows.iter().map(|row| listed(row, &this_node)).collect(),
        next_page_token,
    }))
}

fn listed(row: &DirectoryRow, this_node: &AccountId) -> DirectoryNode {
    DirectoryNode {
        node_id: row.node_id,
        account: from_abi_account(&row.account).to_string(),
        endpoint: row.endpoint.clone(),
        key_version: row.key_version,
        registered_at: rfc3339(row.registered_at),
        updated_at: rfc3339(row.updated_at),
        block_number: row.block_number,
        this_node: row.account == *this_node,
    }
}
