//! The deploy state file `scripts/deploy.sh` writes: where the node is and which
//! contract to talk to, so that tools need no address pasted by hand.

use super::{AccountId32, ChainClient, ChainError};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Environment variable naming the deploy state file.
pub const DEPLOY_STATE_ENV: &str = "DATAMGMT_DEPLOY_STATE";

/// What `scripts/deploy.sh` recorded about a deployment.
#[derive(Debug, Clone, Deserialize)]
pub struct DeployState {
    /// The node's WebSocket URL.
    pub url: String,
    /// The contract's SS58 address.
    pub contract: String,
    /// The contract's code hash (`0x…`).
    pub code_hash: String,
    /// Path of the contract's metadata JSON.
    pub metadata: PathBuf,
    /// Path of the contract's wasm code.
    pub wasm: PathBuf,
}

impl DeployState {
    /// Reads a deploy state file.
    pub fn load(path: &Path) -> Result<Self, ChainError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ChainError::Config(format!(
                "cannot read the deploy state {}: {e}; start the devnet and deploy the \
                 contract first (scripts/devnet.sh up && scripts/deploy.sh)",
                path.display()
            ))
        })?;
        serde_json::from_str(&text)
            .map_err(|e| ChainError::Config(format!("bad deploy state {}: {e}", path.display())))
    }

    /// The file named by `DATAMGMT_DEPLOY_STATE`, else `default`.
    pub fn path_from_env_or(default: impl Into<PathBuf>) -> PathBuf {
        std::env::var_os(DEPLOY_STATE_ENV).map(PathBuf::from).unwrap_or_else(|| default.into())
    }

    /// The contract's address.
    pub fn contract_account(&self) -> Result<AccountId32, ChainError> {
        self.contract.parse().map_err(|_| ChainError::BadAddress(self.contract.clone()))
    }

    /// Connects to the deployed contract.
    pub async fn connect(&self) -> Result<ChainClient, ChainError> {
        ChainClient::connect(&self.url, self.contract_account()?).await
    }
}
