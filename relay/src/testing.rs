//! A relay in process, built one way for the crate's router tests, the end-to-end
//! suites and the benches (feature `testing`): a temporary keyring, a SQLite index and
//! a local store under a directory the caller owns, and two tokens.
//!
//! # Examples
//!
//! ```no_run
//! # async fn example() {
//! use datamgmt_relay::testing::{TestRelay, USER_TOKEN};
//! let dir = tempfile::tempdir().unwrap();
//! let relay = TestRelay::new(dir.path()).serve(None).await;
//! println!("serving on {} (token {USER_TOKEN})", relay.address);
//! relay.shutdown().await;
//! # }
//! ```

use crate::auth::{ApiTokens, Role, TokenConfig};
use crate::config::{Settings, TlsConfig};
use crate::index::Index;
use crate::node::NodeIdentity;
use crate::state::{AppState, Public};
use crate::storage::{EnvelopeStore, StorageConfig};
use crate::{ChainEndpoint, Workers};
use datamgmt_client::api::RelayClient;
use datamgmt_client::chain::NodeSigner;
use datamgmt_client::keyring::Keyring;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The token with the `user` role.
pub const USER_TOKEN: &str = "user-token";
/// The token with the `admin` role.
pub const ADMIN_TOKEN: &str = "admin-token";

/// The passphrase of a test relay's keyring file.
pub const KEYRING_PASSPHRASE: &str = "test relay";

/// The tokens of a test relay: [`USER_TOKEN`] and [`ADMIN_TOKEN`].
pub fn tokens() -> ApiTokens {
    let token = |name: &str, token: &str, role| TokenConfig {
        name: name.into(),
        sha256: ApiTokens::hash_token(token),
        role,
    };
    ApiTokens::new(&[
        token("user", USER_TOKEN, Role::User),
        token("admin", ADMIN_TOKEN, Role::Admin),
    ])
    .expect("hashes made here are well formed")
}

/// How to build a relay for a test; every part has a default.
pub struct TestRelay {
    dir: PathBuf,
    signer: NodeSigner,
    settings: Settings,
    public: Public,
    storage: Option<StorageConfig>,
    index: Option<Index>,
    public_url: String,
    tls: TlsConfig,
}

impl TestRelay {
    /// A relay keeping its files under `dir`, acting as `//Alice`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            signer: NodeSigner::from_suri("//Alice").expect("a dev account"),
            settings: Settings::default(),
            public: Public::default(),
            storage: None,
            index: None,
            public_url: "http://127.0.0.1:18080".into(),
            tls: TlsConfig::default(),
        }
    }

    /// Serves HTTPS with `tls`'s certificate and key, and trusts its `peer_roots` when
    /// calling other nodes, as a relay with this `[tls]` table does.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = tls;
        self
    }

    /// Acts as `signer`.
    pub fn signer(mut self, signer: NodeSigner) -> Self {
        self.signer = signer;
        self
    }

    /// Uses these settings.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Publishes this (the contract for `GET /contract`, CORS origins).
    pub fn public(mut self, public: Public) -> Self {
        self.public = public;
        self
    }

    /// Stores envelopes there instead of on disk under the directory.
    pub fn storage(mut self, storage: StorageConfig) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Uses this index instead of a new one under the directory.
    pub fn index(mut self, index: Index) -> Self {
        self.index = Some(index);
        self
    }

    /// Registers this endpoint on chain.
    pub fn public_url(mut self, url: &str) -> Self {
        self.public_url = url.to_owned();
        self
    }

    /// The relay's state, with nothing started.
    pub async fn state(self) -> AppState {
        let keyring = Keyring::generate(&KEYRING_PASSPHRASE.into());
        let node = NodeIdentity {
            signer: self.signer,
            keyring: Arc::new(tokio::sync::RwLock::new(keyring)),
            keyring_path: self.dir.join("keyring.json"),
            public_url: self.public_url,
        };
        let storage = self.storage.unwrap_or(StorageConfig::Local { root: self.dir.join("store") });
        let store = EnvelopeStore::open(&storage).expect("the test store opens");
        let index = match self.index {
            Some(index) => index,
            None => {
                let url = crate::index::scratch::database_url(&self.dir).await;
                Index::open(&url).await.expect("the test index opens")
            }
        };
        let roots = match &self.tls.peer_roots {
            Some(path) => crate::tls::peer_roots(path).expect("the test relay's [tls] peer_roots"),
            None => Vec::new(),
        };
        let peers = crate::peers::Peers::with_roots(self.settings.peers, &roots)
            .expect("an HTTP client for peers");
        AppState::new(self.settings, self.public, tokens(), store, index, node, peers)
    }

    /// The relay started (on `chain`, if any, with every background task) and serving
    /// on a free loopback port.
    pub async fn serve(self, chain: Option<ChainEndpoint>) -> ServedRelay {
        self.serve_with(chain, Workers::ALL).await
    }

    /// The relay started with these `workers` and serving on a free loopback port.
    /// HTTPS when [`tls`](Self::tls) names a certificate and key.
    pub async fn serve_with(self, chain: Option<ChainEndpoint>, workers: Workers) -> ServedRelay {
        let tls = match (&self.tls.cert, &self.tls.key) {
            (Some(cert), Some(key)) => {
                Some(crate::tls::acceptor(cert, key).expect("the test relay's [tls] files"))
            }
            _ => None,
        };
        let https = tls.is_some();
        let state = self.state().await;
        crate::start(&state, chain, workers);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("a bound port");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::run(listener, state.clone(), tls, async {
            let _ = stopped.await;
        }));
        ServedRelay { address, https, state, stop, server }
    }
}

/// A relay serving in this process.
pub struct ServedRelay {
    /// Where it listens.
    pub address: SocketAddr,
    /// Whether it serves HTTPS ([`TestRelay::tls`]).
    pub https: bool,
    /// Its state.
    pub state: AppState,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl ServedRelay {
    /// Its base URL.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.address)
    }

    /// A typed client of this relay, with `token` (trusting the system's roots: a relay
    /// serving a private CA's certificate needs [`RelayClient::with_http_client`]).
    pub fn client(&self, token: &str) -> RelayClient {
        RelayClient::new(self.url(), token)
    }

    /// Stops serving (finishing requests in progress), then every background task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        self.server.await.expect("the server task").expect("the server ends cleanly");
        crate::stop(&self.state).await;
    }
}
