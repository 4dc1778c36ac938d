//! The node's keys, for administrators: rotating the master key or the X25519 node key,
//! and re-wrapping stored envelopes onto the newest master key so older ones can be
//! retired.
//!
//! The keyring file and the keyring in memory never disagree: a change is made on a
//! copy, the copy is saved (atomically), and only then does it replace the one requests
//! use. Re-wrapping rewrites an envelope's header only; chunks are copied byte for byte
//! and no plaintext exists at any point.

use crate::error::ApiError;
use crate::node;
use crate::state::AppState;
use crate::storage::StorageError;
use datamgmt_abi::{KeyVersion, ShareId};
use datamgmt_client::api::{KeyKind, RewrapFailure, RewrapResponse, RotateResponse};
use datamgmt_client::envelope;
use datamgmt_client::keyring::Keyring;

/// Envelopes re-wrapped per index query.
const REWRAP_BATCH: u32 = 100;

/// Rotates `key`; a new node key is registered on chain before this answers.
pub async fn rotate(state: &AppState, key: KeyKind) -> Result<RotateResponse, ApiError> {
    // A node key is only useful once the chain has it: refuse while the chain is away
    // rather than keep a key nobody can wrap to.
    let chain = match key {
        KeyKind::Node => Some(state.chain().client().await?),
        KeyKind::Master => None,
    };
    let (previous_version, version) = update_keyring(state, |keyring| match key {
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
    tracing::info!(key = ?key, previous_version, version, "rotated a key");
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
    Ok(RotateResponse { key, previous_version, version, chain })
}

/// Re-wraps every envelope on an older master key onto the newest; with
/// `retire_older`, then retires the older keys, unless an envelope still needs one.
pub async fn rewrap(state: &AppState, retire_older: bool) -> Result<RewrapResponse, ApiError> {
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
            match rewrap_one(state, share.share_id).await {
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
    if retire_older && still_older > missing {
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
    response.min_decrypt_version = if retire_older {
        update_keyring(state, |keyring| {
            keyring
                .set_min_decrypt_version(master_version)
                .map_err(|e| ApiError::Conflict(e.to_string()))?;
            Ok(keyring.min_decrypt_version())
        })
        .await?
    } else {
        state.node().keyring.read().await.min_decrypt_version()
    };
    Ok(response)
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
