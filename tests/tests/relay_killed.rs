//! A relay process killed (SIGKILL) in the middle of a large upload to Garage: no object
//! becomes visible, nothing reaches the chain or the index, and the relay restarted on
//! the same files serves and shares as before. And a relay that died with a paid
//! release's record out, which then landed: started again, it neither records it twice
//! nor takes the contract's refusal of a second record for a key left unrecorded.

use datamgmt_client::chain::{messages, Confirmation};
use datamgmt_relay::index::{Index, KeyRelease};
use datamgmt_relay::storage::EnvelopeStore;
use datamgmt_tests::{
    garage_storage, http_json, key_released_events, local_tls, Devnet, RelayProcess,
};
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

/// A relay died after sending the record of a paid release and before learning its
/// block (played here by stopping the relay, then sending the record of a release its
/// outbox holds as pending, as its recorder would have). Started again, it sends the
/// record again; the contract refuses it (the receipt is used up), and the relay finds
/// the first record's event: the release is recorded, not refused. A second paid
/// release, whose receipt another record used (at another time, as a dApp signing with
/// the node's account could), stays refused, and releases pause until an operator looks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_record_that_landed_after_its_relay_died_is_not_taken_for_a_refusal() {
    const PRICE: u128 = 7;
    let devnet = Devnet::connect().await;
    let owner = devnet.funded_account("record-landed").await;
    let recipient = devnet.registered_node("record-landed-recipient").await;
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::start(dir.path(), &owner, &devnet.state, false).await;
    let mut paid_shares = Vec::new();
    for data in ["recorded before the relay died", "its receipt used by another record"] {
        let request = json!({
            "data": data, "recipient": recipient.account.to_string(),
            "require_payment": true, "price": PRICE,
        });
        let (status, shared) = relay.request("POST", "/share_data", Some(&request)).await;
        assert_eq!(status, 200, "{shared}");
        let share_id: datamgmt_abi::ShareId = shared["share_id"].as_str().unwrap().parse().unwrap();
        let pay = messages::pay_for_access(share_id, PRICE);
        devnet.chain.submit(&recipient.signer, &pay, Confirmation::InBlock).await.unwrap();
        let receipt = devnet.chain.receipt(share_id, &recipient.id).await.unwrap().unwrap();
        paid_shares.push((share_id, shared["data_hash"].as_str().unwrap().to_owned(), receipt));
    }
    relay.stop();

    // Each release pending in the outbox with the receipt it used, and a record on
    // chain: the first one's own, the second at a later time.
    let index = Index::open(relay.database_url()).await.unwrap();
    let released_at = devnet.chain.now().await.unwrap();
    let mut records = Vec::new();
    for (n, (share_id, _, receipt)) in paid_shares.iter().enumerate() {
        let release = KeyRelease {
            share_id: *share_id,
            recipient: recipient.id,
            released_at,
            receipt_paid_at: Some(receipt.paid_at),
        };
        let now = datamgmt_relay::time::now_ms();
        let row = index.insert_release(&release, now).await.unwrap().unwrap();
        assert!(index.confirm_release(row, now).await.unwrap());
        let recorded_at = if n == 0 {
            released_at
        } else {
            devnet.chain.produce_block(&recipient.signer).await.unwrap();
            devnet.chain.now().await.unwrap()
        };
        let record = messages::record_releases(&[(*share_id, recipient.id, recorded_at)]);
        let dry_run = devnet.chain.dry_run(&owner.account, &record).await.unwrap();
        let verdicts: Vec<Result<(), datamgmt_abi::Error>> = dry_run.decode_result().unwrap();
        assert_eq!(verdicts, [Ok(())]);
        let landed = devnet
            .chain
            .submit_dry_run(&owner.signer, &record, &dry_run, Confirmation::InBlock)
            .await
            .unwrap();
        records.push((recorded_at, landed.block_number));
    }
    drop(index);

    relay.restart().await;
    let index = Index::open(relay.database_url()).await.unwrap();
    let mut counts = (2, 0, 0);
    for _ in 0..120 {
        counts = index.count_releases().await.unwrap();
        if counts.0 == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(counts, (0, 1, 1), "one recorded, one refused; log:\n{}", relay.log_tail(30));
    let (_, report) = relay.request("GET", "/admin/releases?state=refused", None).await;
    let refused = report["items"][0]["share_id"].as_str().unwrap_or_default();
    assert_eq!(refused, paid_shares[1].0.to_string(), "{report}");
    assert_eq!(report["releasing"], false, "a refused record pauses releases: {report}");
    let why = report["items"][0]["last_error"].as_str().unwrap_or_default();
    assert!(why.contains("already used"), "refused for its used-up receipt: {why}");
    let counted = relay.metric(r#"datamgmt_release_records_total{outcome="recorded_earlier"}"#);
    assert_eq!(counted.await.as_deref(), Some("1"));
    let log = std::fs::read_to_string(relay.dir().join("relay.log")).unwrap();
    assert!(log.contains("an earlier batch recorded it"), "{}", relay.log_tail(30));
    // Each share has its one record on chain, none sent again.
    let best = devnet.chain.finalized_block_number().await.unwrap();
    for _ in 0..120 {
        if index.indexed_up_to().await.unwrap().unwrap_or(0) >= best {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for ((share_id, data_hash, _), (at, block)) in paid_shares.iter().zip(&records) {
        let events = key_released_events(&index, data_hash.parse().unwrap(), &owner.id).await;
        let on_chain: Vec<_> =
            events.iter().map(|e| (e.event.share_id, e.event.at, e.block_number)).collect();
        assert_eq!(on_chain, [(*share_id, *at, *block)], "one record");
    }
    relay.stop();
}
