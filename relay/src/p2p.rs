//! Node to node: the owner's relay hands an envelope to the recipient's relay, and only
//! as the contract allows.
//!
//! `GET /p2p/envelopes/{share_id}` is signed with the asking node's chain account (see
//! [`datamgmt_client::p2p`]), not bearer-authenticated: the owner's relay learns which
//! account asks, refuses stale or replayed requests, then reads the share, the caller's
//! receipt, the block time and the contract's own `can_access` at the best block (once
//! per block, [`crate::chain_reads`]), re-checks the decision with
//! [`datamgmt_abi::decide`], and only for the recipient writes the release to the outbox
//! that [`crate::releases`] records on chain, then sends. A paid receipt buys one
//! release: the outbox refuses a second release on the same receipt before the chain
//! has consumed it. What it sends is the envelope with the recipient's stanza alone:
//! never the custody stanza, never another recipient's. The chunks follow unchanged.
//!
//! [`fetch`] is the other side: the recipient's relay signs the request and reads the
//! answer as a stream.

use crate::chain_reads::ReleaseView;
use crate::error::ApiError;
use crate::index::KeyRelease;
use crate::shares::{chain_unavailable, internal, now_ms};
use crate::state::AppState;
use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, Uri},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use datamgmt_abi::{decide, AccessGrant, AccountId, Decision, DenyReason, ShareId, Timestamp};
use datamgmt_client::chain::{from_abi_account, AccessView};
use datamgmt_client::envelope::{EnvelopeError, Header, StanzaKind};
use datamgmt_client::p2p::{P2pError, SignedHeaders, FRESHNESS_MS};
use futures::TryStreamExt;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::{ReaderStream, StreamReader};

/// Header with the plaintext's length, sent with an envelope so the recipient can
/// answer with a Content-Length (the envelope's final chunk authenticates it).
pub const PLAINTEXT_LENGTH_HEADER: &str = "x-dmn-plaintext-length";

/// The route other nodes call.
pub fn router() -> Router<AppState> {
    Router::new().route("/p2p/envelopes/{share_id}", get(serve_envelope))
}

fn envelope_path(share_id: ShareId) -> String {
    format!("/p2p/envelopes/{share_id}")
}

async fn serve_envelope(
    State(state): State<AppState>,
    Path(share_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &uri, &headers).await?;
    let share_id = crate::shares::parse_share_id(&share_id)?;
    let own = state.node().account();
    let row = state
        .index()
        .get(share_id)
        .await?
        .filter(|row| row.owner == own)
        .ok_or_else(|| ApiError::NotFound(format!("this node holds no share {share_id}")))?;

    let (view, receipt_paid_at) = release_decision(&state, share_id, caller).await?;
    let recipient = view
        .asker
        .as_ref()
        .ok_or_else(|| ApiError::AccessDenied("the recipient is not a registered node".into()))?;

    // Prepare everything that can fail before the release is written down, so a
    // written release is one that is sent.
    let (mut reader, stored_len) = state.store().download(share_id).await?;
    let stored_header = Header::read(&mut reader).await.map_err(internal)?;
    let custodial = stored_header.stanzas().iter().any(|s| s.kind == StanzaKind::Custody);
    let header_bytes = if custodial {
        let data_key = {
            let keyring = state.node().keyring.read().await;
            stored_header.open_custody(&keyring).map_err(internal)?
        };
        let mut header = stored_header.for_recipient(&recipient.encryption_key);
        if header.stanzas().is_empty() {
            // The recipient rotated its key since the share: wrap to the current one.
            header
                .add_recipient(recipient.key_version, &recipient.encryption_key, &data_key)
                .map_err(|_| ApiError::AccessDenied("the recipient's key is not usable".into()))?;
        }
        header.seal(&data_key)
    } else {
        // End-to-end: this node cannot open the envelope and passes its header on as
        // it was uploaded (recipient stanzas only).
        stored_header.bytes_as_read().ok_or_else(|| internal("a read header has its MAC"))?
    };

    let release =
        KeyRelease { share_id, recipient: caller, released_at: view.access.now, receipt_paid_at };
    if !state.releases().release(state.index(), state.metrics(), release).await? {
        return Err(ApiError::AccessDenied(format!(
            "the contract denies access: {}",
            DenyReason::ReceiptUsedUp
        )));
    }
    tracing::info!(%share_id, recipient = %caller, paid = receipt_paid_at.is_some(), "released");

    let length = stored_len - stored_header.encoded_len() as u64 + header_bytes.len() as u64;
    let body = std::io::Cursor::new(header_bytes).chain(reader);
    let mut response = axum::body::Body::from_stream(ReaderStream::new(body)).into_response();
    let headers = response.headers_mut();
    headers
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, length.into());
    // An end-to-end share's plaintext length is known only to its sharer.
    if custodial {
        headers.insert(PLAINTEXT_LENGTH_HEADER, row.plaintext_len.into());
    }
    Ok(response)
}

/// The chain state a release of `share_id` to `caller` is decided on, and the paid
/// receipt the release would use, once the contract's decision and this relay's
/// re-check agree that `caller` may have it.
///
/// Read at the best block this relay knows (or, while that is read, the one before).
/// What a newer block could change is read again at the node's own best block: a share
/// not found yet, a refusal the recipient or owner may just have lifted (a payment, a
/// new expiry), and a receipt this relay already released on (a new payment may follow
/// its record).
async fn release_decision(
    state: &AppState,
    share_id: ShareId,
    caller: AccountId,
) -> Result<(Arc<ReleaseView>, Option<Timestamp>), ApiError> {
    let (chain, mut block) = state.chain().at_best().await?;
    let mut fresh = false;
    loop {
        let previous_ok = !fresh && state.chain().may_answer_from_previous(block.0);
        let view = state
            .reads()
            .release_view(&chain, block, share_id, caller, previous_ok)
            .await
            .map_err(chain_unavailable)?;
        let outcome = check_decision(&view.access, share_id, &caller);
        let newer_may_differ = match &outcome {
            Err(ApiError::NotFound(_)) => true,
            Err(_) => matches!(
                view.access.decision,
                Some(Decision::Denied(
                    DenyReason::PaymentRequired | DenyReason::ReceiptUsedUp | DenyReason::Expired
                ))
            ),
            Ok(Some(paid_at)) => {
                state.index().receipt_released(share_id, &caller, *paid_at).await?
            }
            Ok(None) => false,
        };
        if newer_may_differ && !fresh {
            fresh = true;
            let best = state.chain().refresh_best(&chain).await?;
            if best.1 != view.access.block_hash {
                block = best;
                continue;
            }
        }
        return outcome.map(|receipt_paid_at| (view, receipt_paid_at));
    }
}

/// The paid receipt (its `paid_at`) a release to `caller` would use, `None` for a free
/// share, or why there is no release: the contract's decision, re-checked.
fn check_decision(
    access: &AccessView,
    share_id: ShareId,
    caller: &AccountId,
) -> Result<Option<Timestamp>, ApiError> {
    let (Some(share), Some(contract_decision)) = (&access.share, access.decision) else {
        return Err(ApiError::NotFound(format!("share {share_id} is not on chain (yet)")));
    };
    let local_decision = decide(share, access.receipt.as_ref(), caller, access.now);
    if local_decision != contract_decision {
        tracing::error!(%share_id, ?local_decision, ?contract_decision, "access rule mismatch");
        return Err(ApiError::AccessDenied(
            "this relay and the contract disagree about this access; nothing was released".into(),
        ));
    }
    match contract_decision {
        Decision::Allowed(AccessGrant::Recipient) => Ok(None),
        // `decide` grants this only on a receipt, so there is one.
        Decision::Allowed(AccessGrant::PaidRecipient) => Ok(Some(
            access
                .receipt
                .as_ref()
                .ok_or_else(|| internal("a paid grant without receipt"))?
                .paid_at,
        )),
        Decision::Allowed(AccessGrant::Owner) => {
            Err(ApiError::AccessDenied("the owner reads its data from its own relay".into()))
        }
        Decision::Denied(reason) => {
            Err(ApiError::AccessDenied(format!("the contract denies access: {reason}")))
        }
    }
}

/// The account that signed this request, once its signature, freshness and nonce check
/// out.
async fn authenticate(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<AccountId, ApiError> {
    let refused = |error: P2pError| ApiError::BadSignature(error.to_string());
    let signed = SignedHeaders::parse(|name| headers.get(name).and_then(|v| v.to_str().ok()))
        .map_err(refused)?;
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let now = now_ms();
    signed.verify("GET", path, b"", now).map_err(refused)?;
    let forget_before = now.saturating_sub(2 * FRESHNESS_MS);
    if !state.index().remember_nonce(&signed.account, &signed.nonce, now, forget_before).await? {
        return Err(refused(P2pError::Replayed));
    }
    Ok(signed.account)
}

/// An envelope fetched from its owner's relay: its header (with this node's stanza),
/// the chunks still to read, and the plaintext length the owner announced.
pub struct FetchedEnvelope {
    /// The header.
    pub header: Header,
    /// The rest of the envelope.
    pub chunks: Box<dyn AsyncRead + Send + Unpin>,
    /// Plaintext bytes, as the owner's relay announced them.
    pub plaintext_len: Option<u64>,
}

/// Asks the relay of `owner` for the envelope of `share_id`, signed as this node.
pub async fn fetch(
    state: &AppState,
    owner: &AccountId,
    share_id: ShareId,
) -> Result<FetchedEnvelope, ApiError> {
    let (chain, block) = state.chain().at_best().await?;
    let owner_node = state.reads().node(&chain, block, *owner).await.map_err(chain_unavailable)?;
    let owner_node = owner_node.ok_or_else(|| {
        ApiError::BadGateway(format!(
            "the sharing node {} is no longer registered",
            from_abi_account(owner)
        ))
    })?;
    let path = envelope_path(share_id);
    let url = format!("{}{path}", owner_node.endpoint.trim_end_matches('/'));
    let signed = SignedHeaders::sign(&state.node().signer, "GET", &path, b"", now_ms());
    let mut request = state.peers().get(&url);
    for (name, value) in signed.to_pairs() {
        request = request.header(name, value);
    }
    let unreachable =
        |cause: String| ApiError::Unavailable { dependency: "the sharing node", cause };
    let response = request.send().await.map_err(|e| unreachable(format!("{url}: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        let bytes = response.bytes().await.unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let message = body["error"]["message"].as_str().unwrap_or("no reason given").to_owned();
        return Err(match status.as_u16() {
            403 => ApiError::AccessDenied(format!("the sharing node refused: {message}")),
            404 => ApiError::NotFound(format!("the sharing node has no such share: {message}")),
            503 => unreachable(message),
            _ => ApiError::BadGateway(format!("the sharing node answered {status}: {message}")),
        });
    }
    let plaintext_len = response
        .headers()
        .get(PLAINTEXT_LENGTH_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let stream = response.bytes_stream().map_err(std::io::Error::other);
    let mut chunks = StreamReader::new(stream);
    let header = Header::read(&mut chunks).await.map_err(|error| match error {
        EnvelopeError::Io(error) => unreachable(error.to_string()),
        other => ApiError::BadGateway(format!("the sharing node sent no envelope: {other}")),
    })?;
    Ok(FetchedEnvelope { header, chunks: Box::new(chunks), plaintext_len })
}
