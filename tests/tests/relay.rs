//! A relay against the devnet: it registers itself as a node, keeps its record current,
//! and reports ready once the chain, the store and the index all answer.

use datamgmt_client::keyring::Keyring;
use datamgmt_relay::{
    auth::ApiTokens,
    index::Index,
    node::{self, Registration},
    state::{AppState, ChainConnection, NodeIdentity},
    storage::{EnvelopeStore, StorageConfig},
};
use datamgmt_tests::Devnet;
use std::{sync::Arc, time::Duration};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Status code and body of `GET path` on a relay at `address`.
async fn get(address: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: relay\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_registers_itself_and_becomes_ready() {
    let devnet = Devnet::connect().await;
    let account = devnet.funded_account("relay").await;
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::generate(&"relay e2e".into());
    let (key_version, key) = keyring.current_node_public_key();
    let identity = NodeIdentity {
        signer: account.signer.clone(),
        keyring: Arc::new(tokio::sync::RwLock::new(keyring)),
        public_url: "http://127.0.0.1:18080".into(),
    };
    let chain = ChainConnection::connect_in_background(
        devnet.state.url.clone(),
        *devnet.chain.contract(),
        identity.clone(),
    );
    let store =
        EnvelopeStore::open(&StorageConfig::Local { root: dir.path().join("store") }).unwrap();
    let index =
        Index::open(&format!("sqlite://{}", dir.path().join("index.db").display())).await.unwrap();
    let state = AppState::new(ApiTokens::default(), store, index, identity.clone(), chain);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(datamgmt_relay::run(listener, state, async {
        let _ = stopped.await;
    }));

    let mut ready = None;
    for _ in 0..100 {
        let (status, body) = get(address, "/readyz").await;
        if status == 200 {
            ready = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = ready.expect("the relay became ready within 10 s");
    assert!(body.contains("\"status\":\"ready\""), "{body}");

    let record = devnet.chain.node(&account.id).await.unwrap().expect("registered on chain");
    assert_eq!((record.encryption_key, record.key_version), (key, key_version));
    assert_eq!(record.endpoint, "http://127.0.0.1:18080");

    // A restart with the same keys changes nothing; a rotated node key is published.
    let chain = &devnet.chain;
    let outcome = node::ensure_registered(
        chain,
        &identity.signer,
        &*identity.keyring.read().await,
        &identity.public_url,
    )
    .await
    .unwrap();
    assert_eq!(outcome, Registration::Unchanged);
    identity.keyring.write().await.rotate_node_key();
    let outcome = node::ensure_registered(
        chain,
        &identity.signer,
        &*identity.keyring.read().await,
        &identity.public_url,
    )
    .await
    .unwrap();
    assert_eq!(outcome, Registration::Updated);
    assert_eq!(chain.node(&account.id).await.unwrap().unwrap().key_version, key_version + 1);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
