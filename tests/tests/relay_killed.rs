//! A relay process killed (SIGKILL) in the middle of a large upload to Garage: no object
//! becomes visible, nothing reaches the chain or the index, and the relay restarted on
//! the same files serves and shares as before.

use datamgmt_relay::storage::EnvelopeStore;
use datamgmt_tests::{garage_storage, http_json, local_tls, Devnet, RelayProcess};
use serde_json::json;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Bytes the client promises, and bytes it sends before the relay dies: several 8 MiB
/// parts are on the store by then.
const PROMISED: usize = 64 << 20;
const SENT_BEFORE_KILL: usize = 40 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_killed_mid_upload_leaves_nothing_and_restarts_clean() {
    let devnet = Devnet::connect().await;
    let owner = devnet.funded_account("killed").await;
    let recipient = devnet.registered_node("killed-recipient").await;
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::start(dir.path(), &owner, &devnet.state, true).await;
    let garage = EnvelopeStore::open(&garage_storage()).unwrap();
    let stored = || async {
        let mut objects = garage.list().await.unwrap();
        objects.sort();
        objects
    };
    let objects_before = stored().await;
    let shares_before = devnet.chain.share_count().await.unwrap();

    // A raw upload that stops after SENT_BEFORE_KILL bytes, when the relay is killed.
    let mut stream = local_tls().connect(relay.address.socket).await.unwrap();
    let head = format!(
        "POST /share_data?recipient={} HTTP/1.1\r\nhost: relay\r\nauthorization: Bearer {}\r\n\
         content-type: application/octet-stream\r\ncontent-length: {PROMISED}\r\n\r\n",
        recipient.account, relay.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let block = vec![0x5a_u8; 1 << 20];
    for _ in 0..SENT_BEFORE_KILL / block.len() {
        stream.write_all(&block).await.unwrap();
    }
    // Let the relay take in what the socket holds and send its parts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    relay.kill();
    drop(stream);

    assert_eq!(stored().await, objects_before, "no object became visible");
    assert_eq!(devnet.chain.share_count().await.unwrap(), shares_before, "nothing on chain");

    relay.restart().await;
    let (status, index) = http_json(relay.address, &relay.token, "GET", "/data/list", None).await;
    assert_eq!(status, 200, "{index}");
    assert_eq!(index["items"], json!([]), "nothing in the index");

    let share = json!({"data": "after the crash", "recipient": recipient.account.to_string()});
    let (status, shared) =
        http_json(relay.address, &relay.token, "POST", "/share_data", Some(&share)).await;
    assert_eq!(status, 200, "{shared}");
    let path = format!("/data/{}", shared["data_hash"].as_str().unwrap());
    let (status, read) = http_json(relay.address, &relay.token, "GET", &path, None).await;
    assert_eq!((status, read["data"].as_str()), (200, Some("after the crash")), "{read}");
    assert_eq!(stored().await.len(), objects_before.len() + 1);
    relay.stop();
}
