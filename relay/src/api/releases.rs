//! `/admin/releases` (admin token): whether key releases go on and, if not, why; the
//! releases waiting for their chain record or refused by the contract; and the
//! acknowledgement that lets releases go on after refusals an operator has looked at.

use crate::api::extract::{AppJson, AppQuery};
use crate::api::responses::{
    AdminOnly, BadRequest, HeadersTooLarge, PayloadTooLarge, Unauthorized, Unavailable, UriTooLong,
};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::state::AppState;
use crate::time::now_ms;
use axum::extract::State;
use datamgmt_client::api::{
    AcknowledgeRequest, Acknowledged, OutboxCounts, OutboxItem, OutboxParams, OutboxReport,
};

/// The routes.
pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/admin/releases", axum::routing::get(outbox))
        .route("/admin/releases/acknowledge", axum::routing::post(acknowledge))
}

#[utoipa::path(
    get,
    path = "/admin/releases",
    tag = "admin",
    params(OutboxParams),
    responses(
        (status = 200, body = OutboxReport, description = "Whether releases go on, and the outbox"),
        BadRequest,
        Unauthorized,
        AdminOnly,
        UriTooLong,
        HeadersTooLarge,
        Unavailable,
    ),
    security(("bearer" = []))
)]
async fn outbox(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(params): AppQuery<OutboxParams>,
) -> Result<AppJson<OutboxReport>, ApiError> {
    caller.require(Role::Admin)?;
    let wanted = params.state.as_deref().unwrap_or("pending");
    if !matches!(wanted, "pending" | "refused") {
        return Err(ApiError::BadRequest("`state` must be `pending` or `refused`".into()));
    }
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("`limit` must be from 1 to 500".into()));
    }
    let (pending, recorded, refused) = state.index().count_releases().await?;
    let items = state
        .index()
        .releases_in_state(wanted, limit)
        .await?
        .into_iter()
        .map(|row| OutboxItem {
            id: row.id,
            share_id: row.release.share_id,
            recipient: datamgmt_client::chain::node_id_of(
                &datamgmt_client::chain::from_abi_account(&row.release.recipient),
            ),
            released_at: crate::time::rfc3339(row.release.released_at),
            paid: row.release.receipt_paid_at.is_some(),
            state: row.state,
            attempts: row.attempts,
            last_error: row.last_error,
            written_at: crate::time::rfc3339(row.written_at),
        })
        .collect();
    let chain = match state.chain().live() {
        Ok(()) => "ok".to_owned(),
        Err(ApiError::Unavailable { cause, .. }) => cause,
        Err(other) => other.to_string(),
    };
    Ok(AppJson(OutboxReport {
        gate: state.releases().status(now_ms()),
        chain,
        newest_block: state.chain().newest_known().map(|(number, _)| number),
        counts: OutboxCounts { pending, recorded, refused },
        items,
    }))
}

/// `POST /admin/releases/acknowledge`: an operator has looked at the refused records
/// (each a key that left without its record, listed with `?state=refused`); releases,
/// paused since the first refusal, may go on. The rows stay listed until their
/// retention ends (a paid one for good: it is what keeps its receipt used).
#[utoipa::path(
    post,
    path = "/admin/releases/acknowledge",
    tag = "admin",
    request_body = AcknowledgeRequest,
    responses(
        (status = 200, body = Acknowledged, description = "Refusals acknowledged"),
        BadRequest,
        Unauthorized,
        AdminOnly,
        PayloadTooLarge,
        UriTooLong,
        HeadersTooLarge,
        Unavailable,
    ),
    security(("bearer" = []))
)]
async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(request): AppJson<AcknowledgeRequest>,
) -> Result<AppJson<Acknowledged>, ApiError> {
    caller.require(Role::Admin)?;
    let index = state.index();
    let acknowledged = index.acknowledge_refusals(request.up_to_id, now_ms()).await?;
    let unacknowledged = index.unacknowledged_refusals().await?;
    state.releases().acknowledged(unacknowledged);
    tracing::warn!(acknowledged, unacknowledged, "refused release records acknowledged");
    Ok(AppJson(Acknowledged { acknowledged, unacknowledged }))
}
