//! [`RelayClient`]: the relay's REST API, one method per route, with typed requests,
//! typed answers and a typed [`RelayError`].

use super::{
    AcknowledgeRequest, Acknowledged, ChangeResponse, ContractInfo, DataResponse, ErrorBody,
    ErrorCode, ExpiryRequest, Health, KeyStatus, ListParams, ListResponse, NodesParams,
    NodesResponse, OutboxParams, OutboxReport, ReadParams, Readiness, RewrapRequest,
    RewrapResponse, RotateRequest, RotateResponse, ShareDataRequest, ShareDataResponse,
    StreamShareParams, VerifyParams, VerifyResponse,
};
use datamgmt_abi::{DataHash, NodeId};
use futures::TryStreamExt;
use reqwest::{header, Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWrite, AsyncWriteExt};
use tokio_util::io::ReaderStream;

/// Bytes read from an upload's source at a time.
const UPLOAD_PIECE: usize = 1 << 20;
/// Most bytes of an unexpected error body kept in [`RelayError::Status`].
const KEPT_ERROR_BODY: usize = 1 << 10;

/// A relay's REST API at `endpoint`, called with a bearer token.
///
/// Every method answers the route's typed answer, or a [`RelayError`]: the relay's own
/// refusal ([`RelayError::Api`], with its [`ErrorCode`]), no answer
/// ([`RelayError::Transport`]), or an answer this client does not understand
/// ([`RelayError::Decode`]). The routes that name a share or a hash in their path take
/// it typed ([`datamgmt_abi::ShareId`], [`DataHash`]) or as text, which is sent
/// percent-encoded for the relay to check (and say what is wrong with it); the data
/// routes take a [`DataHash`], which the download is checked against.
///
/// # Examples
///
/// ```no_run
/// use datamgmt_client::api::{
///     ListParams, ReadParams, RelayClient, RelayError, ShareDataRequest,
/// };
///
/// # async fn example() -> Result<(), RelayError> {
/// let relay = RelayClient::new("http://127.0.0.1:8080", "my-api-token");
///
/// // Share some text with another node.
/// let request = ShareDataRequest::new("quarterly figures", "node_b2c3d4e5f6a1");
/// let shared = relay.share_data(&request).await?;
/// println!("{} recorded in block {}", shared.share_id, shared.compliance.block_number);
///
/// // The newest ten shares.
/// let newest = ListParams { limit: Some("10".into()), ..ListParams::default() };
/// let page = relay.list(&newest).await?;
/// for share in &page.items {
///     println!("{} {} to {}", share.shared_at, share.share_id, share.recipient);
/// }
///
/// // The data back, streamed, and written out only once its SHA-256 matches.
/// let mut data = Vec::new();
/// let got = relay.get_data_to(&shared.data_hash, &ReadParams::default(), &mut data, &()).await?;
/// assert_eq!(got.length, data.len() as u64);
///
/// // A refusal carries the relay's code and message.
/// match relay.revoke(shared.share_id).await {
///     Err(RelayError::Api { code, message, .. }) => eprintln!("refused ({code}): {message}"),
///     other => println!("{other:?}"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RelayClient {
    endpoint: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for RelayClient {
    /// The endpoint only: the token stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayClient").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

/// Everything a [`RelayClient`] call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The relay answered with an error status and its error body.
    #[error("the relay answered {status}: {message}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The relay's code for the error.
        code: ErrorCode,
        /// What the relay said.
        message: String,
    },
    /// An error status without the API's error body: from something in front of the
    /// relay, or from its HTTP server before the relay's code saw the request.
    #[error("the relay answered {status}: no reason given")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The start of the body, as text.
        body: String,
    },
    /// The relay could not be reached, or the connection broke during the exchange.
    #[error("cannot reach the relay at {endpoint}: {}", causes(source))]
    Transport {
        /// The relay's URL.
        endpoint: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// A success answer whose body is not the shape this client knows (a field
    /// renamed, missing or of another type).
    #[error("the relay's answer ({status}) is not what this client understands: {source}")]
    Decode {
        /// The HTTP status.
        status: StatusCode,
        /// Why it does not decode.
        #[source]
        source: serde_json::Error,
    },
    /// Downloaded data does not hash to the hash asked for; none of it was written to
    /// the destination.
    #[error("the data received hashes to {got}, not {expected}; nothing was kept")]
    HashMismatch {
        /// The hash asked for.
        expected: DataHash,
        /// The hash of what arrived.
        got: DataHash,
    },
    /// A download's destination directory cannot be written.
    #[error("cannot write in {}: {source}", dir.display())]
    Destination {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A local read or write failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl RelayError {
    /// The HTTP status of an answer, if there was one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. }
            | Self::Status { status, .. }
            | Self::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The relay's error code, for [`RelayError::Api`].
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Watches the bytes of a download go by (a progress bar, a log line); `()` watches
/// nothing. (An upload's progress is its reader's: wrap the reader.)
pub trait Progress: Send + Sync {
    /// The transfer begins; `total` is its length when the relay announced it.
    fn start(&self, _total: Option<u64>) {}
    /// `bytes` more arrived.
    fn advance(&self, _bytes: u64) {}
    /// Every byte arrived (called before the data is checked).
    fn finish(&self) {}
}

impl Progress for () {}

/// What a streamed download received, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Bytes received, all of which hash to the hash asked for.
    pub length: u64,
    /// The node whose share the data came from, as the relay named it.
    pub sender: Option<NodeId>,
}

/// `error` and every cause under it, joined by ": ": a transport error says only "error
/// sending request" itself, while what a user can act on (a certificate not trusted, a
/// connection refused) is further down.
fn causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        cause = inner.source();
    }
    text
}

impl RelayClient {
    /// A client of the relay at `endpoint` (its base URL) with the API token `token`.
    pub fn new(endpoint: impl Into<String>, token: impl Into<String>) -> Self {
        Self::with_http_client(endpoint, token, reqwest::Client::new())
    }

    /// Like [`new`](Self::new), over a `reqwest` client set up by the caller
    /// (timeouts, proxies, TLS roots).
    pub fn with_http_client(
        endpoint: impl Into<String>,
        token: impl Into<String>,
        http: reqwest::Client,
    ) -> Self {
        let endpoint = endpoint.into().trim_end_matches('/').to_owned();
        Self { endpoint, token: token.into(), http }
    }

    /// The relay's base URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    // Sharing.

    /// `POST /share_data` with JSON: the relay encrypts `request.data` and records the
    /// share on chain.
    pub async fn share_data(
        &self,
        request: &ShareDataRequest,
    ) -> Result<ShareDataResponse, RelayError> {
        self.call(self.request(Method::POST, "/share_data").json(request)).await
    }

    /// `POST /share_data` with the data as a raw body streamed from `data` (never held
    /// in memory here or at the relay); `length`, when known, is sent as its
    /// Content-Length. `params.data_hash` must be `None`.
    pub async fn share_data_stream<R>(
        &self,
        params: &StreamShareParams,
        data: R,
        length: Option<u64>,
    ) -> Result<ShareDataResponse, RelayError>
    where
        R: AsyncRead + Send + 'static,
    {
        self.upload("/share_data", params, data, length).await
    }

    /// `POST /share_envelope`: an envelope encrypted by the sharer for the recipient
    /// alone (end-to-end mode), streamed from `envelope`; `params.data_hash` is the
    /// plaintext's hash, which the relay records as given.
    pub async fn share_envelope<R>(
        &self,
        params: &StreamShareParams,
        envelope: R,
        length: Option<u64>,
    ) -> Result<ShareDataResponse, RelayError>
    where
        R: AsyncRead + Send + 'static,
    {
        self.upload("/share_envelope", params, envelope, length).await
    }

    // Reading.

    /// `GET /data/{hash}` as JSON (data up to [`super::data::MAX_JSON_DATA`] bytes).
    pub async fn get_data(
        &self,
        hash: &DataHash,
        params: &ReadParams,
    ) -> Result<DataResponse, RelayError> {
        // A hash's text (`sha256:` and hex) needs no escaping in a path.
        let path = format!("/data/{hash}");
        self.call(self.request(Method::GET, &path).query(params)).await
    }

    /// `GET /data/{hash}` streamed into `out`, checking its SHA-256 on the way. Nothing
    /// unverified reaches `out`: the data waits in an unnamed temporary file until the
    /// whole of it hashes to `hash`, and only then is copied out.
    pub async fn get_data_to<W>(
        &self,
        hash: &DataHash,
        params: &ReadParams,
        out: &mut W,
        progress: &dyn Progress,
    ) -> Result<Downloaded, RelayError>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let response = self.data_stream(hash, params).await?;
        let mut spool = tokio::fs::File::from_std(tempfile::tempfile()?);
        let downloaded = self.receive_verified(response, hash, &mut spool, progress).await?;
        spool.seek(std::io::SeekFrom::Start(0)).await?;
        tokio::io::copy(&mut spool, out).await?;
        out.flush().await?;
        Ok(downloaded)
    }

    /// `GET /data/{hash}` streamed to the file `path`, checking its SHA-256 on the way.
    /// Nothing unverified appears at `path`: the data is written beside it and renamed
    /// into place only once the whole of it hashes to `hash`.
    pub async fn get_data_to_file(
        &self,
        hash: &DataHash,
        params: &ReadParams,
        path: &Path,
        progress: &dyn Progress,
    ) -> Result<Downloaded, RelayError> {
        let response = self.data_stream(hash, params).await?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let temp = tempfile::NamedTempFile::new_in(dir)
            .map_err(|source| RelayError::Destination { dir: dir.to_owned(), source })?;
        let mut spool = tokio::fs::File::from_std(temp.reopen()?);
        let downloaded = self.receive_verified(response, hash, &mut spool, progress).await?;
        temp.persist(path).map_err(|e| RelayError::Io(e.error))?;
        Ok(downloaded)
    }

    /// `GET /data/list`: one page of the shares this node made, newest first.
    pub async fn list(&self, params: &ListParams) -> Result<ListResponse, RelayError> {
        self.call(self.request(Method::GET, "/data/list").query(params)).await
    }

    /// `GET /nodes`: one page of the directory of registered nodes.
    pub async fn nodes(&self, params: &NodesParams) -> Result<NodesResponse, RelayError> {
        self.call(self.request(Method::GET, "/nodes").query(params)).await
    }

    /// `GET /verify_data/{hash}`: one page of the on-chain records of the data with
    /// `hash` (a [`DataHash`], or text the relay checks).
    pub async fn verify(
        &self,
        hash: impl Display,
        params: &VerifyParams,
    ) -> Result<VerifyResponse, RelayError> {
        let path = format!("/verify_data/{}", segment(hash));
        self.call(self.request(Method::GET, &path).query(params)).await
    }

    // A share's lifecycle.

    /// `POST /shares/{share_id}/revoke`: the owner revokes a share (a
    /// [`datamgmt_abi::ShareId`], or text the relay checks).
    pub async fn revoke(&self, share_id: impl Display) -> Result<ChangeResponse, RelayError> {
        let path = format!("/shares/{}/revoke", segment(share_id));
        self.call(self.request(Method::POST, &path)).await
    }

    /// `PUT /shares/{share_id}/expiry`: the owner sets a share's expiry, or removes it.
    pub async fn set_expiry(
        &self,
        share_id: impl Display,
        request: &ExpiryRequest,
    ) -> Result<ChangeResponse, RelayError> {
        let path = format!("/shares/{}/expiry", segment(share_id));
        self.call(self.request(Method::PUT, &path).json(request)).await
    }

    /// `POST /shares/{share_id}/pay`: the recipient pays a priced share's price for one
    /// access (answered once the payment's block is final).
    pub async fn pay(&self, share_id: impl Display) -> Result<ChangeResponse, RelayError> {
        let path = format!("/shares/{}/pay", segment(share_id));
        self.call(self.request(Method::POST, &path)).await
    }

    // Administration (admin token).

    /// `GET /admin/keys`: where the relay's keyring stands.
    pub async fn key_status(&self) -> Result<KeyStatus, RelayError> {
        self.call(self.request(Method::GET, "/admin/keys")).await
    }

    /// `POST /admin/keys/rotate`: a new master key or node key.
    pub async fn rotate_key(&self, request: &RotateRequest) -> Result<RotateResponse, RelayError> {
        self.call(self.request(Method::POST, "/admin/keys/rotate").json(request)).await
    }

    /// `POST /admin/keys/rewrap`: moves every stored envelope to the newest master key.
    pub async fn rewrap_keys(&self, request: &RewrapRequest) -> Result<RewrapResponse, RelayError> {
        self.call(self.request(Method::POST, "/admin/keys/rewrap").json(request)).await
    }

    /// `GET /admin/releases`: whether key releases go on, and the release outbox.
    pub async fn release_status(&self, params: &OutboxParams) -> Result<OutboxReport, RelayError> {
        self.call(self.request(Method::GET, "/admin/releases").query(params)).await
    }

    /// `POST /admin/releases/acknowledge`: refused release records looked at, so
    /// releases may go on.
    pub async fn acknowledge_releases(
        &self,
        request: &AcknowledgeRequest,
    ) -> Result<Acknowledged, RelayError> {
        self.call(self.request(Method::POST, "/admin/releases/acknowledge").json(request)).await
    }

    // Health.

    /// `GET /contract`: the contract's address, code hash and ink! metadata.
    pub async fn contract(&self) -> Result<ContractInfo, RelayError> {
        self.call(self.request(Method::GET, "/contract")).await
    }

    /// `GET /healthz`: the relay answers, and which node it is.
    pub async fn healthz(&self) -> Result<Health, RelayError> {
        self.call(self.request(Method::GET, "/healthz")).await
    }

    /// `GET /readyz`: whether the relay's dependencies answer. A relay that is not ready
    /// answers 503 with the same body: that is `Ok`, with
    /// [`Readiness::is_ready`] false.
    pub async fn readyz(&self) -> Result<Readiness, RelayError> {
        let response = self.send(self.request(Method::GET, "/readyz")).await?;
        let status = response.status();
        if status != StatusCode::SERVICE_UNAVAILABLE {
            return self.decode(self.success(response).await?).await;
        }
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        match serde_json::from_slice::<Readiness>(&bytes) {
            Ok(readiness) => Ok(readiness),
            // A 503 of another kind (too many requests in flight).
            Err(_) => Err(error_answer(status, &bytes)),
        }
    }

    /// `GET /metrics`: the relay's Prometheus metrics, as text.
    pub async fn metrics(&self) -> Result<String, RelayError> {
        self.text(self.request(Method::GET, "/metrics")).await
    }

    /// `GET /openapi.json`: the relay's own description of its routes, as text.
    pub async fn openapi_json(&self) -> Result<String, RelayError> {
        self.text(self.request(Method::GET, "/openapi.json")).await
    }

    // The exchange.

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.endpoint)).bearer_auth(&self.token)
    }

    fn transport(&self, source: reqwest::Error) -> RelayError {
        RelayError::Transport { endpoint: self.endpoint.clone(), source }
    }

    async fn send(&self, request: RequestBuilder) -> Result<Response, RelayError> {
        request.send().await.map_err(|e| self.transport(e))
    }

    /// The response if its status is a success, else the error it carries.
    async fn success(&self, response: Response) -> Result<Response, RelayError> {
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        Err(error_answer(status, &bytes))
    }

    /// A success response's JSON body as `T`.
    async fn decode<T: DeserializeOwned>(&self, response: Response) -> Result<T, RelayError> {
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        serde_json::from_slice(&bytes).map_err(|source| RelayError::Decode { status, source })
    }

    /// Sends `request` and decodes its success answer as `T`.
    async fn call<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, RelayError> {
        let response = self.send(request).await?;
        self.decode(self.success(response).await?).await
    }

    async fn text(&self, request: RequestBuilder) -> Result<String, RelayError> {
        let response = self.success(self.send(request).await?).await?;
        response.text().await.map_err(|e| self.transport(e))
    }

    /// A raw-body share to `path`.
    async fn upload(
        &self,
        path: &str,
        params: &StreamShareParams,
        body: impl AsyncRead + Send + 'static,
        length: Option<u64>,
    ) -> Result<ShareDataResponse, RelayError> {
        let body = reqwest::Body::wrap_stream(ReaderStream::with_capacity(body, UPLOAD_PIECE));
        let mut request = self
            .request(Method::POST, path)
            .query(params)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(body);
        if let Some(length) = length {
            request = request.header(header::CONTENT_LENGTH, length);
        }
        self.call(request).await
    }

    /// The successful start of a streamed `GET /data/{hash}`.
    async fn data_stream(
        &self,
        hash: &DataHash,
        params: &ReadParams,
    ) -> Result<Response, RelayError> {
        let path = format!("/data/{hash}");
        let request = self
            .request(Method::GET, &path)
            .query(params)
            .header(header::ACCEPT, "application/octet-stream");
        self.success(self.send(request).await?).await
    }

    /// Writes the body of `response` to `spool`, hashing it on the way; an error unless
    /// it hashes to `hash`.
    async fn receive_verified(
        &self,
        response: Response,
        hash: &DataHash,
        spool: &mut tokio::fs::File,
        progress: &dyn Progress,
    ) -> Result<Downloaded, RelayError> {
        let sender = response
            .headers()
            .get(super::data::SENDER_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse().ok());
        progress.start(response.content_length());
        let mut hasher = Sha256::new();
        let mut length = 0u64;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.try_next().await.map_err(|e| self.transport(e))? {
            hasher.update(&chunk);
            length += chunk.len() as u64;
            progress.advance(chunk.len() as u64);
            spool.write_all(&chunk).await?;
        }
        spool.flush().await?;
        progress.finish();
        let got = DataHash(hasher.finalize().into());
        if got != *hash {
            return Err(RelayError::HashMismatch { expected: *hash, got });
        }
        Ok(Downloaded { length, sender })
    }
}

/// The error an error answer carries: the relay's, or its status alone.
fn error_answer(status: StatusCode, body: &[u8]) -> RelayError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => {
            RelayError::Api { status, code: error.code, message: error.message }
        }
        Err(_) => RelayError::Status {
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(KEPT_ERROR_BODY)]).into_owned(),
        },
    }
}

/// `value` as one path segment: everything but unreserved characters (RFC 3986)
/// percent-encoded.
fn segment(value: impl Display) -> String {
    let text = value.to_string();
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{KeyKind, ShareDataResponse};
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let relay = RelayClient::new("http://relay.example/", "s3cret-token");
        assert_eq!(relay.endpoint(), "http://relay.example");
        assert!(!format!("{relay:?}").contains("s3cret"));
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(segment("sha256:00ff"), "sha256%3A00ff");
        assert_eq!(segment("../x y"), "..%2Fx%20y");
        let share = datamgmt_abi::ShareId([0xab; 16]);
        assert_eq!(segment(share), format!("share_{}", "ab".repeat(16)));
    }

    #[test]
    fn error_answers_keep_the_relays_code_or_just_the_status() {
        let body = br#"{"error":{"code":"conflict","message":"already revoked"}}"#;
        let error = error_answer(StatusCode::CONFLICT, body);
        assert_eq!(error.code(), Some(ErrorCode::Conflict));
        assert_eq!(error.to_string(), "the relay answered 409 Conflict: already revoked");
        let bare = error_answer(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, b"");
        assert!(matches!(bare, RelayError::Status { .. }));
        assert_eq!(bare.status(), Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
        assert!(bare.to_string().ends_with("no reason given"));
    }

    /// A request as the fake relay read it.
    struct Seen {
        head: String,
        body: Vec<u8>,
    }

    /// A relay on loopback that answers one request with `status`, `headers` and
    /// `body`, and hands back what it was sent.
    async fn relay_once(
        status: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (RelayClient, tokio::task::JoinHandle<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut answer = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
        for (name, value) in headers {
            answer.push_str(&format!("{name}: {value}\r\n"));
        }
        answer.push_str("connection: close\r\n\r\n");
        let mut answer = answer.into_bytes();
        answer.extend_from_slice(body);
        let served = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut read = Vec::new();
            let mut buffer = [0u8; 4096];
            let end = loop {
                let n = stream.read(&mut buffer).await.unwrap();
                read.extend_from_slice(&buffer[..n]);
                if let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                    break end + 4;
                }
            };
            let head = String::from_utf8_lossy(&read[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .map_or(0, |value| value.trim().parse().unwrap());
            while read.len() < end + length {
                let n = stream.read(&mut buffer).await.unwrap();
                read.extend_from_slice(&buffer[..n]);
            }
            stream.write_all(&answer).await.unwrap();
            stream.shutdown().await.unwrap();
            Seen { head, body: read[end..].to_vec() }
        });
        (RelayClient::new(format!("http://{address}/"), "secret"), served)
    }

    fn hash_of(data: &[u8]) -> DataHash {
        DataHash(Sha256::digest(data).into())
    }

    const SHARED: &str = r#"{"status":"shared","data_hash":"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","share_id":"share_abababababababababababababababab","encryption":{"algorithm":"fernet","key_version":1},"compliance":{"tx_hash":"0x01","block_number":7,"block_hash":"0x02","recorded":true}}"#;

    #[tokio::test]
    async fn a_streamed_share_sends_its_terms_and_body() {
        let (relay, served) = relay_once("200 OK", &[], SHARED.as_bytes()).await;
        let mut params = StreamShareParams::new("node_b2c3d4e5f6a1");
        params.expires_at = Some("2030-01-01T00:00:00Z".into());
        let answer = relay.share_data_stream(&params, &b"hello"[..], Some(5)).await.unwrap();
        assert_eq!(answer, serde_json::from_str::<ShareDataResponse>(SHARED).unwrap());
        let seen = served.await.unwrap();
        assert!(seen.head.starts_with(
            "post /share_data?recipient=node_b2c3d4e5f6a1&require_payment=false\
             &expires_at=2030-01-01t00%3a00%3a00z http/1.1"
        ));
        assert!(seen.head.contains("authorization: bearer secret"));
        assert!(seen.head.contains("content-type: application/octet-stream"));
        assert_eq!(seen.body, b"hello");
    }

    #[tokio::test]
    async fn json_requests_and_strict_answers() {
        let answer = r#"{"key":"master","previous_version":1,"version":2,"chain":null}"#;
        let (relay, served) = relay_once("200 OK", &[], answer.as_bytes()).await;
        let rotated = relay.rotate_key(&RotateRequest { key: KeyKind::Master }).await.unwrap();
        assert_eq!((rotated.key, rotated.version, rotated.chain), (KeyKind::Master, 2, None));
        let seen = served.await.unwrap();
        assert!(seen.head.starts_with("post /admin/keys/rotate http/1.1"));
        assert_eq!(seen.body, br#"{"key":"master"}"#);

        let renamed = r#"{"key":"master","previous":1,"version":2,"chain":null}"#;
        let (relay, _) = relay_once("200 OK", &[], renamed.as_bytes()).await;
        let error = relay.rotate_key(&RotateRequest { key: KeyKind::Node }).await.unwrap_err();
        assert!(matches!(error, RelayError::Decode { .. }), "{error}");
    }

    #[tokio::test]
    async fn refusals_carry_the_relays_code() {
        let body = br#"{"error":{"code":"not_found","message":"this node made no share x"}}"#;
        let (relay, served) = relay_once("404 Not Found", &[], body).await;
        let error = relay.revoke("x/y").await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::NotFound));
        assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
        assert!(served.await.unwrap().head.starts_with("post /shares/x%2fy/revoke http/1.1"));
    }

    #[tokio::test]
    async fn an_unready_relay_is_an_answer_not_an_error() {
        let body = br#"{"status":"unavailable","chain":"unreachable: refused","storage":"ok","index":"ok","releases":"ok"}"#;
        let (relay, _) = relay_once("503 Service Unavailable", &[], body).await;
        let readiness = relay.readyz().await.unwrap();
        assert!(!readiness.is_ready());
        assert_eq!(readiness.chain, "unreachable: refused");
        let shed = br#"{"error":{"code":"unavailable","message":"this relay is unavailable; retry later"}}"#;
        let (relay, _) = relay_once("503 Service Unavailable", &[], shed).await;
        assert_eq!(relay.readyz().await.unwrap_err().code(), Some(ErrorCode::Unavailable));
    }

    #[tokio::test]
    async fn downloads_are_kept_only_when_they_match_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.bin");
        let data = b"the data".repeat(1000);
        let hash = hash_of(&data);
        let sender = [("x-dmn-sender", "node_b2c3d4e5f6a1")];
        let (relay, served) = relay_once("200 OK", &sender, &data).await;
        let got = relay.get_data_to_file(&hash, &ReadParams::default(), &path, &()).await.unwrap();
        assert_eq!(got.length, data.len() as u64);
        assert_eq!(got.sender, Some("node_b2c3d4e5f6a1".parse().unwrap()));
        assert_eq!(std::fs::read(&path).unwrap(), data);
        let head = served.await.unwrap().head;
        assert!(head.starts_with(&format!("get /data/{hash} http/1.1")), "{head}");
        assert!(head.contains("accept: application/octet-stream"));

        let other = dir.path().join("other.bin");
        let (relay, _) = relay_once("200 OK", &sender, b"something else").await;
        let error =
            relay.get_data_to_file(&hash, &ReadParams::default(), &other, &()).await.unwrap_err();
        assert!(matches!(error, RelayError::HashMismatch { .. }), "{error}");
        assert!(!other.exists());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the first download is left");

        let (relay, _) = relay_once("200 OK", &sender, b"something else").await;
        let mut out = Vec::new();
        let error =
            relay.get_data_to(&hash, &ReadParams::default(), &mut out, &()).await.unwrap_err();
        assert!(matches!(error, RelayError::HashMismatch { .. }), "{error}");
        assert!(out.is_empty(), "nothing unverified is written");

        let (relay, _) = relay_once("200 OK", &[], &data).await;
        let mut out = Vec::new();
        relay.get_data_to(&hash, &ReadParams::default(), &mut out, &()).await.unwrap();
        assert_eq!(out, data);
    }
}
