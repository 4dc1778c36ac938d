//! What every request handler shares: tokens, the envelope store, the chain connection.

use crate::auth::{ApiTokens, HasTokens};
use crate::error::ApiError;
use crate::storage::EnvelopeStore;
use datamgmt_client::chain::{AccountId32, ChainClient};
use std::{sync::Arc, time::Duration};
use tokio::sync::RwLock;

/// Seconds between attempts to reach the chain while it is down.
const CHAIN_RETRY: Duration = Duration::from_secs(2);

/// Shared state, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    tokens: ApiTokens,
    store: EnvelopeStore,
    chain: ChainConnection,
}

impl AppState {
    /// State over these parts.
    pub fn new(tokens: ApiTokens, store: EnvelopeStore, chain: ChainConnection) -> Self {
        Self { inner: Arc::new(Inner { tokens, store, chain }) }
    }

    /// The envelope store.
    pub fn store(&self) -> &EnvelopeStore {
        &self.inner.store
    }

    /// The chain connection.
    pub fn chain(&self) -> &ChainConnection {
        &self.inner.chain
    }
}

impl HasTokens for AppState {
    fn tokens(&self) -> &ApiTokens {
        &self.inner.tokens
    }
}

/// The connection to the chain, made in the background: a relay starts (and answers
/// health checks) while the chain is down, and requests that need it get a 503 until it
/// is back.
#[derive(Clone, Default)]
pub struct ChainConnection {
    client: Arc<RwLock<Option<ChainClient>>>,
    last_error: Arc<RwLock<Option<String>>>,
}

impl ChainConnection {
    /// A connection that keeps trying to reach `url` until it succeeds.
    pub fn connect_in_background(url: String, contract: AccountId32) -> Self {
        let connection = Self::default();
        let background = connection.clone();
        tokio::spawn(async move {
            loop {
                match ChainClient::connect(&url, contract).await {
                    Ok(client) => {
                        tracing::info!(url, "connected to the chain");
                        *background.client.write().await = Some(client);
                        *background.last_error.write().await = None;
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(url, %error, "chain unreachable; retrying");
                        *background.last_error.write().await = Some(error.to_string());
                        tokio::time::sleep(CHAIN_RETRY).await;
                    }
                }
            }
        });
        connection
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
