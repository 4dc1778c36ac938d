//! `GET /healthz` (the process answers; no token needed) and `GET /readyz` (the chain,
//! the object store and the index answer too: 200 when ready, 503 with the same body
//! when not).

use serde::{Deserialize, Serialize};

/// `GET /healthz`: liveness, and which node this is (public facts: both are on chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `ok`.
    #[cfg_attr(feature = "openapi", schema(example = "ok"))]
    pub status: String,
    /// The node's id (`node_…`).
    #[cfg_attr(feature = "openapi", schema(example = super::examples::node_id))]
    pub node_id: String,
    /// The node's SS58 account.
    pub account: String,
}

/// `GET /readyz`: readiness and what each dependency said (`ok…`, or why not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// `ready` or `unavailable`.
    #[cfg_attr(feature = "openapi", schema(example = "ready"))]
    pub status: String,
    /// The chain node.
    pub chain: String,
    /// The object store.
    pub storage: String,
    /// The index database.
    pub index: String,
    /// Whether key releases go on (they do not make the relay unready: it still
    /// shares, lists and serves its own data).
    pub releases: String,
}

impl Readiness {
    /// Whether the relay said it is ready.
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}
