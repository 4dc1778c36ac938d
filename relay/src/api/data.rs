//! `GET /data/{hash}`: the data back, decrypted, and only if it hashes to what was asked
//! for (see [`crate::read`]).

use crate::api::extract::AppQuery;
use crate::api::params::{parse_data_hash, parse_recipient, wants_octet_stream};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::read::candidates::read_data;
use crate::share::create::Recipient;
use crate::state::AppState;
use datamgmt_client::api::ErrorBody;
use datamgmt_client::api::{DataResponse, ReadParams};

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap},
    response::Response,
    routing::get,
    Router,
};
use datamgmt_abi::NodeId;
use datamgmt_client::chain::{from_abi_account, node_id_of};

/// The reading route.
pub fn router() -> Router<AppState> {
    Router::new().route("/data/{hash}", get(get_data))
}

#[utoipa::path(
    get,
    path = "/data/{hash}",
    tag = "data",
    params(("hash" = String, Path, description = "`sha256:` and 64 hex"), ReadParams),
    responses(
        (status = 200, content((DataResponse = "application/json"), (Vec<u8> = "application/octet-stream")), description = "The data, decrypted, and only if it hashes to the hash asked for (JSON, or raw bytes with `Accept: application/octet-stream`)"),
        (status = 400, body = ErrorBody, description = "`bad_request`: a malformed request or an invalid field"),
        (status = 401, body = ErrorBody, description = "`unauthorized`: no valid bearer token"),
        (status = 403, body = ErrorBody, description = "`forbidden` (the token's role) or `access_denied` (the contract refuses, with why)"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
        (status = 409, body = ErrorBody, description = "`conflict`: the state does not allow it (already revoked, payment not final…)"),
        (status = 413, body = ErrorBody, description = "`payload_too_large`: the body or the data is over the limit"),
        (status = 414, body = ErrorBody, description = "`uri_too_long`"),
        (status = 429, body = ErrorBody, description = "`rate_limited`: too many of these from this caller (`Retry-After`)"),
        (status = 431, body = ErrorBody, description = "`headers_too_large`"),
        (status = 502, body = ErrorBody, description = "`bad_gateway`: the sharing node answered with nothing usable, or data that does not hash to what was asked"),
        (status = 503, body = ErrorBody, description = "`unavailable` (chain, storage, index or capacity; `Retry-After`) or `releases_paused`"),
    ),
    security(("bearer" = []))
)]
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
