//! The connection to the chain node, made and kept in the background, and the newest
//! block it has announced.

use crate::error::{chain_unavailable, ApiError};
use crate::node;
use crate::node::NodeIdentity;
use tokio_util::sync::CancellationToken;

use datamgmt_client::chain::{AccountId32, ChainClient, NodeSigner, SharedSubmitLock, H256};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::{sync::Arc, time::Duration};
use tokio::sync::RwLock;

/// Seconds between attempts to reach the chain (or register) while it fails.
const CHAIN_RETRY: Duration = Duration::from_secs(2);

/// The connection to the chain, made in the background: a relay starts (and answers
/// health checks) while the chain is down, and requests that need it get a 503 until it
/// is back. The connection counts as made once the node's record on chain is current,
/// and is watched: a heartbeat asks the node for its best block every second, and when
/// it does not answer within [`HEARTBEAT_TIMEOUT`] the connection is dropped and made
/// again. A node that stops answering (frozen, unreachable) therefore shows within
/// [`LIVENESS`]: key releases check [`live`](Self::live) before they decide.
///
/// While connected it also follows the node's best block, so a request that reads the
/// chain at the best block needs no round trip to learn which block that is.
#[derive(Clone, Default)]
pub struct ChainConnection {
    client: Arc<RwLock<Option<ChainClient>>>,
    last_error: Arc<RwLock<Option<String>>>,
    best: Arc<tokio::sync::watch::Sender<Option<Block>>>,
    /// Whether `best` follows the node (else each read asks the node for its best).
    following: Arc<AtomicBool>,
    /// When the node last answered ([`monotonic_ms`]; 0: never).
    answered_at: Arc<AtomicU64>,
    /// One request for a new block at a time.
    producing: Arc<tokio::sync::Mutex<()>>,
}

/// A block, by number and hash.
pub type Block = (u64, H256);

/// Milliseconds since this process first asked: a clock that a change of the
/// machine's time cannot move, for how long the chain node has been silent.
fn monotonic_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64
}

/// How often the heartbeat asks the node for its best block.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// A heartbeat the node does not answer within this drops the connection.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);
/// A node that has not answered for this long counts as gone for key releases (one
/// heartbeat interval plus its timeout).
pub const LIVENESS: Duration = Duration::from_secs(3);
/// How long connecting (WebSocket, metadata, registration check) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a block asked for may take to come.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(10);

impl ChainConnection {
    /// Keeps trying to reach `url` and bring `node`'s registration up to date, until
    /// both succeed; then watches the connection and makes it again when it is lost.
    /// Ends when `stopping` is cancelled, leaving the connection closed: requests that
    /// still come get 503s, not answers from a block nobody follows any more.
    pub async fn maintain(
        self,
        url: String,
        contract: AccountId32,
        node: NodeIdentity,
        submit_lock: Option<Arc<dyn SharedSubmitLock>>,
        stopping: CancellationToken,
    ) {
        while !stopping.is_cancelled() {
            let connect = tokio::time::timeout(
                CONNECT_TIMEOUT,
                Self::try_connect(&url, contract, &node, submit_lock.clone()),
            );
            let attempt = tokio::select! {
                () = stopping.cancelled() => break,
                attempt = connect => {
                    attempt.unwrap_or_else(|_| Err("the chain node did not answer in time".to_owned()))
                }
            };
            match attempt {
                Ok(client) => {
                    self.answered();
                    *self.client.write().await = Some(client.clone());
                    *self.last_error.write().await = None;
                    // Watch the connection; when the node stops answering, requests get
                    // 503s until a new connection is made.
                    tokio::select! {
                        () = self.heartbeat(&client) => {
                            tracing::warn!(url, "lost the chain; reconnecting");
                        }
                        () = self.follow_best(&client) => {
                            tracing::warn!(url, "lost the chain; reconnecting");
                        }
                        () = stopping.cancelled() => {}
                    }
                    self.disconnected("the connection to the chain node was lost").await;
                }
                Err(error) => {
                    tracing::warn!(url, %error, "chain not ready; retrying");
                    *self.last_error.write().await = Some(error);
                    tokio::select! {
                        () = stopping.cancelled() => {}
                        () = tokio::time::sleep(CHAIN_RETRY) => {}
                    }
                }
            }
        }
        self.disconnected("the relay is stopping").await;
    }

    /// Forgets the connection: no client, no best block, `why` as the error.
    async fn disconnected(&self, why: &str) {
        self.following.store(false, Ordering::SeqCst);
        self.best.send_replace(None);
        *self.client.write().await = None;
        *self.last_error.write().await = Some(why.to_owned());
    }

    /// Asks the node for its best block every [`HEARTBEAT_EVERY`]; returns when it does
    /// not answer within [`HEARTBEAT_TIMEOUT`].
    async fn heartbeat(&self, client: &ChainClient) {
        loop {
            match tokio::time::timeout(HEARTBEAT_TIMEOUT, client.best_block()).await {
                Ok(Ok((number, hash))) => {
                    self.answered();
                    Self::advance(&self.best, number, hash);
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "the chain node's heartbeat failed");
                    return;
                }
                Err(_) => {
                    tracing::warn!("the chain node did not answer its heartbeat in time");
                    return;
                }
            }
            tokio::time::sleep(HEARTBEAT_EVERY).await;
        }
    }

    /// Keeps `best` at the node's best block. Should the subscription fail, reads ask
    /// the node for its best block instead, and this never returns: whether the node
    /// is alive is for [`heartbeat`](Self::heartbeat) to say.
    async fn follow_best(&self, client: &ChainClient) {
        use futures::StreamExt as _;
        match client.best_blocks().await {
            Ok(heads) => {
                self.following.store(true, Ordering::SeqCst);
                let mut heads = std::pin::pin!(heads);
                while let Some(head) = heads.next().await {
                    match head {
                        Ok((number, hash)) => {
                            self.answered();
                            Self::advance(&self.best, number, hash);
                        }
                        Err(error) => {
                            tracing::warn!(%error, "the best-block subscription failed");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot follow the best block"),
        }
        self.following.store(false, Ordering::SeqCst);
        std::future::pending::<()>().await
    }

    async fn try_connect(
        url: &str,
        contract: AccountId32,
        node: &NodeIdentity,
        submit_lock: Option<Arc<dyn SharedSubmitLock>>,
    ) -> Result<ChainClient, String> {
        let mut client = ChainClient::connect(url, contract).await.map_err(|e| e.to_string())?;
        if let Some(lock) = submit_lock {
            // Replicas of this node sign for one account: their submissions take turns.
            client = client.with_shared_submit_lock(lock);
        }
        let keyring = node.keyring.read().await;
        let outcome = node::ensure_registered(&client, &node.signer, &keyring, &node.public_url)
            .await
            .map_err(|e| format!("node registration failed: {e}"))?;
        let (account, node_id) = node::describe(&node.signer);
        tracing::info!(url, %account, %node_id, ?outcome, "connected to the chain");
        Ok(client)
    }

    /// A connection that is never made (for a relay whose chain is unreachable, and
    /// for tests of that case).
    pub fn unavailable(reason: &str) -> Self {
        Self { last_error: Arc::new(RwLock::new(Some(reason.to_owned()))), ..Self::default() }
    }

    fn answered(&self) {
        self.answered_at.fetch_max(monotonic_ms().max(1), Ordering::SeqCst);
    }

    /// Moves the best block known to `number` unless a later one is known already.
    fn advance(best: &tokio::sync::watch::Sender<Option<Block>>, number: u64, hash: H256) {
        best.send_if_modified(|known| match known {
            Some((known_number, known_hash)) if *known_number > number || *known_hash == hash => {
                false
            }
            _ => {
                *known = Some((number, hash));
                true
            }
        });
    }

    /// Notes a block this relay saw its own transaction land in (or asked the node
    /// for), so that from now on it decides on that block or a newer one.
    pub fn saw_block(&self, number: u64, hash: H256) {
        self.answered();
        Self::advance(&self.best, number, hash);
    }

    /// The newest block this relay has seen (asked for when it does not follow the
    /// node's best blocks), or a 503 while the chain is unreachable.
    pub async fn newest(&self, chain: &ChainClient) -> Result<Block, ApiError> {
        let known = *self.best.borrow();
        match known {
            Some(best) if self.following.load(Ordering::SeqCst) => Ok(best),
            _ => self.refresh_best(chain).await,
        }
    }

    /// The newest block seen so far, without asking anyone (`None` before the first).
    pub fn newest_known(&self) -> Option<Block> {
        *self.best.borrow()
    }

    /// A 503 unless the node answered within [`LIVENESS`]: what a key release must
    /// check, since it may be decided on reads made earlier at the same block.
    pub fn live(&self) -> Result<(), ApiError> {
        let answered_at = self.answered_at.load(Ordering::SeqCst);
        let silent_ms = monotonic_ms().saturating_sub(answered_at);
        if answered_at == 0 || silent_ms > LIVENESS.as_millis() as u64 {
            return Err(ApiError::Unavailable {
                dependency: "the chain",
                cause: format!("the chain node has not answered for {} s", silent_ms / 1000),
            });
        }
        Ok(())
    }

    /// Asks the chain for a block newer than `seen` (a remark signed by `signer`; a
    /// node that seals a block per transaction makes one at once) and waits for it.
    /// One request at a time: whoever waited for another's request gets that block.
    pub async fn produce_block(
        &self,
        chain: &ChainClient,
        signer: &NodeSigner,
        seen: Block,
    ) -> Result<Block, ApiError> {
        let _one_at_a_time = self.producing.lock().await;
        if let Some(newer) = self.newest_known().filter(|newest| newest.0 > seen.0) {
            return Ok(newer);
        }
        let produced = tokio::time::timeout(PRODUCE_TIMEOUT, chain.produce_block(signer))
            .await
            .map_err(|_| ApiError::Unavailable {
                dependency: "the chain",
                cause: format!(
                    "no block in {} s: the chain is not producing blocks",
                    PRODUCE_TIMEOUT.as_secs()
                ),
            })?
            .map_err(chain_unavailable)?;
        self.saw_block(produced.0, produced.1);
        Ok(produced)
    }

    /// The node's best block, asked for now rather than taken from the subscription
    /// (which may be a few milliseconds behind).
    pub async fn refresh_best(&self, chain: &ChainClient) -> Result<Block, ApiError> {
        let (number, hash) = chain.best_block().await.map_err(chain_unavailable)?;
        self.saw_block(number, hash);
        Ok((number, hash))
    }

    /// The client, or a 503 while the chain is unreachable.
    pub async fn client(&self) -> Result<ChainClient, ApiError> {
        match self.client.read().await.as_ref() {
            Some(client) => Ok(client.clone()),
            None => Err(ApiError::Unavailable {
                dependency: "the chain",
                cause: self.last_error.read().await.clone().unwrap_or_default(),
            }),
        }
    }
}
