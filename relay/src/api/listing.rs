//! `GET /data/list`: the shares this node made, newest first, filtered by time, sender
//! or recipient, in pages. Answered from the index, never by scanning the chain.

use crate::api::extract::{AppJson, AppQuery};
use crate::api::paging;
use crate::api::params::{parse_recipient, parse_time};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::index::{ShareQuery, ShareRow};
use crate::share::create::Recipient;
use crate::state::AppState;
use crate::time::rfc3339;

use axum::{extract::State, routing::get, Router};
use datamgmt_abi::{DataHash, NodeId, ShareId};
use datamgmt_client::chain::{from_abi_account, node_id_of};
use serde::{Deserialize, Serialize};

/// Page size when the request names none.
const DEFAULT_LIMIT: u32 = 50;
/// Largest page a request may ask for.
const MAX_LIMIT: u32 = 500;

/// The listing route.
pub fn router() -> Router<AppState> {
    Router::new().route("/data/list", get(list))
}

/// Query parameters, all optional and all checked.
#[derive(Debug, Default, Deserialize)]
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
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<String>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// One page of shares.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListResponse {
    /// The shares, newest first.
    pub items: Vec<ListedShare>,
    /// Pass as `page_token` for the next page; absent on the last page.
    pub next_page_token: Option<String>,
}

/// A share as listed.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListedShare {
    /// The share.
    pub share_id: ShareId,
    /// SHA-256 of the data.
    pub data_hash: DataHash,
    /// Sending node.
    pub sender: NodeId,
    /// Receiving node.
    pub recipient: NodeId,
    /// Price per access, decimal.
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
}

impl ListParams {
    fn query(&self) -> Result<ShareQuery, ApiError> {
        let limit = paging::limit(self.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
        let node = |field: &str, text: &Option<String>| -> Result<Option<NodeId>, ApiError> {
            match text.as_deref().map(parse_recipient).transpose() {
                Ok(None) => Ok(None),
                Ok(Some(Recipient::Node(id))) => Ok(Some(id)),
                Ok(Some(Recipient::Account(account))) => {
                    Ok(Some(node_id_of(&from_abi_account(&account))))
                }
                Err(_) => Err(ApiError::BadRequest(format!(
                    "`{field}` must be a node id (node_ and 12 hex characters) or an SS58 account"
                ))),
            }
        };
        let from = self.from.as_deref().map(|t| parse_time("from", t)).transpose()?;
        let to = self.to.as_deref().map(|t| parse_time("to", t)).transpose()?;
        if let (Some(from), Some(to)) = (from, to) {
            if from > to {
                return Err(ApiError::BadRequest("`from` is after `to`".into()));
            }
        }
        Ok(ShareQuery {
            from,
            to,
            sender: node("sender", &self.sender)?,
            recipient: node("recipient", &self.recipient)?,
            after: self.page_token.as_deref().map(paging::decode_token).transpose()?,
            limit,
        })
    }
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(params): AppQuery<ListParams>,
) -> Result<AppJson<ListResponse>, ApiError> {
    caller.require(Role::User)?;
    let query = params.query()?;
    let rows = state.index().list(&query).await?;
    let next_page_token = (rows.len() == query.limit as usize)
        .then(|| rows.last().map(|last| paging::encode_token(last.created_at, last.share_id)))
        .flatten();
    Ok(AppJson(ListResponse { items: rows.iter().map(listed).collect(), next_page_token }))
}

fn listed(row: &ShareRow) -> ListedShare {
    ListedShare {
        share_id: row.share_id,
        data_hash: row.data_hash,
        sender: node_id_of(&from_abi_account(&row.owner)),
        recipient: node_id_of(&from_abi_account(&row.recipient)),
        price: row.price.to_string(),
        expires_at: row.expires_at.map(rfc3339),
        shared_at: rfc3339(row.created_at),
        recorded: row.recorded.is_some(),
        tx_hash: row.recorded.as_ref().map(|r| r.tx_hash.clone()),
        block_number: row.recorded.as_ref().map(|r| r.block_number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_name_a_row() {
        let token = paging::encode_token(1_700_000_000_123u64, ShareId([3; 16]));
        let decoded: (u64, ShareId) = paging::decode_token(&token).unwrap();
        assert_eq!(decoded, (1_700_000_000_123, ShareId([3; 16])));
        let bad = paging::encode_token(12, "share_zz");
        assert!(paging::decode_token::<u64, ShareId>(&bad).is_err());
    }

    #[test]
    fn limits_are_bounded() {
        for limit in ["0", "501", "-1", "1e3", "99999999999"] {
            let params = ListParams { limit: Some(limit.into()), ..Default::default() };
            assert!(params.query().is_err(), "{limit}");
        }
        let params = ListParams { limit: Some("500".into()), ..Default::default() };
        assert_eq!(params.query().unwrap().limit, 500);
        let backwards = ListParams {
            from: Some("2026-02-01T00:00:00Z".into()),
            to: Some("2026-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        assert!(backwards.query().unwrap_err().to_string().contains("after"));
        assert_eq!(ListParams::default().query().unwrap().limit, DEFAULT_LIMIT);
    }
}
