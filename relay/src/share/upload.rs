//! A request body as the envelope writer reads it: bounded by the object size limit, and
//! its failures told apart (too large: 413; broken off: 400; storage: 503).

use crate::error::{storage_unavailable, ApiError};
use datamgmt_client::envelope::{self};
use futures::TryStreamExt;
use tokio::io::AsyncRead;
use tokio_util::io::StreamReader;

/// A request body as a reader that refuses more than the object size limit.
pub fn limited_body(body: axum::body::Body, limit: u64) -> impl AsyncRead + Unpin {
    let body = body.into_data_stream().map_err(|e| std::io::Error::other(BodyError(e.to_string())));
    LimitedReader { inner: StreamReader::new(body), left: limit }
}

/// After a refused raw-body share, reads what is left of the body (up to
/// [`DRAIN_ON_REFUSAL`] bytes; not after an oversized upload or a server fault) so the

#[derive(Debug, thiserror::Error)]
#[error("the upload was interrupted: {0}")]
struct BodyError(String);

/// The upload went past `max_object_bytes`.
#[derive(Debug, thiserror::Error)]
#[error("the object is larger than this relay accepts")]
struct TooLarge;

/// A reader that fails with [`TooLarge`] past `left` bytes, so an oversized upload is
/// aborted while it streams rather than stored.
struct LimitedReader<R> {
    inner: R,
    left: u64,
}

impl<R: AsyncRead + Unpin> AsyncRead for LimitedReader<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        match self.left.checked_sub(read) {
            Some(left) => {
                self.left = left;
                poll
            }
            None => std::task::Poll::Ready(Err(std::io::Error::other(TooLarge))),
        }
    }
}

/// The HTTP answer to an envelope that could not be written.
pub(crate) fn upload_failure(error: envelope::EnvelopeError) -> ApiError {
    if let envelope::EnvelopeError::Io(io) = &error {
        if let Some(inner) = io.get_ref() {
            if inner.is::<TooLarge>() {
                return ApiError::PayloadTooLarge;
            }
            if inner.is::<BodyError>() {
                return ApiError::BadRequest(inner.to_string());
            }
        }
    }
    storage_unavailable(error)
}
