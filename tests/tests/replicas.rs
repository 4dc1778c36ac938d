//! Replicas of one node behind a load balancer: two relay processes sharing the node's
//! PostgreSQL index, keyring and Garage bucket, with nginx (Debian's) in front as the
//! node's registered endpoint. The chain writer is killed while 32 clients read through
//! another node, which has every read released by the replicas.
//!
//! Needs a PostgreSQL server (`DATAMGMT_TEST_POSTGRES`, which `scripts/test.sh` sets
//! for its PostgreSQL stage) and nginx: ignored otherwise.

use datamgmt_relay::index::Index;
use datamgmt_tests::{http, key_released_events, Devnet, LoadBalancer, RelayProcess};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Clients reading at once.
const CLIENTS: usize = 32;

/// Clients sharing at once through the replica that is killed.
const SHARERS: usize = 3;

/// Whether `relay` holds the chain writer lease, by its `/metrics`.
async fn is_writer(relay: &RelayProcess) -> bool {
    relay.metric("datamgmt_chain_writer").await.as_deref() == Some("1")
}

/// A signed P2P request one replica answered is refused as a replay by the other, and
/// one payment buys one release from the two replicas asked at once until the chain
/// counts it. Then the chain writer is killed (SIGKILL) under a 32-client release load
/// while three clients share through it: the other replica takes the lease within a
/// bound, reads go on through the load balancer, and afterwards every release that left
/// is recorded on chain (the outbox empty, at least as many `KeyReleased` events as
/// recorded rows, and rows as reads answered), every share answered is on chain, and
/// every share the kill cut short is finished by the survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs DATAMGMT_TEST_POSTGRES and nginx: scripts/test.sh runs it in its PostgreSQL stage"]
async fn killing_the_chain_writer_under_load_loses_no_release_record() {
    assert!(
        datamgmt_relay::index::scratch::postgres_server().is_some(),
        "replicas share a PostgreSQL index: set DATAMGMT_TEST_POSTGRES"
    );
    let devnet = Devnet::connect().await;
    let dir = tempfile::tempdir().unwrap();
    let owner = devnet.funded_account("replicated").await;
    let reader = devnet.funded_account("reader").await;
    let database = datamgmt_relay::index::scratch::database_url(dir.path()).await;
    // One share read by one node hundreds of times a second, which the default rate
    // limits refuse (as scripts/bench-p2p.toml lifts them).
    let settings = format!(
        "[database]\nurl = {}\n[releases]\nper_share_recipient_per_minute = 0\n\
         [peers]\nallow_loopback = true\nrequests_per_second = 0\n",
        serde_json::Value::from(database.clone())
    );

    // The balancer's port is the node's endpoint; its backends are the replicas' ports,
    // known once they listen, so it starts after them (a read before that fails).
    let balancer_address = datamgmt_tests::free_address();
    let endpoint = format!("https://{balancer_address}");
    let first_dir = dir.path().join("a1");
    let mut first =
        RelayProcess::start_replica(&first_dir, &owner, &devnet.state, &endpoint, &settings).await;
    let second_dir = dir.path().join("a2");
    std::fs::create_dir_all(&second_dir).unwrap();
    std::fs::copy(first.keyring_path(), second_dir.join("keyring.json")).unwrap();
    let mut second =
        RelayProcess::start_replica(&second_dir, &owner, &devnet.state, &endpoint, &settings).await;
    let balancer = LoadBalancer::start_at(
        &dir.path().join("nginx"),
        balancer_address,
        &[first.address, second.address],
    );
    let b = RelayProcess::start(&dir.path().join("b"), &reader, &devnet.state, false).await;

    // One writer: the first replica, which started first.
    assert!(is_writer(&first).await && !is_writer(&second).await, "one chain writer");

    let request =
        serde_json::json!({"data": "read by many", "recipient": reader.account.to_string()});
    let (status, body) = first.request("POST", "/share_data", Some(&request)).await;
    assert_eq!(status, 200, "{body}");
    let hash = body["data_hash"].as_str().unwrap().to_owned();
    let share_id: datamgmt_abi::ShareId = body["share_id"].as_str().unwrap().parse().unwrap();

    // A signed P2P request answered by one replica is a replay to the other: the nonce
    // is in the index they share.
    let envelope = datamgmt_tests::envelope_path(share_id);
    let mut answered = None;
    for _ in 0..120 {
        let signed = datamgmt_client::p2p::SignedHeaders::sign(
            &reader.signer,
            "GET",
            &envelope,
            b"",
            datamgmt_relay::time::now_ms(),
        );
        let headers = datamgmt_tests::signed_header_lines(&signed);
        let response = http(first.address, "", "GET", &envelope, &headers, b"").await;
        match response.status {
            200 => {
                answered = Some(headers);
                break;
            }
            // Until the replica's chain view has the share's block.
            404 => tokio::time::sleep(Duration::from_millis(250)).await,
            _ => panic!("the first replica refused a fresh request: {}", response.head),
        }
    }
    let headers = answered.expect("the first replica answers the signed request");
    let replayed = http(second.address, "", "GET", &envelope, &headers, b"").await;
    assert_eq!(replayed.status, 401, "a replay to the other replica is refused");
    // One payment buys one release across the replicas: B pays once, then asks both at
    // once, round after round, until the chain counts the release (a replica's chain view
    // may meet the payment a moment after the other's, and until the release is recorded
    // the shared index is all that stops a second replica releasing again).
    let priced = serde_json::json!({
        "data": "paid once", "recipient": reader.account.to_string(),
        "require_payment": true, "price": 9,
    });
    let (status, body) = first.request("POST", "/share_data", Some(&priced)).await;
    assert_eq!(status, 200, "{body}");
    let priced_id: datamgmt_abi::ShareId = body["share_id"].as_str().unwrap().parse().unwrap();
    let priced_hash: datamgmt_abi::DataHash = body["data_hash"].as_str().unwrap().parse().unwrap();
    let (status, body) = b.request("POST", &format!("/shares/{priced_id}/pay"), None).await;
    assert_eq!(status, 200, "{body}");
    let ask_both = || async {
        let asks = [first.address, second.address, first.address, second.address]
            .map(|replica| datamgmt_tests::ask_envelope(replica, &reader.signer, priced_id, None));
        futures::future::join_all(asks).await
    };
    let refusal = |answer: &datamgmt_tests::HttpResponse| {
        answer.json()["error"]["message"].as_str().unwrap_or_default().to_owned()
    };
    let mut granted = 0;
    for round in 0.. {
        assert!(round < 120, "the paid release is not on chain after 30 s");
        for answer in ask_both().await {
            match answer.status {
                200 => granted += 1,
                // Not paid yet in that replica's view, or paid and used up; nothing else.
                403 => {
                    let message = refusal(&answer);
                    let expected = ["pay for access first", "already used"];
                    assert!(expected.iter().any(|m| message.contains(m)), "{message}");
                }
                // The payment not final yet, or releases paused a moment: asked again.
                409 | 503 => {}
                status => panic!("asking for the paid key: {status} {}", refusal(&answer)),
            }
        }
        assert!(granted <= 1, "one payment bought {granted} releases across the replicas");
        let receipt = devnet.chain.receipt(priced_id, &reader.id).await.unwrap();
        if receipt.is_some_and(|r| r.releases_left == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(granted, 1, "the chain counts the paid release, but no replica granted it");
    // Both replicas' views have the payment now: each answer is the used-up receipt.
    for answer in ask_both().await {
        assert_eq!(answer.status, 403, "after the paid release: {}", refusal(&answer));
        assert!(refusal(&answer).contains("already used"), "{}", refusal(&answer));
    }

    let path = format!("/data/{hash}");
    for _ in 0..120 {
        if b.request("GET", &path, None).await.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // 32 clients read through B for 12 s; the writer dies 4 s in.
    let answered = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let load = Duration::from_secs(12);
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (client, path) = ((b.address, b.token.clone()), path.clone());
        let (answered, failed) = (answered.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            while started.elapsed() < load {
                let response = http(client.0, &client.1, "GET", &path, "", b"").await;
                let counter = if response.status == 200 { &answered } else { &failed };
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    // Meanwhile the node shares through the first replica, the writer, until it dies:
    // a few sharers at once, so that some shares are half-way when it does.
    let mut sharers = Vec::new();
    for _ in 0..SHARERS {
        let client = datamgmt_tests::local_tls().http_client();
        let url = format!("{}/share_data", first.address);
        let (token, recipient) = (first.token.clone(), reader.account.to_string());
        sharers.push(tokio::spawn(async move {
            let mut shared: Vec<datamgmt_abi::ShareId> = Vec::new();
            while started.elapsed() < load {
                let data = format!("shared under load {}", rand::random::<u64>());
                let body = serde_json::json!({"data": data, "recipient": recipient});
                let sent = client.post(&url).bearer_auth(&token).json(&body).send().await;
                let answer = match sent {
                    Ok(answer) if answer.status() == 200 => {
                        answer.json::<serde_json::Value>().await
                    }
                    // Refused, or cut by the kill: settled below.
                    _ => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // A body cut by the kill is a share in the outbox, settled below too.
                if let Some(id) = answer.ok().and_then(|a| a["share_id"].as_str()?.parse().ok()) {
                    shared.push(id);
                }
            }
            shared
        }));
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before_kill = answered.load(std::sync::atomic::Ordering::Relaxed);
    first.kill();
    let killed_at = Instant::now();
    // The shares the kill left half-made: stored and indexed, not yet on chain.
    let index = Index::open(&database).await.unwrap();
    let cut_short = index.pending().await.unwrap();
    let mut takeover = None;
    while killed_at.elapsed() < Duration::from_secs(30) {
        if is_writer(&second).await {
            takeover = Some(killed_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let takeover = takeover.expect("the second replica takes the lease within 30 s");
    for client in clients {
        client.await.unwrap();
    }
    let (answered, failed) = (
        answered.load(std::sync::atomic::Ordering::Relaxed),
        failed.load(std::sync::atomic::Ordering::Relaxed),
    );
    assert!(answered > before_kill, "reads go on after the writer died");
    // Reads fail only around the kill (those the dead replica was answering).
    assert!(failed < answered / 4, "{failed} reads failed, {answered} answered");
    assert!(takeover < Duration::from_secs(5), "takeover took {takeover:?}");

    // Every release that left is recorded.
    let settled_by = Instant::now() + Duration::from_secs(90);
    let (pending, recorded, refused) = loop {
        let counts = index.count_releases().await.unwrap();
        if counts.0 == 0 || Instant::now() > settled_by {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!((pending, refused), (0, 0), "every release recorded; {recorded} were");
    assert!(recorded >= answered, "{recorded} releases recorded for {answered} reads answered");
    let (on_chain, paid) = loop {
        let read = key_released_events(&index, hash.parse().unwrap(), &owner.id).await;
        let paid = key_released_events(&index, priced_hash, &owner.id).await;
        let (read, paid) = (read.len() as u64, paid.len() as u64);
        if read + paid >= recorded || Instant::now() > settled_by {
            break (read + paid, paid);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(paid, 1, "one KeyReleased event for the one payment");
    // A batch out when the writer died can land and be sent again by the survivor:
    // two records of one release (more records than keys, never fewer).
    assert!(on_chain >= recorded, "{recorded} releases recorded, {on_chain} KeyReleased events");

    // No share lost or half-made: each one answered is on chain, and those the kill cut
    // short are finished by the surviving replica's share outbox (it leaves a share alone
    // for 30 s, in case its first call is still under way).
    let mut shared = Vec::new();
    for sharer in sharers {
        shared.extend(sharer.await.unwrap());
    }
    assert!(!shared.is_empty(), "the first replica shared before it died");
    let unfinished = loop {
        let pending = index.pending().await.unwrap();
        if pending.is_empty() || Instant::now() > settled_by + Duration::from_secs(30) {
            break pending;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(unfinished.is_empty(), "{} shares left half-made", unfinished.len());
    let finished = cut_short.iter().map(|row| row.share_id);
    for share_id in shared.iter().copied().chain(finished) {
        let record = devnet.chain.share_record(share_id).await.unwrap();
        assert!(record.is_some_and(|r| r.owner == owner.id), "{share_id} is not on chain");
    }
    eprintln!(
        "replicas: {answered} reads answered, {failed} failed, {recorded} releases recorded, \
         {on_chain} KeyReleased events; takeover {} ms after the kill; {} shares answered \
         under load, {} cut short by the kill and finished by the survivor",
        takeover.as_millis(),
        shared.len(),
        cut_short.len()
    );
    second.stop();
    drop(balancer);
}
