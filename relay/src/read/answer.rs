//! Answering with plaintext that is checked before it completes: whole in JSON, or
//! streamed with its last piece held back until the hash is known.

use crate::error::{internal, ApiError};
use crate::share::create::PARALLELISM;
use crate::time::rfc3339;
use datamgmt_client::api::DataResponse;

use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use datamgmt_abi::{AccountId, DataHash, NodeId, ShareId, Timestamp};
use datamgmt_client::chain::{from_abi_account, node_id_of};
use datamgmt_client::envelope::{self, EnvelopeError, Header};
use datamgmt_client::keys::DataKey;
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
pub(crate) const PIECE: usize = 256 << 10;

/// Pieces buffered between decryption and a streamed response.
pub(crate) const PIECES_AHEAD: usize = 2;

/// Header naming the node whose share a streamed answer comes from.
pub const SENDER_HEADER: &str = "x-dmn-sender";

/// An envelope ready to decrypt, and what the answer says about it.
pub(crate) struct Opened {
    pub(crate) share_id: ShareId,
    pub(crate) owner: AccountId,
    pub(crate) shared_at: Timestamp,
    pub(crate) plaintext_len: Option<u64>,
    pub(crate) header: Header,
    pub(crate) data_key: DataKey,
    pub(crate) chunks: Box<dyn AsyncRead + Send + Unpin>,
}

/// Why one candidate's data was not answered, from its decryption's error.
pub(crate) fn decrypt_failure(sender: NodeId, error: EnvelopeError) -> ApiError {
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

pub(crate) fn mismatch(sender: NodeId, data_hash: DataHash) -> ApiError {
    ApiError::BadGateway(format!("the data {sender} sent does not hash to {data_hash}"))
}

/// The plaintext inside the seed's JSON answer, once all of it checks out.
pub(crate) async fn json_plaintext(
    opened: Opened,
    data_hash: DataHash,
) -> Result<Response, ApiError> {
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
    Ok(axum::Json(DataResponse {
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
pub(crate) async fn stream_plaintext(
    opened: Opened,
    data_hash: DataHash,
) -> Result<Response, ApiError> {
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
}
