//! The index on each engine, in one run: the release path's writes (a P2P nonce, an
//! outbox row and its confirmation per release, from 32 tasks at once, committed in
//! groups), then
//! `GET /data/list` with 100,000 shares made and 10,000 received: latency of the handler
//! (auth, query parsing, the database, JSON) through the router, for the newest page, a
//! filtered page, the oldest page, a 500-row page, and the received and merged listings.
//! SQLite always; PostgreSQL too when `DATAMGMT_TEST_POSTGRES` names a server
//! (`scripts/postgres.sh up` starts one). `cargo bench -p datamgmt-relay --bench list`.

use axum::{body::Body, http::Request};
use datamgmt_abi::events::{ShareAction, ShareEvent};
use datamgmt_abi::{AccountId, DataHash, ShareId};
use datamgmt_client::api::ListResponse;
use datamgmt_relay::index::{ChainRecord, Index, IndexedEvent, KeyRelease, ShareRow};
use datamgmt_relay::testing::TestRelay;
use std::time::Instant;
use tower::ServiceExt;

const SHARES: u32 = 100_000;
const RECEIVED: u32 = 10_000;
const RUNS: usize = 200;
/// Tasks writing releases at once, and releases each writes.
const WRITERS: usize = 32;
const RELEASES_PER_WRITER: usize = 250;

#[tokio::main]
async fn main() {
    let mut engines = vec![("SQLite", false)];
    if datamgmt_relay::index::scratch::postgres_server().is_some() {
        engines.push(("PostgreSQL", true));
    }
    for (engine, postgres) in engines {
        println!("== {engine}");
        let dir = tempfile::tempdir().unwrap();
        let url = if postgres {
            datamgmt_relay::index::scratch::database_url(dir.path()).await
        } else {
            format!("sqlite://{}", dir.path().join("index.db").display())
        };
        release_writes(&Index::open(&url).await.unwrap()).await;
        listings(dir.path(), Index::open(&url).await.unwrap()).await;
    }
}

/// What each key release writes before its envelope leaves: the request's nonce, the
/// outbox row and its confirmation, from [`WRITERS`] tasks at once, committed in groups.
async fn release_writes(index: &Index) {
    let stopping = tokio_util::sync::CancellationToken::new();
    let writer = tokio::spawn(index.write_groups(stopping.clone()));
    let began = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..WRITERS {
        let index = index.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(RELEASES_PER_WRITER);
            for n in 0..RELEASES_PER_WRITER {
                let started = Instant::now();
                let account = AccountId([task as u8; 32]);
                let nonce = format!("{n:032x}");
                assert!(index.remember_nonce(&account, &nonce, 1, 0).await.unwrap());
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&((task * RELEASES_PER_WRITER + n) as u64).to_be_bytes());
                let release = KeyRelease {
                    share_id: ShareId(id),
                    recipient: account,
                    released_at: 1,
                    receipt_paid_at: Some(1),
                };
                let id = index.insert_release(&release, 1).await.unwrap().unwrap();
                assert!(index.confirm_release(id, 1).await.unwrap());
                samples.push(started.elapsed().as_secs_f64() * 1e3);
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.unwrap());
    }
    let elapsed = began.elapsed().as_secs_f64();
    samples.sort_by(f64::total_cmp);
    let total = samples.len();
    println!(
        "release writes, {WRITERS} tasks: {:.0} releases/s  p50 {:.2} ms  p99 {:.2} ms",
        total as f64 / elapsed,
        samples[total / 2],
        samples[total * 99 / 100]
    );
    stopping.cancel();
    writer.await.unwrap();
}

/// `GET /data/list` latencies over 100,000 shares made and 10,000 received.
async fn listings(dir: &std::path::Path, index: Index) {
    let began = Instant::now();
    for i in 0..SHARES {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&i.to_be_bytes());
        let row = ShareRow {
            share_id: ShareId(id),
            data_hash: DataHash([(i % 251) as u8; 32]),
            owner: AccountId([1; 32]),
            recipient: AccountId([2 + (i % 3) as u8; 32]),
            price: u128::from(i),
            expires_at: None,
            key_version: 1,
            plaintext_len: 1024,
            envelope_len: 1500,
            created_at: 1_700_000_000_000 + u64::from(i) * 1000,
            recorded: None,
            revoked_at: None,
            attempts: 0,
            last_error: None,
        };
        index.insert_pending(&row).await.unwrap();
        let record = ChainRecord {
            tx_hash: "0x00".into(),
            block_number: u64::from(i),
            block_hash: "0x00".into(),
        };
        index.mark_recorded(row.share_id, &record).await.unwrap();
    }
    println!("indexed {SHARES} shares in {:.1} s", began.elapsed().as_secs_f64());
    // Shares made to this node (//Alice, the test relay's account), a hundred a block,
    // every tenth revoked and every fifth priced and paid.
    let me = datamgmt_client::chain::to_abi_account(
        &datamgmt_client::chain::NodeSigner::from_suri("//Alice").unwrap().account_id(),
    );
    let began = Instant::now();
    for block in 0..u64::from(RECEIVED / 100) {
        let mut events = Vec::new();
        for n in 0..100u32 {
            let i = block as u32 * 100 + n;
            let mut id = [0xff; 16];
            id[..4].copy_from_slice(&i.to_be_bytes());
            let event = |index: u32, action: ShareAction| IndexedEvent {
                block_number: block + 1,
                block_hash: "0x00".into(),
                extrinsic_index: n,
                extrinsic_hash: "0x00".into(),
                event_index: index,
                event: ShareEvent {
                    share_id: ShareId(id),
                    owner: AccountId([5 + (i % 7) as u8; 32]),
                    recipient: me,
                    data_hash: DataHash([(i % 251) as u8; 32]),
                    at: 1_700_000_000_000 + u64::from(i) * 1000,
                    action,
                },
            };
            let price = if i.is_multiple_of(5) { 10 } else { 0 };
            events.push(event(
                n * 3,
                ShareAction::Created { price, expires_at: None, key_version: 1 },
            ));
            if i.is_multiple_of(10) {
                events.push(event(n * 3 + 1, ShareAction::Revoked));
            }
            if price > 0 {
                events.push(event(n * 3 + 2, ShareAction::Paid { amount: price }));
            }
        }
        index.record_block(block + 1, &events, &[]).await.unwrap();
    }
    println!("indexed {RECEIVED} received shares in {:.1} s", began.elapsed().as_secs_f64());

    let state = TestRelay::new(dir).index(index).state().await;
    let app = datamgmt_relay::app(state);
    let recipient = datamgmt_client::chain::node_id_of(&datamgmt_client::chain::from_abi_account(
        &AccountId([3; 32]),
    ));
    // Shares are one second apart from 1,700,000,000 s: `to` here leaves only the oldest 50.
    let oldest = "/data/list?to=1700000050&limit=50".to_owned();
    for (label, path, expected) in [
        ("first page, limit 50", "/data/list?limit=50".to_owned(), 50),
        ("recipient filter, limit 50", format!("/data/list?recipient={recipient}&limit=50"), 50),
        ("oldest page (to=…), limit 50", oldest, 50),
        ("first page, limit 500", "/data/list?limit=500".to_owned(), 500),
        ("received, limit 50", "/data/list?direction=received&limit=50".to_owned(), 50),
        (
            "received, oldest page",
            "/data/list?direction=received&to=1700000050&limit=50".to_owned(),
            50,
        ),
        ("all, limit 50", "/data/list?direction=all&limit=50".to_owned(), 50),
    ] {
        let mut samples = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let request = Request::get(&path)
                .header("authorization", "Bearer user-token")
                .body(Body::empty())
                .unwrap();
            let began = Instant::now();
            let response = app.clone().oneshot(request).await.unwrap();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
            samples.push(began.elapsed().as_secs_f64() * 1e3);
            let page: ListResponse = serde_json::from_slice(&bytes).expect("a listing");
            assert_eq!(page.items.len(), expected, "{label}");
        }
        samples.sort_by(f64::total_cmp);
        println!(
            "{label:<32} p50 {:.2} ms  p99 {:.2} ms  (min {:.2}, max {:.2})",
            samples[RUNS / 2],
            samples[RUNS * 99 / 100],
            samples[0],
            samples[RUNS - 1]
        );
    }
}
