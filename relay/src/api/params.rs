//! Path and query values parsed into the contract's types, with a 400 saying what a
//! value should look like.

use crate::error::{bad, ApiError};
use crate::share::create::Recipient;
use datamgmt_client::api::NumberOrText;

use axum::http::{header, HeaderMap};
use datamgmt_abi::{Balance, DataHash, NodeId, ShareId, Timestamp};
use datamgmt_client::chain::{from_abi_account, node_id_of, to_abi_account, AccountId32};

pub(crate) fn parse_recipient(text: &str) -> Result<Recipient, ApiError> {
    if text.starts_with(NodeId::PREFIX) {
        return text
            .parse()
            .map(Recipient::Node)
            .map_err(|e| ApiError::BadRequest(format!("`recipient` node id {e}")));
    }
    text.parse::<AccountId32>().map(|account| Recipient::Account(to_abi_account(&account))).map_err(
        |_| bad("`recipient` must be a node id (node_ and 12 hex characters) or an SS58 account"),
    )
}

pub(crate) fn parse_amount(value: &NumberOrText) -> Result<Balance, ApiError> {
    let text = match value {
        NumberOrText::Number(number) => number.to_string(),
        NumberOrText::Text(text) => text.clone(),
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("`price` must be a non-negative integer in the chain's smallest unit"));
    }
    text.parse().map_err(|_| bad("`price` is too large"))
}

/// Milliseconds since the epoch of an RFC 3339 time or of Unix seconds.
pub(crate) fn parse_expiry(value: &NumberOrText) -> Result<Timestamp, ApiError> {
    match value {
        NumberOrText::Number(number) => parse_time("expires_at", &number.to_string()),
        NumberOrText::Text(text) => parse_time("expires_at", text),
    }
}

/// A data hash from a path or query, or a 400 saying what one looks like.
pub(crate) fn parse_data_hash(text: &str) -> Result<DataHash, ApiError> {
    text.parse().map_err(|e| {
        ApiError::BadRequest(format!("the data hash {e} (sha256: and 64 lowercase hex)"))
    })
}

/// A share id from a path, or a 400 saying what one looks like.
pub(crate) fn parse_share_id(text: &str) -> Result<ShareId, ApiError> {
    text.parse().map_err(|e| ApiError::BadRequest(format!("the share id {e} (share_ and 32 hex)")))
}

/// Milliseconds since the epoch of `text`, an RFC 3339 time or Unix seconds; `field`
/// names it in errors.
pub(crate) fn parse_time(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    datamgmt_client::timefmt::parse_instant(text)
        .map_err(|error| ApiError::BadRequest(format!("`{field}` {error}")))
}

/// Whether `name` (Content-Type or Accept) asks for raw bytes.
pub(crate) fn wants_octet_stream(headers: &HeaderMap, name: header::HeaderName) -> bool {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("application/octet-stream"))
}

/// The node named by `text`, a node id or an SS58 account, or a 400 naming `field`.
pub(crate) fn parse_node(field: &str, text: &str) -> Result<NodeId, ApiError> {
    match parse_recipient(text) {
        Ok(Recipient::Node(node)) => Ok(node),
        Ok(Recipient::Account(account)) => Ok(node_id_of(&from_abi_account(&account))),
        Err(_) => Err(ApiError::BadRequest(format!(
            "`{field}` must be a node id (node_ and 12 hex characters) or an SS58 account"
        ))),
    }
}
