//! The `access` contract on a real `substrate-contracts-node`: every rule exercised
//! through real transactions, and every event read back from the chain with its block
//! number and extrinsic hash.

use datamgmt_abi::{
    events::{ContractEvent, NodeAction, ShareAction, ShareEvent},
    selectors, AccessGrant, DataHash, Decision, DenyReason, Error, ShareId,
};
use datamgmt_client::chain::{
    messages, node_id_of, CallReceipt, ChainClient, ChainError, Confirmation, ContractMessage,
    NodeSigner, RecordedEvent,
};
use datamgmt_tests::{Devnet, TestNode};
use std::time::Duration;

const PRICE: u128 = 3_000_000_000;

fn new_share_id() -> ShareId {
    ShareId(rand::random())
}

fn data_hash() -> DataHash {
    DataHash(rand::random())
}

/// Submits `message` as `signer`, expecting the contract to refuse it: its error.
async fn refusal(chain: &ChainClient, signer: &NodeSigner, message: ContractMessage) -> Error {
    match chain.submit(signer, &message, Confirmation::InBlock).await {
        Err(ChainError::Contract(error)) => error,
        other => panic!("expected the contract to refuse {}, got {other:?}", message.name),
    }
}

fn share_action(receipt: &CallReceipt) -> ShareAction {
    match &receipt.events[..] {
        [RecordedEvent { event: ContractEvent::Share(ShareEvent { action, .. }), .. }] => {
            action.clone()
        }
        other => panic!("expected one share event, got {other:?}"),
    }
}

async fn share(
    devnet: &Devnet,
    owner: &TestNode,
    recipient: &TestNode,
    price: u128,
    expires_at: Option<u64>,
) -> (ShareId, CallReceipt) {
    let id = new_share_id();
    let message = messages::share(id, &recipient.id, data_hash(), price, expires_at, 1);
    let receipt =
        devnet.chain.submit(&owner.signer, &message, Confirmation::InBlock).await.unwrap();
    (id, receipt)
}

#[tokio::test]
async fn metadata_matches_abi() {
    let devnet = Devnet::connect().await;
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&devnet.state.metadata).unwrap()).unwrap();
    let spec = &metadata["spec"];
    let mut found = Vec::new();
    for item in
        spec["constructors"].as_array().unwrap().iter().chain(spec["messages"].as_array().unwrap())
    {
        found.push((
            item["label"].as_str().unwrap().to_owned(),
            item["selector"].as_str().unwrap().to_owned(),
        ));
    }
    let expected: Vec<(String, String)> = selectors::ALL
        .iter()
        .map(|(name, selector)| (name.to_string(), format!("0x{}", hex(selector))))
        .collect();
    found.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(found, expected_sorted, "every message and constructor is pinned in the abi");

    let events: Vec<(String, Option<String>)> = spec["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["label"].as_str().unwrap().to_owned(),
                e["signature_topic"].as_str().map(str::to_owned),
            )
        })
        .collect();
    for (label, topic) in datamgmt_abi::events::topics::ALL {
        assert!(
            events.contains(&(label.to_owned(), topic.map(|t| format!("0x{}", hex(&t))))),
            "event {label} has the abi's signature topic; metadata has {events:?}"
        );
    }
    assert_eq!(events.len(), datamgmt_abi::events::topics::ALL.len(), "every event is in the abi");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn nodes_register_once_and_resolve_by_id() {
    let devnet = Devnet::connect().await;
    let node = devnet.funded_account("registry").await;
    let key = datamgmt_abi::EncryptionKey([4; 32]);
    let receipt = devnet
        .chain
        .submit(
            &node.signer,
            &messages::register_node(key, 1, "http://127.0.0.1:9/a"),
            Confirmation::InBlock,
        )
        .await
        .unwrap();
    let record = devnet.chain.node(&node.id).await.unwrap().expect("registered");
    assert_eq!(record.node_id, node_id_of(&node.account));
    assert_eq!(devnet.chain.node_account(record.node_id).await.unwrap(), Some(node.id));
    match &receipt.events[..] {
        [RecordedEvent { event: ContractEvent::Node(event), .. }] => {
            assert_eq!(event.action, NodeAction::Registered);
            assert_eq!(event.node, record);
        }
        other => panic!("unexpected events {other:?}"),
    }
    assert_eq!(
        refusal(&devnet.chain, &node.signer, messages::register_node(key, 1, "http://x")).await,
        Error::NodeAlreadyRegistered
    );
    assert_eq!(
        refusal(&devnet.chain, &node.signer, messages::update_node([5; 32].into(), 1, "http://x"))
            .await,
        Error::KeyVersionNotIncreasing
    );
    devnet
        .chain
        .submit(
            &node.signer,
            &messages::update_node([5; 32].into(), 2, "http://127.0.0.1:9/b"),
            Confirmation::InBlock,
        )
        .await
        .unwrap();
    let updated = devnet.chain.node(&node.id).await.unwrap().unwrap();
    assert_eq!((updated.key_version, updated.endpoint.as_str()), (2, "http://127.0.0.1:9/b"));
}

/// A relay submits for many requests at once from one account: every call gets its own
/// nonce and lands.
#[tokio::test]
async fn concurrent_calls_from_one_account_all_land() {
    let devnet = Devnet::connect().await;
    let owner = devnet.registered_node("owner").await;
    let recipient = devnet.registered_node("recipient").await;
    let ids: Vec<ShareId> = (0..6).map(|_| new_share_id()).collect();
    let calls = ids.iter().map(|id| {
        let message = messages::share(*id, &recipient.id, data_hash(), 0, None, 1);
        let chain = devnet.chain.clone();
        let signer = owner.signer.clone();
        async move { chain.submit(&signer, &message, Confirmation::InBlock).await }
    });
    for result in futures::future::join_all(calls).await {
        result.expect("every concurrent call lands");
    }
    for id in ids {
        let share = devnet.chain.share_record(id).await.unwrap().expect("the share is on chain");
        assert_eq!(share.owner, owner.id);
    }
}

/// A relay dry-runs its record batch, then submits it; a dApp's revocation can land in
/// between and make the share's record larger (it now carries its revocation time). The
/// record, made for a release before the revocation, must still land: a gas limit of
/// exactly the dry-run's figure ran out of gas here and paused the relay's releases.
#[tokio::test]
async fn a_record_dry_run_before_a_revocation_still_lands_after_it() {
    let devnet = Devnet::connect().await;
    let owner = devnet.registered_node("owner").await;
    let recipient = devnet.registered_node("recipient").await;
    let (id, _) = share(&devnet, &owner, &recipient, 0, None).await;
    let released_at = devnet.chain_time().await;
    let record = messages::record_releases(&[(id, recipient.id, released_at)]);
    let dry_run = devnet.chain.dry_run(&owner.account, &record).await.unwrap();
    devnet.chain.submit(&owner.signer, &messages::revoke(id), Confirmation::InBlock).await.unwrap();
    let receipt = devnet
        .chain
        .submit_dry_run(&owner.signer, &record, &dry_run, Confirmation::InBlock)
        .await
        .expect("the record lands with the earlier dry-run's limits");
    assert_eq!(share_action(&receipt), ShareAction::KeyReleased { paid: 0 });
}

#[tokio::test]
async fn refused_calls_cost_no_transaction() {
    let devnet = Devnet::connect().await;
    let owner = devnet.registered_node("owner").await;
    let stranger = devnet.funded_account("stranger").await;
    let (before, _) = devnet.chain.best_block().await.unwrap();
    let message = messages::share(new_share_id(), &stranger.id, data_hash(), 0, None, 1);
    assert_eq!(refusal(&devnet.chain, &owner.signer, message).await, Error::RecipientNotRegistered);
    let (after, _) = devnet.chain.best_block().await.unwrap();
    assert_eq!(before, after, "a refused dry-run submits nothing");
}

/// The whole life of a priced share: pay, release, reuse refused, revoke; then every
/// event is read back from its block and matches what the calls reported.
#[tokio::test]
async fn priced_share_lifecycle_and_audit_trail() {
    let devnet = Devnet::connect().await;
    let owner = devnet.registered_node("owner").await;
    let recipient = devnet.registered_node("recipient").await;
    let third = devnet.registered_node("third").await;
    let chain = &devnet.chain;
    let mut receipts = Vec::new();

    let (id, created) = share(&devnet, &owner, &recipient, PRICE, None).await;
    assert!(matches!(share_action(&created), ShareAction::Created { price: PRICE, .. }));
    assert_eq!(chain.share_record(id).await.unwrap().unwrap().owner, owner.id);
    receipts.push(created);

    assert_eq!(
        chain.can_access(id, &recipient.id).await.unwrap(),
        Decision::Denied(DenyReason::PaymentRequired)
    );
    assert_eq!(
        chain.can_access(id, &third.id).await.unwrap(),
        Decision::Denied(DenyReason::NotRecipient)
    );
    assert_eq!(
        chain.can_access(id, &owner.id).await.unwrap(),
        Decision::Allowed(AccessGrant::Owner)
    );
    // No release before payment.
    assert_eq!(
        refusal(
            chain,
            &owner.signer,
            messages::record_release(id, &recipient.id, chain.now().await.unwrap())
        )
        .await,
        Error::AccessDenied(DenyReason::PaymentRequired)
    );

    // Paying: only the recipient, only the exact price, never one's own share.
    assert_eq!(
        refusal(chain, &third.signer, messages::pay_for_access(id, PRICE)).await,
        Error::AccessDenied(DenyReason::NotRecipient)
    );
    assert_eq!(
        refusal(chain, &owner.signer, messages::pay_for_access(id, PRICE)).await,
        Error::CannotPayOwnShare
    );
    assert_eq!(
        refusal(chain, &recipient.signer, messages::pay_for_access(id, PRICE + 1)).await,
        Error::WrongPayment { expected: PRICE, paid: PRICE + 1 }
    );
    let owner_before = devnet.free_balance(&owner.account).await;
    let contract_before = devnet.free_balance(chain.contract()).await;
    let paid = chain
        .submit(&recipient.signer, &messages::pay_for_access(id, PRICE), Confirmation::Finalized)
        .await
        .unwrap();
    assert!(paid.finalized);
    assert_eq!(share_action(&paid), ShareAction::Paid { amount: PRICE });
    assert_eq!(
        devnet.free_balance(&owner.account).await,
        owner_before + PRICE,
        "payment reached the owner"
    );
    assert_eq!(devnet.free_balance(chain.contract()).await, contract_before, "nothing stuck");
    receipts.push(paid);
    assert_eq!(
        chain.can_access(id, &recipient.id).await.unwrap(),
        Decision::Allowed(AccessGrant::PaidRecipient)
    );
    assert_eq!(
        refusal(chain, &recipient.signer, messages::pay_for_access(id, PRICE)).await,
        Error::AlreadyPaid
    );

    // Release: only the owner records it, and it uses the receipt up.
    assert_eq!(
        refusal(
            chain,
            &recipient.signer,
            messages::record_release(id, &recipient.id, chain.now().await.unwrap())
        )
        .await,
        Error::NotOwner
    );
    let released = chain
        .submit(
            &owner.signer,
            &messages::record_release(id, &recipient.id, chain.now().await.unwrap()),
            Confirmation::InBlock,
        )
        .await
        .unwrap();
    assert_eq!(share_action(&released), ShareAction::KeyReleased { paid: PRICE });
    receipts.push(released);
    assert_eq!(chain.receipt(id, &recipient.id).await.unwrap().unwrap().releases_left, 0);
    assert_eq!(
        chain.can_access(id, &recipient.id).await.unwrap(),
        Decision::Denied(DenyReason::ReceiptUsedUp)
    );
    assert_eq!(
        refusal(
            chain,
            &owner.signer,
            messages::record_release(id, &recipient.id, chain.now().await.unwrap())
        )
        .await,
        Error::AccessDenied(DenyReason::ReceiptUsedUp)
    );

    // Revocation: the owner only, once, and the recipient is refused from then on.
    assert_eq!(refusal(chain, &recipient.signer, messages::revoke(id)).await, Error::NotOwner);
    let revoked =
        chain.submit(&owner.signer, &messages::revoke(id), Confirmation::InBlock).await.unwrap();
    assert_eq!(share_action(&revoked), ShareAction::Revoked);
    receipts.push(revoked);
    assert_eq!(
        chain.can_access(id, &recipient.id).await.unwrap(),
        Decision::Denied(DenyReason::Revoked)
    );
    assert_eq!(
        refusal(chain, &recipient.signer, messages::pay_for_access(id, PRICE)).await,
        Error::AccessDenied(DenyReason::Revoked)
    );
    assert_eq!(refusal(chain, &owner.signer, messages::revoke(id)).await, Error::AlreadyRevoked);

    // The audit trail: each call's event, found again in its block by number, with the
    // same extrinsic hash, topics checked against data by the abi decoder.
    let expected_actions = ["created", "paid", "key_released", "revoked"];
    for (receipt, action) in receipts.iter().zip(expected_actions) {
        assert_ne!(receipt.extrinsic_hash, Default::default());
        let on_chain: Vec<RecordedEvent> = chain
            .events_in_block(receipt.block_number)
            .await
            .unwrap()
            .into_iter()
            .filter(|event| event.extrinsic_hash == receipt.extrinsic_hash)
            .collect();
        assert_eq!(on_chain, receipt.events, "{action} event as recorded on chain");
        let ContractEvent::Share(event) = &on_chain[0].event else { panic!("share event") };
        assert_eq!((event.share_id, event.owner, event.recipient), (id, owner.id, recipient.id));
        assert_eq!(on_chain[0].block_hash, receipt.block_hash);
        let json = serde_json::to_value(&on_chain[0].event).unwrap();
        assert_eq!(json["action"]["kind"], action);
    }
}

/// Expiry is judged by block time: a share open in one block is closed in a later block
/// past its `expires_at`, and extending the expiry opens it again.
#[tokio::test]
async fn share_expires_by_chain_time() {
    let devnet = Devnet::connect().await;
    let owner = devnet.registered_node("owner").await;
    let recipient = devnet.registered_node("recipient").await;
    let chain = &devnet.chain;

    let expires_at = devnet.chain_time().await + 2_000;
    let (id, _) = share(&devnet, &owner, &recipient, 0, Some(expires_at)).await;
    assert_eq!(
        chain.can_access(id, &recipient.id).await.unwrap(),
        Decision::Allowed(AccessGrant::Recipient)
    );
    let released_at = chain.now().await.unwrap();
    let release = messages::record_release(id, &recipient.id, released_at);
    chain.submit(&owner.signer, &release, Confirmation::InBlock).await.unwrap();

    while devnet.chain_time().await < expires_at {
        tokio::time::sleep(Duration::from_millis(500)).await;
        devnet.advance_block().await;
    }
    assert_eq!(
        chain.can_access(id, &recipient.id).await.unwrap(),
        Decision::Denied(DenyReason::Expired)
    );
    assert_eq!(
        refusal(
            chain,
            &owner.signer,
            messages::record_release(id, &recipient.id, chain.now().await.unwrap())
        )
        .await,
        Error::AccessDenied(DenyReason::Expired)
    );
    // A release made before the expiry is still recorded after it, at its own time.
    let late = chain.submit(&owner.signer, &release, Confirmation::InBlock).await.unwrap();
    match &late.events[..] {
        [RecordedEvent { event: ContractEvent::Share(event), .. }] => {
            assert_eq!(
                (&event.action, event.at),
                (&ShareAction::KeyReleased { paid: 0 }, released_at)
            )
        }
        other => panic!("expected one share event, got {other:?}"),
    }
    assert_eq!(
        refusal(chain, &owner.signer, messages::record_release(id, &recipient.id, u64::MAX)).await,
        Error::ReleaseTimeOutOfWindow
    );
    assert_eq!(
        refusal(chain, &owner.signer, messages::set_expiry(id, Some(expires_at))).await,
        Error::ExpiryInPast
    );
    let extended = chain
        .submit(&owner.signer, &messages::set_expiry(id, None), Confirmation::InBlock)
        .await
        .unwrap();
    assert_eq!(
        share_action(&extended),
        ShareAction::ExpiryChanged { old: Some(expires_at), new: None }
    );
    assert!(chain.can_access(id, &recipient.id).await.unwrap().is_allowed());
}

#[tokio::test]
async fn only_the_admin_replaces_the_code() {
    let devnet = Devnet::connect().await;
    let stranger = devnet.funded_account("stranger").await;
    let code_hash: [u8; 32] = parse_hash(&devnet.state.code_hash);
    assert_eq!(
        refusal(&devnet.chain, &stranger.signer, messages::set_code_hash(code_hash)).await,
        Error::NotAdmin
    );
    let admin = NodeSigner::from_suri("//Alice").unwrap();
    assert_eq!(
        devnet.chain.admin().await.unwrap(),
        datamgmt_client::chain::to_abi_account(&admin.account_id())
    );
    assert_eq!(
        refusal(&devnet.chain, &admin, messages::set_code_hash([0xee; 32])).await,
        Error::CodeUpgradeFailed
    );
    // Re-setting the deployed code is a real upgrade call that keeps everything working.
    let count = devnet.chain.share_count().await.unwrap();
    let receipt = devnet
        .chain
        .submit(&admin, &messages::set_code_hash(code_hash), Confirmation::InBlock)
        .await
        .unwrap();
    match &receipt.events[..] {
        [RecordedEvent { event: ContractEvent::CodeUpgraded(event), .. }] => {
            assert_eq!(event.code_hash, code_hash)
        }
        other => panic!("unexpected events {other:?}"),
    }
    assert_eq!(devnet.chain.share_count().await.unwrap(), count);
}

fn parse_hash(text: &str) -> [u8; 32] {
    let hex = text.strip_prefix("0x").unwrap();
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}
