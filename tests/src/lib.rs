//! Shared set-up for the end-to-end suites: the running devnet (found through the deploy
//! state file that `scripts/deploy.sh` writes), funded throw-away node accounts, and a
//! way to move chain time forward.
//!
//! The devnet is started by `scripts/test.sh` (or by hand: `scripts/devnet.sh up` then
//! `scripts/deploy.sh`); these helpers fail with that advice when it is not there.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use datamgmt_abi::{AccountId, EncryptionKey};
use datamgmt_client::chain::{
    messages, to_abi_account, AccountId32, ChainClient, Confirmation, DeployState, NodeSigner,
};
use std::{path::PathBuf, sync::Arc};
use subxt::{
    backend::LegacyBackend,
    config::RpcConfigFor,
    dynamic::Value,
    rpcs::{methods::LegacyRpcMethods, RpcClient},
    OnlineClient, SubstrateConfig,
};

/// The devnet as a test sees it.
pub struct Devnet {
    /// What was deployed.
    pub state: DeployState,
    /// A contract client.
    pub chain: ChainClient,
    api: OnlineClient<SubstrateConfig>,
    rpc: LegacyRpcMethods<RpcConfigFor<SubstrateConfig>>,
}

/// A throw-away node account with funds, and its abi form.
pub struct TestNode {
    /// Its key.
    pub signer: NodeSigner,
    /// Its account (subxt form).
    pub account: AccountId32,
    /// Its account (abi form).
    pub id: AccountId,
}

/// Funds given to each throw-away account: plenty for fees, deposits and payments.
pub const TEST_FUNDS: u128 = 1_000_000_000_000_000;

impl Devnet {
    /// Connects to the deployed contract.
    pub async fn connect() -> Self {
        let path = DeployState::path_from_env_or(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.devnet/deploy.json"),
        );
        let state = DeployState::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let chain: ChainClient =
            state.connect().await.expect("the devnet in the deploy state answers");
        let rpc = RpcClient::from_insecure_url(&state.url).await.expect("rpc");
        let api = OnlineClient::from_backend(Arc::new(LegacyBackend::builder().build(rpc.clone())))
            .await
            .expect("subxt client");
        Self { state, chain, api, rpc: LegacyRpcMethods::new(rpc) }
    }

    /// A fresh account derived from `//Alice` under a random path, funded by Alice.
    pub async fn funded_account(&self, label: &str) -> TestNode {
        let path: u64 = rand::random();
        let signer = NodeSigner::from_suri(&format!("//Alice//{label}//{path}")).unwrap();
        self.transfer(&NodeSigner::from_suri("//Alice").unwrap(), &signer.account_id(), TEST_FUNDS)
            .await;
        let account = signer.account_id();
        TestNode { id: to_abi_account(&account), account, signer }
    }

    /// A funded account registered as a node with a key and endpoint of its own.
    pub async fn registered_node(&self, label: &str) -> TestNode {
        let node = self.funded_account(label).await;
        let key = EncryptionKey(rand::random());
        let endpoint = format!("http://127.0.0.1:8000/{label}");
        self.chain
            .submit(
                &node.signer,
                &messages::register_node(key, 1, &endpoint),
                Confirmation::InBlock,
            )
            .await
            .expect("node registers");
        node
    }

    /// Sends `amount` from `from` to `to` and waits for inclusion.
    pub async fn transfer(&self, from: &NodeSigner, to: &AccountId32, amount: u128) {
        let keypair =
            subxt_signer::sr25519::Keypair::from_uri(&"//Alice".parse().expect("dev uri"))
                .expect("dev key");
        assert_eq!(from.account_id(), keypair.public_key().to_account_id(), "only Alice funds");
        let call = subxt::dynamic::transaction(
            "Balances",
            "transfer_keep_alive",
            (Value::unnamed_variant("Id", [Value::from_bytes(to.0)]), Value::u128(amount)),
        );
        self.submit_and_wait(&call, &keypair).await;
    }

    /// Produces a new block (a `System::remark` from Alice), so that chain time moves to
    /// the wall clock: the dev node seals a block only when a transaction arrives.
    pub async fn advance_block(&self) {
        let alice = subxt_signer::sr25519::Keypair::from_uri(&"//Alice".parse().unwrap()).unwrap();
        let call = subxt::dynamic::transaction(
            "System",
            "remark",
            (Value::from_bytes(rand::random::<[u8; 8]>()),),
        );
        self.submit_and_wait(&call, &alice).await;
    }

    /// The block timestamp (ms) of the best block.
    pub async fn chain_time(&self) -> u64 {
        let (_, hash) = self.chain.best_block().await.unwrap();
        let at = self.api.at_block(hash).await.unwrap();
        at.storage()
            .fetch(subxt::dynamic::storage::<(), u64>("Timestamp", "Now"), ())
            .await
            .unwrap()
            .decode()
            .unwrap()
    }

    /// Free balance of `account` at the best block.
    pub async fn free_balance(&self, account: &AccountId32) -> u128 {
        #[derive(subxt::ext::scale_decode::DecodeAsType)]
        #[decode_as_type(crate_path = "subxt::ext::scale_decode")]
        struct AccountInfo {
            data: AccountData,
        }
        #[derive(subxt::ext::scale_decode::DecodeAsType)]
        #[decode_as_type(crate_path = "subxt::ext::scale_decode")]
        struct AccountData {
            free: u128,
        }
        let (_, hash) = self.chain.best_block().await.unwrap();
        let at = self.api.at_block(hash).await.unwrap();
        let entry = subxt::dynamic::storage::<([u8; 32],), AccountInfo>("System", "Account");
        at.storage().fetch(entry, (account.0,)).await.unwrap().decode().unwrap().data.free
    }

    /// Parameters with the next nonce as the node's pool sees it (subxt's default reads it
    /// at the finalized block, which lags behind the dev node's instant blocks).
    async fn params_for(
        &self,
        signer: &subxt_signer::sr25519::Keypair,
    ) -> subxt::config::DefaultExtrinsicParams<SubstrateConfig> {
        let nonce = self
            .rpc
            .system_account_next_index(&signer.public_key().to_account_id())
            .await
            .expect("nonce");
        subxt::config::DefaultExtrinsicParamsBuilder::new().nonce(nonce).build()
    }

    async fn submit_and_wait<Call: subxt::transactions::Payload>(
        &self,
        call: &Call,
        signer: &subxt_signer::sr25519::Keypair,
    ) {
        let mut progress = self
            .api
            .transactions()
            .await
            .unwrap()
            .sign_and_submit_then_watch(call, signer, self.params_for(signer).await)
            .await
            .unwrap();
        while let Some(status) = progress.next().await {
            match status.unwrap() {
                subxt::transactions::TransactionStatus::InBestBlock(block)
                | subxt::transactions::TransactionStatus::InFinalizedBlock(block) => {
                    block.wait_for_success().await.unwrap();
                    return;
                }
                subxt::transactions::TransactionStatus::Error { message }
                | subxt::transactions::TransactionStatus::Invalid { message }
                | subxt::transactions::TransactionStatus::Dropped { message } => {
                    panic!("transaction failed: {message}")
                }
                _ => {}
            }
        }
        panic!("transaction status stream ended");
    }
}
