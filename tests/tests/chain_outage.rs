//! The chain node goes away and comes back: a relay answers 503 while it is gone, stores
//! nothing it cannot record, and serves again once the node is back, without a restart.
//!
//! The test runs a node of its own with persistent state (so the chain survives the
//! restart), deploys the contract built by `scripts/deploy.sh` to it, and points a relay
//! at it.

use datamgmt_client::chain::{ChainClient, NodeSigner};
use datamgmt_client::keyring::Keyring;
use datamgmt_relay::testing::{TestRelay, USER_TOKEN};
use datamgmt_relay::{node, ChainEndpoint};
use datamgmt_tests::{http_json, wait_for_status, OwnChain};
use serde_json::json;

const TOKEN: &str = USER_TOKEN;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_rides_out_a_chain_outage() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain_node = OwnChain::start(&dir.path().join("chain"), 1).await;
    let url = chain_node.url();
    let contract = chain_node.deploy().contract_account().unwrap();

    // Two nodes on this chain: the relay (//Bob) and a recipient (//Charlie).
    let chain = ChainClient::connect(&url, contract).await.unwrap();
    let recipient = NodeSigner::from_suri("//Charlie").unwrap();
    let recipient_keys = Keyring::generate(&"recipient".into());
    node::ensure_registered(&chain, &recipient, &recipient_keys, "http://127.0.0.1:1")
        .await
        .unwrap();
    let relay = TestRelay::new(dir.path())
        .signer(NodeSigner::from_suri("//Bob").unwrap())
        .public_url("http://127.0.0.1:2")
        .serve(Some(ChainEndpoint { url: url.clone(), contract }))
        .await;
    let address = relay.address;
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
    chain_node.restart().await;
    wait_for_status(address, TOKEN, "/readyz", 200, 60).await;
    let after = json!({"data": "after", "recipient": recipient.account_id().to_string()});
    let (status, body) = http_json(address, TOKEN, "POST", "/share_data", Some(&after)).await;
    assert_eq!(status, 200, "{body}");
    let (_, listed) = http_json(address, TOKEN, "GET", "/data/list", None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);

    relay.shutdown().await;
}
