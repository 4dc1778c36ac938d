//! `GET /data/{hash}`: the data back, decrypted, and only if it hashes to what was asked
//! for (see [`crate::read`]).

use crate::api::extract::AppQuery;
use crate::api::params::{parse_data_hash, parse_recipient, wants_octet_stream};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::read::candidates::read_data;
use crate::share::create::Recipient;
use crate::state::AppState;

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap},
    response::Response,
    routing::get,
    Router,
};
use datamgmt_abi::NodeId;
use datamgmt_client::chain::{from_abi_account, node_id_of};
use serde::Deserialize;

/// The reading route.
pub fn router() -> Router<AppState> {
    Router::new().route("/data/{hash}", get(get_data))
}

/// Query parameters of `GET /data/{hash}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    /// Read only the share this node (node id or SS58 account) made.
    pub sender: Option<String>,
}

async fn get_data(
    State(state): State<AppState>,
    caller: Caller,
    Path(hash): Path<String>,
    AppQuery(params): AppQuery<ReadParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(Role::User)?;
    let data_hash = parse_data_hash(&hash)?;
    let sender = params.sender.as_deref().map(parse_sender).transpose()?;
    let streaming = wants_octet_stream(&headers, header::ACCEPT);
    read_data(&state, data_hash, sender, streaming).await
}

fn parse_sender(text: &str) -> Result<NodeId, ApiError> {
    match parse_recipient(text) {
        Ok(Recipient::Node(node)) => Ok(node),
        Ok(Recipient::Account(account)) => Ok(node_id_of(&from_abi_account(&account))),
        Err(_) => Err(ApiError::BadRequest(
            "`sender` must be a node id (node_ and 12 hex characters) or an SS58 account".into(),
        )),
    }
}
