//! `GET /data/list` with 100,000 shares in the index: latency of the handler (auth, query
//! parsing, SQLite, JSON) through the router, for the newest page, a filtered page, the
//! oldest page and a 500-row page. `cargo bench -p datamgmt-relay --bench list`.

use axum::{body::Body, http::Request};
use datamgmt_abi::{AccountId, DataHash, ShareId};
use datamgmt_client::api::ListResponse;
use datamgmt_relay::index::{ChainRecord, Index, ShareRow};
use datamgmt_relay::testing::TestRelay;
use std::time::Instant;
use tower::ServiceExt;

const SHARES: u32 = 100_000;
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
