//! A relay against the devnet: it registers itself as a node, keeps its record current,
//! reports ready once the chain, the store and the index answer, and shares data:
//! encrypted for the recipient, stored, recorded on chain, readable by its owner. The
//! relay runs in the test's process and serves HTTPS with the suites' certificate.

use datamgmt_abi::{DataHash, ShareId};
use datamgmt_client::api::{
    ErrorCode, ExpiryRequest, ListParams, NumberOrText, ProofRecord, ReadParams, ShareDataRequest,
    VerifyParams,
};
use datamgmt_client::chain::{messages, node_id_of, Confirmation, NodeSigner};
use datamgmt_client::envelope::{self, Header, StanzaKind};
use datamgmt_client::keyring::Keyring;
use datamgmt_relay::testing::{ServedRelay, TestRelay, ADMIN_TOKEN, KEYRING_PASSPHRASE};
use datamgmt_relay::{
    chain::indexer,
    config::{Limits, Settings},
    index::{Index, ShareRow},
    node::{self, NodeIdentity, Registration},
    share::outbox,
    state::AppState,
    storage::{EnvelopeStore, StorageConfig},
    time, ChainEndpoint, Workers,
};
use datamgmt_tests::{http, http_json, local_tls, wait_for_status, Devnet, RelayAddress, TestNode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

const TOKEN: &str = ADMIN_TOKEN;

/// A relay running in this process on a loopback port, with its own store and index;
/// the tests drive its share outbox and indexer themselves.
struct RunningRelay {
    address: RelayAddress,
    state: AppState,
    identity: NodeIdentity,
    store: EnvelopeStore,
    served: ServedRelay,
    _dir: tempfile::TempDir,
}

impl RunningRelay {
    /// Starts a relay for `account` and waits until it reports ready.
    async fn start(devnet: &Devnet, account: &TestNode) -> Self {
        Self::start_with_limits(devnet, account, Limits::default()).await
    }

    async fn start_with_limits(devnet: &Devnet, account: &TestNode, limits: Limits) -> Self {
        let relay = Self::launch(devnet, account, limits, None).await;
        wait_for_status(relay.address, TOKEN, "/readyz", 200, 10).await;
        relay
    }

    /// Starts a relay without waiting for it; `storage` replaces its local store.
    async fn launch(
        devnet: &Devnet,
        account: &TestNode,
        limits: Limits,
        storage: Option<StorageConfig>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut relay = TestRelay::new(dir.path())
            .signer(account.signer.clone())
            .settings(Settings { limits, ..Settings::default() })
            .tls(local_tls().relay_config());
        if let Some(storage) = storage {
            relay = relay.storage(storage);
        }
        let chain =
            ChainEndpoint { url: devnet.state.url.clone(), contract: *devnet.chain.contract() };
        let served = relay.serve_with(Some(chain), Workers::NONE).await;
        let state = served.state.clone();
        Self {
            address: RelayAddress { socket: served.address, tls: served.https },
            identity: state.node().clone(),
            store: state.store().clone(),
            state,
            served,
            _dir: dir,
        }
    }

    /// Status and JSON body of a request (with the test token).
    async fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        http_json(self.address, TOKEN, method, path, body).await
    }

    /// Status, headers and body bytes of a request with a raw body.
    async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &str,
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        let response = http(self.address, TOKEN, method, path, headers, body).await;
        (response.status, response.head, response.body)
    }

    async fn stop(self) {
        self.served.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_registers_itself_and_becomes_ready() {
    let devnet = Devnet::connect().await;
    let account = devnet.funded_account("relay").await;
    let relay = RunningRelay::start(&devnet, &account).await;
    let (status, body) = relay.request("GET", "/readyz", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")), "{body}");

    let (key_version, key) = relay.identity.keyring.read().await.current_node_public_key();
    let record = devnet.chain.node(&account.id).await.unwrap().expect("registered on chain");
    assert_eq!((record.encryption_key, record.key_version), (key, key_version));
    assert_eq!(record.endpoint, "http://127.0.0.1:18080");

    // A restart with the same keys changes nothing; a rotated node key is published.
    let chain = &devnet.chain;
    let identity = &relay.identity;
    let register = || async {
        let keyring = identity.keyring.read().await;
        node::ensure_registered(chain, &identity.signer, &keyring, &identity.public_url).await
    };
    assert_eq!(register().await.unwrap(), Registration::Unchanged);
    let rotate = json!({"key": "node"});
    let (status, body) = relay.request("POST", "/admin/keys/rotate", Some(&rotate)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["version"].as_u64(), body["chain"].as_str()), (Some(2), Some("updated")));
    let (new_version, new_key) = identity.keyring.read().await.current_node_public_key();
    let record = chain.node(&account.id).await.unwrap().unwrap();
    assert_eq!((record.key_version, record.encryption_key), (key_version + 1, new_key));
    assert_eq!(new_version, key_version + 1);
    assert_eq!(register().await.unwrap(), Registration::Unchanged, "registered");
    let saved = Keyring::open(&identity.keyring_path, &KEYRING_PASSPHRASE.into()).unwrap();
    assert_eq!(saved.current_node_public_key(), (new_version, new_key), "saved");
    relay.stop().await;
}

/// Raw bytes in and out: a multi-chunk object shared from the request body and read back
/// as a stream, and an upload over the size limit refused while it streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn octet_streams_share_and_read_back() {
    let devnet = Devnet::connect().await;
    let owner = devnet.funded_account("owner").await;
    let (recipient, _) = recipient_node(&devnet).await;
    let limits = Limits { max_object_bytes: 4 << 20, ..Limits::default() };
    let relay = RunningRelay::start_with_limits(&devnet, &owner, limits).await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let path = format!(
        "/share_data?recipient={}&require_payment=true&price=7&expires_at=4070908800",
        recipient.account
    );
    let content = "content-type: application/octet-stream\r\n";
    let (status, _, body) = relay.raw("POST", &path, content, &data).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let response: Value = serde_json::from_slice(&body).unwrap();
    let hash = format!("sha256:{}", hex(&Sha256::digest(&data)));
    assert_eq!(response["data_hash"], hash.as_str());
    let share_id: ShareId = response["share_id"].as_str().unwrap().parse().unwrap();
    let share = devnet.chain.share_record(share_id).await.unwrap().unwrap();
    assert_eq!((share.price, share.expires_at), (7, Some(4_070_908_800_000)));

    let accept = "accept: application/octet-stream\r\n";
    let (status, head, body) = relay.raw("GET", &format!("/data/{hash}"), accept, b"").await;
    assert_eq!(status, 200, "{head}");
    assert!(head.contains(&format!("x-content-sha256: {hash}")), "{head}");
    assert_eq!(body, data);

    let too_big = vec![1u8; 5 << 20];
    let (status, _, body) = relay.raw("POST", &path, content, &too_big).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    let (_, listed) = relay.request("GET", "/data/list", None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "nothing kept of the refused upload");
    relay.stop().await;
}

/// Object storage down: readiness says so, a share is refused with 503, and nothing is
/// recorded anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_down_is_503_and_leaves_nothing_behind() {
    let devnet = Devnet::connect().await;
    let owner = devnet.funded_account("owner").await;
    let (recipient, _) = recipient_node(&devnet).await;
    let dead_s3 = StorageConfig::S3 {
        endpoint: "http://127.0.0.1:9".into(),
        region: "garage".into(),
        bucket: "nowhere".into(),
        access_key_id: "GK0".into(),
        secret_access_key: "secret".into(),
    };
    let relay = RunningRelay::launch(&devnet, &owner, Limits::default(), Some(dead_s3)).await;
    let mut readiness = Value::Null;
    for _ in 0..100 {
        let (status, body) = relay.request("GET", "/readyz", None).await;
        readiness = body;
        if status == 503 && readiness["chain"].as_str().unwrap_or("").starts_with("ok") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(readiness["chain"].as_str().unwrap().starts_with("ok"), "{readiness}");
    assert_ne!(readiness["storage"], "ok", "{readiness}");

    let count_before = devnet.chain.share_count().await.unwrap();
    let request = json!({"data": "x", "recipient": recipient.account.to_string()});
    let (status, body) = relay.request("POST", "/share_data", Some(&request)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("unavailable")), "{body}");
    assert_eq!(devnet.chain.share_count().await.unwrap(), count_before, "nothing on chain");
    let (_, listed) = relay.request("GET", "/data/list", None).await;
    assert_eq!(listed["items"], json!([]), "nothing in the index");
    relay.stop().await;
}

/// A recipient node with a keyring of its own, registered on chain.
async fn recipient_node(devnet: &Devnet) -> (TestNode, Keyring) {
    let account = devnet.funded_account("recipient").await;
    let keyring = Keyring::generate(&"recipient".into());
    let outcome =
        node::ensure_registered(&devnet.chain, &account.signer, &keyring, "http://127.0.0.1:18081");
    assert_eq!(outcome.await.unwrap(), Registration::Registered);
    (account, keyring)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_data_stores_records_and_reads_back() {
    let devnet = Devnet::connect().await;
    let owner = devnet.funded_account("owner").await;
    let (recipient, recipient_keyring) = recipient_node(&devnet).await;
    let relay = RunningRelay::start(&devnet, &owner).await;
    let data = "Sensitive enterprise data...";
    let data_hash = format!("sha256:{}", hex(&Sha256::digest(data.as_bytes())));

    let api = datamgmt_client::api::RelayClient::with_http_client(
        relay.served.url(),
        TOKEN,
        local_tls().http_client(),
    );

    // By node id, as in the seed API.
    let recipient_node_id = node_id_of(&recipient.account).to_string();
    let shared = api.share_data(&ShareDataRequest::new(data, &recipient_node_id)).await.unwrap();
    assert_eq!(shared.status, "shared");
    assert_eq!(shared.data_hash.to_string(), data_hash);
    assert_eq!(
        (shared.encryption.algorithm.as_str(), shared.encryption.key_version),
        ("fernet", 1)
    );
    assert!(shared.compliance.recorded);
    assert!(shared.compliance.tx_hash.starts_with("0x"));
    let share_id = shared.share_id;

    // The chain has it, with the same hash and parties.
    let share = devnet.chain.share_record(share_id).await.unwrap().expect("on chain");
    assert_eq!(share.data_hash, shared.data_hash);
    assert_eq!((share.owner, share.recipient), (owner.id, recipient.id));
    let events = devnet.chain.events_in_block(shared.compliance.block_number).await.unwrap();
    assert!(events.iter().any(|e| format!("{:?}", e.extrinsic_hash) == shared.compliance.tx_hash));

    // The owner reads it back, verified.
    let read = api.get_data(&shared.data_hash, &ReadParams::default()).await.unwrap();
    assert_eq!(read.data, data);
    assert!(read.verified);
    assert_eq!(read.sender, node_id_of(&owner.account));
    assert!(read.timestamp.ends_with('Z'));

    // The stored envelope opens with the recipient's key, and holds a custody stanza.
    let (mut reader, _) = relay.store.download(share_id).await.unwrap();
    let header = Header::read(&mut reader).await.unwrap();
    let kinds: Vec<StanzaKind> = header.stanzas().iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [StanzaKind::Custody, StanzaKind::Recipient]);
    let data_key = header.open_recipient(&recipient_keyring).unwrap();
    let mut plaintext = Vec::new();
    envelope::decrypt(reader, &mut plaintext, &header, &data_key, 1).await.unwrap();
    assert_eq!(plaintext, data.as_bytes());

    // By SS58 account, priced, with an expiry; data of its own, so the proof below has
    // no other shares of it.
    let priced = format!("priced {}", rand::random::<u64>());
    let request = ShareDataRequest {
        require_payment: true,
        price: Some(NumberOrText::Text("2500000000".into())),
        expires_at: Some(NumberOrText::Text("2099-01-01T00:00:00Z".into())),
        ..ShareDataRequest::new(&priced, recipient.account.to_string())
    };
    let priced_shared = api.share_data(&request).await.unwrap();
    let share_id = priced_shared.share_id;
    let share = devnet.chain.share_record(share_id).await.unwrap().unwrap();
    assert_eq!((share.price, share.expires_at), (2_500_000_000, Some(4_070_908_800_000)));

    // Both shares are listed, newest first, and the listing pages and filters.
    let list = |params: ListParams| {
        let api = &api;
        async move { api.list(&params).await.unwrap() }
    };
    let page = list(ListParams { limit: Some("1".into()), ..ListParams::default() }).await;
    assert_eq!(page.items[0].share_id, share_id);
    assert_eq!(page.items[0].price, "2500000000");
    assert!(page.items[0].recorded);
    let token = page.next_page_token.expect("a second page");
    let next = list(ListParams {
        limit: Some("1".into()),
        page_token: Some(token),
        ..ListParams::default()
    })
    .await;
    assert_eq!(next.items[0].data_hash.to_string(), data_hash);
    let filtered = list(ListParams {
        recipient: Some(recipient_node_id.clone()),
        sender: Some(owner.account.to_string()),
        ..ListParams::default()
    })
    .await;
    assert_eq!(filtered.items.len(), 2);
    let none =
        list(ListParams { to: Some("2000-01-01T00:00:00Z".into()), ..ListParams::default() }).await;
    assert!(none.items.is_empty());

    // The owner changes the expiry, then revokes; the chain says so.
    let expiry =
        ExpiryRequest { expires_at: Some(NumberOrText::Text("2098-01-01T00:00:00Z".into())) };
    assert_eq!(api.set_expiry(share_id, &expiry).await.unwrap().status, "expiry_changed");
    let share = devnet.chain.share_record(share_id).await.unwrap().unwrap();
    assert_eq!(share.expires_at, Some(4_039_372_800_000));
    assert_eq!(api.revoke(share_id).await.unwrap().status, "revoked");
    assert!(devnet.chain.share_record(share_id).await.unwrap().unwrap().revoked_at.is_some());
    let again = api.revoke(share_id).await.unwrap_err();
    assert_eq!(again.code(), Some(ErrorCode::Conflict), "{again}");
    assert_eq!(api.revoke("share_00").await.unwrap_err().code(), Some(ErrorCode::BadRequest));
    let unknown = api.revoke(ShareId([0xee; 16])).await.unwrap_err();
    assert_eq!(unknown.code(), Some(ErrorCode::NotFound), "{unknown}");

    // The proof, once the blocks are finalized and indexed: the creation, the expiry
    // change and the revocation of the second share, in chain order.
    let priced_hash = format!("sha256:{}", hex(&Sha256::digest(priced.as_bytes())));
    let unindexed = api.verify(&priced_hash, &VerifyParams::default()).await.unwrap();
    assert!(!unindexed.records[0].finalized);
    let chain = relay.state.chain().client().await.unwrap();
    let (best, _) = chain.best_block().await.unwrap();
    while chain.finalized_block_number().await.unwrap() < best {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing before the node registered concerns its shares.
    let since = chain.registered_since(&owner.id).await.unwrap().expect("registered");
    assert!(
        indexer::catch_up(&chain, relay.state.index(), &owner.id, since).await.unwrap() >= best
    );
    let proof = api.verify(&priced_hash, &VerifyParams::default()).await.unwrap();
    let records: Vec<&ProofRecord> =
        proof.records.iter().filter(|r| r.share_id == share_id).collect();
    let kinds: Vec<&str> = records.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, ["created", "expiry_changed", "revoked"]);
    let created = records[0];
    assert_eq!(created.tx_hash, priced_shared.compliance.tx_hash);
    assert!(created.finalized);
    assert_eq!(created.sender.node_id, node_id_of(&owner.account));
    assert_eq!(created.recipient.account, recipient.account.to_string());
    assert!(created.event_index.is_some());

    // A relay that was down catches up from its last block: a fresh index read from
    // the node's registration holds the same records.
    let dir = tempfile::tempdir().unwrap();
    let fresh =
        Index::open(&datamgmt_relay::index::scratch::database_url(dir.path()).await).await.unwrap();
    indexer::catch_up(&chain, &fresh, &owner.id, since).await.unwrap();
    let events =
        fresh.events_for(priced_hash.parse().unwrap(), &owner.id, None, 100).await.unwrap();
    assert_eq!(events.len(), 3);

    // Nobody by that name: refused before anything is stored.
    let stranger = NodeSigner::from_suri("//Alice//nobody").unwrap();
    for recipient in
        [node_id_of(&stranger.account_id()).to_string(), stranger.account_id().to_string()]
    {
        let refused = api.share_data(&ShareDataRequest::new("x", recipient)).await.unwrap_err();
        assert_eq!(refused.code(), Some(ErrorCode::BadRequest), "{refused}");
        assert!(refused.to_string().contains("registered node"), "{refused}");
    }
    relay.stop().await;
}

/// The outbox: a share whose chain call failed is recorded by the retry; one whose call
/// landed unseen is left for the indexer, not submitted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_shares_are_retried_once_the_chain_answers() {
    let devnet = Devnet::connect().await;
    let owner = devnet.funded_account("owner").await;
    let (recipient, _) = recipient_node(&devnet).await;
    let relay = RunningRelay::start(&devnet, &owner).await;
    let pending = |id: u8| ShareRow {
        share_id: ShareId(rand::random()),
        data_hash: DataHash([id; 32]),
        owner: owner.id,
        recipient: recipient.id,
        price: 0,
        expires_at: None,
        key_version: 1,
        plaintext_len: 1,
        envelope_len: 1,
        // Older than a first chain call may take: the outbox's to retry.
        created_at: time::now_ms() - 60_000,
        recorded: None,
        revoked_at: None,
        attempts: 1,
        last_error: Some("chain unreachable".into()),
    };
    // A share whose first call may still be under way (on this or another replica) is
    // left to that call: a second one would race it.
    let young = ShareRow { created_at: time::now_ms(), ..pending(3) };
    relay.state.index().insert_pending(&young).await.unwrap();
    let failed = pending(1);
    relay.state.index().insert_pending(&failed).await.unwrap();
    let landed = pending(2);
    relay.state.index().insert_pending(&landed).await.unwrap();
    let message = messages::share(landed.share_id, &recipient.id, landed.data_hash, 0, None, 1);
    devnet.chain.submit(&owner.signer, &message, Confirmation::InBlock).await.unwrap();

    assert_eq!(outbox::retry_pending(&relay.state).await.unwrap(), 1);
    let recorded = relay.state.index().get(failed.share_id).await.unwrap().unwrap();
    let record = recorded.recorded.expect("recorded after the retry");
    assert!(record.tx_hash.starts_with("0x"));
    assert!(devnet.chain.share_record(failed.share_id).await.unwrap().is_some());
    let waiting = relay.state.index().get(landed.share_id).await.unwrap().unwrap();
    assert!(waiting.recorded.is_none());
    assert!(waiting.last_error.unwrap().contains("already on chain"));
    let untouched = relay.state.index().get(young.share_id).await.unwrap().unwrap();
    assert_eq!((untouched.attempts, untouched.recorded), (0, None), "the young share waits");
    assert_eq!(
        devnet.chain.share_record(landed.share_id).await.unwrap().unwrap().data_hash,
        landed.data_hash
    );
    relay.stop().await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
