//! A walk through the contract's rules on a running devnet, printing what the chain says.
//!
//! Three organisations: Bob's node A shares data with Charlie's node B at a price; B pays
//! and A records the key release; Dave's node C is refused; A revokes and B is refused.
//! Every step's event is then read back from its block.
//!
//! Run by `scripts/run.sh`, or by hand after `scripts/devnet.sh up && scripts/deploy.sh`:
//! `cargo run -p datamgmt-client --example walkthrough`.

use datamgmt_client::abi::{events::ContractEvent, DataHash, EncryptionKey, ShareId};
use datamgmt_client::chain::{
    messages, node_id_of, to_abi_account, CallReceipt, ChainClient, ChainError, Confirmation,
    DeployState, NodeSigner,
};
use sha2::{Digest, Sha256};

const PRICE: u128 = 5_000_000_000;

#[tokio::main]
async fn main() -> Result<(), ChainError> {
    let state = DeployState::load(&DeployState::path_from_env_or(".devnet/deploy.json"))?;
    let chain = state.connect().await?;
    println!("contract {} on {}", state.contract, state.url);

    let a = node(&chain, "//Bob", "http://127.0.0.1:8101").await?;
    let b = node(&chain, "//Charlie", "http://127.0.0.1:8102").await?;
    let c = node(&chain, "//Dave", "http://127.0.0.1:8103").await?;
    let (b_id, c_id) = (to_abi_account(&b.account_id()), to_abi_account(&c.account_id()));

    // Only the plaintext's SHA-256 goes on chain, never the data.
    let data_hash = DataHash(Sha256::digest(b"Sensitive enterprise data...").into());
    let share_id = ShareId(rand_bytes());
    let one_hour_later = now_ms() + 3_600_000;
    let mut trail = Vec::new();

    trail.push(step(
        "A shares with B, priced, expiring in an hour",
        chain
            .submit(
                &a,
                &messages::share(share_id, &b_id, data_hash, PRICE, Some(one_hour_later), 1),
                Confirmation::InBlock,
            )
            .await?,
    ));
    println!("  B may read? {:?}", chain.can_access(share_id, &b_id).await?);
    trail.push(step(
        "B pays the exact price (waits for finality)",
        chain
            .submit(&b, &messages::pay_for_access(share_id, PRICE), Confirmation::Finalized)
            .await?,
    ));
    println!("  B may read? {:?}", chain.can_access(share_id, &b_id).await?);
    trail.push(step(
        "A's relay records the key release to B",
        chain
            .submit(
                &a,
                &messages::record_release(share_id, &b_id, chain.now().await?),
                Confirmation::InBlock,
            )
            .await?,
    ));
    println!("  C may read? {:?}", chain.can_access(share_id, &c_id).await?);
    match chain.submit(&c, &messages::pay_for_access(share_id, PRICE), Confirmation::InBlock).await
    {
        Err(ChainError::Contract(error)) => println!("  C tries to pay: refused, {error}"),
        other => panic!("C's payment should be refused, got {other:?}"),
    }
    trail.push(step(
        "A revokes",
        chain.submit(&a, &messages::revoke(share_id), Confirmation::InBlock).await?,
    ));
    println!("  B may read? {:?}", chain.can_access(share_id, &b_id).await?);

    println!("\naudit trail, read back from the chain:");
    for receipt in &trail {
        for recorded in chain.events_in_block(receipt.block_number).await? {
            if let ContractEvent::Share(event) = &recorded.event {
                println!(
                    "  block #{} {:?} tx {:?} event #{}: {:?}",
                    recorded.block_number,
                    recorded.block_hash,
                    recorded.extrinsic_hash,
                    recorded.event_index,
                    event.action
                );
            }
        }
    }
    Ok(())
}

/// The dev account's signer, registered as a node if it is not one yet.
async fn node(chain: &ChainClient, suri: &str, endpoint: &str) -> Result<NodeSigner, ChainError> {
    let signer = NodeSigner::from_suri(suri)?;
    let account = to_abi_account(&signer.account_id());
    if chain.node(&account).await?.is_none() {
        let key = EncryptionKey(rand_bytes());
        chain
            .submit(&signer, &messages::register_node(key, 1, endpoint), Confirmation::InBlock)
            .await?;
    }
    println!("{suri}: node {} at {endpoint}", node_id_of(&signer.account_id()));
    Ok(signer)
}

fn step(what: &str, receipt: CallReceipt) -> CallReceipt {
    println!("{what}: block #{}, tx {:?}", receipt.block_number, receipt.extrinsic_hash);
    receipt
}

fn now_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since_epoch.map(|d| d.as_millis() as u64).unwrap_or_default()
}

/// Random bytes for ids and demo keys (a real node keeps its X25519 key in its keyring).
fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    bytes
}
