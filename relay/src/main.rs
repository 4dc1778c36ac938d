//! `datamgmt-relay --config relay.toml`: runs a node's relay until SIGINT or SIGTERM.

use clap::Parser;
use datamgmt_client::chain::NodeSigner;
use datamgmt_relay::{
    auth::ApiTokens,
    config::RelayConfig,
    index::Index,
    node::{self, NodeIdentity},
    state::{AppState, Public},
    storage::EnvelopeStore,
    ChainEndpoint, Workers,
};
use secrecy::ExposeSecret;
use std::{path::PathBuf, process::ExitCode, sync::Arc};
use tracing_subscriber::EnvFilter;

/// A DataMgmt Node relay.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The configuration file.
    #[arg(long, short, default_value = "relay.toml")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match serve(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = RelayConfig::load(&args.config)?;
    let tokens = ApiTokens::new(&config.tokens)?;
    let signer = NodeSigner::from_suri(config.account_suri()?.expose_secret())?;
    let keyring =
        node::open_or_create_keyring(&config.keyring.path, &config.keyring_passphrase()?)?;
    let index = Index::open(&config.database.url).await?;
    let store = EnvelopeStore::open(&config.storage)?;
    let (url, contract) = config.chain.resolve()?;
    let identity = NodeIdentity {
        signer,
        keyring: Arc::new(tokio::sync::RwLock::new(keyring)),
        keyring_path: config.keyring.path.clone(),
        public_url: config.public_url.clone(),
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(address = %listener.local_addr()?, storage = ?store, "relay listening");
    let public = Public {
        contract: config.contract_info()?,
        cors_origins: config.cors.origins.clone(),
        console: config.console()?,
    };
    if public.contract.is_none() {
        tracing::warn!("no contract metadata configured: GET /contract answers 404");
    }
    let tls = config.tls_acceptor()?;
    let peers = config.peers()?;
    let state = AppState::new(config.settings(), public, tokens, store, index, identity, peers);
    datamgmt_relay::start(&state, Some(ChainEndpoint { url, contract }), Workers::ALL);
    let served = datamgmt_relay::run(listener, state.clone(), tls, shutdown_signal()).await;
    tracing::info!("requests finished; stopping background tasks");
    datamgmt_relay::stop(&state).await;
    served?;
    tracing::info!("relay stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down: finishing requests in progress");
}
