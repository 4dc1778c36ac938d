//! The chain node goes away and comes back: a relay answers 503 while it is gone, stores
//! nothing it cannot record, and serves again once the node is back, without a restart.
//!
//! The test runs a node of its own with persistent state (so the chain survives the
//! restart), deploys the contract built by `scripts/deploy.sh` to it, and points a relay
//! (serving HTTPS with the suites' certificate) at it.

use datamgmt_client::api::{ErrorCode, ListParams, RelayClient, ShareDataRequest};
use datamgmt_client::chain::{ChainClient, NodeSigner};
use datamgmt_client::keyring::Keyring;
use datamgmt_relay::testing::{TestRelay, USER_TOKEN};
use datamgmt_relay::{node, ChainEndpoint};
use datamgmt_tests::{local_tls, until_readiness, OwnChain};
use reqwest::StatusCode;

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
        .tls(local_tls().relay_config())
        .serve(Some(ChainEndpoint { url: url.clone(), contract }))
        .await;
    let api = RelayClient::with_http_client(relay.url(), USER_TOKEN, local_tls().http_client());
    let to = recipient.account_id().to_string();
    until_readiness(&api, true, 30).await;
    api.share_data(&ShareDataRequest::new("before", &to)).await.unwrap();

    // The node goes away: readiness and shares say 503, nothing is kept.
    chain_node.stop();
    let readiness = until_readiness(&api, false, 30).await;
    assert!(!readiness.chain.starts_with("ok"), "{readiness:?}");
    let refused = api.share_data(&ShareDataRequest::new("during", &to)).await.unwrap_err();
    assert_eq!(
        (refused.status(), refused.code()),
        (Some(StatusCode::SERVICE_UNAVAILABLE), Some(ErrorCode::Unavailable)),
        "{refused}"
    );
    let listed = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1, "only the share made before");

    // It comes back with its state: the relay reconnects by itself and shares again.
    chain_node.restart().await;
    until_readiness(&api, true, 60).await;
    api.share_data(&ShareDataRequest::new("after", &to)).await.unwrap();
    assert_eq!(api.list(&ListParams::default()).await.unwrap().items.len(), 2);

    relay.shutdown().await;
}
