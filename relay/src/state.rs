//! What every request handler shares: tokens, the envelope store, the index, the node's
//! identity and keys, the chain connection and its per-block reads, the release gate,
//! and the tracker of the relay's background tasks. Building it starts nothing:
//! [`crate::start`] does.

use crate::auth::{ApiTokens, HasTokens};
use crate::chain::connection::ChainConnection;
use crate::chain::reads::ChainReads;
use crate::config::{Limits, Settings};
use crate::console::Console;
use crate::index::Index;
use crate::metrics::Metrics;
use crate::node::NodeIdentity;
use crate::peers::Peers;
use crate::rate::Limiters;
use crate::release::gate::ReleaseRecorder;
use crate::storage::EnvelopeStore;
use datamgmt_client::api::ContractInfo;

use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the relay tells whoever asks: the contract, for dApps (`GET /contract`), and
/// which web origins may call the API from a browser.
#[derive(Debug, Clone, Default)]
pub struct Public {
    /// The contract's address, code hash and metadata, when configured.
    pub contract: Option<ContractInfo>,
    /// Origins allowed by CORS (checked when the configuration is read).
    pub cors_origins: Vec<String>,
    /// The web console, when configured.
    pub console: Option<Console>,
}

/// Shared state, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    metrics: Metrics,
    settings: Settings,
    public: Public,
    /// `public.contract` as the JSON `GET /contract` answers, made once.
    contract_json: Option<bytes::Bytes>,
    tokens: ApiTokens,
    store: EnvelopeStore,
    index: Index,
    node: NodeIdentity,
    chain: ChainConnection,
    peers: Peers,
    limiters: Limiters,
    releases: ReleaseRecorder,
    reads: ChainReads,
    tasks: TaskTracker,
    stopping: CancellationToken,
}

impl AppState {
    /// State over these parts, with no chain connection yet and no task running:
    /// [`crate::start`] connects to the chain and starts the background tasks. Until
    /// then key releases stay paused (the gate opens once the recorder has read the
    /// outbox).
    pub fn new(
        settings: Settings,
        public: Public,
        tokens: ApiTokens,
        store: EnvelopeStore,
        index: Index,
        node: NodeIdentity,
        peers: Peers,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                metrics: Metrics::default(),
                settings,
                contract_json: public
                    .contract
                    .as_ref()
                    .and_then(|contract| serde_json::to_vec(contract).ok())
                    .map(bytes::Bytes::from),
                public,
                tokens,
                store,
                index,
                node,
                chain: ChainConnection::unavailable("no chain connection has been started"),
                peers,
                limiters: Limiters::new(&settings.peers, &settings.releases),
                releases: ReleaseRecorder::new(settings.releases),
                reads: Default::default(),
                tasks: TaskTracker::new(),
                stopping: CancellationToken::new(),
            }),
        }
    }

    /// The relay's background tasks, and the work requests hand off so that it ends
    /// even if the asker goes away (shutdown waits for all of it).
    pub fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    /// Cancelled when the relay shuts down: background loops end at their next wait.
    pub fn stopping(&self) -> &CancellationToken {
        &self.inner.stopping
    }

    /// What the relay publishes: the contract for dApps, the allowed web origins.
    pub fn public(&self) -> &Public {
        &self.inner.public
    }

    /// The contract as `GET /contract` answers it (JSON), when configured.
    pub fn contract_json(&self) -> Option<&bytes::Bytes> {
        self.inner.contract_json.as_ref()
    }

    /// The relay's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Request limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.settings.limits
    }

    /// Everything configured about requests, peers, releases and the server.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Rate limits on what other nodes ask.
    pub fn limiters(&self) -> &Limiters {
        &self.inner.limiters
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
    pub fn releases(&self) -> &ReleaseRecorder {
        &self.inner.releases
    }

    /// Chain reads on the key-release path, made once per block.
    pub fn reads(&self) -> &ChainReads {
        &self.inner.reads
    }

    /// The HTTP client for requests to other nodes.
    pub fn peers(&self) -> &Peers {
        &self.inner.peers
    }
}

impl HasTokens for AppState {
    fn tokens(&self) -> &ApiTokens {
        &self.inner.tokens
    }
}
