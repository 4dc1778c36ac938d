//! `/admin/keys` (admin token): the node's key versions, rotation and re-wrapping
//! ([`crate::keys`] does the work).

use crate::api::extract::AppJson;
use crate::api::responses::{
    AdminOnly, BadRequest, Conflict, HeadersTooLarge, PayloadTooLarge, Unauthorized, Unavailable,
    UriTooLong,
};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::keys;
use crate::state::AppState;
use datamgmt_client::api::{
    KeyStatus, RewrapRequest, RewrapResponse, RotateRequest, RotateResponse,
};

use axum::{
    extract::State,
    routing::{get, post},
    Router,
};

/// The administrator's key routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/keys", get(status))
        .route("/admin/keys/rotate", post(rotate))
        .route("/admin/keys/rewrap", post(rewrap))
}

#[utoipa::path(
    get,
    path = "/admin/keys",
    tag = "admin",
    responses(
        (status = 200, body = KeyStatus, description = "Key versions"),
        Unauthorized,
        AdminOnly,
        UriTooLong,
        HeadersTooLarge,
        Unavailable,
    ),
    security(("bearer" = []))
)]
async fn status(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<AppJson<KeyStatus>, ApiError> {
    caller.require(Role::Admin)?;
    let (master_version, min_decrypt_version, node_key_version) = {
        let keyring = state.node().keyring.read().await;
        (
            keyring.current_master().0,
            keyring.min_decrypt_version(),
            keyring.current_node_public_key().0,
        )
    };
    let envelopes_on_older_master = state.index().count_below_key_version(master_version).await?;
    Ok(AppJson(KeyStatus {
        master_version,
        min_decrypt_version,
        node_key_version,
        envelopes_on_older_master,
    }))
}

#[utoipa::path(
    post,
    path = "/admin/keys/rotate",
    tag = "admin",
    request_body = RotateRequest,
    responses(
        (status = 200, body = RotateResponse, description = "A new key version"),
        BadRequest,
        Unauthorized,
        AdminOnly,
        Conflict,
        PayloadTooLarge,
        UriTooLong,
        HeadersTooLarge,
        Unavailable,
    ),
    security(("bearer" = []))
)]
async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(request): AppJson<RotateRequest>,
) -> Result<AppJson<RotateResponse>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(AppJson(keys::rotate(&state, request.key).await?))
}

#[utoipa::path(
    post,
    path = "/admin/keys/rewrap",
    tag = "admin",
    request_body = RewrapRequest,
    responses(
        (status = 200, body = RewrapResponse, description = "Envelopes re-wrapped onto the newest master key"),
        BadRequest,
        Unauthorized,
        AdminOnly,
        Conflict,
        PayloadTooLarge,
        UriTooLong,
        HeadersTooLarge,
        Unavailable,
    ),
    security(("bearer" = []))
)]
async fn rewrap(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(request): AppJson<RewrapRequest>,
) -> Result<AppJson<RewrapResponse>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(AppJson(keys::rewrap(&state, request.retire_older).await?))
}
