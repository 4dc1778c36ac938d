//! Sharing: a share encrypts the data under a fresh key, stores the envelope,
//! and records the share on chain, streamed, never holding the
//! object in memory.
//!
//! Order matters for "nothing lost, nothing half-done": the envelope is stored first
//! (invisible until complete), then the share is written to the index as pending, then
//! the chain call is made. A chain refusal undoes the first two; a chain failure leaves
//! the pending row for the outbox worker ([`retry_pending`]) and answers 503.

use crate::error::{bad, chain_unavailable, contract_refusal, internal, ApiError};
use crate::index::{ChainRecord, ShareRow};
use crate::metrics::ShareOutcome;
use crate::share::upload::upload_failure;
use crate::state::AppState;
use crate::time::now_ms;

use datamgmt_abi::{AccountId, Balance, DataHash, KeyVersion, NodeId, ShareId, Timestamp};
use datamgmt_client::chain::{messages, CallReceipt, ChainClient, ChainError, Confirmation};
use datamgmt_client::envelope::{self, Header, StanzaKind, DEFAULT_CHUNK_SIZE};
use datamgmt_client::keys::DataKey;
use tokio::io::{AsyncRead, AsyncWriteExt};

/// Chunks encrypted or decrypted at once per request.
pub(crate) const PARALLELISM: usize = 2;

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
) -> Result<Shared, ApiError> {
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
) -> Result<Shared, ApiError> {
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

/// A share made: its index row and where the chain recorded it.
#[derive(Debug)]
pub struct Shared {
    /// The share, as indexed.
    pub row: ShareRow,
    /// Its chain record.
    pub record: ChainRecord,
}

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
) -> Result<Shared, ApiError> {
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
    Ok(Shared { row, record })
}

/// Makes the chain call for a pending share and settles the outcome in the index.
pub(crate) async fn record_on_chain(
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
        Err(ChainError::Contract(datamgmt_abi::Error::ShareExists)) => {
            match on_chain(chain, row).await.map_err(chain_unavailable)? {
                // Recorded by another attempt (the outbox, or a replica's) that raced
                // this one: its object and row stay; the indexer fills in its block.
                OnChain::Ours => {
                    let note = "already on chain; waiting for the indexer to find its block";
                    let _ = state.index().mark_attempt_failed(row.share_id, note).await;
                    Err(ApiError::Unavailable {
                        dependency: "the chain",
                        cause: format!(
                            "share {} is on chain; its block is being indexed",
                            row.share_id
                        ),
                    })
                }
                // Someone else's share holds the id: this one can never be recorded.
                OnChain::Taken => {
                    state.metrics().share(ShareOutcome::Refused);
                    discard(state, row).await;
                    Err(contract_refusal(datamgmt_abi::Error::ShareExists))
                }
                // Refused on one block, absent from the next (a chain reorganisation):
                // it stays pending, for the outbox to try again.
                OnChain::Absent => {
                    state.metrics().share(ShareOutcome::Pending);
                    let note = "the chain both had and lacked this id; trying again later";
                    let _ = state.index().mark_attempt_failed(row.share_id, note).await;
                    Err(ApiError::Unavailable {
                        dependency: "the chain",
                        cause: format!("share {} stays pending: {note}", row.share_id),
                    })
                }
            }
        }
        Err(ChainError::Contract(refusal)) => {
            state.metrics().share(ShareOutcome::Refused);
            // The contract will never accept it: undo the object and the row.
            discard(state, row).await;
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

/// What the chain holds under a pending share's id.
pub(crate) enum OnChain {
    /// Nothing: the share is still to record.
    Absent,
    /// This node's share.
    Ours,
    /// Another share. Share ids are random, but anyone can send one first that they saw
    /// waiting in the transaction pool; such a share must never be taken for this one.
    Taken,
}

/// Reads what the chain holds under `row`'s share id.
pub(crate) async fn on_chain(chain: &ChainClient, row: &ShareRow) -> Result<OnChain, ChainError> {
    Ok(match chain.share_record(row.share_id).await? {
        None => OnChain::Absent,
        // Only this node's account makes shares it owns, and it makes each id once: the
        // terms may have changed since (expiry, a rewrapped key version), the share not.
        Some(share) if share.owner == row.owner => OnChain::Ours,
        Some(_) => OnChain::Taken,
    })
}

/// Forgets a share the chain will never record: its object and its row.
pub(crate) async fn discard(state: &AppState, row: &ShareRow) {
    let _ = state.store().delete(row.share_id).await;
    let _ = state.index().remove(row.share_id).await;
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

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    bytes
}
