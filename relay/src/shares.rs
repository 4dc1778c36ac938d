//! Sharing: `POST /share_data` encrypts the data under a fresh key, stores the envelope,
//! and records the share on chain; `GET /data/{hash}` gives the owner its data back.
//! Both also stream raw bytes (`application/octet-stream`), never holding the object in
//! memory.
//!
//! Order matters for "nothing lost, nothing half-done": the envelope is stored first
//! (invisible until complete), then the share is written to the index as pending, then
//! the chain call is made. A chain refusal undoes the first two; a chain failure leaves
//! the pending row for the outbox worker ([`retry_pending`]) and answers 503.

use crate::auth::{Caller, Role};
use crate::error::{ApiError, AppJson, AppQuery, DRAIN_ON_REFUSAL};
use crate::index::{ChainRecord, ShareRow};
use crate::metrics::ShareOutcome;
use crate::state::AppState;
use axum::{
    extract::{FromRequest, FromRequestParts, Request, State},
    http::{header, HeaderMap},
    routing::post,
    Router,
};
use datamgmt_abi::{AccountId, Balance, DataHash, KeyVersion, NodeId, ShareId, Timestamp};
use datamgmt_client::chain::{
    messages, to_abi_account, AccountId32, CallReceipt, ChainClient, ChainError, Confirmation,
};
use datamgmt_client::envelope::{self, Header, StanzaKind, DEFAULT_CHUNK_SIZE};
use datamgmt_client::keys::DataKey;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio_util::io::StreamReader;

/// Chunks encrypted or decrypted at once per request.
pub(crate) const PARALLELISM: usize = 2;

/// The sharing routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/share_data", post(share_data))
        .route("/share_envelope", post(share_envelope_route))
}

/// `POST /share_data`, as the seed API defines it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareDataRequest {
    /// The data, as text.
    pub data: String,
    /// A node id (`node_…`) or an SS58 account.
    pub recipient: String,
    /// Must be true: the relay always encrypts.
    #[serde(default = "default_true")]
    pub encrypt: bool,
    /// Whether the recipient pays per access.
    #[serde(default)]
    pub require_payment: bool,
    /// Price per access in the chain's smallest unit (integer, or decimal string).
    #[serde(default)]
    pub price: Option<NumberOrText>,
    /// RFC 3339 time or Unix seconds.
    #[serde(default)]
    pub expires_at: Option<NumberOrText>,
}

fn default_true() -> bool {
    true
}

/// A JSON value given either as a number or as a string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum NumberOrText {
    /// A JSON number.
    Number(serde_json::Number),
    /// A JSON string.
    Text(String),
}

/// The checked terms of a new share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareTerms {
    /// Who it is for.
    pub recipient: Recipient,
    /// Price per access (0 = free).
    pub price: Balance,
    /// Expiry (ms), if any.
    pub expires_at: Option<Timestamp>,
}

/// How a request names the recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// By node id.
    Node(NodeId),
    /// By account.
    Account(AccountId),
}

impl ShareDataRequest {
    /// Checks the request against the current time `now_ms`.
    pub fn terms(&self, now_ms: Timestamp) -> Result<ShareTerms, ApiError> {
        if !self.encrypt {
            return Err(bad("`encrypt` must be true: this relay stores only encrypted data"));
        }
        let price = match &self.price {
            None => 0,
            Some(value) => parse_amount(value)?,
        };
        if self.require_payment && price == 0 {
            return Err(bad("`require_payment` needs a `price` above 0"));
        }
        if !self.require_payment && price != 0 {
            return Err(bad("a `price` needs `require_payment: true`"));
        }
        let expires_at = match &self.expires_at {
            None => None,
            Some(value) => Some(parse_expiry(value)?),
        };
        if expires_at.is_some_and(|at| at <= now_ms) {
            return Err(bad("`expires_at` is in the past"));
        }
        Ok(ShareTerms { recipient: parse_recipient(&self.recipient)?, price, expires_at })
    }
}

fn bad(message: &str) -> ApiError {
    ApiError::BadRequest(message.to_owned())
}

pub(crate) fn parse_recipient(text: &str) -> Result<Recipient, ApiError> {
    if text.starts_with(NodeId::PREFIX) {
        return text
            .parse()
            .map(Recipient::Node)
            .map_err(|e| ApiError::BadRequest(format!("`recipient` node id {e}")));
    }
    text.parse::<AccountId32>().map(|account| Recipient::Account(to_abi_account(&account))).map_err(
        |_| bad("`recipient` must be a node id (node_ and 12 hex characters) or an SS58 account"),
    )
}

fn parse_amount(value: &NumberOrText) -> Result<Balance, ApiError> {
    let text = match value {
        NumberOrText::Number(number) => number.to_string(),
        NumberOrText::Text(text) => text.clone(),
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("`price` must be a non-negative integer in the chain's smallest unit"));
    }
    text.parse().map_err(|_| bad("`price` is too large"))
}

/// Milliseconds since the epoch of an RFC 3339 time or of Unix seconds.
pub(crate) fn parse_expiry(value: &NumberOrText) -> Result<Timestamp, ApiError> {
    match value {
        NumberOrText::Number(number) => parse_time("expires_at", &number.to_string()),
        NumberOrText::Text(text) => parse_time("expires_at", text),
    }
}

/// A data hash from a path or query, or a 400 saying what one looks like.
pub(crate) fn parse_data_hash(text: &str) -> Result<DataHash, ApiError> {
    text.parse().map_err(|e| {
        ApiError::BadRequest(format!("the data hash {e} (sha256: and 64 lowercase hex)"))
    })
}

/// A share id from a path, or a 400 saying what one looks like.
pub(crate) fn parse_share_id(text: &str) -> Result<ShareId, ApiError> {
    text.parse().map_err(|e| ApiError::BadRequest(format!("the share id {e} (share_ and 32 hex)")))
}

/// Milliseconds since the epoch of `text`, an RFC 3339 time or Unix seconds; `field`
/// names it in errors.
pub(crate) fn parse_time(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    datamgmt_client::timefmt::parse_instant(text)
        .map_err(|error| ApiError::BadRequest(format!("`{field}` {error}")))
}

/// The seed API's answer to a share.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShareDataResponse {
    /// Always `shared`.
    pub status: String,
    /// SHA-256 of the data.
    pub data_hash: DataHash,
    /// The share's id.
    pub share_id: ShareId,
    /// How the data is encrypted.
    pub encryption: EncryptionInfo,
    /// Where the share is recorded.
    pub compliance: Compliance,
}

/// The encryption part of a share response.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EncryptionInfo {
    /// Always `fernet`.
    pub algorithm: String,
    /// Master key version of the custody stanza.
    pub key_version: KeyVersion,
}

/// The on-chain part of a share response.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Compliance {
    /// Extrinsic hash.
    pub tx_hash: String,
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: String,
    /// Whether the share is on chain (always true in a success response).
    pub recorded: bool,
}

/// Query parameters of a share whose body is raw bytes (`Content-Type:
/// application/octet-stream`): the JSON fields but `data`, which is the body; and, for
/// `POST /share_envelope` only, the data hash the sharer computed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamShareParams {
    /// A node id (`node_…`) or an SS58 account.
    pub recipient: String,
    /// Whether the recipient pays per access.
    #[serde(default)]
    pub require_payment: bool,
    /// Price per access in the chain's smallest unit.
    pub price: Option<String>,
    /// RFC 3339 time or Unix seconds.
    pub expires_at: Option<String>,
    /// `sha256:…` of the plaintext (end-to-end shares only).
    pub data_hash: Option<String>,
}

impl StreamShareParams {
    fn terms(self) -> Result<ShareTerms, ApiError> {
        ShareDataRequest {
            data: String::new(),
            recipient: self.recipient,
            encrypt: true,
            require_payment: self.require_payment,
            price: self.price.map(NumberOrText::Text),
            expires_at: self.expires_at.map(NumberOrText::Text),
        }
        .terms(now_ms())
    }
}

async fn share_data(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<AppJson<ShareDataResponse>, ApiError> {
    caller.require(Role::User)?;
    if !wants_octet_stream(request.headers(), header::CONTENT_TYPE) {
        let AppJson(request) = AppJson::<ShareDataRequest>::from_request(request, &state).await?;
        let terms = request.terms(now_ms())?;
        return Ok(AppJson(share(&state, &terms, request.data.as_bytes()).await?));
    }
    // Streaming: the body goes through encryption to storage without being held.
    let (mut parts, body) = request.into_parts();
    let mut body = limited_body(&state, body);
    let shared = async {
        let AppQuery(params) =
            AppQuery::<StreamShareParams>::from_request_parts(&mut parts, &state).await?;
        if params.data_hash.is_some() {
            return Err(bad(
                "`data_hash` is for POST /share_envelope; this relay hashes what it encrypts",
            ));
        }
        share(&state, &params.terms()?, &mut body).await
    }
    .await;
    Ok(AppJson(drain_on_refusal(shared, body).await?))
}

/// `POST /share_envelope`: an envelope the sharer encrypted itself (end-to-end mode).
async fn share_envelope_route(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<AppJson<ShareDataResponse>, ApiError> {
    caller.require(Role::User)?;
    if !wants_octet_stream(request.headers(), header::CONTENT_TYPE) {
        return Err(bad("send the envelope as application/octet-stream"));
    }
    let (mut parts, body) = request.into_parts();
    let mut body = limited_body(&state, body);
    let shared = async {
        let AppQuery(mut params) =
            AppQuery::<StreamShareParams>::from_request_parts(&mut parts, &state).await?;
        let data_hash = parse_data_hash(&params.data_hash.take().ok_or_else(|| {
            bad("`data_hash` (the sharer's sha256: of the plaintext) is required")
        })?)?;
        share_envelope(&state, &params.terms()?, data_hash, &mut body).await
    }
    .await;
    Ok(AppJson(drain_on_refusal(shared, body).await?))
}

/// A request body as a reader that refuses more than the object size limit.
fn limited_body(state: &AppState, body: axum::body::Body) -> impl AsyncRead + Unpin {
    let body = body.into_data_stream().map_err(|e| std::io::Error::other(BodyError(e.to_string())));
    LimitedReader { inner: StreamReader::new(body), left: state.limits().max_object_bytes }
}

/// After a refused raw-body share, reads what is left of the body (up to
/// [`DRAIN_ON_REFUSAL`] bytes; not after an oversized upload or a server fault) so the
/// client gets the refusal.
async fn drain_on_refusal<T>(
    outcome: Result<T, ApiError>,
    body: impl AsyncRead + Unpin,
) -> Result<T, ApiError> {
    if let Err(
        ApiError::BadRequest(_)
        | ApiError::Unavailable { .. }
        | ApiError::Forbidden
        | ApiError::AccessDenied(_)
        | ApiError::Conflict(_)
        | ApiError::NotFound(_),
    ) = &outcome
    {
        let _ = tokio::io::copy(&mut body.take(DRAIN_ON_REFUSAL), &mut tokio::io::sink()).await;
    }
    outcome
}

/// Whether `name` (Content-Type or Accept) asks for raw bytes.
pub(crate) fn wants_octet_stream(headers: &HeaderMap, name: header::HeaderName) -> bool {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("application/octet-stream"))
}

/// The client's upload broke off.
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
fn upload_failure(error: envelope::EnvelopeError) -> ApiError {
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

/// The parties of a new share, checked against the chain.
struct Parties {
    chain: ChainClient,
    owner: AccountId,
    recipient: AccountId,
    recipient_node: datamgmt_abi::Node,
}

async fn parties(state: &AppState, terms: &ShareTerms) -> Result<Parties, ApiError> {
    let chain = state.chain().client().await?;
    let recipient = resolve_recipient(&chain, terms.recipient).await?;
    let owner = state.node().account();
    if recipient == owner {
        return Err(bad("a node cannot share with itself"));
    }
    let recipient_node = chain
        .node(&recipient)
        .await
        .map_err(chain_unavailable)?
        .ok_or_else(|| bad("the recipient is not a registered node"))?;
    Ok(Parties { chain, owner, recipient, recipient_node })
}

/// Stores `data` encrypted for the recipient and records the share on chain.
pub async fn share(
    state: &AppState,
    terms: &ShareTerms,
    data: impl AsyncRead + Unpin,
) -> Result<ShareDataResponse, ApiError> {
    let parties = parties(state, terms).await?;
    let recipient_node = &parties.recipient_node;
    let share_id = ShareId(random_bytes());
    let data_key = DataKey::generate();
    let mut header = Header::new(DEFAULT_CHUNK_SIZE).map_err(internal)?;
    let key_version = {
        let keyring = state.node().keyring.read().await;
        let (version, master) = keyring.current_master();
        header.add_custody(version, master, &data_key).map_err(internal)?;
        version
    };
    header
        .add_recipient(recipient_node.key_version, &recipient_node.encryption_key, &data_key)
        .map_err(|_| bad("the recipient's registered encryption key is not usable"))?;

    let mut upload = state.store().upload(share_id).await?;
    let sealed = match envelope::encrypt(data, &mut upload, &header, &data_key, PARALLELISM).await {
        Ok(sealed) => sealed,
        Err(error) => {
            let _ = upload.abort().await;
            return Err(upload_failure(error));
        }
    };
    upload.complete().await?;
    let stored = Stored {
        share_id,
        data_hash: sealed.content_hash,
        key_version,
        plaintext_len: sealed.plaintext_len,
        envelope_len: sealed.envelope_len,
    };
    index_and_record(state, &parties, terms, stored).await
}

/// Stores an envelope made by the sharer itself (end-to-end mode) and records the share
/// on chain. This relay cannot open it: it must carry no custody stanza and a stanza
/// for the recipient's registered key, and its data hash is the sharer's word (the
/// recipient checks it when decrypting).
pub async fn share_envelope(
    state: &AppState,
    terms: &ShareTerms,
    data_hash: DataHash,
    mut envelope: impl AsyncRead + Unpin,
) -> Result<ShareDataResponse, ApiError> {
    let parties = parties(state, terms).await?;
    let header = Header::read(&mut envelope).await.map_err(|error| match error {
        envelope::EnvelopeError::Io(_) => upload_failure(error),
        other => bad(&format!("the body is not an envelope: {other}")),
    })?;
    if header.stanzas().iter().any(|s| s.kind == StanzaKind::Custody) {
        return Err(bad("an end-to-end envelope carries no custody stanza"));
    }
    if header.for_recipient(&parties.recipient_node.encryption_key).stanzas().is_empty() {
        return Err(bad("the envelope has no stanza for the recipient's registered key"));
    }
    let header_bytes =
        header.bytes_as_read().ok_or_else(|| internal("a read header has its MAC"))?;
    let share_id = ShareId(random_bytes());
    let mut upload = state.store().upload(share_id).await?;
    let copied = async {
        upload.write_all(&header_bytes).await?;
        tokio::io::copy(&mut envelope, &mut upload).await
    }
    .await;
    let chunks_len = match copied {
        Ok(len) => len,
        Err(error) => {
            let _ = upload.abort().await;
            return Err(upload_failure(envelope::EnvelopeError::Io(error)));
        }
    };
    upload.complete().await?;
    let stored = Stored {
        share_id,
        data_hash,
        key_version: END_TO_END,
        plaintext_len: 0,
        envelope_len: header_bytes.len() as u64 + chunks_len,
    };
    index_and_record(state, &parties, terms, stored).await
}

/// The custody key version of an end-to-end share: none (versions start at 1).
pub const END_TO_END: KeyVersion = 0;

/// A stored envelope, before its share is indexed and recorded.
struct Stored {
    share_id: ShareId,
    data_hash: DataHash,
    key_version: KeyVersion,
    plaintext_len: u64,
    envelope_len: u64,
}

/// Writes the pending row (the outbox entry), then records the share on chain.
async fn index_and_record(
    state: &AppState,
    parties: &Parties,
    terms: &ShareTerms,
    stored: Stored,
) -> Result<ShareDataResponse, ApiError> {
    let row = ShareRow {
        share_id: stored.share_id,
        data_hash: stored.data_hash,
        owner: parties.owner,
        recipient: parties.recipient,
        price: terms.price,
        expires_at: terms.expires_at,
        key_version: stored.key_version,
        plaintext_len: stored.plaintext_len,
        envelope_len: stored.envelope_len,
        created_at: now_ms(),
        recorded: None,
        revoked_at: None,
        attempts: 0,
        last_error: None,
    };
    if let Err(error) = state.index().insert_pending(&row).await {
        let _ = state.store().delete(row.share_id).await;
        return Err(error.into());
    }
    let record = record_on_chain(state, &parties.chain, &row).await?;
    Ok(ShareDataResponse {
        status: "shared".to_owned(),
        data_hash: row.data_hash,
        share_id: row.share_id,
        encryption: EncryptionInfo { algorithm: "fernet".to_owned(), key_version: row.key_version },
        compliance: Compliance {
            tx_hash: record.tx_hash,
            block_number: record.block_number,
            block_hash: record.block_hash,
            recorded: true,
        },
    })
}

/// Makes the chain call for a pending share and settles the outcome in the index.
async fn record_on_chain(
    state: &AppState,
    chain: &ChainClient,
    row: &ShareRow,
) -> Result<ChainRecord, ApiError> {
    let message = messages::share(
        row.share_id,
        &row.recipient,
        row.data_hash,
        row.price,
        row.expires_at,
        row.key_version,
    );
    let started = std::time::Instant::now();
    let outcome = chain.submit(&state.node().signer, &message, Confirmation::InBlock).await;
    state.metrics().chain_call(started);
    match outcome {
        Ok(receipt) => {
            state.metrics().share(ShareOutcome::Recorded);
            let record = chain_record(&receipt);
            state.index().mark_recorded(row.share_id, &record).await?;
            Ok(record)
        }
        Err(ChainError::Contract(refusal)) => {
            state.metrics().share(ShareOutcome::Refused);
            // The contract will never accept it: undo the object and the row.
            let _ = state.store().delete(row.share_id).await;
            let _ = state.index().remove(row.share_id).await;
            Err(contract_refusal(refusal))
        }
        Err(error) => {
            state.metrics().share(ShareOutcome::Pending);
            let _ = state.index().mark_attempt_failed(row.share_id, &error.to_string()).await;
            Err(ApiError::Unavailable {
                dependency: "the chain",
                cause: format!(
                    "share {} is stored and stays pending until the chain records it: {error}",
                    row.share_id
                ),
            })
        }
    }
}

/// Retries the chain call of every pending share once; returns how many got recorded.
/// A share the chain already has (an earlier call landed unseen) counts as recorded
/// once its record matches.
pub async fn retry_pending(state: &AppState) -> Result<usize, ApiError> {
    let chain = state.chain().client().await?;
    let pending = state.index().pending().await?;
    let mut recorded = 0;
    for row in pending {
        if chain.share_record(row.share_id).await.map_err(chain_unavailable)?.is_some() {
            // An earlier call landed without its answer reaching us: the share is safe on
            // chain, and the indexer, which sees every block, fills in where.
            let note = "already on chain; waiting for the indexer to find its block";
            let _ = state.index().mark_attempt_failed(row.share_id, note).await;
            continue;
        }
        if record_on_chain(state, &chain, &row).await.is_ok() {
            recorded += 1;
        }
    }
    Ok(recorded)
}

/// Runs [`retry_pending`] every `interval` for as long as the process lives, so a share
/// whose chain call failed is recorded once the chain is back.
pub fn spawn_outbox_worker(state: AppState, interval: std::time::Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            match retry_pending(&state).await {
                Ok(0) => {}
                Ok(recorded) => tracing::info!(recorded, "pending shares recorded on chain"),
                Err(error) => tracing::debug!(%error, "pending shares wait for the chain"),
            }
        }
    });
}

/// The recipient's account: as given, or looked up on chain by node id.
async fn resolve_recipient(
    chain: &ChainClient,
    recipient: Recipient,
) -> Result<AccountId, ApiError> {
    match recipient {
        Recipient::Account(account) => Ok(account),
        Recipient::Node(node_id) => chain
            .node_account(node_id)
            .await
            .map_err(chain_unavailable)?
            .ok_or_else(|| ApiError::BadRequest(format!("no registered node is {node_id}"))),
    }
}

pub(crate) fn chain_record(receipt: &CallReceipt) -> ChainRecord {
    ChainRecord {
        tx_hash: format!("{:?}", receipt.extrinsic_hash),
        block_number: receipt.block_number,
        block_hash: format!("{:?}", receipt.block_hash),
    }
}

/// The HTTP answer to a contract refusal.
pub(crate) fn contract_refusal(refusal: datamgmt_abi::Error) -> ApiError {
    use datamgmt_abi::Error;
    match refusal {
        Error::NodeNotRegistered => ApiError::Unavailable {
            dependency: "this node's registration",
            cause: refusal.to_string(),
        },
        Error::AccessDenied(_) | Error::NotOwner | Error::NotAdmin => {
            ApiError::AccessDenied(format!("the contract refused: {refusal}"))
        }
        Error::AlreadyRevoked | Error::ShareExists | Error::AlreadyPaid | Error::NotPriced => {
            ApiError::Conflict(format!("the contract refused: {refusal}"))
        }
        other => ApiError::BadRequest(format!("the contract refused: {other}")),
    }
}

pub(crate) fn chain_unavailable(error: ChainError) -> ApiError {
    ApiError::Unavailable { dependency: "the chain", cause: error.to_string() }
}

fn storage_unavailable(error: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable { dependency: "object storage", cause: error.to_string() }
}

pub(crate) fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(error.to_string())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    bytes
}

/// Milliseconds since the epoch, by this machine's clock.
pub fn now_ms() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

pub use datamgmt_client::timefmt::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> ShareDataRequest {
        serde_json::from_value(json).unwrap()
    }

    const NOW: Timestamp = 1_790_000_000_000;

    #[test]
    fn seed_request_parses() {
        let terms = request(serde_json::json!({
            "data": "Sensitive enterprise data...",
            "recipient": "node_b2c3d4e5f6a1",
            "encrypt": true,
            "require_payment": false
        }))
        .terms(NOW)
        .unwrap();
        assert_eq!(terms.recipient, Recipient::Node("node_b2c3d4e5f6a1".parse().unwrap()));
        assert_eq!((terms.price, terms.expires_at), (0, None));
    }

    #[test]
    fn prices_and_expiries_in_every_accepted_form() {
        let base = |price: serde_json::Value, expires: serde_json::Value| {
            request(serde_json::json!({
                "data": "x", "recipient": "node_b2c3d4e5f6a1",
                "require_payment": true, "price": price, "expires_at": expires
            }))
            .terms(NOW)
        };
        let terms =
            base("340282366920938463463374607431768211455".into(), "2030-01-01T00:00:00Z".into())
                .unwrap();
        assert_eq!(terms.price, u128::MAX);
        assert_eq!(terms.expires_at, Some(1_893_456_000_000));
        let terms = base(5.into(), 1_893_456_000u64.into()).unwrap();
        assert_eq!((terms.price, terms.expires_at), (5, Some(1_893_456_000_000)));
        let terms = base("7".into(), "1893456000".into()).unwrap();
        assert_eq!(terms.expires_at, Some(1_893_456_000_000));
        let terms = base(1.into(), "2030-01-01T02:00:00+02:00".into()).unwrap();
        assert_eq!(terms.expires_at, Some(1_893_456_000_000));
    }

    #[test]
    fn bad_terms_are_refused_with_a_reason() {
        let cases = [
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "encrypt": false}),
                "encrypt",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "require_payment": true}),
                "price",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "price": "5"}),
                "require_payment",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "require_payment": true, "price": -1}),
                "non-negative",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "require_payment": true, "price": "1e3"}),
                "non-negative",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "require_payment": true, "price": "340282366920938463463374607431768211456"}),
                "too large",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "expires_at": "2020-01-01T00:00:00Z"}),
                "past",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "expires_at": "tomorrow"}),
                "RFC 3339",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "expires_at": u64::MAX}),
                "too far",
            ),
            (serde_json::json!({"data": "x", "recipient": "node_XYZ"}), "node id"),
            (serde_json::json!({"data": "x", "recipient": "../../etc/passwd"}), "SS58"),
        ];
        for (json, expected) in cases {
            let error = request(json.clone()).terms(NOW).unwrap_err();
            assert!(matches!(error, ApiError::BadRequest(_)), "{json}");
            assert!(error.to_string().contains(expected), "{json}: {error}");
        }
    }
}
