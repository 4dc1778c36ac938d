//! The chain node goes away and comes back: a relay answers 503 while it is gone, stores
//! nothing it cannot record, and serves again once the node is back, without a restart.
//!
//! The test runs a node of its own with persistent state (so the chain survives the
//! restart), deploys the contract built by `scripts/deploy.sh` to it, and points a relay
//! at it.

use datamgmt_client::chain::{ChainClient, DeployState, NodeSigner};
use datamgmt_client::keyring::Keyring;
use datamgmt_relay::{
    auth::{ApiTokens, Role, TokenConfig},
    index::Index,
    node,
    state::{AppState, ChainConnection, NodeIdentity},
    storage::{EnvelopeStore, StorageConfig},
};
use datamgmt_tests::{http_json, wait_for_status};
use serde_json::{json, Value};
use std::{path::Path, process::Command, sync::Arc, time::Duration};

const TOKEN: &str = "outage-test-token";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A node with its state in `base`, answering on `rpc_port`.
struct ChainNode {
    child: std::process::Child,
}

impl ChainNode {
    async fn start(base: &Path, rpc_port: u16, p2p_port: u16) -> Self {
        let child = Command::new("substrate-contracts-node")
            .args(["--dev", "--no-prometheus", "--no-telemetry", "--finalize-delay-sec", "1"])
            .args(["--state-pruning", "archive"])
            .arg("--base-path")
            .arg(base)
            .args(["--rpc-port", &rpc_port.to_string()])
            .args(["--listen-addr", &format!("/ip4/127.0.0.1/tcp/{p2p_port}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("substrate-contracts-node runs (scripts/setup.sh installs it)");
        let node = Self { child };
        for _ in 0..120 {
            if tokio::net::TcpStream::connect(("127.0.0.1", rpc_port)).await.is_ok() {
                return node;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("the node did not answer within 30 s");
    }

    fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Drop for ChainNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_rides_out_a_chain_outage() {
    let deployed =
        DeployState::load(&datamgmt_tests::deploy_state_path()).unwrap_or_else(|e| panic!("{e}"));
    let artifact = deployed.metadata.with_extension("contract");
    let dir = tempfile::tempdir().unwrap();
    let (rpc_port, p2p_port) = (free_port(), free_port());
    let url = format!("ws://127.0.0.1:{rpc_port}");
    let chain_node = ChainNode::start(&dir.path().join("chain"), rpc_port, p2p_port).await;

    let output = Command::new("cargo-contract")
        .args(["contract", "instantiate"])
        .arg(&artifact)
        .args(["--constructor", "new", "--suri", "//Alice", "--url", &url])
        .args(["--execute", "--skip-confirm", "--output-json"])
        .output()
        .expect("cargo-contract runs (scripts/setup.sh installs it)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let instantiated: Value = serde_json::from_slice(&output.stdout).unwrap();
    let contract = instantiated["contract"].as_str().unwrap().parse().unwrap();

    // Two nodes on this chain: the relay (//Bob) and a recipient (//Charlie).
    let chain = ChainClient::connect(&url, contract).await.unwrap();
    let recipient = NodeSigner::from_suri("//Charlie").unwrap();
    let recipient_keys = Keyring::generate(&"recipient".into());
    node::ensure_registered(&chain, &recipient, &recipient_keys, "http://127.0.0.1:1")
        .await
        .unwrap();
    let identity = NodeIdentity {
        signer: NodeSigner::from_suri("//Bob").unwrap(),
        keyring: Arc::new(tokio::sync::RwLock::new(Keyring::generate(&"relay".into()))),
        keyring_path: dir.path().join("keyring.json"),
        public_url: "http://127.0.0.1:2".into(),
    };
    let tokens = ApiTokens::new(&[TokenConfig {
        name: "outage".into(),
        sha256: ApiTokens::hash_token(TOKEN),
        role: Role::User,
    }])
    .unwrap();
    let store =
        EnvelopeStore::open(&StorageConfig::Local { root: dir.path().join("store") }).unwrap();
    let index =
        Index::open(&format!("sqlite://{}", dir.path().join("index.db").display())).await.unwrap();
    let connection =
        ChainConnection::connect_in_background(url.clone(), contract, identity.clone());
    let state = AppState::new(Default::default(), tokens, store, index, identity, connection);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(datamgmt_relay::run(listener, state, async {
        let _ = stopped.await;
    }));
    wait_for_status(address, TOKEN, "/readyz", 200, 30).await;
    let share = json!({"data": "before", "recipient": recipient.account_id().to_string()});
    assert_eq!(http_json(address, TOKEN, "POST", "/share_data", Some(&share)).await.0, 200);

    // The node goes away: readiness and shares say 503, nothing is kept.
    chain_node.stop();
    let readiness = wait_for_status(address, TOKEN, "/readyz", 503, 30).await;
    assert_ne!(readiness["chain"].as_str().unwrap_or("ok").get(..2), Some("ok"), "{readiness}");
    let during = json!({"data": "during", "recipient": recipient.account_id().to_string()});
    let (status, body) = http_json(address, TOKEN, "POST", "/share_data", Some(&during)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("unavailable")), "{body}");
    let (_, listed) = http_json(address, TOKEN, "GET", "/data/list", None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "only the share made before");

    // It comes back with its state: the relay reconnects by itself and shares again.
    let _chain_node = ChainNode::start(&dir.path().join("chain"), rpc_port, p2p_port).await;
    wait_for_status(address, TOKEN, "/readyz", 200, 60).await;
    let after = json!({"data": "after", "recipient": recipient.account_id().to_string()});
    let (status, body) = http_json(address, TOKEN, "POST", "/share_data", Some(&after)).await;
    assert_eq!(status, 200, "{body}");
    let (_, listed) = http_json(address, TOKEN, "GET", "/data/list", None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
