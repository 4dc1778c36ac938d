//! `GET /data/{hash}`: the data back, decrypted, and only if it hashes to what was
//! asked for.
//!
//! The node that shared the data opens the custody stanza of its own envelope. A
//! recipient node finds the shares made to it in its index of chain events and asks
//! each owner's relay in turn ([`crate::p2p::fetch`]), which releases the envelope only
//! as the contract allows, and opens its own stanza with its X25519 key.
//!
//! Any registered node can share *some* envelope with this node under *any* data hash
//! (the hash is the sharer's word), so what comes back is checked: the plaintext's
//! SHA-256 must be the hash asked for, or the answer never completes.
//!
//! - The candidates are this node's own share first, then the shares made to it, the
//!   oldest first (an impostor shares a hash only once it is public, after the genuine
//!   share); `?sender=node_…` names the one to read. A candidate that fails in any way
//!   (refused, unreachable, too large, or data that does not match) is skipped for the
//!   next, and if none succeeds the answer says what each sender said.
//! - JSON answers are assembled whole (at most [`MAX_JSON_DATA`]) and only then checked
//!   and sent.
//! - Streamed answers hold back their last piece until the whole plaintext has been
//!   checked: data that does not match ends the response short of its length (or
//!   without the final chunk of a chunked body), which every HTTP client reports as
//!   an error. Data small enough to fit in the held-back piece is checked before the
//!   response starts, so it can still move on to the next candidate.

use crate::auth::{Caller, Role};
use crate::error::{ApiError, AppJson, AppQuery};
use crate::shares::{internal, parse_data_hash, rfc3339, wants_octet_stream, PARALLELISM};
use crate::state::AppState;
use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use bytes::Bytes;
use datamgmt_abi::{AccountId, DataHash, NodeId, ShareId, Timestamp};
use datamgmt_client::chain::{from_abi_account, node_id_of};
use datamgmt_client::envelope::{self, EnvelopeError, Header};
use datamgmt_client::keys::DataKey;
use serde::{Deserialize, Serialize};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::PollSender;

/// Largest object `GET /data/{hash}` returns inside JSON (larger ones stream with
/// `Accept: application/octet-stream`).
pub const MAX_JSON_DATA: u64 = 16 << 20;
/// Plaintext bytes per piece of a streamed answer; the last piece is held back until
/// the whole plaintext is checked.
const PIECE: usize = 256 << 10;
/// Pieces buffered between decryption and a streamed response.
const PIECES_AHEAD: usize = 2;
/// Shares of one hash tried for one read, at most: anyone can share any hash with this
/// node, so their number is the sharers' choice.
const MAX_CANDIDATES: usize = 16;
/// How long one candidate may take until its answer is decided (whole for JSON, the
/// first piece for a stream): a slow sharer does not keep the others from being tried.
const CANDIDATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
/// Header naming the node whose share a streamed answer comes from.
pub const SENDER_HEADER: &str = "x-dmn-sender";

/// The reading route.
pub fn router() -> Router<AppState> {
    Router::new().route("/data/{hash}", get(get_data))
}

/// Query parameters of `GET /data/{hash}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    /// Read only the share this node (node id or SS58 account) made.
    pub sender: Option<String>,
}

/// `GET /data/{hash}`: the data, for the node that shared it or the one it was shared
/// with.
#[derive(Debug, Serialize, Deserialize)]
pub struct DataResponse {
    /// The data (UTF-8 text, or base64 when `encoding` says so).
    pub data: String,
    /// `utf-8` or `base64`.
    pub encoding: String,
    /// The sharing node's id.
    pub sender: NodeId,
    /// When it was shared (RFC 3339).
    pub timestamp: String,
    /// Whether the decrypted data hashes to the requested hash (always true: data
    /// that does not is never answered).
    pub verified: bool,
}

/// A share the data may be read from.
struct Candidate {
    share_id: ShareId,
    owner: AccountId,
    shared_at: Timestamp,
    /// For this node's own share (opened with its custody stanza), its plaintext length
    /// from the index; `None` for a share made to this node.
    own_plaintext_len: Option<u64>,
}

/// An envelope ready to decrypt, and what the answer says about it.
struct Opened {
    share_id: ShareId,
    owner: AccountId,
    shared_at: Timestamp,
    plaintext_len: Option<u64>,
    header: Header,
    data_key: DataKey,
    chunks: Box<dyn AsyncRead + Send + Unpin>,
}

async fn get_data(
    State(state): State<AppState>,
    caller: Caller,
    Path(hash): Path<String>,
    AppQuery(params): AppQuery<ReadParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(Role::User)?;
    let data_hash = parse_data_hash(&hash)?;
    let sender = params.sender.as_deref().map(parse_sender).transpose()?;
    let streaming = wants_octet_stream(&headers, header::ACCEPT);
    let candidates = candidates(&state, data_hash, sender).await?;
    if candidates.is_empty() {
        let from = sender.map(|node| format!(" from {node}")).unwrap_or_default();
        return Err(ApiError::NotFound(format!("no data with hash {data_hash}{from} here")));
    }
    let mut failures = Vec::new();
    for candidate in candidates.into_iter().take(MAX_CANDIDATES) {
        let sender = node_id_of(&from_abi_account(&candidate.owner));
        let reading = read(&state, &candidate, data_hash, streaming);
        let outcome = tokio::time::timeout(CANDIDATE_TIMEOUT, reading).await.unwrap_or_else(|_| {
            Err(ApiError::Unavailable {
                dependency: "the sharing node",
                cause: format!("no answer within {} s", CANDIDATE_TIMEOUT.as_secs()),
            })
        });
        match outcome {
            Ok(response) => return Ok(response),
            Err(error) => {
                tracing::info!(share_id = %candidate.share_id, %sender, %error, "share not read");
                failures.push((sender, error));
            }
        }
    }
    Err(no_candidate_read(failures))
}

fn parse_sender(text: &str) -> Result<NodeId, ApiError> {
    match crate::shares::parse_recipient(text) {
        Ok(crate::shares::Recipient::Node(node)) => Ok(node),
        Ok(crate::shares::Recipient::Account(account)) => {
            Ok(node_id_of(&from_abi_account(&account)))
        }
        Err(_) => Err(ApiError::BadRequest(
            "`sender` must be a node id (node_ and 12 hex characters) or an SS58 account".into(),
        )),
    }
}

/// This node's own share of the data (the newest it can open), then the shares made to
/// it, oldest first; only `sender`'s when named.
async fn candidates(
    state: &AppState,
    data_hash: DataHash,
    sender: Option<NodeId>,
) -> Result<Vec<Candidate>, ApiError> {
    let own = state.node().account();
    let from_sender =
        |owner: &AccountId| sender.is_none_or(|node| node_id_of(&from_abi_account(owner)) == node);
    let mut candidates = Vec::new();
    if from_sender(&own) {
        let rows = state.index().by_hash(data_hash).await?;
        let mine: Vec<_> = rows.into_iter().filter(|row| row.owner == own).collect();
        match mine.iter().find(|row| row.key_version != crate::shares::END_TO_END) {
            Some(row) => candidates.push(Candidate {
                share_id: row.share_id,
                owner: own,
                shared_at: row.created_at,
                own_plaintext_len: Some(row.plaintext_len),
            }),
            None if !mine.is_empty() => {
                return Err(ApiError::Conflict(
                    "this share was encrypted end to end by its sharer: this relay stores it \
                     but cannot open it, and the sharer keeps the plaintext"
                        .into(),
                ))
            }
            None => {}
        }
    }
    let mut received = state.index().received(data_hash, &own).await?;
    received.reverse();
    candidates.extend(received.into_iter().filter(|e| from_sender(&e.event.owner)).map(|e| {
        Candidate {
            share_id: e.event.share_id,
            owner: e.event.owner,
            shared_at: e.event.at,
            own_plaintext_len: None,
        }
    }));
    Ok(candidates)
}

/// The answer from one candidate, checked against `data_hash`.
async fn read(
    state: &AppState,
    candidate: &Candidate,
    data_hash: DataHash,
    streaming: bool,
) -> Result<Response, ApiError> {
    let json_limit = (!streaming).then_some(MAX_JSON_DATA);
    let opened = match candidate.own_plaintext_len {
        Some(plaintext_len) => open_own(state, candidate, plaintext_len, json_limit).await?,
        None => open_received(state, candidate, json_limit).await?,
    };
    if streaming {
        stream_plaintext(opened, data_hash).await
    } else {
        json_plaintext(opened, data_hash).await
    }
}

/// The envelope of a share this node made, opened with its custody stanza.
async fn open_own(
    state: &AppState,
    candidate: &Candidate,
    plaintext_len: u64,
    limit: Option<u64>,
) -> Result<Opened, ApiError> {
    if let Some(limit) = limit.filter(|limit| plaintext_len > *limit) {
        return Err(too_large_for_json(plaintext_len, limit));
    }
    let (mut reader, _) = state.store().download(candidate.share_id).await?;
    let header = Header::read(&mut reader).await.map_err(internal)?;
    let data_key = {
        let keyring = state.node().keyring.read().await;
        header.open_custody(&keyring).map_err(internal)?
    };
    Ok(Opened {
        share_id: candidate.share_id,
        owner: candidate.owner,
        shared_at: candidate.shared_at,
        plaintext_len: Some(plaintext_len),
        header,
        data_key,
        chunks: Box::new(reader),
    })
}

/// The envelope of a share made to this node, fetched from its owner's relay and
/// opened with this node's X25519 key. With `limit`, the owner refuses a larger share
/// before it releases anything.
async fn open_received(
    state: &AppState,
    candidate: &Candidate,
    limit: Option<u64>,
) -> Result<Opened, ApiError> {
    let fetched = crate::p2p::fetch(state, &candidate.owner, candidate.share_id, limit).await?;
    if let Some((len, limit)) = fetched.plaintext_len.zip(limit).filter(|(len, max)| len > max) {
        return Err(too_large_for_json(len, limit));
    }
    let data_key = {
        let keyring = state.node().keyring.read().await;
        fetched.header.open_recipient(&keyring).map_err(|e| {
            ApiError::BadGateway(format!(
                "the sharing node sent an envelope this node cannot open: {e}"
            ))
        })?
    };
    Ok(Opened {
        share_id: candidate.share_id,
        owner: candidate.owner,
        shared_at: candidate.shared_at,
        plaintext_len: fetched.plaintext_len,
        header: fetched.header,
        data_key,
        chunks: fetched.chunks,
    })
}

fn too_large_for_json(len: u64, limit: u64) -> ApiError {
    ApiError::DataTooLarge(format!(
        "the data is {len} bytes; JSON answers carry at most {limit}: ask with \
         `Accept: application/octet-stream` to stream it"
    ))
}

/// Why one candidate's data was not answered, from its decryption's error.
fn decrypt_failure(sender: NodeId, error: EnvelopeError) -> ApiError {
    match error {
        EnvelopeError::Io(error) if error.get_ref().is_some_and(|e| e.is::<TooMuchData>()) => {
            ApiError::DataTooLarge(format!(
                "the data from {sender} is larger than the {MAX_JSON_DATA} bytes JSON \
                 answers carry: ask with `Accept: application/octet-stream`"
            ))
        }
        EnvelopeError::Io(error) if error.get_ref().is_some_and(|e| e.is::<LengthMismatch>()) => {
            ApiError::BadGateway(format!("the data from {sender} is longer than it announced"))
        }
        EnvelopeError::Io(error) => {
            ApiError::Unavailable { dependency: "the envelope's source", cause: error.to_string() }
        }
        other => ApiError::BadGateway(format!("the data from {sender} failed to decrypt: {other}")),
    }
}

fn mismatch(sender: NodeId, data_hash: DataHash) -> ApiError {
    ApiError::BadGateway(format!("the data {sender} sent does not hash to {data_hash}"))
}

/// The plaintext inside the seed's JSON answer, once all of it checks out.
async fn json_plaintext(opened: Opened, data_hash: DataHash) -> Result<Response, ApiError> {
    let sender = node_id_of(&from_abi_account(&opened.owner));
    // The length may be a peer's word: reserve little, grow as data arrives.
    let capacity = opened.plaintext_len.unwrap_or_default().min(1 << 20) as usize;
    let mut data = BoundedBuffer { bytes: Vec::with_capacity(capacity), limit: MAX_JSON_DATA };
    let summary =
        envelope::decrypt(opened.chunks, &mut data, &opened.header, &opened.data_key, PARALLELISM)
            .await
            .map_err(|error| decrypt_failure(sender, error))?;
    if summary.content_hash != data_hash {
        tracing::error!(share_id = %opened.share_id, %sender, "data does not match its hash");
        return Err(mismatch(sender, data_hash));
    }
    let (data, encoding) = match String::from_utf8(data.bytes) {
        Ok(text) => (text, "utf-8"),
        Err(bytes) => {
            use base64::Engine as _;
            (base64::engine::general_purpose::STANDARD.encode(bytes.into_bytes()), "base64")
        }
    };
    Ok(AppJson(DataResponse {
        data,
        encoding: encoding.to_owned(),
        sender,
        timestamp: rfc3339(opened.shared_at),
        verified: true,
    })
    .into_response())
}

/// How a streamed decryption ended, as its task reports it.
enum Decrypted {
    /// The whole plaintext fit in the held-back piece: it is here, not sent yet.
    Whole { plaintext: Option<Bytes>, outcome: Result<DataHash, EnvelopeError> },
    /// Pieces were sent: the response is streaming, and its end was settled by the task.
    Streaming,
}

/// The plaintext as a raw stream, decrypted chunk by chunk, its last piece held back
/// until the whole is checked against `data_hash`.
async fn stream_plaintext(opened: Opened, data_hash: DataHash) -> Result<Response, ApiError> {
    let Opened { share_id, owner, plaintext_len, header, data_key, chunks, .. } = opened;
    let sender = node_id_of(&from_abi_account(&owner));
    let (pieces, body) = mpsc::channel::<Result<Bytes, std::io::Error>>(PIECES_AHEAD);
    let (started, streaming) = oneshot::channel::<()>();
    let decryption = tokio::spawn(async move {
        let mut writer = HoldBack::new(pieces, started, plaintext_len);
        let outcome = envelope::decrypt(chunks, &mut writer, &header, &data_key, PARALLELISM)
            .await
            .map(|summary| summary.content_hash);
        if !writer.has_sent() {
            return Decrypted::Whole { plaintext: writer.held.take(), outcome };
        }
        let failure = match &outcome {
            Ok(_) if !writer.is_complete() => {
                Some("the data is not as long as its Content-Length".to_owned())
            }
            Ok(hash) if *hash == data_hash => None,
            Ok(_) => Some("the data does not hash to the hash asked for".to_owned()),
            Err(error) => Some(error.to_string()),
        };
        match failure {
            None => writer.finish().await,
            Some(why) => {
                tracing::error!(%share_id, %sender, why, "streamed data cut before its end");
                writer.abort(why).await;
            }
        }
        Decrypted::Streaming
    });
    let mut decryption = decryption;
    // The first piece sent means streaming; the sender dropped without it (the task is
    // ending) means the task's own answer decides.
    let decrypted = tokio::select! {
        biased;
        finished = &mut decryption => {
            finished.map_err(|e| internal(format!("decryption task: {e}")))?
        }
        Ok(()) = streaming => Decrypted::Streaming,
    };
    let mut response = match decrypted {
        Decrypted::Streaming => {
            let mut body = body;
            let stream = futures::stream::poll_fn(move |cx| body.poll_recv(cx));
            let mut response = axum::body::Body::from_stream(stream).into_response();
            if let Some(len) = plaintext_len {
                response.headers_mut().insert(header::CONTENT_LENGTH, len.into());
            }
            response
        }
        Decrypted::Whole { plaintext, outcome } => {
            match outcome.map_err(|error| decrypt_failure(sender, error))? {
                // Sent with its own length, whatever the peer announced.
                hash if hash == data_hash => plaintext.unwrap_or_default().into_response(),
                _ => {
                    tracing::error!(%share_id, %sender, "data does not match its hash");
                    return Err(mismatch(sender, data_hash));
                }
            }
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(
        header::HeaderName::from_static("x-content-sha256"),
        HeaderValue::from_str(&data_hash.to_string()).expect("hash text is a header value"),
    );
    headers.insert(
        SENDER_HEADER,
        HeaderValue::from_str(&sender.to_string()).expect("a node id is a header value"),
    );
    Ok(response)
}

/// A writer that passes plaintext on in pieces of at most [`PIECE`] bytes, always
/// keeping the latest piece back: nothing but [`finish`](Self::finish) sends it, so a
/// reader gets the end of the data only once it has been checked.
///
/// With a Content-Length the response ends when that many bytes are sent, whatever
/// follows, so the length (a peer's word, for a received share) is held to as well:
/// more data than announced fails the write at once, while the held piece is still
/// unsent, and less is caught by [`is_complete`](Self::is_complete). Either way the
/// reader gets fewer bytes than announced: an incomplete response.
struct HoldBack {
    pieces: PollSender<Result<Bytes, std::io::Error>>,
    held: Option<Bytes>,
    started: Option<oneshot::Sender<()>>,
    /// The Content-Length the response announces, if any.
    announced: Option<u64>,
    /// Bytes taken so far (sent and held).
    taken: u64,
}

impl HoldBack {
    fn new(
        pieces: mpsc::Sender<Result<Bytes, std::io::Error>>,
        started: oneshot::Sender<()>,
        announced: Option<u64>,
    ) -> Self {
        let pieces = PollSender::new(pieces);
        Self { pieces, held: None, started: Some(started), announced, taken: 0 }
    }

    fn has_sent(&self) -> bool {
        self.started.is_none()
    }

    /// Whether exactly the announced length (if any) was taken.
    fn is_complete(&self) -> bool {
        self.announced.is_none_or(|announced| announced == self.taken)
    }

    /// Sends the held-back piece: the data checked out.
    async fn finish(mut self) {
        if let (Some(piece), Some(sender)) = (self.held.take(), self.pieces.get_ref()) {
            let _ = sender.send(Ok(piece)).await;
        }
    }

    /// Ends the response with an error instead of its last piece.
    async fn abort(mut self, why: String) {
        self.held = None;
        if let Some(sender) = self.pieces.get_ref() {
            let _ = sender.send(Err(std::io::Error::other(why))).await;
        }
    }
}

impl AsyncWrite for HoldBack {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let taken = buf.len().min(PIECE);
        if self.announced.is_some_and(|announced| self.taken + taken as u64 > announced) {
            return Poll::Ready(Err(std::io::Error::other(LengthMismatch)));
        }
        if self.held.is_some() {
            match self.pieces.poll_reserve(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::BrokenPipe,
                        "the reader went away",
                    )))
                }
                Poll::Ready(Ok(())) => {
                    let piece = self.held.take().expect("checked above");
                    if self.pieces.send_item(Ok(piece)).is_err() {
                        return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
                    }
                    if let Some(started) = self.started.take() {
                        let _ = started.send(());
                    }
                }
            }
        }
        self.held = Some(Bytes::copy_from_slice(&buf[..taken]));
        self.taken += taken as u64;
        Poll::Ready(Ok(taken))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// More plaintext than the sending node announced.
#[derive(Debug, thiserror::Error)]
#[error("more data than announced")]
struct LengthMismatch;

/// More plaintext than a JSON answer may carry.
#[derive(Debug, thiserror::Error)]
#[error("more data than a JSON answer carries")]
struct TooMuchData;

/// A buffer that refuses to grow past `limit` bytes.
struct BoundedBuffer {
    bytes: Vec<u8>,
    limit: u64,
}

impl AsyncWrite for BoundedBuffer {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if (self.bytes.len() + buf.len()) as u64 > self.limit {
            return Poll::Ready(Err(std::io::Error::other(TooMuchData)));
        }
        self.bytes.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The answer when no candidate could be read: the most useful of their errors (what
/// the caller can act on first), with what every sender said.
fn no_candidate_read(failures: Vec<(NodeId, ApiError)>) -> ApiError {
    let rank = |error: &ApiError| match error {
        ApiError::DataTooLarge(_) | ApiError::PayloadTooLarge => 0,
        ApiError::AccessDenied(_) => 1,
        ApiError::TooManyRequests { .. } => 2,
        ApiError::Conflict(_) => 3,
        ApiError::Unavailable { .. } => 4,
        ApiError::BadGateway(_) => 5,
        ApiError::NotFound(_) => 6,
        _ => 7,
    };
    let summary = |failures: &[(NodeId, ApiError)]| {
        failures
            .iter()
            .map(|(sender, error)| format!("{sender}: {error}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if failures.len() == 1 {
        return failures.into_iter().next().expect("one failure").1;
    }
    let detail = summary(&failures);
    let (_, first) = failures
        .into_iter()
        .min_by_key(|(_, error)| rank(error))
        .expect("at least one candidate was tried");
    match first {
        ApiError::DataTooLarge(message) => ApiError::DataTooLarge(format!("{message} ({detail})")),
        ApiError::AccessDenied(_) => ApiError::AccessDenied(detail),
        ApiError::Conflict(_) => ApiError::Conflict(detail),
        ApiError::BadGateway(_) => ApiError::BadGateway(detail),
        ApiError::NotFound(_) => ApiError::NotFound(detail),
        ApiError::Unavailable { dependency, .. } => {
            ApiError::Unavailable { dependency, cause: detail }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn hold_back_sends_the_last_piece_only_when_finished() {
        let (pieces, mut body) = mpsc::channel(8);
        let (started, _) = oneshot::channel();
        let mut writer = HoldBack::new(pieces, started, None);
        writer.write_all(&vec![1; PIECE + 10]).await.unwrap();
        writer.write_all(b"tail").await.unwrap();
        assert!(writer.has_sent());
        let mut received = Vec::new();
        while let Ok(piece) = body.try_recv() {
            received.extend_from_slice(&piece.unwrap());
        }
        assert_eq!(received.len(), PIECE + 10, "the tail is held back");
        writer.finish().await;
        assert_eq!(&body.recv().await.unwrap().unwrap()[..], b"tail");
        assert!(body.recv().await.is_none());
    }

    #[tokio::test]
    async fn hold_back_aborts_instead_of_the_last_piece() {
        let (pieces, mut body) = mpsc::channel(8);
        let (started, _) = oneshot::channel();
        let mut writer = HoldBack::new(pieces, started, None);
        writer.write_all(b"first").await.unwrap();
        writer.write_all(b"last").await.unwrap();
        writer.abort("bad".into()).await;
        assert_eq!(&body.recv().await.unwrap().unwrap()[..], b"first");
        assert!(body.recv().await.unwrap().is_err());
        assert!(body.recv().await.is_none());
    }

    #[tokio::test]
    async fn hold_back_keeps_to_the_announced_length() {
        // Announced 8 bytes, given more: the write that would pass 8 fails, while the
        // last piece taken is still held (the reader has fewer than 8 bytes).
        let (pieces, mut body) = mpsc::channel(8);
        let (started, _) = oneshot::channel();
        let mut writer = HoldBack::new(pieces, started, Some(8));
        writer.write_all(b"12345").await.unwrap();
        writer.write_all(b"678").await.unwrap();
        assert!(writer.write_all(b"9").await.is_err());
        assert_eq!(&body.recv().await.unwrap().unwrap()[..], b"12345");
        assert!(body.try_recv().is_err(), "the piece that reaches the length is held");
        // Given less than announced: not complete.
        let (pieces, _body) = mpsc::channel(8);
        let (started, _) = oneshot::channel();
        let mut short = HoldBack::new(pieces, started, Some(8));
        short.write_all(b"1234").await.unwrap();
        assert!(!short.is_complete());
    }

    #[tokio::test]
    async fn a_bounded_buffer_refuses_to_grow_past_its_limit() {
        let mut buffer = BoundedBuffer { bytes: Vec::new(), limit: 8 };
        buffer.write_all(b"12345678").await.unwrap();
        let error = buffer.write_all(b"9").await.unwrap_err();
        assert!(error.get_ref().unwrap().is::<TooMuchData>());
    }

    #[test]
    fn the_most_useful_refusal_wins_and_names_every_sender() {
        let a: NodeId = "node_aaaaaaaaaaaa".parse().unwrap();
        let c: NodeId = "node_cccccccccccc".parse().unwrap();
        let error = no_candidate_read(vec![
            (c, ApiError::BadGateway("does not hash".into())),
            (a, ApiError::AccessDenied("pay for access".into())),
        ]);
        assert!(matches!(error, ApiError::AccessDenied(_)), "{error:?}");
        let text = error.to_string();
        assert!(text.contains("node_aaaaaaaaaaaa: pay for access"), "{text}");
        assert!(text.contains("node_cccccccccccc: does not hash"), "{text}");
    }
}
