//! The relay's configuration: one TOML file, with environment overrides for what
//! differs between machines (`DATAMGMT_LISTEN`, `DATAMGMT_CHAIN_URL`,
//! `DATAMGMT_DEPLOY_STATE`). Secrets never sit in the file: the node account's secret
//! URI comes from the environment variable the file names.

use crate::auth::TokenConfig;
use crate::storage::StorageConfig;
use datamgmt_client::chain::{AccountId32, DeployState};
use datamgmt_client::keys::Passphrase;
use serde::Deserialize;
use std::{net::SocketAddr, path::PathBuf};
use zeroize::Zeroizing;

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
    /// `sqlite://path/to/index.db` (created when missing).
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
        Ok(config)
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
    pub fn account_suri(&self) -> Result<Zeroizing<String>, ConfigError> {
        std::env::var(&self.chain.account_suri_env).map(Zeroizing::new).map_err(|_| {
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
    fn unknown_fields_are_refused() {
        let text = format!("{EXAMPLE}\nsurprise = 1\n");
        assert!(toml::from_str::<RelayConfig>(&text).is_err());
    }
}
