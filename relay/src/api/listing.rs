//! `GET /data/list`: the shares this node made, received, or both, newest first,
//! filtered by time, sender or recipient, in pages, each with its status. Answered from
//! the index, never by scanning the chain: own shares from the `shares` table, received
//! ones from the contract events the indexer copied (so a dApp's revocation shows once
//! its block is final).

use crate::api::extract::{AppJson, AppQuery};
use crate::api::paging;
use crate::api::params::{parse_node, parse_time};
use crate::api::responses::{
    BadRequest, Forbidden, HeadersTooLarge, Unauthorized, Unavailable, UriTooLong,
};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::index::{ReceivedShare, ShareQuery, ShareRow};
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};
use datamgmt_client::api::{Direction, ListParams, ListResponse, ListedShare, ShareStatus};

use axum::{extract::State, routing::get, Router};
use datamgmt_abi::{ShareId, Timestamp};
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
    let node = |field: &str, text: &Option<String>| {
        text.as_deref().map(|text| parse_node(field, text)).transpose()
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
        (status = 200, body = ListResponse, description = "A page of the shares this node made, received, or both, newest first"),
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
    let now = now_ms();
    let direction = params.direction.unwrap_or(Direction::Shared);
    let mut items: Vec<(Timestamp, ShareId, ListedShare)> = Vec::new();
    let mut full = false;
    if matches!(direction, Direction::Shared | Direction::All) {
        let rows = state.index().list(&query).await?;
        full |= rows.len() == query.limit as usize;
        items.extend(rows.iter().map(|row| (row.created_at, row.share_id, shared(row, now))));
    }
    if matches!(direction, Direction::Received | Direction::All) {
        let rows = state.index().received_shares(&state.node().account(), &query).await?;
        full |= rows.len() == query.limit as usize;
        items.extend(rows.iter().map(|row| (row.shared_at, row.share_id, received(row, now))));
    }
    // Newest first, as each source is; ties by share id, as the page token continues.
    items.sort_by_key(|(at, share_id, _)| std::cmp::Reverse((*at, share_id.0)));
    let more = full || items.len() > query.limit as usize;
    items.truncate(query.limit as usize);
    let next_page_token = more
        .then(|| items.last().map(|(at, share_id, _)| paging::encode_token(at, share_id)))
        .flatten();
    Ok(AppJson(ListResponse {
        items: items.into_iter().map(|(_, _, item)| item).collect(),
        next_page_token,
    }))
}

/// Where a share stands at `now`: not on chain yet, revoked, past its expiry, or active.
fn status(
    recorded: bool,
    revoked_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> ShareStatus {
    match () {
        () if !recorded => ShareStatus::Pending,
        () if revoked_at.is_some() => ShareStatus::Revoked,
        () if expires_at.is_some_and(|at| at <= now) => ShareStatus::Expired,
        () => ShareStatus::Active,
    }
}

/// A share this node made, as listed at `now`.
fn shared(row: &ShareRow, now: Timestamp) -> ListedShare {
    let status = status(row.recorded.is_some(), row.revoked_at, row.expires_at, now);
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
        direction: Direction::Shared,
        status,
        revoked_at: row.revoked_at.map(rfc3339),
        payment_open: None,
    }
}

/// A share made to this node (on chain, as its events are), as listed at `now`.
fn received(row: &ReceivedShare, now: Timestamp) -> ListedShare {
    let status = status(true, row.revoked_at, row.expires_at, now);
    ListedShare {
        share_id: row.share_id,
        data_hash: row.data_hash,
        sender: node_id_of(&from_abi_account(&row.owner)),
        recipient: node_id_of(&from_abi_account(&row.recipient)),
        price: row.price.to_string(),
        expires_at: row.expires_at.map(rfc3339),
        shared_at: rfc3339(row.shared_at),
        recorded: true,
        tx_hash: Some(row.tx_hash.clone()),
        block_number: Some(row.block_number),
        direction: Direction::Received,
        status,
        revoked_at: row.revoked_at.map(rfc3339),
        payment_open: (row.price > 0).then_some(row.payments > row.paid_releases),
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
