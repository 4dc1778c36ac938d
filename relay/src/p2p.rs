//! Node to node: the owner's relay hands an envelope to the recipient's relay, and only
//! as the contract allows.
//!
//! `GET /p2p/envelopes/{share_id}` is signed with the asking node's chain account (see
//! [`datamgmt_client::p2p`]), not bearer-authenticated. The owner's relay checks, in
//! this order and before anything is written or read from the chain for anyone else:
//! the signature and its freshness, the caller's request rate, that the caller is the
//! share's recipient in its index; then the nonce (no replays), that releases may go on
//! (the chain node answers, and release records keep up: [`crate::releases`]), the
//! size the caller will take, and the (share, recipient) release rate. Then it reads
//! the share, the caller's receipt, the block time and the contract's own `can_access`
//! at the newest block it has seen (once per block, [`crate::chain_reads`]), re-checks
//! the decision with [`datamgmt_abi::decide`], and only then writes the release to the
//! outbox that [`crate::releases`] records on chain, and sends. A paid receipt buys one
//! release, and only once its payment is final: the outbox refuses a second release on
//! the same receipt before the chain has consumed it. What it sends is the envelope with
//! the recipient's stanza alone: never the custody stanza, never another recipient's.
//! The chunks follow unchanged.
//!
//! [`fetch`] is the other side: the recipient's relay signs the request and reads the
//! answer as a stream.

use crate::chain_reads::{self, ReleaseView};
use crate::error::{ApiError, AppQuery};
use crate::index::KeyRelease;
use crate::peers;
use crate::releases::Written;
use crate::shares::{chain_unavailable, internal, now_ms};
use crate::state::AppState;
use crate::state::Block;
use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, Uri},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use datamgmt_abi::{decide, AccessGrant, AccountId, Decision, DenyReason, ShareId, Timestamp};
use datamgmt_client::chain::{from_abi_account, AccessView, ChainClient, ChainError};
use datamgmt_client::envelope::{EnvelopeError, Header};
use datamgmt_client::p2p::{P2pError, SignedHeaders, FRESHNESS_MS};
use futures::TryStreamExt;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::{ReaderStream, StreamReader};

/// Header with the plaintext's length, sent with an envelope so the recipient can
/// answer with a Content-Length. The recipient holds the owner to it (an answer that
/// does not match is cut short; see [`crate::reading`]).
pub const PLAINTEXT_LENGTH_HEADER: &str = "x-dmn-plaintext-length";

/// The route other nodes call.
pub fn router() -> Router<AppState> {
    Router::new().route("/p2p/envelopes/{share_id}", get(serve_envelope))
}

fn envelope_path(share_id: ShareId) -> String {
    format!("/p2p/envelopes/{share_id}")
}

/// Query parameters of `GET /p2p/envelopes/{share_id}` (covered by the signature).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeParams {
    /// The most plaintext bytes the asker will take: a larger share is refused (413)
    /// before anything is released, so a read refused for its size costs no payment.
    pub max_bytes: Option<u64>,
}

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
    let share_id = crate::shares::parse_share_id(&share_id)?;
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
    let custodial = row.key_version != crate::shares::END_TO_END;
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
    let release =
        KeyRelease { share_id, recipient: caller, released_at: view.access.now, receipt_paid_at };
    // Written down first; then, if a newer block was seen since the decision (the
    // owner's revocation, say), decided again on it, and taken back unless it still
    // allows the release.
    let confirm = {
        let state = state.clone();
        move || async move { still_allowed(&state, share_id, caller, block, receipt_paid_at).await }
    };
    match state.releases().release(state.index(), state.metrics(), release, confirm).await? {
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
    if custodial {
        headers.insert(PLAINTEXT_LENGTH_HEADER, row.plaintext_len.into());
    }
    Ok(response)
}

/// How long a release on a payment waits for the payment's block to be finalized.
const PAYMENT_FINALITY_WAIT: Duration = Duration::from_secs(5);

/// How long one chain read may take: a node that does not answer within it is taken
/// for gone (503), as the connection's heartbeat is about to find (see
/// [`crate::state::LIVENESS`]).
const CHAIN_READ_TIMEOUT: Duration = Duration::from_secs(3);

/// `read`, or a 503 once it has taken [`CHAIN_READ_TIMEOUT`].
async fn bounded<T>(
    read: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    tokio::time::timeout(CHAIN_READ_TIMEOUT, read).await.unwrap_or_else(|_| {
        Err(ApiError::Unavailable {
            dependency: "the chain",
            cause: format!("no answer within {} s", CHAIN_READ_TIMEOUT.as_secs()),
        })
    })
}

/// The chain state a release of `share_id` to `caller` is decided on, and the paid
/// receipt the release would use, once the contract's decision and this relay's
/// re-check agree that `caller` may have it.
///
/// Decided on the newest block this relay has seen, read again while newer blocks
/// arrive ([`chain_reads::at_newest`]), and only if that block is recent: a chain whose
/// newest block is older than `max_view_age_secs` is asked for a new one (a node that
/// seals on demand makes it at once), and releases stop while none comes, so no
/// release is decided on a state its record could not be checked against. What a
/// newer block could change is read again at the node's own best block: a share not
/// found yet, a refusal the recipient or owner may just have lifted (a payment, a new
/// expiry), and a receipt this relay already released on. A payment must be final
/// before it buys a key: one reorganised away would have bought it for nothing.
async fn release_decision(
    state: &AppState,
    share_id: ShareId,
    caller: AccountId,
) -> Result<(Block, Arc<ReleaseView>, Option<Timestamp>), ApiError> {
    let chain = state.chain().client().await?;
    let max_age_ms = state.settings().releases.max_view_age_secs.saturating_mul(1000);
    let (mut refreshed, mut produced) = (false, false);
    loop {
        let chain = &chain;
        let (block, view) = view_at_newest(state, chain, share_id, caller).await?;
        let age_ms = now_ms().saturating_sub(view.access.now);
        if age_ms > max_age_ms {
            if produced {
                return Err(ApiError::Unavailable {
                    dependency: "the chain",
                    cause: format!("its newest block is {} s old", age_ms / 1000),
                });
            }
            produced = true;
            state.chain().produce_block(chain, &state.node().signer, block).await?;
            continue;
        }
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
        if newer_may_differ && !refreshed {
            refreshed = true;
            let best = bounded(state.chain().refresh_best(chain)).await?;
            if best != block {
                continue;
            }
        }
        let receipt_paid_at = outcome?;
        if let Some(paid_at) = receipt_paid_at {
            payment_final(chain, share_id, &caller, paid_at).await?;
        }
        return Ok((block, view, receipt_paid_at));
    }
}

/// What a release of `share_id` to `caller` is decided on, read at the newest block
/// this relay has seen (and again while newer ones arrive: [`chain_reads::at_newest`]),
/// with that block.
async fn view_at_newest(
    state: &AppState,
    chain: &ChainClient,
    share_id: ShareId,
    caller: AccountId,
) -> Result<(Block, Arc<ReleaseView>), ApiError> {
    let read = chain_reads::at_newest(
        || state.chain().newest(chain),
        |block| async move {
            state
                .reads()
                .release_view(chain, block, share_id, caller)
                .await
                .map_err(chain_unavailable)
        },
    );
    bounded(read).await?.ok_or_else(|| ApiError::Unavailable {
        dependency: "the chain",
        cause: "blocks arrive faster than this relay can read them".into(),
    })
}

/// Whether a release decided on block `decided` may still leave: if a newer block has
/// been seen since, decided again on the newest, which must allow it with the same paid
/// receipt (if any). The refusal otherwise.
async fn still_allowed(
    state: &AppState,
    share_id: ShareId,
    caller: AccountId,
    decided: Block,
    paid_at: Option<Timestamp>,
) -> Result<(), ApiError> {
    if state.chain().newest_known() == Some(decided) {
        return Ok(());
    }
    let chain = state.chain().client().await?;
    let (_, view) = view_at_newest(state, &chain, share_id, caller).await?;
    if check_decision(&view.access, share_id, &caller)? != paid_at {
        return Err(ApiError::Conflict(
            "the payment this release was decided on changed meanwhile; ask again".into(),
        ));
    }
    Ok(())
}

/// Waits (up to [`PAYMENT_FINALITY_WAIT`]) until `caller`'s receipt paid at `paid_at`
/// is in a finalized block and still unused there.
async fn payment_final(
    chain: &ChainClient,
    share_id: ShareId,
    caller: &AccountId,
    paid_at: Timestamp,
) -> Result<(), ApiError> {
    let deadline = tokio::time::Instant::now() + PAYMENT_FINALITY_WAIT;
    loop {
        let receipt = bounded(async {
            let (_, finalized) = chain.finalized_block().await.map_err(chain_unavailable)?;
            match chain.receipt_at(share_id, caller, finalized).await {
                Ok(receipt) => Ok(receipt),
                // The contract (or the share) came after the finalized block.
                Err(ChainError::Dispatch(_) | ChainError::Reverted(_) | ChainError::Decode(_)) => {
                    Ok(None)
                }
                Err(error) => Err(chain_unavailable(error)),
            }
        })
        .await?;
        if receipt.is_some_and(|r| r.paid_at == paid_at && r.releases_left > 0) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Conflict(
                "the payment for this share is not final yet; ask again in a few seconds".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
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

/// Asks the relay of `owner` for the envelope of `share_id`, signed as this node; with
/// `max_bytes`, the owner refuses (413) a larger share before it releases anything.
///
/// The owner's endpoint comes from the chain, so it is called only as
/// [`crate::peers`] allows: checked URL, no redirects, bounded waits, and at most a few
/// kilobytes of a refusal read.
pub async fn fetch(
    state: &AppState,
    owner: &AccountId,
    share_id: ShareId,
    max_bytes: Option<u64>,
) -> Result<FetchedEnvelope, ApiError> {
    let chain = state.chain().client().await?;
    let owner_node = bounded(async {
        let block = state.chain().newest(&chain).await?;
        state.reads().node(&chain, block, *owner).await.map_err(chain_unavailable)
    })
    .await?;
    let owner_id = datamgmt_client::chain::node_id_of(&from_abi_account(owner));
    let owner_node = owner_node.ok_or_else(|| {
        ApiError::BadGateway(format!("the sharing node {owner_id} is no longer registered"))
    })?;
    let base = peers::check_endpoint(&owner_node.endpoint, state.peers().policy())
        .map_err(|error| ApiError::BadGateway(format!("the sharing node {owner_id}: {error}")))?;
    let path = envelope_path(share_id);
    let query = max_bytes.map(|max| format!("max_bytes={max}"));
    let signed_path = match &query {
        Some(query) => format!("{path}?{query}"),
        None => path.clone(),
    };
    let signed = SignedHeaders::sign(&state.node().signer, "GET", &signed_path, b"", now_ms());
    let mut request = state.peers().request(peers::join(&base, &path, query.as_deref()));
    for (name, value) in signed.to_pairs() {
        request = request.header(name, value);
    }
    let unreachable =
        |cause: String| ApiError::Unavailable { dependency: "the sharing node", cause };
    let response = state.peers().send(request).await.map_err(|e| unreachable(e.to_string()))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(ApiError::BadGateway(format!(
            "the sharing node {owner_id} answered {status} (redirects are not followed)"
        )));
    }
    if !status.is_success() {
        let body = peers::error_body(response).await;
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|body| body["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "no reason given".to_owned());
        let message: String = message.chars().take(500).collect();
        return Err(match status.as_u16() {
            403 => ApiError::AccessDenied(format!("the sharing node refused: {message}")),
            404 => ApiError::NotFound(format!("the sharing node has no such share: {message}")),
            409 => ApiError::Conflict(format!("the sharing node said: {message}")),
            413 => ApiError::DataTooLarge(format!("the sharing node said: {message}")),
            429 => ApiError::TooManyRequests {
                what: format!("reads from {owner_id}: {message}"),
                retry_after: Duration::from_secs(1),
            },
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
