//! `GET /data/list` with 100,000 shares made and 10,000 received in the index: latency of
//! the handler (auth, query parsing, SQLite, JSON) through the router, for the newest
//! page, a filtered page, the oldest page, a 500-row page, and the received and merged
//! listings. `cargo bench -p datamgmt-relay --bench list`.

use axum::{body::Body, http::Request};
use datamgmt_abi::events::{ShareAction, ShareEvent};
use datamgmt_abi::{AccountId, DataHash, ShareId};
use datamgmt_client::api::ListResponse;
use datamgmt_relay::index::{ChainRecord, Index, IndexedEvent, ShareRow};
use datamgmt_relay::testing::TestRelay;
use std::time::Instant;
use tower::ServiceExt;

const SHARES: u32 = 100_000;
const RECEIVED: u32 = 10_000;
const RUNS: usize = 200;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let index =
        Index::open(&format!("sqlite://{}", dir.path().join("index.db").display())).await.unwrap();
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

    let state = TestRelay::new(dir.path()).index(index).state().await;
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
