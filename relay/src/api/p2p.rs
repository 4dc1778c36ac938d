//! Node to node: the owner's relay hands an envelope to the recipient's relay, and only
//! as the contract allows.
//!
//! `GET /p2p/envelopes/{share_id}` is signed with the asking node's chain account (see
//! [`datamgmt_client::p2p`]), not bearer-authenticated. The owner's relay checks, in
//! this order and before anything is written or read from the chain for anyone else:
//! the signature and its freshness, the caller's request rate, that the caller is the
//! share's recipient in its index; then the nonce (no replays), that releases may go on
//! (the chain node answers, and release records keep up: [`crate::release::gate`]), the
//! size the caller will take, and the (share, recipient) release rate. Then it reads
//! the share, the caller's receipt, the block time and the contract's own `can_access`
//! at the newest block it has seen (once per block, [`crate::chain::reads`]), re-checks
//! the decision with [`datamgmt_abi::decide`], and only then writes the release to the
//! outbox that [`crate::release::recorder`] records on chain, and sends. A paid receipt buys one
//! release, and only once its payment is final: the outbox refuses a second release on
//! the same receipt before the chain has consumed it. What it sends is the envelope with
//! the recipient's stanza alone: never the custody stanza, never another recipient's.
//! The chunks follow unchanged.

use crate::api::extract::AppQuery;
use crate::api::responses::{
    BadRequest, BadSignature, Conflict, Forbidden, HeadersTooLarge, NotFound, PayloadTooLarge,
    RateLimited, Unavailable, UriTooLong,
};
use crate::error::{internal, ApiError};
use crate::index::KeyRelease;
use crate::release::decision::{release_decision, still_allowed};
use crate::release::fetch::PLAINTEXT_LENGTH_HEADER;
use crate::release::gate::Written;
use crate::state::AppState;
use crate::time::now_ms;
use datamgmt_client::api::EnvelopeParams;

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, Uri},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use datamgmt_abi::DenyReason;
use datamgmt_client::envelope::Header;
use datamgmt_client::p2p::{
    sign_answer, P2pError, SignedHeaders, ANSWER_SIGNATURE_HEADER, FRESHNESS_MS,
};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

/// The route other nodes call.
pub fn router() -> Router<AppState> {
    Router::new().route("/p2p/envelopes/{share_id}", get(serve_envelope))
}

#[utoipa::path(
    get,
    path = "/p2p/envelopes/{share_id}",
    tag = "p2p",
    params(("share_id" = String, Path, description = "`share_…`"), EnvelopeParams),
    responses(
        (status = 200, content((Vec<u8> = "application/octet-stream")), description = "The envelope with the caller's stanza alone",
            headers(
                ("x-dmn-answer-signature" = String, description = "sr25519 signature of this node's account over the request's signature, the SHA-256 of the envelope header and the plaintext length; the caller reads nothing else"),
                ("x-dmn-plaintext-length" = u64, description = "Plaintext bytes (custodial shares)"),
            )),
        BadRequest,
        BadSignature,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        UriTooLong,
        RateLimited,
        HeadersTooLarge,
        Unavailable,
    ),
    security(("p2p_signature" = []))
)]
async fn serve_envelope(
    State(state): State<AppState>,
    Path(share_id): Path<String>,
    AppQuery(params): AppQuery<EnvelopeParams>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Cheap checks first, and nothing written or read from the chain for anyone but
    // the share's recipient: the signature, the caller's rate, the share's recipient
    // in the index; only then the nonce, the release gate and the chain.
    let signed = verify_signature(&uri, &headers)?;
    let caller = signed.account;
    state.limiters().peer_requests(&caller)?;
    let share_id = crate::api::params::parse_share_id(&share_id)?;
    let own = state.node().account();
    let row = state
        .index()
        .get(share_id)
        .await?
        .filter(|row| row.owner == own)
        .ok_or_else(|| ApiError::NotFound(format!("this node holds no share {share_id}")))?;
    let denied = |reason: DenyReason| {
        ApiError::AccessDenied(format!("the contract denies access: {reason}"))
    };
    if row.recipient != caller {
        return Err(denied(DenyReason::NotRecipient));
    }
    remember_nonce(&state, &signed).await?;
    // What this node knows without asking the chain refuses at once, whatever a block
    // says: its own revocation (or one its indexer saw), an expiry its clock has passed.
    if row.revoked_at.is_some() {
        return Err(denied(DenyReason::Revoked));
    }
    if row.expires_at.is_some_and(|at| now_ms() >= at) {
        return Err(denied(DenyReason::Expired));
    }
    state.chain().live()?;
    state.releases().gate()?;
    // An end-to-end share's plaintext length is known only to its sharer; its envelope's
    // length bounds it.
    let custodial = row.key_version != crate::share::create::END_TO_END;
    let most_plaintext = if custodial { row.plaintext_len } else { row.envelope_len };
    if let Some(max) = params.max_bytes.filter(|max| most_plaintext > *max) {
        return Err(ApiError::DataTooLarge(format!(
            "the share holds up to {most_plaintext} bytes; this read takes at most {max}"
        )));
    }
    state.limiters().releases(share_id, &caller)?;

    let (block, view, receipt_paid_at) = release_decision(&state, share_id, caller).await?;
    let recipient = view
        .asker
        .as_ref()
        .ok_or_else(|| ApiError::AccessDenied("the recipient is not a registered node".into()))?;
    // Prepare everything that can fail before the release is written down, so a written
    // release is one that is sent.
    let (mut reader, stored_len) = state.store().download(share_id).await?;
    let stored_header = Header::read(&mut reader).await.map_err(internal)?;
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
        // End-to-end: this node cannot open the envelope and passes its header on as it
        // was uploaded (recipient stanzas only).
        stored_header.bytes_as_read().ok_or_else(|| internal("a read header has its MAC"))?
    };
    let plaintext_len = custodial.then_some(row.plaintext_len);
    let answer_signature = sign_answer(&state.node().signer, &signed, &header_bytes, plaintext_len);
    let answer_signature = header::HeaderValue::from_str(&answer_signature).map_err(internal)?;
    let release =
        KeyRelease { share_id, recipient: caller, released_at: view.access.now, receipt_paid_at };
    // Written down first; then, if a newer block was seen since the decision (the
    // owner's revocation, say), decided again on it, and taken back unless it still
    // allows the release.
    let confirm = {
        let state = state.clone();
        move || async move {
            let decided_again = still_allowed(&state, share_id, caller, block, receipt_paid_at);
            tokio::time::timeout(crate::release::recorder::CONFIRM_WITHIN, decided_again)
                .await
                .unwrap_or_else(|_| {
                    Err(ApiError::Unavailable {
                        dependency: "the chain",
                        cause: "the release could not be decided again in time".into(),
                    })
                })
        }
    };
    match state
        .releases()
        .release(state.tasks(), state.index(), state.metrics(), release, confirm)
        .await?
    {
        Written::Released => {
            tracing::info!(%share_id, recipient = %caller, paid = receipt_paid_at.is_some(), "released");
        }
        Written::ReceiptUsed => return Err(denied(DenyReason::ReceiptUsedUp)),
    }

    let length = stored_len - stored_header.encoded_len() as u64 + header_bytes.len() as u64;
    let body = std::io::Cursor::new(header_bytes).chain(reader);
    let mut response = axum::body::Body::from_stream(ReaderStream::new(body)).into_response();
    let headers = response.headers_mut();
    headers
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, length.into());
    if let Some(plaintext_len) = plaintext_len {
        headers.insert(PLAINTEXT_LENGTH_HEADER, plaintext_len.into());
    }
    headers.insert(ANSWER_SIGNATURE_HEADER, answer_signature);
    Ok(response)
}

/// The signed headers of this request, once its signature and freshness check out.
fn verify_signature(uri: &Uri, headers: &HeaderMap) -> Result<SignedHeaders, ApiError> {
    let refused = |error: P2pError| ApiError::BadSignature(error.to_string());
    let signed = SignedHeaders::parse(|name| headers.get(name).and_then(|v| v.to_str().ok()))
        .map_err(refused)?;
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    signed.verify("GET", path, b"", now_ms()).map_err(refused)?;
    Ok(signed)
}

/// Refuses a request whose nonce was seen before (a replay), and remembers it.
async fn remember_nonce(state: &AppState, signed: &SignedHeaders) -> Result<(), ApiError> {
    let now = now_ms();
    let forget_before = now.saturating_sub(2 * FRESHNESS_MS);
    if !state.index().remember_nonce(&signed.account, &signed.nonce, now, forget_before).await? {
        return Err(ApiError::BadSignature(P2pError::Replayed.to_string()));
    }
    Ok(())
}
