//! The relay's configuration: one TOML file, with environment overrides for what
//! differs between machines (`DATAMGMT_LISTEN`, `DATAMGMT_CHAIN_URL`,
//! `DATAMGMT_DEPLOY_STATE`). Secrets never sit in the file: the node account's secret
//! URI comes from the environment variable the file names.

use crate::auth::TokenConfig;
use crate::console::Console;
pub use crate::peers::PeerPolicy;
use crate::storage::StorageConfig;
use datamgmt_client::api::ContractInfo;
use datamgmt_client::chain::{AccountId32, DeployState};
use datamgmt_client::keys::Passphrase;
use secrecy::SecretString;
use serde::Deserialize;
use std::{net::SocketAddr, path::PathBuf};

/// Everything a relay needs to start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Address the REST API listens on.
    pub listen: SocketAddr,
    /// URL other nodes reach this relay at; registered on chain as the node's endpoint.
    pub public_url: String,
    /// The chain and the contract.
    pub chain: ChainConfig,
    /// The node's keyring file.
    pub keyring: KeyringConfig,
    /// The index database.
    pub database: DatabaseConfig,
    /// Where envelopes are stored.
    pub storage: StorageConfig,
    /// Accepted API tokens (hashed).
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// Request limits.
    #[serde(default)]
    pub limits: Limits,
    /// When key releases stop, and how often one recipient may have a share's key.
    #[serde(default)]
    pub releases: ReleasePolicy,
    /// Which other nodes' endpoints this relay calls, and how long it waits for them.
    #[serde(default)]
    pub peers: PeerPolicy,
    /// Connection and request timeouts, and load shedding.
    #[serde(default)]
    pub server: ServerLimits,
    /// Which web origins may call the API from a browser.
    #[serde(default)]
    pub cors: CorsConfig,
    /// The web console's build folder, served at `/` (none: no console).
    #[serde(default)]
    pub console: ConsoleConfig,
    /// HTTPS: the relay's certificate and key, and roots trusted for other nodes.
    #[serde(default)]
    pub tls: TlsConfig,
}

/// HTTPS. Without `cert` and `key` the relay serves plain HTTP, which it does only on a
/// loopback address.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain (PEM), the relay's own first.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// Certificates (PEM) trusted, besides the system's roots, when calling other
    /// nodes' HTTPS endpoints: a private CA's.
    pub peer_roots: Option<PathBuf>,
}

/// The web console: the folder `web/`'s build wrote (`index.html`, `dapp.html`,
/// `assets/`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// The build folder; unset, the relay serves no console.
    pub dir: Option<PathBuf>,
}

/// How to reach the contract.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// Node URL (`ws://…`); taken from the deploy state when absent.
    pub url: Option<String>,
    /// Contract address (SS58); taken from the deploy state when absent.
    pub contract: Option<String>,
    /// Deploy state file written by `scripts/deploy.sh`.
    pub deploy_state: Option<PathBuf>,
    /// The contract's ink! metadata JSON, served at `GET /contract` for dApps; taken
    /// from the deploy state when absent.
    pub metadata: Option<PathBuf>,
    /// A chain node URL `GET /contract` tells dApps about; none by default, as the
    /// relay's own node may be private (or carry credentials in its URL).
    pub public_node_url: Option<String>,
    /// Environment variable holding the node account's secret URI.
    #[serde(default = "default_suri_env")]
    pub account_suri_env: String,
}

fn default_suri_env() -> String {
    "DATAMGMT_NODE_SURI".to_owned()
}

/// The keyring file and where its passphrase comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyringConfig {
    /// The keyring file; created with fresh keys when missing.
    pub path: PathBuf,
    /// Environment variable holding the passphrase.
    #[serde(default = "default_passphrase_env")]
    pub passphrase_env: String,
}

fn default_passphrase_env() -> String {
    "DATAMGMT_KEYRING_PASSPHRASE".to_owned()
}

/// The index database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/index.db` (created when missing), or
    /// `postgres://user:password@host:port/name`, which replicas of one node share.
    pub url: String,
}

/// Request limits.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest JSON request body, in bytes.
    pub max_json_body: usize,
    /// Largest object a streaming upload may carry, in bytes.
    pub max_object_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_json_body: 16 << 20, max_object_bytes: 64 << 30 }
    }
}

/// When the owner's relay stops releasing keys, and how often it releases one share's
/// key to one recipient. Every key that leaves must have its record on chain: a relay
/// that cannot show that its records keep up stops releasing (503) until they do.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReleasePolicy {
    /// Oldest block (by its block time against this relay's clock, seconds) a release
    /// may be decided on. An older newest block means the chain is idle or stalled: the
    /// relay asks it for a block (a chain that seals on demand makes one at once) and
    /// refuses while none comes. Far below the contract's 10-minute record window.
    pub max_view_age_secs: u64,
    /// Releases stop while a release has waited longer than this for its chain record.
    pub max_record_lag_secs: u64,
    /// Releases of one share to one recipient per minute (0: no limit). Each release
    /// costs its owner a record on chain, so a free share's recipient could otherwise
    /// make its owner pay fees without end.
    pub per_share_recipient_per_minute: u32,
    /// Days a release record the contract refused stays listed at `/admin/releases`.
    pub keep_refused_days: u64,
}

impl Default for ReleasePolicy {
    fn default() -> Self {
        Self {
            max_view_age_secs: 60,
            max_record_lag_secs: 15,
            per_share_recipient_per_minute: 120,
            keep_refused_days: 30,
        }
    }
}

/// Connection and request limits of the HTTP server.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerLimits {
    /// Seconds a client has to send a request's headers; an idle kept-alive connection
    /// is closed after as long.
    pub header_timeout_secs: u64,
    /// Seconds a request body may stay silent.
    pub body_timeout_secs: u64,
    /// Seconds a response may stay unread by its client.
    pub write_timeout_secs: u64,
    /// Seconds a request without a streamed body may take to be answered.
    pub request_timeout_secs: u64,
    /// Open connections; more are closed at once.
    pub max_connections: usize,
    /// Requests being answered at once; more are answered 503 at once.
    pub max_in_flight: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            write_timeout_secs: 60,
            request_timeout_secs: 60,
            max_connections: 10_000,
            max_in_flight: 1_024,
        }
    }
}

/// Cross-origin requests from browsers (a dApp on another origin reading
/// `GET /contract`, say): none allowed unless listed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins (`scheme://host[:port]`) whose pages may call the API.
    #[serde(default)]
    pub origins: Vec<String>,
}

/// The largest contract metadata file read for `GET /contract`.
const MAX_METADATA_BYTES: u64 = 8 << 20;

/// Everything that shapes how the relay treats requests, peers and releases.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings {
    /// Request limits.
    pub limits: Limits,
    /// Key releases.
    pub releases: ReleasePolicy,
    /// Other nodes.
    pub peers: PeerPolicy,
    /// The HTTP server.
    pub server: ServerLimits,
}

/// Whether `origin` is a web origin: `http` or `https`, a host, an optional port, and
/// nothing else.
fn check_origin(origin: &str) -> Result<(), &'static str> {
    let url = reqwest::Url::parse(origin).map_err(|_| "is not a URL")?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be http:// or https:// and a host");
    }
    // What a browser sends in `Origin`: lowercase, no default port, punycode; anything
    // else would never match.
    if url.origin().ascii_serialization() != origin {
        return Err("must be an origin as browsers write it: scheme, host and port only");
    }
    Ok(())
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid configuration.
    #[error("invalid configuration in {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Something the configuration points at is missing or wrong.
    #[error("{0}")]
    Missing(String),
}

impl ChainConfig {
    /// The node URL and contract address: from the file, else from the deploy state.
    pub fn resolve(&self) -> Result<(String, AccountId32), ConfigError> {
        let deployed = match &self.deploy_state {
            Some(path) => {
                Some(DeployState::load(path).map_err(|e| ConfigError::Missing(e.to_string()))?)
            }
            None => None,
        };
        let url = self.url.clone().or_else(|| deployed.as_ref().map(|d| d.url.clone()));
        let contract = self.contract.clone().or_else(|| deployed.map(|d| d.contract));
        match (url, contract) {
            (Some(url), Some(contract)) => {
                let address = contract.parse().map_err(|_| {
                    ConfigError::Missing(format!("`{contract}` is not a contract address"))
                })?;
                Ok((url, address))
            }
            _ => Err(ConfigError::Missing(
                "[chain] needs `url` and `contract`, or a `deploy_state` file".to_owned(),
            )),
        }
    }
}

impl RelayConfig {
    /// Reads `path` and applies the environment overrides.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let mut config: Self = toml::from_str(&text)
            .map_err(|e| ConfigError::Invalid { path: path.to_owned(), message: e.to_string() })?;
        config.apply_env(|name| std::env::var(name).ok());
        config
            .validate()
            .map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })?;
        Ok(config)
    }

    /// Refuses settings that would weaken what the relay promises: a release decided on
    /// a block so old, or recorded so late, that its record could fall outside the
    /// contract's window; refused records forgotten at once; a `public_url` other nodes
    /// would refuse to call.
    fn validate(&self) -> Result<(), String> {
        let window_secs = datamgmt_abi::RELEASE_RECORD_WINDOW_MS / 1000;
        let releases = &self.releases;
        if releases.max_view_age_secs == 0
            || releases.max_view_age_secs + releases.max_record_lag_secs > window_secs / 2
        {
            return Err(format!(
                "[releases] max_view_age_secs (1 or more) and max_record_lag_secs together \
                 must stay under {} s, half the contract's record window",
                window_secs / 2
            ));
        }
        if releases.keep_refused_days == 0 {
            return Err("[releases] keep_refused_days must be 1 or more".into());
        }
        for origin in &self.cors.origins {
            check_origin(origin).map_err(|error| format!("[cors] origins: `{origin}` {error}"))?;
        }
        if self.server.header_timeout_secs == 0 {
            return Err("[server] header_timeout_secs must be 1 or more".into());
        }
        match (&self.tls.cert, &self.tls.key) {
            (Some(_), Some(_)) if !self.public_url.starts_with("https://") => {
                return Err("`public_url` must be https:// when the relay serves HTTPS".into())
            }
            (Some(_), Some(_)) => {}
            (None, None) if self.listen.ip().is_loopback() => {}
            (None, None) => {
                return Err(format!(
                    "`listen` {} is not a loopback address: serve HTTPS ([tls] cert and key)",
                    self.listen
                ))
            }
            _ => return Err("[tls] needs both `cert` and `key`".into()),
        }
        crate::peers::check_endpoint(&self.public_url, &self.peers)
            .map(|_| ())
            .map_err(|error| format!("`public_url`: {error}"))
    }

    /// The TLS acceptor `[tls]` configures, if any.
    pub fn tls_acceptor(&self) -> Result<Option<tokio_rustls::TlsAcceptor>, ConfigError> {
        match (&self.tls.cert, &self.tls.key) {
            (Some(cert), Some(key)) => crate::tls::acceptor(cert, key)
                .map(Some)
                .map_err(|e| ConfigError::Missing(format!("[tls]: {e}"))),
            _ => Ok(None),
        }
    }

    /// The HTTP client for other nodes: `[peers]` policy, and `[tls] peer_roots`.
    pub fn peers(&self) -> Result<crate::peers::Peers, ConfigError> {
        let roots = match &self.tls.peer_roots {
            Some(path) => crate::tls::peer_roots(path)
                .map_err(|e| ConfigError::Missing(format!("[tls] peer_roots: {e}")))?,
            None => Vec::new(),
        };
        crate::peers::Peers::with_roots(self.peers, &roots)
            .map_err(|e| ConfigError::Missing(format!("[tls] peer_roots: {e}")))
    }

    /// The web console to serve, when `[console] dir` names its build folder (which
    /// must hold `index.html`).
    pub fn console(&self) -> Result<Option<Console>, ConfigError> {
        let Some(dir) = &self.console.dir else { return Ok(None) };
        if !dir.join("index.html").is_file() {
            return Err(ConfigError::Missing(format!(
                "[console] dir: no index.html in {} (build it: npm --prefix web run build)",
                dir.display()
            )));
        }
        Ok(Some(Console { dir: dir.clone(), node_url: self.chain.public_node_url.clone() }))
    }

    /// What `GET /contract` tells dApps: the contract's address, its code hash and its
    /// ink! metadata, read from `[chain] metadata` or the deploy state's. `None` when
    /// neither names a metadata file.
    pub fn contract_info(&self) -> Result<Option<ContractInfo>, ConfigError> {
        let (_, contract) = self.chain.resolve()?;
        let deployed = match &self.chain.deploy_state {
            Some(path) => {
                Some(DeployState::load(path).map_err(|e| ConfigError::Missing(e.to_string()))?)
            }
            None => None,
        };
        let Some(path) = self.chain.metadata.clone().or(deployed.map(|d| d.metadata)) else {
            return Ok(None);
        };
        let invalid = |message: String| ConfigError::Invalid { path: path.clone(), message };
        let text = std::fs::File::open(&path)
            .and_then(|file| {
                let mut text = String::new();
                std::io::Read::read_to_string(
                    &mut std::io::Read::take(file, MAX_METADATA_BYTES + 1),
                    &mut text,
                )?;
                Ok(text)
            })
            .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        if text.len() as u64 > MAX_METADATA_BYTES {
            return Err(invalid(format!("larger than {MAX_METADATA_BYTES} bytes")));
        }
        let metadata: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
        let code_hash = metadata["source"]["hash"]
            .as_str()
            .ok_or_else(|| invalid("no `source.hash`: not ink! contract metadata".into()))?
            .to_owned();
        let node_url = self.chain.public_node_url.clone();
        Ok(Some(ContractInfo { address: contract.to_string(), code_hash, node_url, metadata }))
    }

    /// The settings requests, peers and releases are handled by.
    pub fn settings(&self) -> Settings {
        Settings {
            limits: self.limits,
            releases: self.releases,
            peers: self.peers,
            server: self.server,
        }
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        if let Some(listen) = var("DATAMGMT_LISTEN").and_then(|v| v.parse().ok()) {
            self.listen = listen;
        }
        if let Some(url) = var("DATAMGMT_CHAIN_URL") {
            self.chain.url = Some(url);
        }
        if let Some(path) = var("DATAMGMT_DEPLOY_STATE") {
            self.chain.deploy_state = Some(path.into());
        }
    }

    /// The keyring passphrase, from the environment variable the file names.
    pub fn keyring_passphrase(&self) -> Result<Passphrase, ConfigError> {
        std::env::var(&self.keyring.passphrase_env).map(Passphrase::new).map_err(|_| {
            ConfigError::Missing(format!(
                "set {} to the keyring's passphrase",
                self.keyring.passphrase_env
            ))
        })
    }

    /// The node account's secret URI, from the environment variable the file names.
    pub fn account_suri(&self) -> Result<SecretString, ConfigError> {
        std::env::var(&self.chain.account_suri_env).map(SecretString::from).map_err(|_| {
            ConfigError::Missing(format!(
                "set {} to the node account's secret URI (e.g. //Alice on the devnet)",
                self.chain.account_suri_env
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        listen = "127.0.0.1:8080"
        public_url = "http://127.0.0.1:8080"
        [chain]
        deploy_state = ".devnet/deploy.json"
        [keyring]
        path = "data/keyring.json"
        [database]
        url = "sqlite://data/index.db"
        [storage]
        kind = "local"
        root = "data/envelopes"
        [[tokens]]
        name = "app"
        sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
        role = "user"
    "#;

    #[test]
    fn example_parses_and_env_overrides_apply() {
        let mut config: RelayConfig = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(config.listen.port(), 8080);
        assert_eq!(config.chain.account_suri_env, "DATAMGMT_NODE_SURI");
        assert_eq!(config.keyring.passphrase_env, "DATAMGMT_KEYRING_PASSPHRASE");
        assert_eq!(config.limits.max_json_body, 16 << 20);
        config.apply_env(|name| match name {
            "DATAMGMT_LISTEN" => Some("127.0.0.1:9000".into()),
            "DATAMGMT_CHAIN_URL" => Some("ws://127.0.0.1:9944".into()),
            _ => None,
        });
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.chain.url.as_deref(), Some("ws://127.0.0.1:9944"));
    }

    #[test]
    fn settings_that_weaken_the_guarantees_are_refused() {
        let config: RelayConfig = toml::from_str(EXAMPLE).unwrap();
        assert!(config.validate().is_err(), "loopback public_url without allow_loopback");
        let dev = format!("{EXAMPLE}\n[peers]\nallow_loopback = true\n");
        let config: RelayConfig = toml::from_str(&dev).unwrap();
        assert!(config.validate().is_ok());
        for releases in [
            "max_view_age_secs = 0",
            "max_view_age_secs = 290\nmax_record_lag_secs = 20",
            "keep_refused_days = 0",
        ] {
            let text = format!("{dev}\n[releases]\n{releases}\n");
            let config: RelayConfig = toml::from_str(&text).unwrap();
            assert!(config.validate().is_err(), "{releases}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = format!("{EXAMPLE}\nsurprise = 1\n");
        assert!(toml::from_str::<RelayConfig>(&text).is_err());
    }

    #[test]
    fn cors_origins_must_be_origins() {
        for good in ["http://localhost:5173", "https://dapp.example", "http://127.0.0.1:8080"] {
            assert_eq!(check_origin(good), Ok(()), "{good}");
        }
        for bad in [
            "localhost:5173",
            "ftp://dapp.example",
            "https://dapp.example/",
            "https://dapp.example/app",
            "https://user@dapp.example",
            "https://dapp.example?x=1",
            "*",
            "https://DAPP.example",
            "https://dapp.example:443",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn contract_info_comes_from_the_deploy_state_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let metadata = dir.path().join("access.json");
        std::fs::write(&metadata, r#"{"source": {"hash": "0xabcd"}, "spec": {}}"#).unwrap();
        let deploy = dir.path().join("deploy.json");
        let state = serde_json::json!({
            "url": "ws://127.0.0.1:9944",
            "contract": "5DzLKiTeVgq1WjUTSV7panh17YPPKbRMTwWdWthQQ52eftCB",
            "code_hash": "0xabcd",
            "metadata": metadata,
            "wasm": dir.path().join("access.wasm"),
        });
        std::fs::write(&deploy, state.to_string()).unwrap();
        let mut config: RelayConfig = toml::from_str(EXAMPLE).unwrap();
        config.chain.deploy_state = Some(deploy);
        let info = config.contract_info().unwrap().expect("metadata named");
        assert_eq!((info.code_hash.as_str(), info.node_url), ("0xabcd", None), "not published");
        config.chain.public_node_url = Some("wss://rpc.example".into());
        let info = config.contract_info().unwrap().unwrap();
        assert_eq!(info.node_url.as_deref(), Some("wss://rpc.example"));
        assert_eq!(info.address, "5DzLKiTeVgq1WjUTSV7panh17YPPKbRMTwWdWthQQ52eftCB");

        std::fs::write(&metadata, r#"{"not": "ink"}"#).unwrap();
        let error = config.contract_info().unwrap_err().to_string();
        assert!(error.contains("source.hash"), "{error}");
    }

    #[test]
    fn a_console_folder_without_its_page_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut config: RelayConfig = toml::from_str(EXAMPLE).unwrap();
        assert!(config.console().unwrap().is_none(), "no console unless configured");
        config.console.dir = Some(dir.path().to_owned());
        let error = config.console().unwrap_err().to_string();
        assert!(error.contains("no index.html") && error.contains("npm"), "{error}");
        std::fs::write(dir.path().join("index.html"), "<!doctype html>").unwrap();
        config.chain.public_node_url = Some("ws://127.0.0.1:9944".into());
        let console = config.console().unwrap().expect("configured");
        assert_eq!(console.node_url.as_deref(), Some("ws://127.0.0.1:9944"));
    }

    #[test]
    fn plain_http_is_served_only_on_loopback() {
        let mut config: RelayConfig = toml::from_str(EXAMPLE).unwrap();
        config.peers.allow_loopback = true;
        assert!(config.listen.ip().is_loopback());
        config.validate().unwrap();
        config.listen = "0.0.0.0:8443".parse().unwrap();
        let error = config.validate().unwrap_err();
        assert!(error.contains("not a loopback address") && error.contains("[tls]"), "{error}");
        config.tls.cert = Some("cert.pem".into());
        let error = config.validate().unwrap_err();
        assert!(error.contains("both"), "{error}");
        config.tls.key = Some("key.pem".into());
        let error = config.validate().unwrap_err();
        assert!(error.contains("must be https://"), "{error}");
        config.public_url = "https://127.0.0.1:8443".into();
        config.validate().unwrap();
        let Err(error) = config.tls_acceptor() else { panic!("no such certificate file") };
        assert!(error.to_string().contains("cert.pem"), "{error}");
    }
}
