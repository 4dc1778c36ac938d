//! `/admin/releases` (admin token): whether key releases go on and, if not, why; the
//! releases waiting for their chain record or refused by the contract; and the
//! acknowledgement that lets releases go on after refusals an operator has looked at.

use crate::api::extract::{AppJson, AppQuery};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::release::gate::GateStatus;
use crate::state::AppState;
use crate::time::now_ms;
use axum::extract::State;
use datamgmt_abi::ShareId;

/// The routes.
pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/admin/releases", axum::routing::get(outbox))
        .route("/admin/releases/acknowledge", axum::routing::post(acknowledge))
}

/// Query parameters of `GET /admin/releases`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxParams {
    /// `pending` (default) or `refused`.
    pub state: Option<String>,
    /// At most this many, 1 to 500 (default 100).
    pub limit: Option<u32>,
}

/// The release outbox as an operator sees it.
#[derive(Debug, serde::Serialize)]
pub struct OutboxReport {
    /// Whether releases go on, and why not.
    #[serde(flatten)]
    pub gate: GateStatus,
    /// Whether the chain node answers (releases need it to).
    pub chain: String,
    /// The newest block this relay has seen: releases are decided on it.
    pub newest_block: Option<u64>,
    /// Releases by state: waiting, recorded (kept an hour), refused (kept
    /// `keep_refused_days`).
    pub counts: OutboxCounts,
    /// The releases in the state asked for, oldest first.
    pub items: Vec<OutboxItem>,
}

/// Releases by state.
#[derive(Debug, serde::Serialize)]
pub struct OutboxCounts {
    /// Waiting for their record.
    pub pending: u64,
    /// Recorded on chain.
    pub recorded: u64,
    /// Refused by the contract: a key that left without its record.
    pub refused: u64,
}

/// One release in the outbox.
#[derive(Debug, serde::Serialize)]
pub struct OutboxItem {
    /// Its row (what `POST /admin/releases/acknowledge` names with `up_to_id`).
    pub id: i64,
    /// The share.
    pub share_id: ShareId,
    /// The node that got the key.
    pub recipient: datamgmt_abi::NodeId,
    /// Block time the release was decided at (RFC 3339).
    pub released_at: String,
    /// Whether it used a payment.
    pub paid: bool,
    /// `pending` or `refused`.
    pub state: String,
    /// Attempts to record it.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the release was written down, just before its key was sent (RFC 3339,
    /// relay clock).
    pub written_at: String,
}

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

/// `POST /admin/releases/acknowledge`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    /// The last refused record looked at (`id` in `GET /admin/releases?state=refused`):
    /// it and those before it are acknowledged, not any refused since.
    pub up_to_id: i64,
}

/// The answer to an acknowledgement.
#[derive(Debug, serde::Serialize)]
pub struct Acknowledged {
    /// Refused records acknowledged now.
    pub acknowledged: u64,
    /// Refused records still unacknowledged (releases stay paused while there are any).
    pub unacknowledged: u64,
}

/// `POST /admin/releases/acknowledge`: an operator has looked at the refused records
/// (each a key that left without its record, listed with `?state=refused`); releases,
/// paused since the first refusal, may go on. The rows stay listed until their
/// retention ends (a paid one for good: it is what keeps its receipt used).
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
