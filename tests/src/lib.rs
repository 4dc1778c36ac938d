//! Shared set-up for the end-to-end suites: the running devnet (found through the deploy
//! state file that `scripts/deploy.sh` writes), funded throw-away node accounts, and a
//! way to move chain time forward, Garage's settings, a loopback HTTP(S) client, and
//! relay processes serving HTTPS with a certificate from the scripts' local CA.
//!
//! The devnet is started by `scripts/test.sh` (or by hand: `scripts/devnet.sh up` then
//! `scripts/deploy.sh`); these helpers fail with that advice when it is not there.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod balancer;
mod network;
mod own_chain;
mod process;
mod tls;

pub use balancer::LoadBalancer;
pub use network::Network;
pub use own_chain::{free_port, OwnChain};
pub use process::{free_address, garage_storage, workspace_binary, RelayProcess, RELAY_PASSPHRASE};
pub use tls::{local_tls, LocalTls};

use datamgmt_abi::{AccountId, EncryptionKey};
use datamgmt_client::chain::{
    messages, to_abi_account, AccountId32, ChainClient, Confirmation, DeployState, NodeSigner,
};
use std::{path::PathBuf, sync::Arc};
use subxt::{
    backend::LegacyBackend,
    config::RpcConfigFor,
    dynamic::Value,
    rpcs::{methods::LegacyRpcMethods, RpcClient},
    OnlineClient, SubstrateConfig,
};

/// The devnet as a test sees it.
pub struct Devnet {
    /// What was deployed.
    pub state: DeployState,
    /// A contract client.
    pub chain: ChainClient,
    api: OnlineClient<SubstrateConfig>,
    rpc: LegacyRpcMethods<RpcConfigFor<SubstrateConfig>>,
}

/// A throw-away node account with funds, and its abi form.
pub struct TestNode {
    /// Its key.
    pub signer: NodeSigner,
    /// Its account (subxt form).
    pub account: AccountId32,
    /// Its account (abi form).
    pub id: AccountId,
    /// The secret URI its key derives from (what a relay process is given).
    pub suri: String,
}

/// Funds given to each throw-away account: plenty for fees, deposits and payments.
pub const TEST_FUNDS: u128 = 1_000_000_000_000_000;

/// The deploy state file: `DATAMGMT_DEPLOY_STATE`, or `.devnet/deploy.json`.
pub fn deploy_state_path() -> PathBuf {
    DeployState::path_from_env_or(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.devnet/deploy.json"),
    )
}

/// The dev account (endowed by the dev chain) this test process funds accounts and seals
/// blocks from: one per slot of the `devnet` test group (`NEXTEST_TEST_GROUP_SLOT`,
/// `.config/nextest.toml`), so suites running side by side never sign with one account
/// from two processes (its nonces would race). `//Alice` outside nextest.
pub fn funder() -> &'static str {
    const FUNDERS: [&str; 4] = ["//Alice", "//Bob", "//Charlie", "//Dave"];
    match std::env::var("NEXTEST_TEST_GROUP_SLOT").ok().and_then(|s| s.parse::<usize>().ok()) {
        None => FUNDERS[0],
        Some(slot) => FUNDERS.get(slot).copied().unwrap_or_else(|| {
            panic!("no dev account for test group slot {slot}: give the devnet group fewer threads")
        }),
    }
}

fn funder_keypair() -> subxt_signer::sr25519::Keypair {
    subxt_signer::sr25519::Keypair::from_uri(&funder().parse().expect("a dev URI"))
        .expect("a dev key")
}

impl Devnet {
    /// Connects to the deployed contract.
    pub async fn connect() -> Self {
        let path = deploy_state_path();
        Self::at(DeployState::load(&path).unwrap_or_else(|e| panic!("{e}"))).await
    }

    /// Connects to the contract of `state` (a chain of the test's own, say).
    pub async fn at(state: DeployState) -> Self {
        let chain: ChainClient =
            state.connect().await.expect("the devnet in the deploy state answers");
        let rpc = RpcClient::from_insecure_url(&state.url).await.expect("rpc");
        let api = OnlineClient::from_backend(Arc::new(LegacyBackend::builder().build(rpc.clone())))
            .await
            .expect("subxt client");
        Self { state, chain, api, rpc: LegacyRpcMethods::new(rpc) }
    }

    /// A fresh account derived from `//Alice` under a random path, funded by this test
    /// process's [`funder`].
    pub async fn funded_account(&self, label: &str) -> TestNode {
        let path: u64 = rand::random();
        let suri = format!("//Alice//{label}//{path}");
        let signer = NodeSigner::from_suri(&suri).unwrap();
        self.transfer(&signer.account_id(), TEST_FUNDS).await;
        let account = signer.account_id();
        TestNode { id: to_abi_account(&account), account, signer, suri }
    }

    /// A funded account registered as a node with a key and endpoint of its own.
    pub async fn registered_node(&self, label: &str) -> TestNode {
        let node = self.funded_account(label).await;
        let key = EncryptionKey(rand::random());
        let endpoint = format!("http://127.0.0.1:8000/{label}");
        self.chain
            .submit(
                &node.signer,
                &messages::register_node(key, 1, &endpoint),
                Confirmation::InBlock,
            )
            .await
            .expect("node registers");
        node
    }

    /// Sends `amount` from this process's [`funder`] to `to` and waits for inclusion.
    pub async fn transfer(&self, to: &AccountId32, amount: u128) {
        let call = subxt::dynamic::transaction(
            "Balances",
            "transfer_keep_alive",
            (Value::unnamed_variant("Id", [Value::from_bytes(to.0)]), Value::u128(amount)),
        );
        self.submit_and_wait(&call, &funder_keypair()).await;
    }

    /// Moves every unit `node` holds to Alice (`Balances::transfer_all`): the account can
    /// no longer pay a transaction fee.
    pub async fn drain(&self, node: &TestNode) {
        let keypair = subxt_signer::sr25519::Keypair::from_uri(&node.suri.parse().expect("suri"))
            .expect("the node's key");
        let alice = NodeSigner::from_suri("//Alice").unwrap().account_id();
        let call = subxt::dynamic::transaction(
            "Balances",
            "transfer_all",
            (Value::unnamed_variant("Id", [Value::from_bytes(alice.0)]), Value::bool(false)),
        );
        self.submit_and_wait(&call, &keypair).await;
    }

    /// Produces a new block (a `System::remark` from this process's [`funder`]), so that
    /// chain time moves to the wall clock: the dev node seals a block only when a
    /// transaction arrives.
    pub async fn advance_block(&self) {
        let call = subxt::dynamic::transaction(
            "System",
            "remark",
            (Value::from_bytes(rand::random::<[u8; 8]>()),),
        );
        self.submit_and_wait(&call, &funder_keypair()).await;
    }

    /// The block timestamp (ms) of the best block.
    pub async fn chain_time(&self) -> u64 {
        self.chain.now().await.expect("block time")
    }

    /// Free balance of `account` at the best block.
    pub async fn free_balance(&self, account: &AccountId32) -> u128 {
        #[derive(subxt::ext::scale_decode::DecodeAsType)]
        #[decode_as_type(crate_path = "subxt::ext::scale_decode")]
        struct AccountInfo {
            data: AccountData,
        }
        #[derive(subxt::ext::scale_decode::DecodeAsType)]
        #[decode_as_type(crate_path = "subxt::ext::scale_decode")]
        struct AccountData {
            free: u128,
        }
        let (_, hash) = self.chain.best_block().await.unwrap();
        let at = self.api.at_block(hash).await.unwrap();
        let entry = subxt::dynamic::storage::<([u8; 32],), AccountInfo>("System", "Account");
        at.storage().fetch(entry, (account.0,)).await.unwrap().decode().unwrap().data.free
    }

    /// Parameters with the next nonce as the node's pool sees it (subxt's default reads it
    /// at the finalized block, which lags behind the dev node's instant blocks).
    async fn params_for(
        &self,
        signer: &subxt_signer::sr25519::Keypair,
    ) -> subxt::config::DefaultExtrinsicParams<SubstrateConfig> {
        let nonce = self
            .rpc
            .system_account_next_index(&signer.public_key().to_account_id())
            .await
            .expect("nonce");
        subxt::config::DefaultExtrinsicParamsBuilder::new().nonce(nonce).build()
    }

    async fn submit_and_wait<Call: subxt::transactions::Payload>(
        &self,
        call: &Call,
        signer: &subxt_signer::sr25519::Keypair,
    ) {
        let mut progress = self
            .api
            .transactions()
            .await
            .unwrap()
            .sign_and_submit_then_watch(call, signer, self.params_for(signer).await)
            .await
            .unwrap();
        while let Some(status) = progress.next().await {
            match status.unwrap() {
                subxt::transactions::TransactionStatus::InBestBlock(block)
                | subxt::transactions::TransactionStatus::InFinalizedBlock(block) => {
                    block.wait_for_success().await.unwrap();
                    return;
                }
                subxt::transactions::TransactionStatus::Error { message }
                | subxt::transactions::TransactionStatus::Invalid { message }
                | subxt::transactions::TransactionStatus::Dropped { message } => {
                    panic!("transaction failed: {message}")
                }
                _ => {}
            }
        }
        panic!("transaction status stream ended");
    }
}

/// A relay's answer, read whole.
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Status line and headers.
    pub head: String,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Where a relay serves: its loopback socket, over HTTPS with the scripts' local CA
/// (every relay process of the suites) or over plain HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayAddress {
    /// The socket it listens on.
    pub socket: std::net::SocketAddr,
    /// Whether it serves HTTPS.
    pub tls: bool,
}

impl RelayAddress {
    /// A relay serving HTTPS on `socket`.
    pub fn https(socket: std::net::SocketAddr) -> Self {
        Self { socket, tls: true }
    }

    /// Its base URL, `https://127.0.0.1:PORT` or `http://…`.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.socket)
    }
}

impl std::fmt::Display for RelayAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

/// One HTTP/1.1 request to a relay on loopback (over TLS when it serves HTTPS) with a
/// bearer `token`; `headers` are extra header lines, each ending in `\r\n`.
pub async fn http(
    address: RelayAddress,
    token: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> HttpResponse {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: relay\r\nconnection: close\r\n\
         authorization: Bearer {token}\r\n{headers}content-length: {}\r\n\r\n",
        body.len()
    );
    let request = [head.as_bytes(), body];
    let response = if address.tls {
        let stream = local_tls().connect(address.socket).await.unwrap();
        tls::exchange(stream, &request).await
    } else {
        let stream = tokio::net::TcpStream::connect(address.socket).await.unwrap();
        tls::exchange(stream, &request).await
    }
    .unwrap_or_else(|error| panic!("{method} {path} on {address}: {error}"));
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a full response");
    let head = String::from_utf8(response[..split].to_vec()).unwrap();
    HttpResponse {
        status: head[9..12].parse().unwrap(),
        head,
        body: response[split + 4..].to_vec(),
    }
}

/// Status and JSON body of a JSON request (`body` sent as `application/json`).
pub async fn http_json(
    address: RelayAddress,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let body = body.map(serde_json::Value::to_string).unwrap_or_default();
    let content = "content-type: application/json\r\n";
    let response = http(address, token, method, path, content, body.as_bytes()).await;
    (response.status, response.json())
}

/// Polls `GET path` until it answers `status`, for up to `seconds`; returns that body.
pub async fn wait_for_status(
    address: RelayAddress,
    token: &str,
    path: &str,
    status: u16,
    seconds: u64,
) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..seconds * 4 {
        // Not listening yet (a process starting up) counts as not ready.
        if tokio::net::TcpStream::connect(address.socket).await.is_err() {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            continue;
        }
        let (got, body) = http_json(address, token, "GET", path, None).await;
        if got == status {
            return body;
        }
        last = body;
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("{path} did not answer {status} within {seconds} s; last: {last}");
}

/// Polls `/readyz` through `api` until the relay is ready (or, with `ready` false, until
/// it is not), for at most `seconds`; returns the last readiness.
pub async fn until_readiness(
    api: &datamgmt_client::api::RelayClient,
    ready: bool,
    seconds: u64,
) -> datamgmt_client::api::Readiness {
    let mut last = None;
    for _ in 0..seconds * 4 {
        match api.readyz().await {
            Ok(readiness) if readiness.is_ready() == ready => return readiness,
            Ok(readiness) => last = Some(format!("{readiness:?}")),
            Err(error) => last = Some(error.to_string()),
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!(
        "the relay was not {} within {seconds} s; last: {last:?}",
        if ready { "ready" } else { "unready" }
    );
}

/// The path of the node-to-node route for `share_id`.
pub fn envelope_path(share_id: datamgmt_abi::ShareId) -> String {
    format!("/p2p/envelopes/{share_id}")
}

/// Signed headers as request header lines, each ending in `\r\n`.
pub fn signed_header_lines(signed: &datamgmt_client::p2p::SignedHeaders) -> String {
    signed.to_pairs().iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect()
}

/// A node-to-node request, signed by `signer`, to the relay at `address` for the
/// envelope of `share_id` (`path_and_query` when given, else the plain path): what a
/// recipient's relay sends, without the relay.
pub async fn ask_envelope(
    address: RelayAddress,
    signer: &NodeSigner,
    share_id: datamgmt_abi::ShareId,
    path_and_query: Option<&str>,
) -> HttpResponse {
    let path = path_and_query.map_or_else(|| envelope_path(share_id), str::to_owned);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_millis() as u64;
    let signed = datamgmt_client::p2p::SignedHeaders::sign(signer, "GET", &path, b"", now);
    http(address, "", "GET", &path, &signed_header_lines(&signed), b"").await
}

/// The `KeyReleased` events of `owner`'s shares of `data_hash` that `index` holds, in
/// chain order: the chain's release records as the relay's indexer copied them.
pub async fn key_released_events(
    index: &datamgmt_relay::index::Index,
    data_hash: datamgmt_abi::DataHash,
    owner: &AccountId,
) -> Vec<datamgmt_relay::index::IndexedEvent> {
    let events = index.events_for(data_hash, owner, None, 100_000).await.unwrap();
    let released = |e: &datamgmt_relay::index::IndexedEvent| {
        matches!(e.event.action, datamgmt_abi::events::ShareAction::KeyReleased { .. })
    };
    events.into_iter().filter(released).collect()
}
