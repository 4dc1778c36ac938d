//! `GET /data/{hash}`: the data back, decrypted and checked against its hash.
//!
//! The node that shared the data opens the custody stanza of its own envelope. A
//! recipient node finds the share in its index of chain events, fetches the envelope
//! from the owner's relay over signed P2P ([`crate::p2p::fetch`]), which releases it only
//! as the contract allows, and opens its own stanza with its X25519 key. Either way the
//! plaintext is decrypted while it streams and its SHA-256 checked.

use crate::auth::{Caller, Role};
use crate::error::{ApiError, AppJson};
use crate::shares::{internal, parse_data_hash, rfc3339, wants_octet_stream, PARALLELISM};
use crate::state::AppState;
use axum::{
    extract::{Path, State},
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use datamgmt_abi::{AccountId, DataHash, NodeId, ShareId, Timestamp};
use datamgmt_client::chain::{from_abi_account, node_id_of};
use datamgmt_client::envelope::{self, Header};
use datamgmt_client::keys::DataKey;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncRead;
use tokio_util::io::ReaderStream;

/// Largest object `GET /data/{hash}` returns inside JSON (larger ones stream with
/// `Accept: application/octet-stream`).
const MAX_JSON_DATA: u64 = 16 << 20;
/// Bytes buffered between decryption and a streamed response.
const STREAM_BUFFER: usize = 256 << 10;

/// The reading route.
pub fn router() -> Router<AppState> {
    Router::new().route("/data/{hash}", get(get_data))
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
    /// Whether the decrypted data hashes to the requested hash.
    pub verified: bool,
}

/// An envelope ready to decrypt, and what the answer says about it.
struct Opened {
    share_id: ShareId,
    data_hash: DataHash,
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
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(Role::User)?;
    let data_hash = parse_data_hash(&hash)?;
    let streaming = wants_octet_stream(&headers, header::ACCEPT);
    let opened = match open_own(&state, data_hash).await? {
        Some(opened) => opened,
        None => open_received(&state, data_hash).await?,
    };
    if !streaming && opened.plaintext_len.is_some_and(|len| len > MAX_JSON_DATA) {
        return Err(ApiError::PayloadTooLarge);
    }
    if streaming {
        Ok(stream_plaintext(opened))
    } else {
        json_plaintext(opened).await
    }
}

/// The envelope of a share this node made, opened with its custody stanza.
async fn open_own(state: &AppState, data_hash: DataHash) -> Result<Option<Opened>, ApiError> {
    let own = state.node().account();
    let rows = state.index().by_hash(data_hash).await?;
    let Some(row) = rows.into_iter().find(|row| row.owner == own) else { return Ok(None) };
    if row.key_version == crate::shares::END_TO_END {
        return Err(ApiError::Conflict(
            "this share was encrypted end to end by its sharer: this relay stores it but \
             cannot open it, and the sharer keeps the plaintext"
                .into(),
        ));
    }
    let (mut reader, _) = state.store().download(row.share_id).await?;
    let header = Header::read(&mut reader).await.map_err(internal)?;
    let data_key = {
        let keyring = state.node().keyring.read().await;
        header.open_custody(&keyring).map_err(internal)?
    };
    Ok(Some(Opened {
        share_id: row.share_id,
        data_hash,
        owner: row.owner,
        shared_at: row.created_at,
        plaintext_len: Some(row.plaintext_len),
        header,
        data_key,
        chunks: Box::new(reader),
    }))
}

/// The envelope of a share made to this node, fetched from its owner's relay and
/// opened with this node's X25519 key. The newest share of that data to this node that
/// its owner releases wins.
async fn open_received(state: &AppState, data_hash: DataHash) -> Result<Opened, ApiError> {
    let own = state.node().account();
    let received = state.index().received(data_hash, &own).await?;
    let mut refusal = None;
    for event in received {
        let share_id = event.event.share_id;
        match crate::p2p::fetch(state, &event.event.owner, share_id).await {
            Ok(fetched) => {
                let data_key = {
                    let keyring = state.node().keyring.read().await;
                    fetched.header.open_recipient(&keyring).map_err(|e| {
                        ApiError::BadGateway(format!(
                            "the sharing node sent an envelope this node cannot open: {e}"
                        ))
                    })?
                };
                return Ok(Opened {
                    share_id,
                    data_hash,
                    owner: event.event.owner,
                    shared_at: event.event.at,
                    plaintext_len: fetched.plaintext_len,
                    header: fetched.header,
                    data_key,
                    chunks: fetched.chunks,
                });
            }
            // An older share of the same data may still be open.
            Err(error @ (ApiError::AccessDenied(_) | ApiError::NotFound(_))) => {
                refusal = Some(error)
            }
            Err(error) => return Err(error),
        }
    }
    Err(refusal
        .unwrap_or_else(|| ApiError::NotFound(format!("no data with hash {data_hash} here"))))
}

/// The plaintext as a raw stream, decrypted chunk by chunk. A chunk that fails to
/// verify ends the stream short of its Content-Length (or, without one, without the
/// final empty chunk), which every HTTP client notices.
fn stream_plaintext(opened: Opened) -> Response {
    let (response_side, mut decrypt_side) = tokio::io::duplex(STREAM_BUFFER);
    let Opened { share_id, data_hash, plaintext_len, header, data_key, chunks, .. } = opened;
    tokio::spawn(async move {
        let result =
            envelope::decrypt(chunks, &mut decrypt_side, &header, &data_key, PARALLELISM).await;
        match result {
            Ok(summary) if summary.content_hash != data_hash => {
                tracing::error!(%share_id, "decrypted data does not match its hash")
            }
            Ok(_) => {}
            // The client stopped reading, or the source stopped answering: the data
            // itself is not known to be bad.
            Err(envelope::EnvelopeError::Io(error)) => {
                tracing::warn!(%share_id, %error, "download ended early")
            }
            Err(error) => tracing::error!(%share_id, %error, "envelope failed to decrypt"),
        }
    });
    let body = axum::body::Body::from_stream(ReaderStream::new(response_side));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/octet-stream"));
    if let Some(len) = plaintext_len {
        headers.insert(header::CONTENT_LENGTH, len.into());
    }
    headers.insert(
        header::HeaderName::from_static("x-content-sha256"),
        header::HeaderValue::from_str(&data_hash.to_string()).expect("hash text is a header value"),
    );
    response
}

/// The plaintext inside the seed's JSON answer.
async fn json_plaintext(opened: Opened) -> Result<Response, ApiError> {
    let capacity = opened.plaintext_len.unwrap_or_default().min(MAX_JSON_DATA) as usize;
    let mut data = Vec::with_capacity(capacity);
    let summary =
        envelope::decrypt(opened.chunks, &mut data, &opened.header, &opened.data_key, PARALLELISM)
            .await
            .map_err(|error| match error {
                envelope::EnvelopeError::Io(error) => ApiError::Unavailable {
                    dependency: "the envelope's source",
                    cause: error.to_string(),
                },
                other => ApiError::BadGateway(format!("the envelope failed to decrypt: {other}")),
            })?;
    let (data, encoding) = match String::from_utf8(data) {
        Ok(text) => (text, "utf-8"),
        Err(bytes) => {
            use base64::Engine as _;
            (base64::engine::general_purpose::STANDARD.encode(bytes.into_bytes()), "base64")
        }
    };
    Ok(AppJson(DataResponse {
        data,
        encoding: encoding.to_owned(),
        sender: node_id_of(&from_abi_account(&opened.owner)),
        timestamp: rfc3339(opened.shared_at),
        verified: summary.content_hash == opened.data_hash,
    })
    .into_response())
}
