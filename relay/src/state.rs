//! What every request handler shares: tokens, the envelope store, the index, the node's
//! identity and keys, and the chain connection.

use crate::auth::{ApiTokens, HasTokens};
use crate::config::Limits;
use crate::error::ApiError;
use crate::index::Index;
use crate::metrics::Metrics;
use crate::node;
use crate::storage::EnvelopeStore;
use datamgmt_client::chain::{AccountId32, ChainClient, NodeSigner};
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
}

impl AppState {
    /// State over these parts. Starts the task that records key releases, so it must
    /// run inside a Tokio runtime.
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
        let (releases, release_queue) = crate::releases::ReleaseRecorder::new();
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
            }),
        };
        crate::releases::spawn(state.clone(), release_queue);
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

    /// Records key releases on chain (several to a transaction).
    pub fn releases(&self) -> &crate::releases::ReleaseRecorder {
        &self.inner.releases
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
#[derive(Clone, Default)]
pub struct ChainConnection {
    client: Arc<RwLock<Option<ChainClient>>>,
    last_error: Arc<RwLock<Option<String>>>,
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
                        *background.client.write().await = Some(client.clone());
                        *background.last_error.write().await = None;
                        // Watch the connection; when the node stops answering, requests
                        // get 503s until a new connection is made.
                        while client.best_block().await.is_ok() {
                            tokio::time::sleep(CHAIN_RETRY).await;
                        }
                        tracing::warn!(url, "lost the chain; reconnecting");
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
        Self { client: Arc::default(), last_error: Arc::new(RwLock::new(Some(reason.to_owned()))) }
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
