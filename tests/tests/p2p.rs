//! Node to node on the devnet: three relay processes (A on Garage, B and C on local
//! disk), each its own node with its own account and keys. A shares with B; B reads
//! through signed P2P; C, the owner, strangers, forgers and replays get nothing; every
//! release is on chain, even one its relay stopped before recording.

use datamgmt_abi::ShareId;
use datamgmt_client::api::{Direction, ErrorCode, ListParams, ReadParams, ShareStatus};
use datamgmt_client::chain::NodeSigner;
use datamgmt_client::chain::{messages, Confirmation};
use datamgmt_client::envelope::{self, Header, StanzaKind};
use datamgmt_client::keyring::Keyring;
use datamgmt_client::p2p::SignedHeaders;
use datamgmt_relay::index::{Index, KeyRelease};
use datamgmt_relay::time::{now_ms, rfc3339};
use datamgmt_tests::{
    ask_envelope, envelope_path, http, signed_header_lines, Network, TestNode, RELAY_PASSPHRASE,
};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipient_reads_through_p2p_pays_and_loses_access_on_revocation() {
    let net = Network::start().await;

    // What a dApp would read first: the contract the relays work with, with metadata.
    let contract = net.a.client().contract().await.unwrap();
    assert_eq!(contract.address, net.devnet.state.contract);
    assert_eq!(contract.code_hash, net.devnet.state.code_hash);
    assert_eq!(contract.node_url.as_deref(), Some(net.devnet.state.url.as_str()));
    assert!(contract.metadata["spec"]["messages"].is_array(), "ink! metadata");

    // Free share: B reads it, verified; C has nothing to read.
    let (_, hash) = net.share("shared with B over P2P", json!({})).await;
    let read = net.b_gets(&hash).await.unwrap();
    assert_eq!(read.data, "shared with B over P2P");
    assert!(read.verified);
    assert_eq!(read.sender.to_string(), net.a.client().healthz().await.unwrap().node_id);
    let unknown = net.c.client().get_data(&hash.parse().unwrap(), &ReadParams::default()).await;
    assert_eq!(unknown.unwrap_err().code(), Some(ErrorCode::NotFound));
    assert_eq!(net.releases().await, 1);

    // Priced: refused until B pays, once per payment.
    let (priced_id, hash) =
        net.share("priced", json!({"require_payment": true, "price": "5"})).await;
    let share_id = priced_id;
    let refused = net.b_gets(&hash).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::AccessDenied), "{refused}");
    assert!(refused.to_string().contains("pay for access"), "{refused}");
    let owner_before = net.devnet.free_balance(&net.node_a.account).await;
    assert_eq!(net.b.client().pay(share_id).await.unwrap().status, "paid");
    assert_eq!(net.devnet.free_balance(&net.node_a.account).await, owner_before + 5);
    let twice = net.b.client().pay(share_id).await.unwrap_err();
    assert_eq!(twice.code(), Some(ErrorCode::Conflict), "paying twice before use: {twice}");
    assert_eq!(net.b_gets(&hash).await.unwrap().data, "priced");
    let used = net.b_gets(&hash).await.unwrap_err();
    assert_eq!(used.code(), Some(ErrorCode::AccessDenied), "the receipt is used: {used}");
    // C may not pay for B's share.
    let stranger = net.c.client().pay(share_id).await.unwrap_err();
    assert_eq!(stranger.code(), Some(ErrorCode::AccessDenied), "{stranger}");

    // Revocation takes effect on the next request.
    let (share_id, hash) = net.share("to be revoked", json!({})).await;
    assert!(net.b_gets(&hash).await.is_ok());
    assert_eq!(net.a.client().revoke(share_id).await.unwrap().status, "revoked");
    let refused = net.b_gets(&hash).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::AccessDenied), "{refused}");
    assert!(refused.to_string().contains("revoked"), "{refused}");
    assert_eq!(net.releases().await, 3);

    // B's listing of what it received shows each share as it stands once B's indexer has
    // read the blocks: the priced one paid and its payment used, the revoked one revoked.
    let received = ListParams { direction: Some(Direction::Received), ..ListParams::default() };
    let mut listed = Vec::new();
    for _ in 0..40 {
        listed = net.b.client().list(&received).await.unwrap().items;
        let of = |id: ShareId| listed.iter().find(|item| item.share_id == id).cloned();
        let (revoked, paid) = (of(share_id), of(priced_id));
        if revoked.is_some_and(|item| item.status == ShareStatus::Revoked)
            && paid.is_some_and(|item| item.payment_open == Some(false))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(listed.len(), 3, "{listed:#?}");
    assert!(listed.iter().all(|item| item.direction == Direction::Received));
    let by_id = |id: ShareId| listed.iter().find(|item| item.share_id == id).unwrap();
    assert_eq!(by_id(share_id).status, ShareStatus::Revoked, "{listed:#?}");
    assert!(by_id(share_id).revoked_at.is_some());
    assert_eq!(
        (by_id(priced_id).status, by_id(priced_id).payment_open),
        (ShareStatus::Active, Some(false))
    );
    assert_eq!(
        by_id(priced_id).sender.to_string(),
        net.a.client().healthz().await.unwrap().node_id
    );
    let both = ListParams { direction: Some(Direction::All), ..ListParams::default() };
    let mine = net.a.client().list(&both).await.unwrap();
    assert!(mine.items.iter().all(|item| item.direction == Direction::Shared));

    // The release and the revocation are on chain, in A's proof for the data once its
    // indexer has read their (finalized) blocks. The release's record may land after
    // the revocation; it carries the time the release was decided at, before it.
    let mut records = Vec::new();
    for _ in 0..40 {
        records = net.a_proof_of(&hash, share_id).await;
        records.sort_by(|a, b| a.1.cmp(&b.1));
        let kinds: Vec<&str> = records.iter().map(|(kind, _)| kind.as_str()).collect();
        if kinds == ["created", "key_released", "revoked"] {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the proof never showed created, key_released, revoked: {records:?}");
}

/// A release that was sent but not yet recorded when the owner's relay stopped (what a
/// crash between the two leaves in its outbox) is recorded once the relay is back, at
/// the release's own time, although the owner revoked the share in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_release_is_recorded_after_a_restart_and_a_revocation() {
    let mut net = Network::start().await;
    let (share_id, hash) = net.share("released, then revoked", json!({})).await;
    let released_at = net.devnet.chain_time().await;
    net.a.stop();
    let index = Index::open(net.a.database_url()).await.unwrap();
    let release =
        KeyRelease { share_id, recipient: net.node_b.id, released_at, receipt_paid_at: None };
    // Written and confirmed, as a release that left.
    let id = index.insert_release(&release, now_ms()).await.unwrap().unwrap();
    assert!(index.confirm_release(id, now_ms()).await.unwrap());
    drop(index);
    let chain = &net.devnet.chain;
    chain
        .submit(&net.node_a.signer, &messages::revoke(share_id), Confirmation::InBlock)
        .await
        .unwrap();

    net.a.restart().await;
    let mut records = Vec::new();
    for _ in 0..60 {
        records = net.a_proof_of(&hash, share_id).await;
        if records.len() == 3 {
            let kinds: Vec<_> = records.iter().map(|(kind, _)| kind.as_str()).collect();
            assert_eq!(kinds, ["created", "revoked", "key_released"], "{records:?}");
            assert_eq!(records[2].1, rfc3339(released_at), "recorded at the release's time");
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "the release was never recorded: {records:?}\n{}",
        std::fs::read_to_string(net.a.log()).unwrap_or_default()
    );
}

/// Who asks the owner's relay for an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asker {
    Recipient,
    Owner,
    ThirdNode,
    Unregistered,
    /// Headers naming the recipient's account, signed by another key.
    Forged,
    /// The recipient's request, sent again as it was.
    Replayed,
}

/// The state of the share asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    PricedUnpaid,
    PricedPaid,
    ReceiptUsed,
    Revoked,
    Expired,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_envelope_leaves_the_owner_outside_what_the_contract_allows() {
    let net = Network::start().await;
    let b_keyring = Keyring::open(&net.b.keyring_path(), &RELAY_PASSPHRASE.into()).unwrap();
    let stranger =
        NodeSigner::from_suri(&format!("//stranger//{}", rand::random::<u64>())).unwrap();
    let states = [
        State::Active,
        State::PricedUnpaid,
        State::PricedPaid,
        State::ReceiptUsed,
        State::Revoked,
        State::Expired,
    ];
    let askers = [
        Asker::Owner,
        Asker::ThirdNode,
        Asker::Unregistered,
        Asker::Forged,
        Asker::Recipient,
        Asker::Replayed,
    ];

    // Shares in every state.
    let mut shares = Vec::new();
    for state in states {
        let data = format!("matrix {state:?}");
        let terms = match state {
            State::PricedUnpaid | State::PricedPaid | State::ReceiptUsed => {
                json!({"require_payment": true, "price": 7})
            }
            State::Expired => json!({"expires_at": now_ms() / 1000 + 2}),
            _ => json!({}),
        };
        let (share_id, _) = net.share(&data, terms).await;
        if matches!(state, State::PricedPaid | State::ReceiptUsed) {
            let (status, body) =
                net.b.request("POST", &format!("/shares/{share_id}/pay"), None).await;
            assert_eq!(status, 200, "{body}");
        }
        if state == State::ReceiptUsed {
            let (status, _) = ask(&net, &net.node_b.signer, None, share_id).await;
            assert_eq!(status, 200, "the release that uses the receipt");
        }
        if state == State::Revoked {
            let (status, _) =
                net.a.request("POST", &format!("/shares/{share_id}/revoke"), None).await;
            assert_eq!(status, 200);
        }
        shares.push((state, share_id, data));
    }
    // Let the expiry pass in chain time.
    let deadline = (now_ms() / 1000 + 3) * 1000;
    while net.devnet.chain_time().await < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        net.devnet.advance_block().await;
    }

    let mut cases = 0;
    let mut released = 0;
    for (state, share_id, data) in &shares {
        let mut recipient_headers = None;
        for asker in askers {
            let releases_before = net.releases().await;
            let (status, body) = match asker {
                Asker::Recipient => {
                    let (status, body, headers) =
                        ask_keeping_headers(&net, &net.node_b.signer, share_id).await;
                    recipient_headers = Some(headers);
                    (status, body)
                }
                Asker::Owner => ask(&net, &net.node_a.signer, None, *share_id).await,
                Asker::ThirdNode => ask(&net, &net.node_c.signer, None, *share_id).await,
                Asker::Unregistered => ask(&net, &stranger, None, *share_id).await,
                Asker::Forged => ask(&net, &net.node_c.signer, Some(&net.node_b), *share_id).await,
                Asker::Replayed => {
                    let headers = recipient_headers.clone().expect("the recipient asked first");
                    let response =
                        http(net.a.address, "", "GET", &path(*share_id), &headers, b"").await;
                    (response.status, response.body)
                }
            };
            cases += 1;
            let allowed =
                asker == Asker::Recipient && matches!(state, State::Active | State::PricedPaid);
            let case = format!("{asker:?} asking for a share that is {state:?}");
            if allowed {
                assert_eq!(status, 200, "{case}: {}", String::from_utf8_lossy(&body));
                released += 1;
                assert_eq!(net.releases().await, releases_before + 1, "{case}: recorded");
                // Only B's stanza came, and B's key opens it to the data.
                let mut reader = body.as_slice();
                let header = Header::read(&mut reader).await.unwrap();
                assert!(header.stanzas().iter().all(|s| s.kind == StanzaKind::Recipient), "{case}");
                assert_eq!(header.stanzas().len(), 1, "{case}");
                let key = header.open_recipient(&b_keyring).unwrap();
                let mut plaintext = Vec::new();
                envelope::decrypt(reader, &mut plaintext, &header, &key, 1).await.unwrap();
                assert_eq!(plaintext, data.as_bytes(), "{case}");
            } else {
                let expected = match asker {
                    Asker::Forged | Asker::Replayed => 401,
                    _ => 403,
                };
                assert_eq!(status, expected, "{case}: {}", String::from_utf8_lossy(&body));
                assert_eq!(net.releases().await, releases_before, "{case}: nothing released");
            }
        }
    }
    assert_eq!((cases, released), (36, 2));
}

fn path(share_id: ShareId) -> String {
    envelope_path(share_id)
}

/// A signed request to A for the envelope of `share_id`, signed by `signer`; with
/// `claiming`, the headers name that node's account instead (a forgery).
async fn ask(
    net: &Network,
    signer: &NodeSigner,
    claiming: Option<&TestNode>,
    share_id: ShareId,
) -> (u16, Vec<u8>) {
    let Some(node) = claiming else {
        let response = ask_envelope(net.a.address, signer, share_id, None).await;
        return (response.status, response.body);
    };
    let mut signed = SignedHeaders::sign(signer, "GET", &path(share_id), b"", now_ms());
    signed.account = node.id;
    let response =
        http(net.a.address, "", "GET", &path(share_id), &signed_header_lines(&signed), b"").await;
    (response.status, response.body)
}

async fn ask_keeping_headers(
    net: &Network,
    signer: &NodeSigner,
    share_id: &ShareId,
) -> (u16, Vec<u8>, String) {
    let signed = SignedHeaders::sign(signer, "GET", &path(*share_id), b"", now_ms());
    let headers = signed_header_lines(&signed);
    let response = http(net.a.address, "", "GET", &path(*share_id), &headers, b"").await;
    (response.status, response.body, headers)
}

/// Releases that arrive together are recorded together; a payment still buys exactly
/// one of them, however many ask at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_releases_are_all_recorded_and_one_payment_buys_one() {
    let net = Network::start().await;
    let asks = |share_id: ShareId, n: usize| {
        let net = &net;
        futures::future::join_all((0..n).map(move |_| ask(net, &net.node_b.signer, None, share_id)))
    };

    let (free, _) = net.share("free for all", json!({})).await;
    let before = net.releases().await;
    let answers = asks(free, 16).await;
    assert!(answers.iter().all(|(status, _)| *status == 200), "{:?}", statuses(&answers));
    assert_eq!(net.releases().await, before + 16);

    let (priced, _) = net.share("one payment", json!({"require_payment": true, "price": 9})).await;
    let (status, body) = net.b.request("POST", &format!("/shares/{priced}/pay"), None).await;
    assert_eq!(status, 200, "{body}");
    let answers = asks(priced, 8).await;
    let granted = answers.iter().filter(|(status, _)| *status == 200).count();
    let refused = answers.iter().filter(|(status, _)| *status == 403).count();
    assert_eq!((granted, refused), (1, 7), "{:?}", statuses(&answers));
    assert_eq!(net.releases().await, before + 17);

    // Every release of the free share is on chain: 16 key_released records.
    let mut released = 0;
    for _ in 0..40 {
        let export = net.devnet.chain.share_record(free).await.unwrap();
        assert!(export.is_some());
        released = key_released_count(&net, free).await;
        if released == 16 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(released, 16);
}

fn statuses(answers: &[(u16, Vec<u8>)]) -> Vec<u16> {
    answers.iter().map(|(status, _)| *status).collect()
}

/// KeyReleased records of `share_id` in A's proof.
async fn key_released_count(net: &Network, share_id: ShareId) -> usize {
    let params = ListParams { limit: Some("50".into()), ..ListParams::default() };
    let list = net.a.client().list(&params).await.unwrap();
    let item = list.items.iter().find(|item| item.share_id == share_id).expect("listed");
    let records = net.a_proof_of(&item.data_hash.to_string(), share_id).await;
    records.iter().filter(|(kind, _)| kind == "key_released").count()
}
