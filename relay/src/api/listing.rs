//! `GET /data/list`: the shares this node made, newest first, filtered by time, sender
//! or recipient, in pages. Answered from the index, never by scanning the chain.

use crate::api::extract::{AppJson, AppQuery};
use crate::api::paging;
use crate::api::params::{parse_recipient, parse_time};
use crate::api::responses::{
    BadRequest, Forbidden, HeadersTooLarge, Unauthorized, Unavailable, UriTooLong,
};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::index::{ShareQuery, ShareRow};
use crate::share::create::Recipient;
use crate::state::AppState;
use crate::time::rfc3339;
use datamgmt_client::api::{ListParams, ListResponse, ListedShare};

use axum::{extract::State, routing::get, Router};
use datamgmt_abi::NodeId;
use datamgmt_client::chain::{from_abi_account, node_id_of};

/// Page size when the request names none.
const DEFAULT_LIMIT: u32 = 50;
/// Largest page a request may ask for.
const MAX_LIMIT: u32 = 500;

/// The listing route.
pub fn router() -> Router<AppState> {
    Router::new().route("/data/list", get(list))
}

/// The index query `params` ask for.
fn share_query(params: &ListParams) -> Result<ShareQuery, ApiError> {
    let limit = paging::limit(params.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
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
    let from = params.from.as_deref().map(|t| parse_time("from", t)).transpose()?;
    let to = params.to.as_deref().map(|t| parse_time("to", t)).transpose()?;
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(ApiError::BadRequest("`from` is after `to`".into()));
        }
    }
    Ok(ShareQuery {
        from,
        to,
        sender: node("sender", &params.sender)?,
        recipient: node("recipient", &params.recipient)?,
        after: params.page_token.as_deref().map(paging::decode_token).transpose()?,
        limit,
    })
}

#[utoipa::path(
    get,
    path = "/data/list",
    tag = "data",
    params(ListParams),
    responses(
        (status = 200, body = ListResponse, description = "A page of the shares this node made, newest first"),
        BadRequest,
        Unauthorized,
        Forbidden,
        UriTooLong,
        HeadersTooLarge,
        Unavailable,
    ),
    security(("bearer" = []))
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(params): AppQuery<ListParams>,
) -> Result<AppJson<ListResponse>, ApiError> {
    caller.require(Role::User)?;
    let query = share_query(&params)?;
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
    use datamgmt_abi::ShareId;

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
            assert!(share_query(&params).is_err(), "{limit}");
        }
        let params = ListParams { limit: Some("500".into()), ..Default::default() };
        assert_eq!(share_query(&params).unwrap().limit, 500);
        let backwards = ListParams {
            from: Some("2026-02-01T00:00:00Z".into()),
            to: Some("2026-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        assert!(share_query(&backwards).unwrap_err().to_string().contains("after"));
        assert_eq!(share_query(&ListParams::default()).unwrap().limit, DEFAULT_LIMIT);
    }
}
