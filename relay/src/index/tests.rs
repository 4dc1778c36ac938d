//! Tests of the index across its tables.

use super::columns::node_of;
use super::*;
use datamgmt_abi::events::{ShareAction, ShareEvent};
use datamgmt_abi::{AccountId, DataHash, ShareId};
use sqlx::Row;

/// `event` as the indexer hands it over from block `block`.
fn in_block(block: u64, event: ShareEvent) -> IndexedEvent {
    IndexedEvent {
        block_number: block,
        block_hash: format!("0x{block:064x}"),
        extrinsic_index: 1,
        extrinsic_hash: format!("0x{:064x}", block + 1000),
        event_index: 0,
        event,
    }
}

fn row(id: u8) -> ShareRow {
    ShareRow {
        share_id: ShareId([id; 16]),
        data_hash: DataHash([7; 32]),
        owner: AccountId([1; 32]),
        recipient: AccountId([2; 32]),
        price: u128::MAX,
        expires_at: Some(1_800_000_000_000),
        key_version: 3,
        plaintext_len: 10,
        envelope_len: 200,
        created_at: 1_700_000_000_000 + u64::from(id),
        recorded: None,
        revoked_at: None,
        attempts: 0,
        last_error: None,
    }
}

#[tokio::test]
async fn received_finds_the_shares_made_to_a_node_by_index() {
    let index = Index::open(&scratch::ephemeral_url().await).await.unwrap();
    let (me, other) = (AccountId([2; 32]), AccountId([3; 32]));
    let event = |block: u64, share: u8, recipient: AccountId, action: ShareAction| {
        in_block(
            block,
            ShareEvent {
                share_id: ShareId([share; 16]),
                owner: AccountId([1; 32]),
                recipient,
                data_hash: DataHash([7; 32]),
                at: block * 1000,
                action,
            },
        )
    };
    let created = ShareAction::Created { price: 0, expires_at: None, key_version: 1 };
    let released = ShareAction::KeyReleased { paid: 0 };
    index.record_block(1, &[event(1, 1, me, created.clone())], &[]).await.unwrap();
    index.record_block(2, &[event(2, 2, other, created.clone())], &[]).await.unwrap();
    index.record_block(3, &[event(3, 1, me, released)], &[]).await.unwrap();
    index.record_block(4, &[event(4, 3, me, created)], &[]).await.unwrap();
    let received = index.received(DataHash([7; 32]), &me).await.unwrap();
    let shares: Vec<ShareId> = received.iter().map(|e| e.event.share_id).collect();
    assert_eq!(shares, [ShareId([3; 16]), ShareId([1; 16])], "created for me, newest first");

    // The lookup uses its partial index, however many releases the data has (SQLite's
    // planner; PostgreSQL's picks by table statistics).
    if index.engine() != Engine::Sqlite {
        return;
    }
    let plan: Vec<String> = sqlx::query(
        "EXPLAIN QUERY PLAN SELECT share_id FROM share_events WHERE data_hash = $1 \
             AND recipient = $2 AND kind = 'created'",
    )
    .bind("x")
    .bind("y")
    .fetch_all(&index.pool)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get::<String, _>("detail"))
    .collect();
    assert!(plan.iter().any(|step| step.contains("share_events_created")), "{plan:?}");
}

/// The received listing folds each share's later events into it: the last expiry
/// change, a revocation, payments against paid releases; it pages newest first and
/// filters by sender.
#[tokio::test]
async fn received_shares_carry_what_later_events_changed() {
    let index = Index::open(&scratch::ephemeral_url().await).await.unwrap();
    let me = AccountId([2; 32]);
    let event = |block: u64, share: u8, owner: u8, action: ShareAction| {
        in_block(
            block,
            ShareEvent {
                share_id: ShareId([share; 16]),
                owner: AccountId([owner; 32]),
                recipient: me,
                data_hash: DataHash([share; 32]),
                at: block * 1000,
                action,
            },
        )
    };
    let created = |price, expires_at| ShareAction::Created { price, expires_at, key_version: 1 };
    let blocks = [
        event(1, 1, 1, created(5, Some(90_000))),
        event(2, 2, 1, created(0, None)),
        event(3, 3, 4, created(7, Some(u64::MAX))),
        event(4, 1, 1, ShareAction::ExpiryChanged { old: Some(90_000), new: None }),
        event(5, 1, 1, ShareAction::Paid { amount: 5 }),
        event(6, 1, 1, ShareAction::KeyReleased { paid: 5 }),
        event(7, 1, 1, ShareAction::Paid { amount: 5 }),
        event(8, 2, 1, ShareAction::Revoked),
        event(9, 2, 1, ShareAction::KeyReleased { paid: 0 }),
    ];
    for indexed in blocks {
        index.record_block(indexed.block_number, &[indexed], &[]).await.unwrap();
    }
    let all = ShareQuery { limit: 10, ..ShareQuery::default() };
    let shares = index.received_shares(&me, &all).await.unwrap();
    let ids: Vec<u8> = shares.iter().map(|s| s.share_id.0[0]).collect();
    assert_eq!(ids, [3, 2, 1], "newest first");
    let (three, two, one) = (&shares[0], &shares[1], &shares[2]);
    assert_eq!((one.price, one.expires_at, one.revoked_at), (5, None, None), "expiry removed");
    assert_eq!((one.payments, one.paid_releases), (2, 1), "one payment waits");
    assert_eq!((two.revoked_at, two.paid_releases), (Some(8_000), 0));
    assert_eq!((three.owner, three.shared_at, three.block_number), (AccountId([4; 32]), 3_000, 3));
    assert_eq!(three.expires_at, Some(u64::MAX), "any expiry the contract takes reads back");

    let first = ShareQuery { limit: 2, ..ShareQuery::default() };
    let page = index.received_shares(&me, &first).await.unwrap();
    let after = page.last().map(|s| (s.shared_at, s.share_id));
    let rest = index.received_shares(&me, &ShareQuery { after, ..first }).await.unwrap();
    assert_eq!(rest.iter().map(|s| s.share_id.0[0]).collect::<Vec<_>>(), [1]);

    let from_four = ShareQuery { sender: Some(node_of(&AccountId([4; 32]))), ..all.clone() };
    let only = index.received_shares(&me, &from_four).await.unwrap();
    assert_eq!(only.iter().map(|s| s.share_id.0[0]).collect::<Vec<_>>(), [3]);
    // Rows indexed before the sender's node id was kept get it when the index opens.
    sqlx::query("UPDATE share_events SET owner_node = NULL").execute(&index.pool).await.unwrap();
    assert!(index.received_shares(&me, &from_four).await.unwrap().is_empty());
    super::database::fill_owner_nodes(&index.pool).await.unwrap();
    assert_eq!(index.received_shares(&me, &from_four).await.unwrap(), only);
    let to_other = ShareQuery { recipient: Some(node_of(&AccountId([9; 32]))), ..all };
    assert!(index.received_shares(&me, &to_other).await.unwrap().is_empty());
    assert!(index.received_shares(&AccountId([9; 32]), &first).await.unwrap().is_empty());

    // Pages come from the partial index in order, not from a sort of every event.
    if index.engine() != Engine::Sqlite {
        return;
    }
    let plan: Vec<String> = sqlx::query(
        "EXPLAIN QUERY PLAN SELECT share_id FROM share_events c \
         WHERE c.kind = 'created' AND c.recipient = $1 \
         ORDER BY c.at DESC, c.share_id DESC LIMIT 5",
    )
    .bind("x")
    .fetch_all(&index.pool)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get::<String, _>("detail"))
    .collect();
    assert!(plan.iter().any(|step| step.contains("share_events_received")), "{plan:?}");
    assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "{plan:?}");
}

#[tokio::test]
async fn release_outbox_keeps_one_release_per_receipt_until_recorded() {
    let index = Index::open(&scratch::ephemeral_url().await).await.unwrap();
    let release = |share: u8, paid_at: Option<u64>| KeyRelease {
        share_id: ShareId([share; 16]),
        recipient: AccountId([2; 32]),
        released_at: 5_000,
        receipt_paid_at: paid_at,
    };
    // Free releases repeat; a receipt buys one, a new receipt another.
    let mut written = Vec::new();
    written.push(index.insert_release(&release(1, None), 10).await.unwrap().unwrap());
    written.push(index.insert_release(&release(1, None), 10).await.unwrap().unwrap());
    written.push(index.insert_release(&release(2, Some(4_000)), 10).await.unwrap().unwrap());
    assert!(index.insert_release(&release(2, Some(4_000)), 10).await.unwrap().is_none());
    let later = index.insert_release(&release(2, Some(4_500)), 10).await.unwrap().unwrap();
    written.push(later);
    let me = AccountId([2; 32]);
    assert!(index.receipt_released(ShareId([2; 16]), &me, 4_000).await.unwrap());
    assert!(!index.receipt_released(ShareId([2; 16]), &me, 4_600).await.unwrap());
    assert!(!index.receipt_released(ShareId([1; 16]), &me, 4_000).await.unwrap());

    // Unconfirmed releases are not the recorder's, nor counted; a confirmed one is, and
    // is confirmed once.
    let none = std::collections::HashSet::new();
    assert!(index.due_releases(10, &none, 10).await.unwrap().is_empty(), "unconfirmed");
    assert_eq!(index.count_releases().await.unwrap(), (0, 0, 0));
    for id in &written {
        assert!(index.confirm_release(*id, 10).await.unwrap());
    }
    assert!(!index.confirm_release(written[0], 10).await.unwrap(), "confirmed already");
    assert!(!index.cancel_release(written[0]).await.unwrap(), "a confirmed release stays");
    let due = index.due_releases(10, &none, 10).await.unwrap();
    assert_eq!(due.len(), 4);
    assert_eq!(due[2].release, release(2, Some(4_000)));
    let ids: Vec<i64> = due.iter().map(|d| d.id).collect();
    assert_eq!(ids[3], later, "the id of the row written");
    assert_eq!(index.pending_releases().await.unwrap(), (4, Some(10)));
    // Rows being recorded are left out, and the limit holds.
    let skip = std::collections::HashSet::from([ids[0], ids[1]]);
    let rest = index.due_releases(10, &skip, 1).await.unwrap();
    assert_eq!(rest.iter().map(|d| d.id).collect::<Vec<_>>(), [ids[2]]);

    index.mark_releases_recorded(&ids[..2], "0xabc", 7, 20).await.unwrap();
    index.mark_releases_failed(&ids[2..3], "chain down", Some(30), 20).await.unwrap();
    index.mark_releases_failed(&ids[3..], "contract refused", None, 20).await.unwrap();
    assert_eq!(index.count_releases().await.unwrap(), (1, 2, 1));
    // A retry is due when its time comes; a refused one never again.
    assert!(index.due_releases(29, &none, 10).await.unwrap().is_empty());
    assert_eq!(index.due_releases(30, &none, 10).await.unwrap().len(), 1);
    // A recorded receipt still counts as used, even once recorded.
    assert!(index.insert_release(&release(2, Some(4_000)), 40).await.unwrap().is_none());
    assert_eq!(index.prune_recorded_releases(21).await.unwrap(), 2);
    assert_eq!(index.count_releases().await.unwrap(), (1, 0, 1));
    // A refused record waits for an operator; a refused paid release outlives its
    // listing even then: its receipt stays used here.
    assert_eq!(index.unacknowledged_refusals().await.unwrap(), 1);
    assert_eq!(index.acknowledge_refusals(later - 1, 45).await.unwrap(), 0, "not looked at");
    assert_eq!(index.acknowledge_refusals(later, 45).await.unwrap(), 1);
    assert_eq!(index.unacknowledged_refusals().await.unwrap(), 0);
    assert_eq!(index.prune_refused_releases(1_000).await.unwrap(), 0);
    assert!(index.insert_release(&release(2, Some(4_500)), 50).await.unwrap().is_none());
    // A release written but not sent is taken back, once.
    let unsent = index.insert_release(&release(1, None), 60).await.unwrap().unwrap();
    assert!(index.cancel_release(unsent).await.unwrap());
    assert!(!index.cancel_release(unsent).await.unwrap());
    assert_eq!(index.count_releases().await.unwrap(), (1, 0, 1));
}

#[tokio::test]
async fn pending_share_becomes_recorded() {
    let index = Index::open(&scratch::ephemeral_url().await).await.unwrap();
    index.insert_pending(&row(1)).await.unwrap();
    index.insert_pending(&row(2)).await.unwrap();
    assert_eq!(index.pending().await.unwrap().len(), 2);
    index.mark_attempt_failed(ShareId([1; 16]), "chain down").await.unwrap();
    let failed = index.get(ShareId([1; 16])).await.unwrap().unwrap();
    assert_eq!((failed.attempts, failed.last_error.as_deref()), (1, Some("chain down")));
    let record = ChainRecord { tx_hash: "0xab".into(), block_number: 9, block_hash: "0xcd".into() };
    index.mark_recorded(ShareId([1; 16]), &record).await.unwrap();
    let recorded = index.get(ShareId([1; 16])).await.unwrap().unwrap();
    assert_eq!(recorded.recorded, Some(record));
    assert_eq!(recorded.price, u128::MAX, "prices keep every digit");
    assert_eq!(index.pending().await.unwrap(), vec![row(2)]);
    assert_eq!(index.by_hash(DataHash([7; 32])).await.unwrap().len(), 2);
    index.remove(ShareId([2; 16])).await.unwrap();
    assert!(index.get(ShareId([2; 16])).await.unwrap().is_none());
}

#[tokio::test]
async fn listing_filters_and_pages() {
    let index = Index::open(&scratch::ephemeral_url().await).await.unwrap();
    for id in 1..=5 {
        index.insert_pending(&row(id)).await.unwrap();
    }
    let mut query = ShareQuery { limit: 2, ..Default::default() };
    let first = index.list(&query).await.unwrap();
    assert_eq!(first.iter().map(|r| r.share_id.0[0]).collect::<Vec<_>>(), [5, 4]);
    query.after = Some((first[1].created_at, first[1].share_id));
    let second = index.list(&query).await.unwrap();
    assert_eq!(second.iter().map(|r| r.share_id.0[0]).collect::<Vec<_>>(), [3, 2]);
    let window = ShareQuery {
        from: Some(row(2).created_at),
        to: Some(row(4).created_at),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(index.list(&window).await.unwrap().len(), 2);
    let sender = node_of(&AccountId([1; 32]));
    let by_sender = ShareQuery { sender: Some(sender), limit: 10, ..Default::default() };
    assert_eq!(index.list(&by_sender).await.unwrap().len(), 5);
    let other = ShareQuery { recipient: Some(sender), limit: 10, ..Default::default() };
    assert!(index.list(&other).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_share_id_is_stored_once() {
    let index = Index::open(&scratch::ephemeral_url().await).await.unwrap();
    index.insert_pending(&row(1)).await.unwrap();
    assert!(index.insert_pending(&row(1)).await.is_err());
}

#[tokio::test]
async fn reopening_keeps_rows_and_migrations_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = scratch::database_url(dir.path()).await;
    Index::open(&url).await.unwrap().insert_pending(&row(4)).await.unwrap();
    let reopened = Index::open(&url).await.unwrap();
    assert_eq!(reopened.get(ShareId([4; 16])).await.unwrap(), Some(row(4)));
}

/// A block seen again (an index walking old blocks once more) changes nothing: a
/// replayed expiry change does not undo a later one on the node's own share.
#[tokio::test]
async fn replayed_blocks_do_not_undo_later_changes() {
    let index = Index::open(&scratch::ephemeral_url().await).await.unwrap();
    let share = row(1);
    index.insert_pending(&share).await.unwrap();
    let event = |block: u64, action: ShareAction| {
        in_block(
            block,
            ShareEvent {
                share_id: share.share_id,
                owner: share.owner,
                recipient: share.recipient,
                data_hash: share.data_hash,
                at: block * 1000,
                action,
            },
        )
    };
    let first = event(5, ShareAction::ExpiryChanged { old: share.expires_at, new: None });
    let second = event(6, ShareAction::ExpiryChanged { old: None, new: Some(7_000) });
    index.record_block(5, std::slice::from_ref(&first), &[]).await.unwrap();
    index.record_block(6, &[second], &[]).await.unwrap();
    index.record_block(5, &[first], &[]).await.unwrap();
    let expires: Option<i64> = sqlx::query("SELECT expires_at FROM shares WHERE share_id = $1")
        .bind(share.share_id.to_string())
        .fetch_one(&index.pool)
        .await
        .unwrap()
        .get("expires_at");
    assert_eq!(expires, Some(7_000), "the last change stands");
    assert_eq!(index.indexed_up_to().await.unwrap(), Some(6), "cursors never move back");
    assert_eq!(index.directory_up_to().await.unwrap(), Some(6));
}

/// The directory keeps each node's latest record, whatever order its events are
/// written in.
#[tokio::test]
async fn the_directory_keeps_the_latest_record_of_each_node() {
    use datamgmt_abi::{EncryptionKey, Node};
    let index = Index::open(&scratch::ephemeral_url().await).await.unwrap();
    let account = AccountId([9; 32]);
    let node = |block: u64, endpoint: &str| IndexedNode {
        block_number: block,
        account,
        node: Node {
            node_id: node_of(&account),
            encryption_key: EncryptionKey([1; 32]),
            key_version: block as u32,
            endpoint: endpoint.into(),
            registered_at: 1,
            updated_at: block,
        },
    };
    index.record_block(3, &[], &[node(3, "https://new.example")]).await.unwrap();
    index.record_block(2, &[], &[node(2, "https://old.example")]).await.unwrap();
    let rows = index.nodes(None, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].endpoint.as_str(), rows[0].block_number), ("https://new.example", 3));
}

/// Replicas sharing one database: a paid receipt buys one release and a nonce is
/// accepted once, whichever replica is asked, even when both are asked at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_a_database_answer_a_receipt_and_a_nonce_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = scratch::database_url(dir.path()).await;
    let (one, two) = (Index::open(&url).await.unwrap(), Index::open(&url).await.unwrap());
    for n in 0..20u8 {
        let release = KeyRelease {
            share_id: ShareId([n; 16]),
            recipient: AccountId([2; 32]),
            released_at: 5,
            receipt_paid_at: Some(4),
        };
        let (a, b) =
            tokio::join!(one.insert_release(&release, 10), two.insert_release(&release, 10));
        let written: Vec<i64> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(written.len(), 1, "one release per receipt: {written:?}");
        let account = AccountId([n; 32]);
        let (a, b) = tokio::join!(
            one.remember_nonce(&account, "nonce", 10, 0),
            two.remember_nonce(&account, "nonce", 10, 0)
        );
        assert_eq!([a.unwrap(), b.unwrap()].iter().filter(|new| **new).count(), 1);
    }
}

/// One replica at a time holds the chain writer lease; letting it go hands it on. (On
/// SQLite, whose index belongs to one process, that process always holds it.)
#[tokio::test]
async fn the_chain_writer_lease_has_one_holder() {
    let dir = tempfile::tempdir().unwrap();
    let url = scratch::database_url(dir.path()).await;
    let (one, two) = (Index::open(&url).await.unwrap(), Index::open(&url).await.unwrap());
    let mut held = one.try_writer_lease().await.unwrap().expect("a free lease is taken");
    held.check().await.unwrap();
    if one.engine() == Engine::Sqlite {
        assert!(two.try_writer_lease().await.unwrap().is_some());
        return;
    }
    assert!(two.try_writer_lease().await.unwrap().is_none(), "held by the first");
    held.release().await;
    let mut taken = two.try_writer_lease().await.unwrap().expect("free again");
    taken.check().await.unwrap();
    assert!(one.try_writer_lease().await.unwrap().is_none());
}

/// A release taken back is gone, unsent and never recorded; one whose relay died while
/// deciding is forgotten once abandoned, and the receipt it held buys a release again.
#[tokio::test]
async fn unconfirmed_releases_are_taken_back_or_forgotten_never_recorded() {
    let index = Index::open(&scratch::ephemeral_url().await).await.unwrap();
    let release = KeyRelease {
        share_id: ShareId([1; 16]),
        recipient: AccountId([2; 32]),
        released_at: 5_000,
        receipt_paid_at: Some(4_000),
    };
    let none = std::collections::HashSet::new();
    let taken_back = index.insert_release(&release, 10).await.unwrap().unwrap();
    assert!(index.cancel_release(taken_back).await.unwrap());
    assert!(!index.confirm_release(taken_back, 11).await.unwrap(), "gone: must not leave");
    let abandoned = index.insert_release(&release, 20).await.unwrap().expect("receipt free");
    assert!(index.insert_release(&release, 21).await.unwrap().is_none(), "held");
    assert_eq!(index.forget_abandoned_releases(20).await.unwrap(), 0, "not old enough");
    assert_eq!(index.forget_abandoned_releases(21).await.unwrap(), 1);
    assert!(!index.confirm_release(abandoned, 22).await.unwrap());
    assert!(index.due_releases(100, &none, 10).await.unwrap().is_empty());
    assert!(index.insert_release(&release, 30).await.unwrap().is_some(), "receipt free again");
}

/// A paid release's record is found by its share, recipient and exact release time,
/// and only a paid one: a free release's event, or one at another time, is not it.
#[tokio::test]
async fn a_paid_release_record_is_found_by_share_recipient_and_time() {
    let index = Index::open(&scratch::ephemeral_url().await).await.unwrap();
    let (owner, recipient) = (AccountId([1; 32]), AccountId([2; 32]));
    let released = |block: u64, share: u8, at, paid| {
        in_block(
            block,
            ShareEvent {
                share_id: ShareId([share; 16]),
                owner,
                recipient,
                data_hash: DataHash([7; 32]),
                at,
                action: ShareAction::KeyReleased { paid },
            },
        )
    };
    index.record_block(3, &[released(3, 1, 5_000, 7)], &[]).await.unwrap();
    index.record_block(4, &[released(4, 2, 5_000, 0)], &[]).await.unwrap();
    let found = |share: u8, who: AccountId, at| {
        let index = &index;
        async move { index.paid_release_record(ShareId([share; 16]), &who, at).await.unwrap() }
    };
    let record = (format!("0x{:064x}", 1003), 3);
    assert_eq!(found(1, recipient, 5_000).await, Some(record), "the paid record");
    assert_eq!(found(1, recipient, 5_001).await, None, "another time");
    assert_eq!(found(1, owner, 5_000).await, None, "another recipient");
    assert_eq!(found(2, recipient, 5_000).await, None, "a free release");
    assert_eq!(found(3, recipient, 5_000).await, None, "another share");
}
