//! The recipient's side of a release: asking the owner's relay for an envelope, signed
//! as this node, and reading its answer as a stream.

use crate::error::{chain_unavailable, ApiError};
use crate::peers;
use crate::release::decision::bounded;
use crate::state::AppState;
use crate::time::now_ms;

use datamgmt_abi::{AccountId, ShareId};
use datamgmt_client::chain::from_abi_account;
use datamgmt_client::envelope::{EnvelopeError, Header};
use datamgmt_client::p2p::{verify_answer, SignedHeaders, ANSWER_SIGNATURE_HEADER};
use futures::TryStreamExt;
use std::time::Duration;
use tokio::io::AsyncRead;
use tokio_util::io::StreamReader;

/// Header with the plaintext's length, sent with an envelope so the recipient can
/// answer with a Content-Length. The recipient holds the owner to it (an answer that
/// does not match is cut short; see [`crate::read`]).
pub const PLAINTEXT_LENGTH_HEADER: &str = "x-dmn-plaintext-length";

pub(crate) fn envelope_path(share_id: ShareId) -> String {
    format!("/p2p/envelopes/{share_id}")
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
    let answer_signature = response
        .headers()
        .get(ANSWER_SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let stream = response.bytes_stream().map_err(std::io::Error::other);
    let mut chunks = StreamReader::new(stream);
    let header = Header::read(&mut chunks).await.map_err(|error| match error {
        EnvelopeError::Io(error) => unreachable(error.to_string()),
        other => ApiError::BadGateway(format!("the sharing node sent no envelope: {other}")),
    })?;
    // Only what the owner's account signed for this very request is read any further.
    let header_bytes = header
        .bytes_as_read()
        .ok_or_else(|| ApiError::BadGateway("the sharing node sent no envelope".into()))?;
    verify_answer(owner, &signed, &header_bytes, plaintext_len, answer_signature.as_deref())
        .map_err(|error| {
            ApiError::BadGateway(format!(
                "refused the answer of the sharing node {owner_id}: {error}"
            ))
        })?;
    Ok(FetchedEnvelope { header, chunks: Box::new(chunks), plaintext_len })
}
