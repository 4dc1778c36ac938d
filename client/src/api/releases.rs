//! The release outbox for administrators (admin token): `GET /admin/releases`
//! ([`OutboxParams`] → [`OutboxReport`]): whether key releases go on and, if not, why;
//! the releases waiting for their chain record or refused by the contract. And
//! `POST /admin/releases/acknowledge` ([`AcknowledgeRequest`] → [`Acknowledged`]),
//! which lets releases go on after refusals an operator has looked at.

use datamgmt_abi::{NodeId, ShareId};
use serde::{Deserialize, Serialize};

/// Query parameters of `GET /admin/releases`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct OutboxParams {
    /// `pending` (default) or `refused`.
    pub state: Option<String>,
    /// At most this many, 1 to 500 (default 100).
    pub limit: Option<u32>,
}

/// The release outbox as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxReport {
    /// Whether releases go on, and why not (its fields sit at the top level).
    #[serde(flatten)]
    pub gate: GateStatus,
    /// Whether the chain node answers (`ok`, or why not): releases need it.
    pub chain: String,
    /// The newest block the relay has seen: releases are decided on it.
    pub newest_block: Option<u64>,
    /// Releases by state: waiting, recorded (kept an hour), refused (kept
    /// `keep_refused_days`).
    pub counts: OutboxCounts,
    /// The releases in the state asked for, oldest first.
    pub items: Vec<OutboxItem>,
}

/// Whether key releases go on, as `/admin/releases` says (the 503s say why in general
/// terms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GateStatus {
    /// Whether releases may go on.
    pub releasing: bool,
    /// Why not, when they may not.
    pub reason: Option<String>,
    /// Releases waiting for their record.
    pub pending: usize,
    /// Seconds the oldest of them has waited.
    pub oldest_pending_secs: Option<u64>,
}

/// Releases by state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxCounts {
    /// Waiting for their record.
    pub pending: u64,
    /// Recorded on chain.
    pub recorded: u64,
    /// Refused by the contract: a key that left without its record.
    pub refused: u64,
}

/// One release in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxItem {
    /// Its row (what `POST /admin/releases/acknowledge` names with `up_to_id`).
    pub id: i64,
    /// The share.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::share_id)
    )]
    pub share_id: ShareId,
    /// The node that got the key.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, example = super::examples::node_id)
    )]
    pub recipient: NodeId,
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

/// `POST /admin/releases/acknowledge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    /// The last refused record looked at (`id` in `GET /admin/releases?state=refused`):
    /// it and those before it are acknowledged, not any refused since.
    pub up_to_id: i64,
}

/// The answer to an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Acknowledged {
    /// Refused records acknowledged now.
    pub acknowledged: u64,
    /// Refused records still unacknowledged (releases stay paused while there are any).
    pub unacknowledged: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_gate_status_sits_at_the_top_level() {
        let report = json!({
            "releasing": false,
            "reason": "1 refused release record is not acknowledged",
            "pending": 0,
            "oldest_pending_secs": null,
            "chain": "ok",
            "newest_block": 12,
            "counts": {"pending": 0, "recorded": 3, "refused": 1},
            "items": [{
                "id": 4,
                "share_id": "share_abababababababababababababababab",
                "recipient": "node_b2c3d4e5f6a1",
                "released_at": "2026-01-01T00:00:00Z",
                "paid": true,
                "state": "refused",
                "attempts": 2,
                "last_error": "the contract refused: access denied",
                "written_at": "2026-01-01T00:00:01Z"
            }]
        });
        let decoded: OutboxReport = serde_json::from_value(report.clone()).unwrap();
        assert!(!decoded.gate.releasing);
        assert_eq!(decoded.items[0].id, 4);
        assert_eq!(serde_json::to_value(&decoded).unwrap(), report);
        let params: OutboxParams = serde_json::from_value(json!({"state": "refused"})).unwrap();
        assert_eq!(params.limit, None);
        assert!(serde_json::from_value::<AcknowledgeRequest>(json!({"up_to": 1})).is_err());
    }
}
