//! What the contract's messages cost on the devnet, and how long a share takes to land.
//!
//! Needs a running devnet with the contract deployed (`scripts/devnet.sh up &&
//! scripts/deploy.sh`), then `cargo bench -p datamgmt-tests --bench chain_costs`.
//!
//! For `register_node`, `share`, `pay_for_access`, `record_release`, `record_releases`
//! (256 releases in one call) and `revoke` it prints the weight (ref_time, proof_size)
//! and storage deposit the node's dry-run reports, once with about 1 share in the
//! contract and again after 1,000 more: with
//! `Mapping`-only storage the figures must not grow. Then the wall time of 20 `share`
//! calls from submission to inclusion (dry-run, sign, submit, in best block, events),
//! as median and spread.

use datamgmt_abi::{DataHash, EncryptionKey, ShareId};
use datamgmt_client::chain::{messages, ChainClient, Confirmation, ContractMessage, DryRun};
use datamgmt_tests::{Devnet, TestNode};
use std::time::{Duration, Instant};

const PRICE: u128 = 1_000_000_000;

#[tokio::main]
async fn main() {
    let devnet = Devnet::connect().await;
    let owner = devnet.registered_node("bench-owner").await;
    let recipient = devnet.registered_node("bench-recipient").await;
    let start_count = devnet.chain.share_count().await.unwrap();

    let mut tables = Vec::new();
    share_once(&devnet.chain, &owner, &recipient, 0).await;
    tables.push((
        devnet.chain.share_count().await.unwrap(),
        measure(&devnet, &owner, &recipient).await,
    ));

    let added = 1_000;
    let mut inclusion = Vec::with_capacity(added);
    let began = Instant::now();
    for _ in 0..added {
        inclusion.push(share_once(&devnet.chain, &owner, &recipient, 0).await);
    }
    let fill_time = began.elapsed();
    tables.push((
        devnet.chain.share_count().await.unwrap(),
        measure(&devnet, &owner, &recipient).await,
    ));

    println!("contract message costs by dry-run (shares in contract at start: {start_count})");
    println!(
        "{:<16} {:>8} {:>14} {:>12} {:>16}",
        "message", "shares", "ref_time", "proof_size", "storage deposit"
    );
    for (shares, rows) in &tables {
        for (name, dry_run) in rows {
            println!(
                "{:<16} {:>8} {:>14} {:>12} {:>16}",
                name,
                shares,
                dry_run.gas_required.ref_time,
                dry_run.gas_required.proof_size,
                format!("{:?}", dry_run.storage_deposit)
            );
        }
    }

    let first_20 = &mut inclusion[..20].to_vec();
    let all = &mut inclusion.clone();
    println!("share submission to inclusion (in best block), first 20: {}", summary(first_20));
    println!("all {added} shares: {}; total {:.1} s", summary(all), fill_time.as_secs_f64());
}

/// Submits one share and returns how long it took to be in a block.
async fn share_once(
    chain: &ChainClient,
    owner: &TestNode,
    recipient: &TestNode,
    price: u128,
) -> Duration {
    let message = messages::share(
        ShareId(rand::random()),
        &recipient.id,
        DataHash(rand::random()),
        price,
        None,
        1,
    );
    let began = Instant::now();
    chain.submit(&owner.signer, &message, Confirmation::InBlock).await.expect("share lands");
    began.elapsed()
}

/// Dry-runs each message in a state where it succeeds.
async fn measure(
    devnet: &Devnet,
    owner: &TestNode,
    recipient: &TestNode,
) -> Vec<(&'static str, DryRun)> {
    let chain = &devnet.chain;
    let mut rows = Vec::new();

    let newcomer = devnet.funded_account("bench-newcomer").await;
    let register =
        messages::register_node(EncryptionKey([7; 32]), 1, "http://127.0.0.1:8000/bench");
    rows.push(("register_node", checked(chain, &newcomer, &register).await));

    let priced = ShareId(rand::random());
    let share = messages::share(priced, &recipient.id, DataHash(rand::random()), PRICE, None, 1);
    rows.push(("share", checked(chain, owner, &share).await));
    chain.submit(&owner.signer, &share, Confirmation::InBlock).await.unwrap();

    let pay = messages::pay_for_access(priced, PRICE);
    rows.push(("pay_for_access", checked(chain, recipient, &pay).await));
    chain.submit(&recipient.signer, &pay, Confirmation::InBlock).await.unwrap();

    let release = messages::record_release(priced, &recipient.id, chain.now().await.unwrap());
    rows.push(("record_release", checked(chain, owner, &release).await));

    // A free share released 256 times in one call: the relay's batch.
    let free = ShareId(rand::random());
    let share = messages::share(free, &recipient.id, DataHash(rand::random()), 0, None, 1);
    chain.submit(&owner.signer, &share, Confirmation::InBlock).await.unwrap();
    let now = chain.now().await.unwrap();
    let batch = vec![(free, recipient.id, now); datamgmt_abi::MAX_RELEASES_PER_CALL];
    let releases = messages::record_releases(&batch);
    let dry_run = chain.dry_run(&owner.account, &releases).await.unwrap();
    let verdicts = dry_run.decode_result::<Vec<Result<(), datamgmt_abi::Error>>>().unwrap();
    assert!(verdicts.iter().all(Result::is_ok), "record_releases would refuse some");
    rows.push(("record_releases×256", dry_run));

    let revoke = messages::revoke(priced);
    rows.push(("revoke", checked(chain, owner, &revoke).await));
    rows
}

async fn checked(chain: &ChainClient, caller: &TestNode, message: &ContractMessage) -> DryRun {
    let dry_run = chain.dry_run(&caller.account, message).await.unwrap();
    dry_run.decode_result::<()>().unwrap_or_else(|e| panic!("{} would fail: {e}", message.name));
    dry_run
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: f64| ms(samples[((samples.len() - 1) as f64 * q).round() as usize]);
    format!(
        "median {:.1} ms (p10 {:.1}, p90 {:.1}, min {:.1}, max {:.1})",
        at(0.5),
        at(0.1),
        at(0.9),
        ms(samples[0]),
        ms(samples[samples.len() - 1])
    )
}
