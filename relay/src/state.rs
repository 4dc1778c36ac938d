//! What every request handler shares: tokens, the envelope store, the index, the node's
//! identity and keys, and the chain connection.

use crate::auth::{ApiTokens, HasTokens};
use crate::config::Limits;
use crate::error::ApiError;
use crate::index::Index;
use crate::metrics::Metrics;
use crate::node;
use crate::storage::EnvelopeStore;
use datamgmt_client::chain::{AccountId32, ChainClient, NodeSigner, H256};
use datamgmt_client::keyring::Keyring;
use std::{path::PathBuf, sync::Arc, time::Duration};
use tokio::sync::RwLock;

/// Seconds between attempts to reach the chain (or register) while it fails.
const CHAIN_RETRY: Duration = Duration::from_secs(2);
/// How long connecting to another node may take.
const PEER_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Who this relay is: its chain account, its keys, the URL it is reached at.
#[derive(Clone)]
pub struct NodeIdentity {
    /// Signs the node's transactions.
    pub signer: NodeSigner,
    /// Master keys and X25519 keys; written only by key rotation.
    pub keyring: Arc<RwLock<Keyring>>,
    /// The keyring's file, which key rotation writes.
    pub keyring_path: PathBuf,
    /// The endpoint registered on chain.
    pub public_url: String,
}

impl NodeIdentity {
    /// This node's account, in the contract's form.
    pub fn account(&self) -> datamgmt_abi::AccountId {
        datamgmt_client::chain::to_abi_account(&self.signer.account_id())
    }
}

/// Shared state, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    metrics: Metrics,
    limits: Limits,
    tokens: ApiTokens,
    store: EnvelopeStore,
    index: Index,
    node: NodeIdentity,
    chain: ChainConnection,
    peers: reqwest::Client,
    releases: crate::releases::ReleaseRecorder,
    reads: crate::chain_reads::ChainReads,
}

impl AppState {
    /// State over these parts. Starts the task that records key releases on chain, so
    /// it must run inside a Tokio runtime.
    pub fn new(
        limits: Limits,
        tokens: ApiTokens,
        store: EnvelopeStore,
        index: Index,
        node: NodeIdentity,
        chain: ChainConnection,
    ) -> Self {
        let metrics = Metrics::default();
        let peers = reqwest::Client::builder()
            .connect_timeout(PEER_CONNECT_TIMEOUT)
            .build()
            .expect("an HTTP client with default TLS settings builds");
        let releases = crate::releases::ReleaseRecorder::default();
        let state = Self {
            inner: Arc::new(Inner {
                metrics,
                limits,
                tokens,
                store,
                index,
                node,
                chain,
                peers,
                releases,
                reads: Default::default(),
            }),
        };
        crate::releases::spawn(state.clone());
        state
    }

    /// The relay's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Request limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The envelope store.
    pub fn store(&self) -> &EnvelopeStore {
        &self.inner.store
    }

    /// The index.
    pub fn index(&self) -> &Index {
        &self.inner.index
    }

    /// This node.
    pub fn node(&self) -> &NodeIdentity {
        &self.inner.node
    }

    /// The chain connection.
    pub fn chain(&self) -> &ChainConnection {
        &self.inner.chain
    }

    /// Writes key releases to the outbox the chain records are made from.
    pub fn releases(&self) -> &crate::releases::ReleaseRecorder {
        &self.inner.releases
    }

    /// Chain reads on the key-release path, made once per block.
    pub fn reads(&self) -> &crate::chain_reads::ChainReads {
        &self.inner.reads
    }

    /// The HTTP client for requests to other nodes.
    pub fn peers(&self) -> &reqwest::Client {
        &self.inner.peers
    }
}

impl HasTokens for AppState {
    fn tokens(&self) -> &ApiTokens {
        &self.inner.tokens
    }
}

/// The connection to the chain, made in the background: a relay starts (and answers
/// health checks) while the chain is down, and requests that need it get a 503 until it
/// is back. The connection counts as made once the node's record on chain is current,
/// and is watched: when the node stops answering it is dropped and made again.
///
/// While connected it also follows the node's best block, so a request that reads the
/// chain at the best block needs no round trip to learn which block that is.
#[derive(Clone, Default)]
pub struct ChainConnection {
    client: Arc<RwLock<Option<ChainClient>>>,
    last_error: Arc<RwLock<Option<String>>>,
    best: Arc<tokio::sync::watch::Sender<Option<(u64, H256)>>>,
    /// The newest block this relay changed something in (or asked the node for).
    fresh_from: Arc<std::sync::atomic::AtomicU64>,
    /// Whether `best` follows the node (else each read asks the node for its best).
    following: Arc<std::sync::atomic::AtomicBool>,
}

impl ChainConnection {
    /// Keeps trying to reach `url` and bring `node`'s registration up to date, until
    /// both succeed.
    pub fn connect_in_background(url: String, contract: AccountId32, node: NodeIdentity) -> Self {
        let connection = Self::default();
        let background = connection.clone();
        tokio::spawn(async move {
            loop {
                match Self::try_connect(&url, contract, &node).await {
                    Ok(client) => {
                        background.best.send_replace(client.best_block().await.ok());
                        *background.client.write().await = Some(client.clone());
                        *background.last_error.write().await = None;
                        // Watch the connection; when the node stops answering, requests
                        // get 503s until a new connection is made.
                        tokio::select! {
                            () = Self::poll_alive(&client) => {}
                            () = background.follow_best(&client) => {}
                        }
                        tracing::warn!(url, "lost the chain; reconnecting");
                        background.following.store(false, std::sync::atomic::Ordering::SeqCst);
                        background.best.send_replace(None);
                        *background.client.write().await = None;
                        *background.last_error.write().await =
                            Some("the connection to the chain node was lost".to_owned());
                    }
                    Err(error) => {
                        tracing::warn!(url, %error, "chain not ready; retrying");
                        *background.last_error.write().await = Some(error);
                        tokio::time::sleep(CHAIN_RETRY).await;
                    }
                }
            }
        });
        connection
    }

    /// Returns when the node stops answering.
    async fn poll_alive(client: &ChainClient) {
        while client.best_block().await.is_ok() {
            tokio::time::sleep(CHAIN_RETRY).await;
        }
    }

    /// Keeps `best` at the node's best block. Should the subscription fail, reads ask
    /// the node for its best block instead, and this never returns: whether the node
    /// is alive is for [`poll_alive`](Self::poll_alive) to say.
    async fn follow_best(&self, client: &ChainClient) {
        use futures::StreamExt as _;
        use std::sync::atomic::Ordering;
        match client.best_blocks().await {
            Ok(heads) => {
                self.following.store(true, Ordering::SeqCst);
                let mut heads = std::pin::pin!(heads);
                while let Some(head) = heads.next().await {
                    match head {
                        Ok((number, hash)) => Self::advance(&self.best, number, hash),
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
    ) -> Result<ChainClient, String> {
        let client = ChainClient::connect(url, contract).await.map_err(|e| e.to_string())?;
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

    /// Moves the best block known to `number` unless a later one is known already.
    fn advance(best: &tokio::sync::watch::Sender<Option<(u64, H256)>>, number: u64, hash: H256) {
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
    /// for), so its next reads are at least that recent and none answers from an
    /// earlier block.
    pub fn saw_block(&self, number: u64, hash: H256) {
        Self::advance(&self.best, number, hash);
        self.fresh_from.fetch_max(number, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether a read at `number` may answer from the block before while it is under
    /// way: not when this relay knows it changed something in block `number` itself
    /// (its own revocation takes effect on the next request).
    pub fn may_answer_from_previous(&self, number: u64) -> bool {
        number > self.fresh_from.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The client and the best block it knows (asked for when it does not follow the
    /// node's best blocks), or a 503 while the chain is unreachable.
    pub async fn at_best(&self) -> Result<(ChainClient, (u64, H256)), ApiError> {
        let chain = self.client().await?;
        let known = *self.best.borrow();
        match known {
            Some(best) if self.following.load(std::sync::atomic::Ordering::SeqCst) => {
                Ok((chain, best))
            }
            _ => {
                let best = self.refresh_best(&chain).await?;
                Ok((chain, best))
            }
        }
    }

    /// The node's best block, asked for now rather than taken from the subscription
    /// (which may be a few milliseconds behind).
    pub async fn refresh_best(&self, chain: &ChainClient) -> Result<(u64, H256), ApiError> {
        let (number, hash) = chain.best_block().await.map_err(crate::shares::chain_unavailable)?;
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
