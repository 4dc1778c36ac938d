//! The HTTP server: connections, their timeouts, and the limits every request meets
//! before a handler sees it.
//!
//! `axum::serve` runs hyper without a timer, so a client could hold a connection open
//! for ever by sending a request's head slowly, or by never reading the answer. Here
//! each connection is served by hyper's HTTP/1.1 server with a timer:
//!
//! - a request's head must arrive within `header_timeout_secs` (which also closes a
//!   kept-alive connection idle that long);
//! - a request body may not stay silent longer than `body_timeout_secs`, and an answer
//!   may not stay unread longer than `write_timeout_secs`;
//! - at most `max_connections` are open: more are closed as soon as they are accepted,
//!   so a flood of half-open connections cannot starve the others;
//! - a request without a streamed body must be answered within
//!   `request_timeout_secs`, and at most `max_in_flight` are answered at once: more get
//!   a 503 at once (`/healthz` and `/metrics` are always answered);
//! - a URI longer than [`MAX_URI`] or a head with more than [`MAX_HEADERS`] headers or
//!   [`MAX_HEAD_BYTES`] bytes is refused (414, 431) in the API's JSON error shape
//!   (hyper itself refuses, without a body, only heads too large for its buffer, many
//!   times these limits).
//!
//! With a TLS acceptor every connection is HTTPS (rustls), its handshake bounded like
//! a request head.
//!
//! On shutdown the listener closes, every connection finishes the request it is
//! answering, and [`serve`] returns once all have ended.

use crate::config::ServerLimits;
use crate::error::ApiError;
use axum::{
    body::Body,
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
    Router,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

/// Longest request URI (path and query) answered.
pub const MAX_URI: usize = 8 << 10;
/// Most request headers answered.
pub const MAX_HEADERS: usize = 100;
/// Most bytes of request headers answered.
pub const MAX_HEAD_BYTES: usize = 32 << 10;
/// hyper's own read buffer: heads past it are refused by hyper with a bare 431.
const HYPER_BUFFER: usize = 256 << 10;
/// hyper's own header count limit, past [`MAX_HEADERS`] so that ours answers first.
const HYPER_MAX_HEADERS: usize = 512;
/// How long shutdown waits for connections to finish their requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` under `limits` until `shutdown` completes, then lets
/// every connection finish the request it is answering. With `tls`, every connection
/// is HTTPS: its handshake must finish within `header_timeout_secs`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing, _) = tokio::sync::watch::channel(());
    let tracker = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, or a connection reset before it was
                // accepted: wait a moment rather than spin.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(limit = limits.max_connections, "too many connections; closing one");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let stream = WriteStallTimeout::new(stream, Duration::from_secs(limits.write_timeout_secs));
        let router = router.clone();
        let closed = closing.subscribe();
        let tls = tls.clone();
        tracker.spawn(async move {
            match tls {
                None => serve_connection(stream, router, limits, closed).await,
                Some(acceptor) => {
                    let handshake = Duration::from_secs(limits.header_timeout_secs);
                    match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(stream, router, limits, closed).await,
                        Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    closing.send_replace(());
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace period; leaving them");
    }
    Ok(())
}

/// Serves one connection (plain or TLS) with hyper's HTTP/1.1 server under `limits`,
/// finishing its request in progress once `closed` says the server stops.
async fn serve_connection<S>(
    stream: S,
    router: Router,
    limits: ServerLimits,
    mut closed: tokio::sync::watch::Receiver<()>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(
        router.into_service::<hyper::body::Incoming>(),
    );
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_timeout_secs))
        .max_buf_size(HYPER_BUFFER)
        .max_headers(HYPER_MAX_HEADERS);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended");
            }
        }
        // Only ever set once, after the last connection was accepted.
        _ = closed.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Requests answered at once, shared by the middleware.
#[derive(Clone)]
pub struct InFlight {
    slots: Arc<Semaphore>,
    request_timeout: Duration,
}

impl InFlight {
    /// Limits from the configuration.
    pub fn new(limits: &ServerLimits) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            request_timeout: Duration::from_secs(limits.request_timeout_secs),
        }
    }
}

/// Middleware: refuses oversized heads, sheds load past `max_in_flight`, and bounds the
/// time to answer a request whose body is not a stream.
pub async fn limit_requests(
    State(in_flight): State<InFlight>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(refusal) = check_head(&request) {
        return refusal.into_response();
    }
    let path = request.uri().path();
    if matches!(path, "/healthz" | "/metrics") {
        return next.run(request).await;
    }
    let Ok(_slot) = in_flight.slots.clone().try_acquire_owned() else {
        return ApiError::Unavailable {
            dependency: "this relay",
            cause: "too many requests in flight".into(),
        }
        .into_response();
    };
    if streams_its_body(&request) {
        return next.run(request).await;
    }
    match tokio::time::timeout(in_flight.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable {
            dependency: "this relay",
            cause: format!(
                "the request took longer than {} s",
                in_flight.request_timeout.as_secs()
            ),
        }
        .into_response(),
    }
}

fn check_head(request: &Request) -> Result<(), ApiError> {
    let uri_len = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI {
        return Err(ApiError::UriTooLong(format!(
            "the request URI is {uri_len} bytes; this relay takes at most {MAX_URI}"
        )));
    }
    let headers = request.headers();
    if headers.len() > MAX_HEADERS {
        return Err(ApiError::HeadersTooLarge(format!(
            "the request has {} headers; this relay takes at most {MAX_HEADERS}",
            headers.len()
        )));
    }
    let bytes: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if bytes > MAX_HEAD_BYTES {
        return Err(ApiError::HeadersTooLarge(format!(
            "the request headers are {bytes} bytes; this relay takes at most {MAX_HEAD_BYTES}"
        )));
    }
    Ok(())
}

/// Uploads of raw bytes (the two share routes, with exactly that media type) take as
/// long as their body does: bounded by the body timeout between reads, not by a total.
fn streams_its_body(request: &Request) -> bool {
    request.method() == axum::http::Method::POST
        && matches!(request.uri().path(), "/share_data" | "/share_envelope")
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/octet-stream"))
}

/// The answer to a path no route matches.
pub async fn no_route(request: Request<Body>) -> ApiError {
    ApiError::NotFound(format!("no route for {}", truncated(request.uri().path())))
}

/// The answer to a method a route does not take.
pub async fn wrong_method(request: Request<Body>) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        request.method(),
        truncated(request.uri().path())
    ))
}

fn truncated(path: &str) -> String {
    path.chars().take(200).collect()
}

/// A stream whose writes fail once one has waited longer than `limit`: a client that
/// stops reading its answer cannot hold the connection (and what feeds it) for ever.
struct WriteStallTimeout<S> {
    inner: S,
    limit: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteStallTimeout<S> {
    fn new(inner: S, limit: Duration) -> Self {
        Self { inner, limit, stalled: None }
    }

    /// A write's outcome, with the stall timer: progress resets it, `Pending` stays
    /// pending until the limit and is then a timeout error.
    fn timed<T>(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if written.is_ready() {
            self.stalled = None;
            return written;
        }
        let limit = self.limit;
        let stalled = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteStallTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteStallTimeout<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.timed(cx, written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.timed(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_write_that_stalls_past_the_limit_fails() {
        // A pipe nobody reads: its buffer fills, then writes wait.
        let (writer, _reader) = tokio::io::duplex(1024);
        let mut stalled = WriteStallTimeout::new(writer, Duration::from_millis(100));
        let started = std::time::Instant::now();
        let error = stalled.write_all(&[0; 4096]).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn oversized_heads_are_refused_in_the_api_shape() {
        let long = format!("/data/{}", "a".repeat(MAX_URI));
        let request = Request::get(long).body(Body::empty()).unwrap();
        assert!(matches!(check_head(&request), Err(ApiError::UriTooLong(_))));
        let mut many = Request::get("/healthz");
        for n in 0..=MAX_HEADERS {
            many = many.header(format!("x-{n}"), "1");
        }
        assert!(matches!(
            check_head(&many.body(Body::empty()).unwrap()),
            Err(ApiError::HeadersTooLarge(_))
        ));
        let big = Request::get("/healthz")
            .header("x-big", "b".repeat(MAX_HEAD_BYTES))
            .body(Body::empty())
            .unwrap();
        assert!(matches!(check_head(&big), Err(ApiError::HeadersTooLarge(_))));
        assert!(check_head(&Request::get("/healthz").body(Body::empty()).unwrap()).is_ok());
    }
}
