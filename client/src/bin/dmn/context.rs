//! What the commands share: the relay (from flags, environment or profile) and the
//! chain (from the deploy state file), each made only when a command needs it.

use crate::profile::Profile;
use crate::CliError;
use datamgmt_abi::{AccountId, NodeId};
use datamgmt_client::api::RelayClient;
use datamgmt_client::chain::{to_abi_account, AccountId32, ChainClient, DeployState};
use std::path::{Path, PathBuf};

/// The global options, completed from the profile.
pub struct Context {
    /// Print JSON instead of text.
    pub json: bool,
    endpoint: Option<String>,
    token: Option<String>,
    ca_cert: Option<PathBuf>,
    deploy_state: Option<PathBuf>,
}

impl Context {
    /// The options given, each missing one taken from the profile (`profile`, or the
    /// default one).
    pub fn new(
        profile: Option<&Path>,
        endpoint: Option<String>,
        token: Option<String>,
        ca_cert: Option<PathBuf>,
        deploy_state: Option<PathBuf>,
        json: bool,
    ) -> Result<Self, CliError> {
        let profile = Profile::load(profile)?;
        Ok(Self {
            json,
            endpoint: endpoint.or(profile.endpoint),
            token: token.or(profile.token),
            ca_cert: ca_cert.or(profile.ca_cert),
            deploy_state: deploy_state.or(profile.deploy_state),
        })
    }

    /// The relay's client, or why there is none.
    pub fn relay(&self) -> Result<RelayClient, CliError> {
        let endpoint = self.endpoint.clone().ok_or_else(|| {
            CliError::usage(
                "no relay: pass --endpoint, set DMN_ENDPOINT, or put endpoint in the profile",
            )
        })?;
        let token = self.token.clone().ok_or_else(|| {
            CliError::usage(
                "no API token: pass --token, set DMN_TOKEN, or put token in the profile",
            )
        })?;
        let Some(ca_cert) = &self.ca_cert else { return Ok(RelayClient::new(endpoint, token)) };
        let unreadable = |why: String| {
            CliError::usage(format!(
                "the CA certificates {} (--ca-cert, DMN_CA_CERT or ca_cert): {why}",
                ca_cert.display()
            ))
        };
        let pem = std::fs::read(ca_cert).map_err(|e| unreadable(e.to_string()))?;
        let roots =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| unreadable(with_causes(&e)))?;
        if roots.is_empty() {
            return Err(unreadable("no PEM certificate in it".into()));
        }
        let http = roots
            .into_iter()
            .fold(reqwest::Client::builder(), |builder, root| builder.add_root_certificate(root))
            .build()
            .map_err(|e| unreadable(with_causes(&e)))?;
        Ok(RelayClient::with_http_client(endpoint, token, http))
    }

    /// A connection to the chain the deploy state names.
    pub async fn chain(&self) -> Result<ChainClient, CliError> {
        let path = self.deploy_state.as_deref().ok_or_else(|| {
            CliError::usage("no chain: pass --deploy-state, set DATAMGMT_DEPLOY_STATE, or put deploy_state in the profile")
        })?;
        let state = DeployState::load(path).map_err(|e| CliError::usage(e.to_string()))?;
        state.connect().await.map_err(|e| CliError::unavailable(e.to_string()))
    }
}

/// `error` and each error under it, joined: reqwest's own message leaves out why.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text = format!("{text}: {inner}");
        cause = inner.source();
    }
    text
}

/// A party given as a node id, an SS58 account or a `0x` account.
pub async fn resolve_party(chain: &ChainClient, text: &str) -> Result<AccountId, CliError> {
    if let Ok(node_id) = text.parse::<NodeId>() {
        return chain
            .node_account(node_id)
            .await
            .map_err(|e| CliError::unavailable(e.to_string()))?
            .ok_or_else(|| CliError::not_found(format!("no registered node is {node_id}")));
    }
    if let Ok(account) = text.parse::<AccountId>() {
        return Ok(account);
    }
    text.parse::<AccountId32>().map(|account| to_abi_account(&account)).map_err(|_| {
        CliError::usage(format!("--party {text:?} is not a node id, SS58 account or 0x account"))
    })
}
