//! Key management for administrators: rotate the node's master key or its X25519 key,
//! and re-wrap stored envelopes onto the newest master key so older ones can be retired.
//!
//! The keyring file and the keyring in memory never disagree: a change is made on a
//! copy, the copy is saved (atomically), and only then does it replace the one requests
//! use. Re-wrapping rewrites an envelope's header only; chunks are copied byte for byte
//! and no plaintext exists at any point.

use crate::api::extract::AppJson;
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::node;
use crate::state::AppState;
use crate::storage::StorageError;
use datamgmt_client::api::ErrorBody;
use datamgmt_client::api::{
    KeyKind, KeyStatus, RewrapFailure, RewrapRequest, RewrapResponse, RotateRequest, RotateResponse,
};

use axum::{
    extract::State,
    routing::{get, post},
    Router,
};
use datamgmt_abi::{KeyVersion, ShareId};
use datamgmt_client::envelope;
use datamgmt_client::keyring::Keyring;

/// Envelopes re-wrapped per index query.
const REWRAP_BATCH: u32 = 100;

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
        (status = 401, body = ErrorBody, description = "`unauthorized`: no valid bearer token"),
        (status = 403, body = ErrorBody, description = "`forbidden`: the token's role may not do this"),
        (status = 414, body = ErrorBody, description = "`uri_too_long`"),
        (status = 431, body = ErrorBody, description = "`headers_too_large`"),
        (status = 503, body = ErrorBody, description = "`unavailable` (chain, storage, index or capacity; `Retry-After`) or `releases_paused`"),
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
        (status = 400, body = ErrorBody, description = "`bad_request`: a malformed request or an invalid field"),
        (status = 401, body = ErrorBody, description = "`unauthorized`: no valid bearer token"),
        (status = 403, body = ErrorBody, description = "`forbidden`: the token's role may not do this"),
        (status = 409, body = ErrorBody, description = "`conflict`: the state does not allow it (already revoked, payment not final…)"),
        (status = 413, body = ErrorBody, description = "`payload_too_large`: the body or the data is over the limit"),
        (status = 414, body = ErrorBody, description = "`uri_too_long`"),
        (status = 431, body = ErrorBody, description = "`headers_too_large`"),
        (status = 503, body = ErrorBody, description = "`unavailable` (chain, storage, index or capacity; `Retry-After`) or `releases_paused`"),
    ),
    security(("bearer" = []))
)]
async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(request): AppJson<RotateRequest>,
) -> Result<AppJson<RotateResponse>, ApiError> {
    caller.require(Role::Admin)?;
    // A node key is only useful once the chain has it: refuse while the chain is away
    // rather than keep a key nobody can wrap to.
    let chain = match request.key {
        KeyKind::Node => Some(state.chain().client().await?),
        KeyKind::Master => None,
    };
    let (previous_version, version) = update_keyring(&state, |keyring| match request.key {
        KeyKind::Master => {
            let previous = keyring.current_master().0;
            Ok((previous, keyring.rotate_master()))
        }
        KeyKind::Node => {
            let previous = keyring.current_node_public_key().0;
            Ok((previous, keyring.rotate_node_key()))
        }
    })
    .await?;
    tracing::info!(key = ?request.key, previous_version, version, "rotated a key");
    let chain = match chain {
        None => None,
        Some(chain) => {
            let node = state.node();
            let keyring = node.keyring.read().await;
            node::ensure_registered(&chain, &node.signer, &keyring, &node.public_url)
                .await
                .map_err(|error| ApiError::Unavailable {
                    dependency: "the chain",
                    cause: format!(
                        "node key version {version} is saved but not yet registered (it \
                         will be when the relay next connects): {error}"
                    ),
                })?;
            Some("updated".to_owned())
        }
    };
    Ok(AppJson(RotateResponse { key: request.key, previous_version, version, chain }))
}

#[utoipa::path(
    post,
    path = "/admin/keys/rewrap",
    tag = "admin",
    request_body = RewrapRequest,
    responses(
        (status = 200, body = RewrapResponse, description = "Envelopes re-wrapped onto the newest master key"),
        (status = 400, body = ErrorBody, description = "`bad_request`: a malformed request or an invalid field"),
        (status = 401, body = ErrorBody, description = "`unauthorized`: no valid bearer token"),
        (status = 403, body = ErrorBody, description = "`forbidden`: the token's role may not do this"),
        (status = 409, body = ErrorBody, description = "`conflict`: the state does not allow it (already revoked, payment not final…)"),
        (status = 413, body = ErrorBody, description = "`payload_too_large`: the body or the data is over the limit"),
        (status = 414, body = ErrorBody, description = "`uri_too_long`"),
        (status = 431, body = ErrorBody, description = "`headers_too_large`"),
        (status = 503, body = ErrorBody, description = "`unavailable` (chain, storage, index or capacity; `Retry-After`) or `releases_paused`"),
    ),
    security(("bearer" = []))
)]
async fn rewrap(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(request): AppJson<RewrapRequest>,
) -> Result<AppJson<RewrapResponse>, ApiError> {
    caller.require(Role::Admin)?;
    let master_version = state.node().keyring.read().await.current_master().0;
    let mut response = RewrapResponse {
        master_version,
        rewrapped: 0,
        missing: Vec::new(),
        failed: Vec::new(),
        min_decrypt_version: 0,
    };
    let mut after = None;
    loop {
        let batch = state.index().below_key_version(master_version, after, REWRAP_BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = Some(last.share_id);
        for share in batch {
            match rewrap_one(&state, share.share_id).await {
                Ok(version) => {
                    state.index().set_key_version(share.share_id, version).await?;
                    response.rewrapped += 1;
                }
                Err(RewrapError::Missing) => response.missing.push(share.share_id),
                Err(RewrapError::Unreadable(error)) => {
                    tracing::error!(share_id = %share.share_id, %error, "cannot re-wrap");
                    response.failed.push(RewrapFailure { share_id: share.share_id, error });
                }
                // The store went away: stop here; what is done stays done.
                Err(RewrapError::Store(error)) => return Err(error.into()),
            }
        }
    }
    tracing::info!(master_version, rewrapped = response.rewrapped, "re-wrapped envelopes");
    let still_older = state.index().count_below_key_version(master_version).await?;
    let missing = response.missing.len() as u64;
    if request.retire_older && still_older > missing {
        let failed: Vec<String> = response.failed.iter().map(|f| f.share_id.to_string()).collect();
        return Err(ApiError::Conflict(format!(
            "{} envelope(s) still need an older master key (could not re-wrap: {}); older \
             keys were not retired; {} other envelope(s) were re-wrapped",
            still_older - missing,
            if failed.is_empty() {
                "none, but new ones appeared".to_owned()
            } else {
                failed.join(", ")
            },
            response.rewrapped
        )));
    }
    response.min_decrypt_version = if request.retire_older {
        update_keyring(&state, |keyring| {
            keyring
                .set_min_decrypt_version(master_version)
                .map_err(|e| ApiError::Conflict(e.to_string()))?;
            Ok(keyring.min_decrypt_version())
        })
        .await?
    } else {
        state.node().keyring.read().await.min_decrypt_version()
    };
    Ok(AppJson(response))
}

enum RewrapError {
    /// The share's envelope is not in the store.
    Missing,
    /// The envelope's custody stanza does not open (corrupt, or its key is retired).
    Unreadable(String),
    /// The store failed.
    Store(StorageError),
}

impl From<StorageError> for RewrapError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NotFound(_) => Self::Missing,
            other => Self::Store(other),
        }
    }
}

/// Moves the custody stanza of one stored envelope to the newest master key; returns
/// that key's version.
async fn rewrap_one(state: &AppState, share_id: ShareId) -> Result<KeyVersion, RewrapError> {
    let (reader, _) = state.store().download(share_id).await?;
    let mut upload = state.store().replace(share_id).await?;
    let keyring = state.node().keyring.read().await;
    let version = keyring.current_master().0;
    match envelope::rewrap(reader, &mut upload, &keyring).await {
        Ok(_) => {}
        Err(envelope::EnvelopeError::Io(error)) => {
            let _ = upload.abort().await;
            return Err(RewrapError::Store(StorageError::Unavailable(error.to_string())));
        }
        Err(error) => {
            let _ = upload.abort().await;
            return Err(RewrapError::Unreadable(error.to_string()));
        }
    }
    upload.complete().await?;
    Ok(version)
}

/// Changes the keyring: `change` runs on a copy, the copy is saved, and only then used.
async fn update_keyring<T>(
    state: &AppState,
    change: impl FnOnce(&mut Keyring) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let node = state.node();
    let mut keyring = node.keyring.write().await;
    let mut updated = keyring.clone();
    let outcome = change(&mut updated)?;
    let path = node.keyring_path.clone();
    let saved = tokio::task::spawn_blocking(move || updated.save(&path).map(|()| updated))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(format!("saving the keyring failed: {e}")))?;
    *keyring = saved;
    Ok(outcome)
}
