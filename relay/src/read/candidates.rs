//! `GET /data/{hash}`: the data back, decrypted, and only if it hashes to what was
//! asked for.
//!
//! The node that shared the data opens the custody stanza of its own envelope. A
//! recipient node finds the shares made to it in its index of chain events and asks
//! each owner's relay in turn ([`crate::release::fetch::fetch`]), which releases the envelope only
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

use crate::error::{internal, ApiError};
use crate::read::answer::{json_plaintext, stream_plaintext, Opened, MAX_JSON_DATA};
use crate::state::AppState;

use axum::response::Response;
use datamgmt_abi::{AccountId, DataHash, NodeId, ShareId, Timestamp};
use datamgmt_client::chain::{from_abi_account, node_id_of};
use datamgmt_client::envelope::Header;

/// Shares of one hash tried for one read, at most: anyone can share any hash with this
/// node, so their number is the sharers' choice.
const MAX_CANDIDATES: usize = 16;

/// How long one candidate may take until its answer is decided (whole for JSON, the
/// first piece for a stream): a slow sharer does not keep the others from being tried.
const CANDIDATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// A share the data may be read from.
struct Candidate {
    share_id: ShareId,
    owner: AccountId,
    shared_at: Timestamp,
    /// For this node's own share (opened with its custody stanza), its plaintext length
    /// from the index; `None` for a share made to this node.
    own_plaintext_len: Option<u64>,
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
        match mine.iter().find(|row| row.key_version != crate::share::create::END_TO_END) {
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
    let fetched =
        crate::release::fetch::fetch(state, &candidate.owner, candidate.share_id, limit).await?;
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

/// Reads `data_hash` for this node: from `sender` only, if named, else from each share
/// of it in turn (its own first, then those made to it, the oldest first) until one
/// answers with data that hashes to it; as a stream when `streaming`.
pub async fn read_data(
    state: &AppState,
    data_hash: DataHash,
    sender: Option<NodeId>,
    streaming: bool,
) -> Result<Response, ApiError> {
    let candidates = candidates(state, data_hash, sender).await?;
    if candidates.is_empty() {
        let from = sender.map(|node| format!(" from {node}")).unwrap_or_default();
        return Err(ApiError::NotFound(format!("no data with hash {data_hash}{from} here")));
    }
    let mut failures = Vec::new();
    for candidate in candidates.into_iter().take(MAX_CANDIDATES) {
        let sender = node_id_of(&from_abi_account(&candidate.owner));
        let reading = read(state, &candidate, data_hash, streaming);
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

#[cfg(test)]
mod tests {
    use super::*;

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
