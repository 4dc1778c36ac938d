//! Attacks on what the product promises: a key leaves only when the contract allows it
//! at the newest state the relay has seen, every release is on chain (or releases
//! stop), nobody can pass data off under another's hash, and neither peers nor clients
//! can exhaust a relay. Each test attacks one guarantee of the README's "Guarantees".
//!
//! The suites that freeze, stop or starve the chain do it to a chain node of their own
//! ([`OwnChain`]); the others share the devnet `scripts/test.sh` starts.

use datamgmt_abi::{DataHash, EncryptionKey, ShareId};
use datamgmt_client::chain::{messages, node_id_of, ChainError, Confirmation};
use datamgmt_client::envelope::{self, Header, DEFAULT_CHUNK_SIZE};
use datamgmt_client::keys::DataKey;
use datamgmt_relay::time::now_ms;
use datamgmt_tests::{
    ask_envelope, http, http_json, local_tls, Devnet, HttpResponse, Network, OwnChain,
    RelayAddress, RelayProcess, TestNode,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn hash_of(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Waits until `relay` has seen block `number` (what its releases are decided on).
async fn until_seen(relay: &RelayProcess, number: u64) {
    for _ in 0..100 {
        let (_, report) = relay.request("GET", "/admin/releases", None).await;
        if report["newest_block"].as_u64().is_some_and(|seen| seen >= number) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the relay never saw block {number}");
}

/// Waits until `relay` (acting for `node`) has indexed `count` shares of `hash` made
/// to it: read from its index database, as its `GET /data/{hash}` would.
async fn until_indexed(relay: &RelayProcess, node: &TestNode, hash: &str, count: usize) {
    let index = datamgmt_relay::index::Index::open(relay.database_url()).await.unwrap();
    let hash: DataHash = hash.parse().unwrap();
    for _ in 0..120 {
        if index.received(hash, &node.id).await.unwrap().len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the relay never indexed {count} shares of {hash}");
}

/// A relay of its own on the shared devnet, for a fresh funded account, with
/// `settings`; the devnet, the account, the relay and the directory it lives in.
async fn lone_relay(
    label: &str,
    settings: &str,
) -> (Devnet, TestNode, RelayProcess, tempfile::TempDir) {
    let devnet = Devnet::connect().await;
    let dir = tempfile::tempdir().unwrap();
    let node = devnet.funded_account(label).await;
    let relay =
        RelayProcess::start_with(&dir.path().join(label), &node, &devnet.state, false, settings)
            .await;
    (devnet, node, relay, dir)
}

/// `relay`'s count of key releases.
async fn releases_of(relay: &RelayProcess) -> u64 {
    let response = http(relay.address, "", "GET", "/metrics", "", b"").await;
    String::from_utf8(response.body)
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("datamgmt_key_releases_total "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the release counter")
}

/// How often the chain recorded a release of `share_id`, from `relay`'s proof (its
/// indexer reads finalized blocks); waits until it is `expected` or 30 s have passed.
async fn recorded_releases(
    relay: &RelayProcess,
    hash: &str,
    share_id: ShareId,
    expected: usize,
) -> usize {
    let mut count = 0;
    for _ in 0..120 {
        let (_, proof) =
            relay.request("GET", &format!("/verify_data/{hash}?limit=500"), None).await;
        count = proof["records"].as_array().map_or(0, |records| {
            records
                .iter()
                .filter(|r| {
                    r["share_id"] == share_id.to_string().as_str()
                        && r["action"]["kind"] == "key_released"
                })
                .count()
        });
        if count == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    count
}

// ----------------------------------------------------------------------------------
// 1. No release on a stale view.

/// The two stories and a dApp's revocation: once the owner's relay has seen the
/// block that revokes (or expires) a share, no key of it leaves, even though the same
/// reader was allowed a moment before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_leaves_once_the_owner_has_seen_a_revocation_or_expiry() {
    let net = Network::start().await;

    // Revoked through A's own relay, then one more block (A shares something else).
    let (share_id, hash) = net.share("revoked through A's relay", json!({})).await;
    assert_eq!(net.b_reads(&hash).await.0, 200);
    let (status, body) = net.a.request("POST", &format!("/shares/{share_id}/revoke"), None).await;
    assert_eq!(status, 200, "{body}");
    net.share("one more block", json!({})).await;
    let released = net.releases().await;
    let (status, body) = net.b_reads(&hash).await;
    assert_eq!(status, 403, "revoked through the owner's relay: {body}");
    assert!(body.to_string().contains("revoked"), "{body}");
    assert_eq!(net.releases().await, released, "no key left");

    // Revoked straight on the contract, as a dApp would, then one more block.
    let (share_id, hash) = net.share("revoked by a dApp", json!({})).await;
    assert_eq!(net.b_reads(&hash).await.0, 200);
    let chain = &net.devnet.chain;
    let revoked_in = match chain
        .submit(&net.node_a.signer, &messages::revoke(share_id), Confirmation::InBlock)
        .await
    {
        Ok(receipt) => receipt.block_number,
        // This transaction and A's own (its record batches) are signed by one account
        // from two processes: one can displace the other in the pool, and the resend of
        // a revocation that had landed reverts. Whether the share is revoked is what
        // counts.
        Err(error) => {
            let share = chain.share_record(share_id).await.unwrap().expect("the share");
            assert!(share.revoked_at.is_some(), "the revocation failed: {error}");
            chain.best_block().await.unwrap().0
        }
    };
    net.devnet.advance_block().await;
    until_seen(&net.a, revoked_in + 1).await;
    let released = net.releases().await;
    let (status, body) = net.b_reads(&hash).await;
    assert_eq!(status, 403, "revoked on the contract: {body}\nA's log:\n{}", net.a.log_tail(30));
    assert_eq!(net.releases().await, released, "no key left");

    // Expiring in 6 s: read once, then after the expiry and a block.
    let expires_at = now_ms() / 1000 + 6;
    let (_, hash) = net.share("expires soon", json!({ "expires_at": expires_at })).await;
    assert_eq!(net.b_reads(&hash).await.0, 200);
    while net.devnet.chain_time().await < expires_at * 1000 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        net.devnet.advance_block().await;
    }
    net.devnet.advance_block().await;
    let released = net.releases().await;
    let (status, body) = net.b_reads(&hash).await;
    assert_eq!(status, 403, "expired: {body}");
    assert!(body.to_string().contains("expired"), "{body}");
    assert_eq!(net.releases().await, released, "no key left");
}

// ----------------------------------------------------------------------------------
// 2. Fail closed when releases cannot be recorded.

/// A relay A and a recipient B (a registered node asking directly) on a chain of the
/// test's own, whose block time A may find at most 3 s old.
struct Faults {
    chain: OwnChain,
    deploy: datamgmt_client::chain::DeployState,
    devnet: Devnet,
    a: RelayProcess,
    b: TestNode,
    _dir: tempfile::TempDir,
}

impl Faults {
    async fn start(finalize_delay_sec: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let chain = OwnChain::start(&dir.path().join("chain"), finalize_delay_sec).await;
        let deploy = chain.deploy();
        let devnet = Devnet::at(deploy.clone()).await;
        let node_a = devnet.funded_account("faults-a").await;
        let b = devnet.registered_node("faults-b").await;
        let settings = "[releases]\nmax_view_age_secs = 3\n";
        let a = RelayProcess::start_with(&dir.path().join("a"), &node_a, &deploy, false, settings)
            .await;
        Self { chain, deploy, devnet, a, b, _dir: dir }
    }

    /// A shares `data` with B on `terms`; the share id and data hash.
    async fn share(&self, data: &str, terms: Value) -> (ShareId, String) {
        let mut request = json!({"data": data, "recipient": self.b.account.to_string()});
        request.as_object_mut().unwrap().extend(terms.as_object().unwrap().clone());
        let (status, body) = self.a.request("POST", "/share_data", Some(&request)).await;
        assert_eq!(status, 200, "{body}");
        (body["share_id"].as_str().unwrap().parse().unwrap(), hash_of(data.as_bytes()))
    }

    /// B pays `price` for `share_id` straight on the contract, as a dApp would: in a
    /// block, not yet final.
    async fn pay(&self, share_id: ShareId, price: u128) {
        let payment = messages::pay_for_access(share_id, price);
        self.devnet.chain.submit(&self.b.signer, &payment, Confirmation::InBlock).await.unwrap();
    }

    /// B asks A for the envelope, giving up after 20 s; the status and how long it took.
    async fn ask(&self, share_id: ShareId) -> (u16, Duration, Value) {
        let started = Instant::now();
        let asked = ask_envelope(self.a.address, &self.b.signer, share_id, None);
        let response = tokio::time::timeout(Duration::from_secs(20), asked)
            .await
            .expect("A answers within 20 s");
        (response.status, started.elapsed(), response.json())
    }

    /// Asks until A releases the key again, for at most `limit`.
    async fn until_released(&self, share_id: ShareId, limit: Duration) {
        let resumed = async {
            while self.ask(share_id).await.0 != 200 {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        };
        tokio::time::timeout(limit, resumed).await.expect("releases resume");
    }

    /// The times (`at`, ms) of every key_released record of `share_id` on this chain.
    async fn recorded_times(&self, share_id: ShareId) -> Vec<u64> {
        use datamgmt_abi::events::{ContractEvent, ShareAction};
        use futures::StreamExt;
        let (best, _) = self.devnet.chain.best_block().await.unwrap();
        let blocks = self.devnet.chain.events_in_blocks(1..=best);
        futures::pin_mut!(blocks);
        let mut times = Vec::new();
        while let Some((_, events)) = blocks.next().await {
            for recorded in events.unwrap() {
                if let ContractEvent::Share(event) = recorded.event {
                    if event.share_id == share_id
                        && matches!(event.action, ShareAction::KeyReleased { .. })
                    {
                        times.push(event.at);
                    }
                }
            }
        }
        times
    }

    /// Waits until the chain holds `expected` records of `share_id`'s releases.
    async fn until_recorded(&self, share_id: ShareId, expected: usize) -> Vec<u64> {
        let mut times = Vec::new();
        for _ in 0..120 {
            times = self.recorded_times(share_id).await;
            if times.len() >= expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        times
    }
}

/// An idle chain, a frozen node, a stopped node: a key leaves only on a recent block,
/// releases stop (503, within LIVENESS = 3 s of the node going silent) while the node
/// does not answer, resume by themselves when it does, and every key that left is
/// recorded on chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_stop_while_the_chain_cannot_record_them_and_resume_by_themselves() {
    let mut faults = Faults::start(1).await;
    let (share_id, _) = faults.share("recorded, or not released", json!({})).await;
    let mut left = 0;
    let (status, _, body) = faults.ask(share_id).await;
    assert_eq!(status, 200, "{body}");
    left += 1;

    // Idle past the view age (3 s here): the release waits for a new block and carries
    // its time, not the old block's.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let asked_at = now_ms();
    let (status, _, body) = faults.ask(share_id).await;
    assert_eq!(status, 200, "{body}");
    left += 1;
    let times = faults.until_recorded(share_id, left).await;
    assert_eq!(times.len(), left);
    assert!(
        times[1] + 1000 >= asked_at,
        "released at block time {} although asked at {asked_at}: decided on a stale block",
        times[1]
    );

    // Frozen: answers nothing. Within 3 s (plus a heartbeat), releases stop.
    faults.chain.freeze();
    let frozen = Instant::now();
    let first_refusal = loop {
        let (status, took, body) = faults.ask(share_id).await;
        assert!(took < Duration::from_secs(12), "an answer took {took:?}");
        match status {
            200 => left += 1,
            503 => break (frozen.elapsed(), body),
            other => panic!("answered {other} while frozen: {body}"),
        }
        assert!(frozen.elapsed() < Duration::from_secs(6), "still releasing while frozen");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(first_refusal.0 <= Duration::from_millis(4500), "{first_refusal:?}");
    for _ in 0..5 {
        let (status, _, body) = faults.ask(share_id).await;
        assert_eq!(status, 503, "while frozen: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    faults.chain.thaw();
    faults.until_released(share_id, Duration::from_secs(30)).await;
    left += 1;

    // Stopped: refused at once, and served again once it is back.
    faults.chain.stop();
    let stopped = Instant::now();
    loop {
        let (status, _, body) = faults.ask(share_id).await;
        if status == 503 {
            break;
        }
        assert_eq!(status, 200, "{body}");
        left += 1;
        assert!(stopped.elapsed() < Duration::from_secs(4), "still releasing while stopped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    faults.chain.restart().await;
    faults.devnet = Devnet::at(faults.deploy.clone()).await;
    faults.until_released(share_id, Duration::from_secs(60)).await;
    left += 1;

    // Every key that left is on chain, and the relay's own count agrees.
    assert_eq!(releases_of(&faults.a).await, left as u64);
    assert_eq!(faults.until_recorded(share_id, left).await.len(), left);
    let (_, report) = faults.a.request("GET", "/admin/releases?state=refused", None).await;
    assert_eq!(report["counts"]["refused"], 0, "{report}");
    assert_eq!(report["releasing"], true, "{report}");
}

/// An account that cannot pay fees cannot record: releases stop after the first
/// failed record, say why, and resume once the account has funds again; the release
/// that left meanwhile is recorded then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_that_cannot_pay_fees_stops_releasing_until_it_can() {
    let net = Network::start().await;
    let (share_id, hash) = net.share("needs a fee to record", json!({})).await;
    let mut left = 0;
    let ask = || ask_envelope(net.a.address, &net.node_b.signer, share_id, None);
    assert_eq!(ask().await.status, 200);
    left += 1;

    net.devnet.drain(&net.node_a).await;
    let drained = Instant::now();
    let refusal = loop {
        let response = ask().await;
        match response.status {
            200 => left += 1,
            503 => break response.json(),
            other => panic!("answered {other}: {}", response.json()),
        }
        assert!(drained.elapsed() < Duration::from_secs(15), "still releasing without funds");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // What leaves before the first record fails: the releases of the second a record
    // batch gathers for and of its failed submission, a request every 200 ms or so (on
    // SQLite about half a second of them, on PostgreSQL a little more).
    assert!(left <= 8, "{left} keys left after the funds did");
    let message = refusal["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("key release"), "{refusal}");
    let (_, report) = net.a.request("GET", "/admin/releases", None).await;
    assert_eq!(report["releasing"], false, "{report}");
    assert!(report["reason"].as_str().unwrap().contains("fails"), "{report}");

    net.devnet.transfer(&net.node_a.account, datamgmt_tests::TEST_FUNDS).await;
    let resumed = async {
        loop {
            if ask().await.status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), resumed).await.expect("releases resume");
    left += 1;
    assert_eq!(recorded_releases(&net.a, &hash, share_id, left).await, left, "all recorded");
}

/// A payment buys a key only once its block is final: one still open (here the chain
/// finalizes 12 s after each block) is answered 409 and nothing leaves; once final, the
/// key does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_buys_a_key_only_once_it_is_final() {
    let faults = Faults::start(12).await;
    let (share_id, _) = faults.share("priced", json!({"require_payment": true, "price": 7})).await;
    faults.pay(share_id, 7).await;
    let paid = Instant::now();
    let (status, _, body) = faults.ask(share_id).await;
    assert_eq!(status, 409, "a payment not final yet: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("final"), "{body}");
    assert_eq!(releases_of(&faults.a).await, 0);
    tokio::time::sleep(Duration::from_secs(14).saturating_sub(paid.elapsed())).await;
    let (status, _, body) = faults.ask(share_id).await;
    assert_eq!(status, 200, "final now: {body}");
}

/// The owner revokes while a paid release waits for its payment to be final: once the
/// payment is final the release is decided again on the newest block, and refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_while_a_payment_settles_stops_the_release() {
    let faults = Faults::start(3).await;
    let terms = json!({"require_payment": true, "price": 7});
    let (share_id, _) = faults.share("paid, then revoked", terms).await;
    faults.pay(share_id, 7).await;
    // B asks at once: A waits for the payment to be final...
    let asking = tokio::spawn({
        let (address, signer) = (faults.a.address, faults.b.signer.clone());
        async move { ask_envelope(address, &signer, share_id, None).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // ...and meanwhile A revokes.
    let (status, body) =
        faults.a.request("POST", &format!("/shares/{share_id}/revoke"), None).await;
    assert_eq!(status, 200, "{body}");
    let answer = asking.await.unwrap();
    assert_eq!(answer.status, 403, "{}", answer.json());
    assert!(answer.json().to_string().contains("revoked"), "{}", answer.json());
    assert_eq!(releases_of(&faults.a).await, 0, "no key left");
}

/// A record the contract refuses (a key that left without its record) pauses every
/// release until an operator acknowledges it at `/admin/releases/acknowledge`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_record_pauses_releases_until_acknowledged() {
    let mut net = Network::start().await;
    let (revoked, _) = net.share("its record will be refused", json!({})).await;
    let (free, _) = net.share("read while paused", json!({})).await;
    // What a relay would leave behind had it sent a key after the share was revoked:
    // an outbox row the contract refuses.
    net.a.stop();
    net.devnet
        .chain
        .submit(&net.node_a.signer, &messages::revoke(revoked), Confirmation::InBlock)
        .await
        .unwrap();
    net.devnet.advance_block().await;
    let index = datamgmt_relay::index::Index::open(net.a.database_url()).await.unwrap();
    let release = datamgmt_relay::index::KeyRelease {
        share_id: revoked,
        recipient: net.node_b.id,
        released_at: net.devnet.chain_time().await,
        receipt_paid_at: None,
    };
    // Written and confirmed, as a release that left.
    let id = index.insert_release(&release, now_ms()).await.unwrap().unwrap();
    assert!(index.confirm_release(id, now_ms()).await.unwrap());
    drop(index);
    net.a.restart().await;

    let mut report = Value::Null;
    for _ in 0..60 {
        report = net.a.request("GET", "/admin/releases?state=refused", None).await.1;
        if report["counts"]["refused"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(report["counts"]["refused"], 1, "{report}");
    assert_eq!(report["releasing"], false, "{report}");
    assert!(report["reason"].as_str().unwrap().contains("acknowledge"), "{report}");
    let refused = ask_envelope(net.a.address, &net.node_b.signer, free, None).await;
    assert_eq!(refused.status, 503, "{}", refused.json());
    assert_eq!(refused.json()["error"]["code"], "releases_paused");

    let looked_at = json!({ "up_to_id": report["items"][0]["id"] });
    let (status, body) =
        net.a.request("POST", "/admin/releases/acknowledge", Some(&looked_at)).await;
    assert_eq!((status, body["acknowledged"].as_u64()), (200, Some(1)), "{body}");
    let released = ask_envelope(net.a.address, &net.node_b.signer, free, None).await;
    assert_eq!(released.status, 200, "{}", released.json());
}

// ----------------------------------------------------------------------------------
// 3. No substitution of data.

/// An envelope of `data` for `recipient`'s registered key alone (what a sharer's
/// `dmn share --e2e` uploads).
async fn envelope_for(devnet: &Devnet, recipient: &TestNode, data: &[u8]) -> Vec<u8> {
    let node = devnet.chain.node(&recipient.id).await.unwrap().expect("registered");
    let data_key = DataKey::generate();
    let mut header = Header::new(DEFAULT_CHUNK_SIZE).unwrap();
    header.add_recipient(node.key_version, &node.encryption_key, &data_key).unwrap();
    let mut sealed = Vec::new();
    envelope::encrypt(data, &mut sealed, &header, &data_key, 1).await.unwrap();
    sealed
}

/// A streamed read of `hash` from B; the status and the body, or `None` when the body
/// did not arrive whole (cut short).
async fn b_streams(net: &Network, path: &str) -> (u16, Option<Vec<u8>>) {
    let response = local_tls()
        .http_client()
        .get(format!("{}{path}", net.b.address))
        .bearer_auth(&net.b.token)
        .header("accept", "application/octet-stream")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.ok().map(|body| body.to_vec()))
}

/// C shares with B an envelope of its own under the hash of A's data: B's readers get
/// A's data, or a clear error, never C's bytes as a success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impostor_cannot_pass_its_data_off_under_a_genuine_hash() {
    let net = Network::start().await;
    let genuine = "the genuine data, shared by A";
    let (_, hash) = net.share(genuine, json!({})).await;
    assert_eq!(net.b_reads(&hash).await.1["data"], genuine);

    // C's envelope of 1 MiB of its own bytes (longer than what a relay holds back),
    // declared under A's hash.
    let impostor = vec![b'C'; 1 << 20];
    let sealed = envelope_for(&net.devnet, &net.node_b, &impostor).await;
    let path = format!("/share_envelope?recipient={}&data_hash={hash}", net.node_b.account);
    let content = "content-type: application/octet-stream\r\n";
    let response = http(net.c.address, &net.c.token, "POST", &path, content, &sealed).await;
    assert_eq!(response.status, 200, "{}", response.json());
    let c_node = node_id_of(&net.node_c.account);
    let from_c = format!("/data/{hash}?sender={c_node}");
    until_indexed(&net.b, &net.node_b, &hash, 2).await;

    // JSON: A's data, whoever shared last.
    let (status, body) = net.b.request("GET", &format!("/data/{hash}"), None).await;
    let shown: String = body.to_string().chars().take(300).collect();
    assert_eq!((status, body["data"].as_str()), (200, Some(genuine)), "{shown}");
    // Naming C: a clear refusal, not C's bytes.
    let (status, body) = net.b.request("GET", &from_c, None).await;
    assert_eq!(status, 502, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("does not hash"), "{body}");

    // Streamed: A's bytes; naming C: the answer never completes.
    let (status, bytes) = b_streams(&net, &format!("/data/{hash}")).await;
    assert_eq!((status, bytes.as_deref()), (200, Some(genuine.as_bytes())));
    let (status, bytes) = b_streams(&net, &from_c).await;
    assert!(
        status != 200 || bytes.is_none(),
        "C's bytes were answered as a success ({} bytes)",
        bytes.map_or(0, |b| b.len())
    );
}

/// A sharer announces a shorter plaintext than its envelope holds, so that a response
/// of that length would end, complete, before the data is checked: the relay holds the
/// sharer to its length, and the reader never gets those bytes as a success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharer_cannot_cut_a_checked_answer_short_with_a_false_length() {
    let net = Network::start().await;
    let genuine = "the genuine data, under the hash the liar uses";
    let (_, hash) = net.share(genuine, json!({})).await;
    // 300 KiB of the liar's own bytes in one chunk, then a chunk of padding; it
    // announces only the first.
    let lie = vec![b'M'; 300 << 10];
    let node = net.devnet.chain.node(&net.node_b.id).await.unwrap().expect("B is a node");
    let data_key = DataKey::generate();
    let mut header = Header::new(lie.len() as u32).unwrap();
    header.add_recipient(node.key_version, &node.encryption_key, &data_key).unwrap();
    let mut plaintext = lie.clone();
    plaintext.extend_from_slice(&[b'P'; 1024]);
    let mut sealed = Vec::new();
    envelope::encrypt(plaintext.as_slice(), &mut sealed, &header, &data_key, 1).await.unwrap();
    let served = Hostility::Envelope(std::sync::Arc::new(sealed), lie.len() as u64);
    let (endpoint, _) = hostile_server(served).await;
    let endpoint = format!("http://{endpoint}");
    let liar = hostile_share(&net.devnet, "liar", &endpoint, &net.node_b, &hash).await;
    until_indexed(&net.b, &net.node_b, &hash, 2).await;
    let from_liar = format!("/data/{hash}?sender={}", node_id_of(&liar.account));
    let (status, bytes) = b_streams(&net, &from_liar).await;
    assert!(
        status != 200 || bytes.is_none(),
        "the liar's bytes were answered as a success ({} bytes)",
        bytes.map_or(0, |b| b.len())
    );
    let (status, body) = net.b.request("GET", &from_liar, None).await;
    assert_eq!(status, 502, "{}", body.to_string().chars().take(300).collect::<String>());
}

/// What the man in the middle does with A's answers.
#[derive(Clone, Default)]
struct Substitute(std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>);

/// A man in the middle on loopback: forwards each P2P request to `upstream` (over
/// HTTPS, as any client of A's) and passes its answer on, headers and all, except that
/// while `substitute` holds an envelope it sends that body instead (A's status and
/// headers kept). It answers B in plain HTTP: whatever protects the hop, the one who
/// terminates it (a proxy, a compromised CA's holder) can swap the body. Counts the
/// requests.
async fn man_in_the_middle(
    upstream: RelayAddress,
    substitute: Substitute,
) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    let client = local_tls().http_client();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let substitute = substitute.clone();
            let client = client.clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 8192];
                let mut read = 0;
                while !request[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut request[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                let head = String::from_utf8_lossy(&request[..read]).into_owned();
                let mut lines = head.split("\r\n");
                let path = lines.next().unwrap().split(' ').nth(1).unwrap().to_owned();
                let mut forward = client.get(format!("{upstream}{path}"));
                for line in lines {
                    if let Some((name, value)) = line.split_once(": ") {
                        if name.to_ascii_lowercase().starts_with("x-dmn-") {
                            forward = forward.header(name, value);
                        }
                    }
                }
                let answer = forward.send().await.unwrap();
                let status = answer.status().as_u16();
                let kept: Vec<String> =
                    ["content-type", "x-dmn-plaintext-length", "x-dmn-answer-signature"]
                        .iter()
                        .filter_map(|name| {
                            answer
                                .headers()
                                .get(*name)
                                .map(|v| format!("{name}: {}\r\n", v.to_str().unwrap()))
                        })
                        .collect();
                let genuine = answer.bytes().await.unwrap().to_vec();
                let body = match (status, substitute.0.lock().unwrap().clone()) {
                    (200, Some(envelope)) => envelope,
                    _ => genuine,
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\n{}content-length: {}\r\nconnection: close\r\n\r\n",
                    kept.concat(),
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    (address, seen)
}

/// A man in the middle between B and A swaps A's envelope for one it made to B's
/// public key, of the very same data (so the data's hash alone would pass it): B
/// refuses it, because A's account signs each answer it sends. Passed through
/// untouched, the same path works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_man_in_the_middle_cannot_swap_the_envelope() {
    let net = Network::start().await;
    let substitute = Substitute::default();
    let (proxy, seen) = man_in_the_middle(net.a.address, substitute.clone()).await;
    // A's registered endpoint now leads through the man in the middle.
    let a = net.devnet.chain.node(&net.node_a.id).await.unwrap().expect("A is a node");
    let through = format!("http://{proxy}");
    let update = messages::update_node(a.encryption_key, a.key_version, &through);
    net.devnet.chain.submit(&net.node_a.signer, &update, Confirmation::InBlock).await.unwrap();

    let passed = format!("passed through untouched {}", rand::random::<u64>());
    let (_, hash) = net.share(&passed, json!({})).await;
    let (status, body) = net.b_reads(&hash).await;
    assert_eq!((status, body["data"].as_str()), (200, Some(passed.as_str())), "{body}");
    assert!(
        seen.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "B's request went through the proxy"
    );

    let swapped = format!("swapped on the way {}", rand::random::<u64>());
    let (_, hash) = net.share(&swapped, json!({})).await;
    *substitute.0.lock().unwrap() =
        Some(envelope_for(&net.devnet, &net.node_b, swapped.as_bytes()).await);
    let (status, body) = net.b_reads(&hash).await;
    assert_eq!(status, 502, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("not signed by the sharing node's account"), "{message}");
    let (status, bytes) = b_streams(&net, &format!("/data/{hash}")).await;
    assert!(status != 200 || bytes.is_none(), "the swapped envelope was read as a success");
}

/// A node registered with `endpoint`, sharing `data_hash` with `recipient` straight on
/// chain (it holds no envelope: the endpoint is all it brings).
async fn hostile_share(
    devnet: &Devnet,
    label: &str,
    endpoint: &str,
    recipient: &TestNode,
    data_hash: &str,
) -> TestNode {
    let node = devnet.funded_account(label).await;
    let key = EncryptionKey(rand::random());
    devnet
        .chain
        .submit(&node.signer, &messages::register_node(key, 1, endpoint), Confirmation::InBlock)
        .await
        .expect("registers");
    let hash: DataHash = data_hash.parse().unwrap();
    let share = messages::share(ShareId(rand::random()), &recipient.id, hash, 0, None, 1);
    devnet.chain.submit(&node.signer, &share, Confirmation::InBlock).await.expect("shares");
    node
}

/// A share whose owner's endpoint fails, older or newer than the genuine one, does not
/// keep B from A's data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_whose_endpoint_fails_does_not_block_the_genuine_share() {
    let net = Network::start().await;
    let data = format!("shared by A and claimed by dead endpoints {}", rand::random::<u64>());
    let hash = hash_of(data.as_bytes());
    let dead = format!("http://127.0.0.1:{}", datamgmt_tests::free_port());
    hostile_share(&net.devnet, "dead-before", &dead, &net.node_b, &hash).await;
    net.share(&data, json!({})).await;
    hostile_share(&net.devnet, "dead-after", &dead, &net.node_b, &hash).await;
    // Once B has indexed all three, the genuine one is still found.
    until_indexed(&net.b, &net.node_b, &hash, 3).await;
    let (status, body) = net.b.request("GET", &format!("/data/{hash}"), None).await;
    assert_eq!((status, body["data"].as_str()), (200, Some(data.as_str())), "{body}");
}

// ----------------------------------------------------------------------------------
// 4. Hostile peers.

/// How a hostile endpoint behaves.
#[derive(Clone, Debug)]
enum Hostility {
    /// Answers every request with a redirect to the other server.
    Redirect(u16),
    /// Reads the request and never answers.
    Hang,
    /// Answers 500 with a 2 GB body, as fast as it is read.
    EndlessError,
    /// Counts the connections it gets (none are expected).
    Count,
    /// Answers 200 with this envelope, announcing this plaintext length.
    Envelope(std::sync::Arc<Vec<u8>>, u64),
}

/// A hostile HTTP server on loopback; the number of connections it accepted.
async fn hostile_server(
    behaviour: Hostility,
) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let behaviour = behaviour.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                match behaviour {
                    Hostility::Envelope(envelope, announced) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n\
                             content-length: {}\r\nx-dmn-plaintext-length: {announced}\r\n\r\n",
                            envelope.len()
                        );
                        let _ = stream.write_all(head.as_bytes()).await;
                        let _ = stream.write_all(&envelope).await;
                    }
                    Hostility::Redirect(to) => {
                        let answer = format!(
                            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{to}/p2p/envelopes/x\r\ncontent-length: 0\r\n\r\n"
                        );
                        let _ = stream.write_all(answer.as_bytes()).await;
                    }
                    Hostility::Hang => tokio::time::sleep(Duration::from_secs(600)).await,
                    Hostility::EndlessError => {
                        let head = "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: 2147483648\r\n\r\n";
                        if stream.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let block = vec![b'{'; 1 << 16];
                        for _ in 0..(2usize << 30) / block.len() {
                            if stream.write_all(&block).await.is_err() {
                                return;
                            }
                        }
                    }
                    Hostility::Count => {}
                }
            });
        }
    });
    (address, accepted)
}

/// Endpoints that redirect, hang, answer without end, carry a query or point inside
/// the network: each read of a share from such a node ends, quickly, with a clear
/// error; the relay's memory stays flat, and no redirect is followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_endpoints_get_bounded_clear_errors() {
    let devnet = Devnet::connect().await;
    let dir = tempfile::tempdir().unwrap();
    let node_b = devnet.funded_account("hostile-b").await;
    let settings =
        "[peers]\nallow_loopback = true\nresponse_timeout_secs = 3\nread_timeout_secs = 3\n";
    let b =
        RelayProcess::start_with(&dir.path().join("b"), &node_b, &devnet.state, false, settings)
            .await;

    let (target, followed) = hostile_server(Hostility::Count).await;
    let (redirect, _) = hostile_server(Hostility::Redirect(target.port())).await;
    let (hang, _) = hostile_server(Hostility::Hang).await;
    let (endless, _) = hostile_server(Hostility::EndlessError).await;
    let (queried, queried_hits) = hostile_server(Hostility::Count).await;
    let cases = [
        ("redirect", format!("http://{redirect}"), 502, "redirect"),
        ("hang", format!("http://{hang}"), 503, "the sharing node"),
        ("endless", format!("http://{endless}"), 502, "answered 500"),
        ("query", format!("http://{queried}/base?steal=1"), 502, "query"),
        ("private", "http://10.255.255.1:8081".to_owned(), 502, "private"),
        ("metadata", "http://169.254.169.254/latest".to_owned(), 502, "private"),
    ];
    let memory_before = b.resident_kb();
    for (label, endpoint, expected, says) in cases {
        let hash = hash_of(format!("{label} {}", rand::random::<u64>()).as_bytes());
        hostile_share(&devnet, label, &endpoint, &node_b, &hash).await;
        let path = format!("/data/{hash}");
        let mut answer = (0, Value::Null, Duration::ZERO);
        for _ in 0..80 {
            let started = Instant::now();
            let (status, body) = b.request("GET", &path, None).await;
            answer = (status, body, started.elapsed());
            if status != 404 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let (status, body, took) = answer;
        assert_eq!(status, expected, "{label}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(says), "{label}: {body}");
        assert!(took < Duration::from_secs(8), "{label}: answered after {took:?}");
    }
    assert_eq!(followed.load(std::sync::atomic::Ordering::SeqCst), 0, "a redirect was followed");
    assert_eq!(
        queried_hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "an endpoint with a query was called"
    );
    let grown_kb = b.resident_kb().saturating_sub(memory_before);
    assert!(grown_kb < 64 << 10, "the relay grew by {grown_kb} kB");
}

/// The P2P route asks nothing of the chain, and writes nothing, for a node that is not
/// the share's recipient; each node's requests and each (share, recipient)'s releases
/// are rate-limited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_are_checked_before_any_work_and_rate_limited() {
    let devnet = Devnet::connect().await;
    let dir = tempfile::tempdir().unwrap();
    let node_a = devnet.funded_account("limits-a").await;
    let b = devnet.registered_node("limits-b").await;
    let c = devnet.registered_node("limits-c").await;
    let settings = "[releases]\nper_share_recipient_per_minute = 3\n\
                    [peers]\nallow_loopback = true\nrequests_per_second = 4\n";
    let a =
        RelayProcess::start_with(&dir.path().join("a"), &node_a, &devnet.state, false, settings)
            .await;
    let request = json!({"data": "limited", "recipient": b.account.to_string()});
    let (status, body) = a.request("POST", "/share_data", Some(&request)).await;
    assert_eq!(status, 200, "{body}");
    let share_id: ShareId = body["share_id"].as_str().unwrap().parse().unwrap();

    // Three releases a minute to B: the fourth is refused, and says when to come back.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(ask_envelope(a.address, &b.signer, share_id, None).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    // C is refused before its nonce is kept or the chain is read, then limited (4 a
    // second, 8 in a burst).
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(ask_envelope(a.address, &c.signer, share_id, None).await.status);
    }
    assert!(statuses[..8].iter().all(|s| *s == 403), "{statuses:?}");
    assert_eq!(statuses[9], 429, "{statuses:?}");
}

// ----------------------------------------------------------------------------------
// 5. Server limits.

/// 1,000 connections that stall (half of them before their TLS handshake is over, half
/// after it, with half a request head) do not starve `/healthz`, and are closed once the
/// header timeout (2 s here, which bounds the handshake too) has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_do_not_starve_the_relay_and_are_closed() {
    let settings = "[server]\nheader_timeout_secs = 2\n";
    let (_devnet, _node, relay, _dir) = lone_relay("half-open", settings).await;
    let mut connections: Vec<Box<dyn Stalled>> = Vec::new();
    for _ in 0..500 {
        let stream = tokio::net::TcpStream::connect(relay.address.socket).await.unwrap();
        connections.push(Box::new(stream));
        let mut stream = local_tls().connect(relay.address.socket).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: relay\r\nx-slow: ").await.unwrap();
        stream.flush().await.unwrap();
        connections.push(Box::new(stream));
    }
    let started = Instant::now();
    let health = http(relay.address, "", "GET", "/healthz", "", b"").await;
    assert_eq!(health.status, 200);
    assert!(started.elapsed() < Duration::from_secs(1), "/healthz took {:?}", started.elapsed());

    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut closed = 0;
    for mut stream in connections {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_millis(500), stream.read_to_end(&mut rest));
        if matches!(read.await, Ok(Ok(_)) | Ok(Err(_))) {
            closed += 1;
        }
    }
    assert_eq!(closed, 1000, "connections left open past the header timeout");
}

/// A connection a client leaves stalled: plain TCP or TLS.
trait Stalled: tokio::io::AsyncRead + Unpin + Send {}
impl<S: tokio::io::AsyncRead + Unpin + Send> Stalled for S {}

// ----------------------------------------------------------------------------------
// 6. Spam and noise.

/// A relay's proof lists only the shares its node is party to, in pages; the contract
/// records no release to a share's own owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_show_this_nodes_shares_only_and_owners_are_not_recorded() {
    let net = Network::start().await;
    let outsider = net.devnet.registered_node("outsider").await;
    let data = format!("shared by A, and by C with an outsider {}", rand::random::<u64>());
    let (share_id, hash) = net.share(&data, json!({})).await;
    net.share(&data, json!({})).await;
    let request = json!({"data": data, "recipient": outsider.account.to_string()});
    let (status, body) = net.c.request("POST", "/share_data", Some(&request)).await;
    assert_eq!(status, 200, "{body}");
    net.devnet.advance_block().await;
    // Once every share is indexed (finalized) by A: A's two shares, in pages of one.
    let mut records = Vec::new();
    for _ in 0..60 {
        records.clear();
        let mut token: Option<String> = None;
        loop {
            let page = match &token {
                Some(token) => format!("/verify_data/{hash}?limit=1&page_token={token}"),
                None => format!("/verify_data/{hash}?limit=1"),
            };
            let (status, proof) = net.a.request("GET", &page, None).await;
            assert_eq!(status, 200, "{proof}");
            records.extend(proof["records"].as_array().unwrap().iter().cloned());
            match proof["next_page_token"].as_str() {
                Some(next) => token = Some(next.to_owned()),
                None => break,
            }
        }
        if records.len() >= 2 && records.iter().all(|r| r["finalized"] == true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let a_node = node_id_of(&net.node_a.account).to_string();
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(|r| r["sender"]["node_id"] == a_node.as_str()), "{records:?}");

    // The owner cannot record a release to itself.
    let now = net.devnet.chain_time().await;
    let message = messages::record_release(share_id, &net.node_a.id, now);
    let dry_run = net.devnet.chain.dry_run(&net.node_a.account, &message).await.unwrap();
    let refused = dry_run.decode_result::<()>().unwrap_err();
    assert!(
        matches!(refused, ChainError::Contract(datamgmt_abi::Error::ReleaseToOwner)),
        "{refused:?}"
    );
}

// ----------------------------------------------------------------------------------
// 8. Edges.

/// Unknown routes and methods, long URIs, many headers, an oversized JSON body and a
/// backwards time range all answer in the API's error shape; the oversized body's
/// answer is readable (the connection is not cut while the client sends); and metric
/// labels stay bounded whatever methods clients invent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_refusals_answer_in_the_api_shape() {
    let settings = "[limits]\nmax_json_body = 1048576\n";
    let (_devnet, _node, relay, _dir) = lone_relay("edges", settings).await;
    let shape =
        |response: &HttpResponse| response.json()["error"]["code"].as_str().map(str::to_owned);

    let cases: [(&str, String, String, u16, &str); 4] = [
        ("GET", "/no/such/route".into(), String::new(), 404, "not_found"),
        ("DELETE", "/healthz".into(), String::new(), 405, "method_not_allowed"),
        ("GET", format!("/data/{}", "a".repeat(10_000)), String::new(), 414, "uri_too_long"),
        (
            "GET",
            "/healthz".into(),
            (0..120).map(|n| format!("x-header-{n}: {n}\r\n")).collect(),
            431,
            "headers_too_large",
        ),
    ];
    for (method, path, headers, status, code) in cases {
        let response = http(relay.address, &relay.token, method, &path, &headers, b"").await;
        assert_eq!(
            (response.status, shape(&response).as_deref()),
            (status, Some(code)),
            "{method} {}",
            &path[..path.len().min(40)]
        );
    }

    let body =
        format!("{{\"data\": \"{}\", \"recipient\": \"node_000000000000\"}}", "x".repeat(3 << 20));
    let json = "content-type: application/json\r\n";
    let response =
        http(relay.address, &relay.token, "POST", "/share_data", json, body.as_bytes()).await;
    assert_eq!((response.status, shape(&response).as_deref()), (413, Some("payload_too_large")));

    let (status, body) = http_json(
        relay.address,
        &relay.token,
        "GET",
        "/data/list?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");

    for n in 0..50 {
        let method = format!("INVENTED{n}");
        http(relay.address, &relay.token, &method, "/healthz", "", b"").await;
    }
    let metrics =
        String::from_utf8(http(relay.address, "", "GET", "/metrics", "", b"").await.body).unwrap();
    assert!(!metrics.contains("INVENTED"), "client-chosen methods became labels");
    assert!(metrics.contains("method=\"other\""));
}
