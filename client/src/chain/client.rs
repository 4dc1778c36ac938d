//! [`ChainClient`]: connection, dry-runs, calls, typed reads, events.

use super::{
    dry_run::{self, DryRun},
    events::{self, BlockCoordinates, RecordedEvent},
    messages::{self, ContractMessage},
    AccountId32, ChainError, NodeSigner, StorageDeposit, Weight, H256,
};
use datamgmt_abi::{AccountId, Decision, Node, NodeId, Receipt, Share, ShareId, Timestamp};
use parity_scale_codec::{Decode, Encode};
use std::sync::Arc;
use subxt::{
    backend::LegacyBackend,
    config::{DefaultExtrinsicParams, DefaultExtrinsicParamsBuilder, RpcConfigFor},
    dynamic::Value,
    rpcs::{methods::LegacyRpcMethods, RpcClient},
    transactions::TransactionStatus,
    ArcMetadata, OnlineClient, SubstrateConfig,
};

/// Blocks read at once by [`ChainClient::events_in_blocks`].
const BLOCKS_IN_FLIGHT: usize = 16;

/// Storage key of `Timestamp::Now`: twox128("Timestamp") ++ twox128("Now").
const TIMESTAMP_NOW_KEY: [u8; 32] = [
    0xf0, 0xc3, 0x65, 0xc3, 0xcf, 0x59, 0xd6, 0x71, 0xeb, 0x72, 0xda, 0x0e, 0x7a, 0x41, 0x13, 0xc4,
    0x9f, 0x1f, 0x05, 0x15, 0xf4, 0x62, 0xcd, 0xcf, 0x84, 0xe0, 0xf1, 0xd6, 0x04, 0x5d, 0xfc, 0xbb,
];

/// Hash of a block from its SCALE-encoded header (blake2-256, as the node computes it).
fn block_hash_of(encoded_header: &[u8]) -> H256 {
    use blake2::{digest::consts::U32, Blake2b, Digest};
    H256(Blake2b::<U32>::digest(encoded_header).into())
}

/// Times a transaction the pool refuses outright is built and submitted.
const SUBMIT_ATTEMPTS: u32 = 3;

/// What an access decision rests on, all read at one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessView {
    /// The block read.
    pub block_hash: H256,
    /// Its time (ms).
    pub now: Timestamp,
    /// The share, if it exists.
    pub share: Option<Share>,
    /// The account's receipt, if any.
    pub receipt: Option<Receipt>,
    /// The contract's `can_access` answer (`None` when the share does not exist).
    pub decision: Option<Decision>,
}

/// A submitted transaction in its block.
type InBlock = subxt::transactions::TransactionInBlock<
    SubstrateConfig,
    subxt::client::OnlineClientAtBlockImpl<SubstrateConfig>,
>;

/// A transaction in a block, with its events.
struct Included {
    block: BlockCoordinates,
    extrinsic_hash: H256,
    extrinsic_index: u32,
    finalized: bool,
    events: subxt::extrinsics::ExtrinsicEvents<SubstrateConfig>,
}

/// How long to wait for a submitted call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// Until it is in a best block: enough for records nobody acts on at once.
    InBlock,
    /// Until its block is finalized: for what another party acts on (a payment before a
    /// key release).
    Finalized,
}

/// A call that made it into a block and succeeded.
#[derive(Debug, Clone)]
pub struct CallReceipt {
    /// Number of the block that holds the call.
    pub block_number: u64,
    /// Hash of that block.
    pub block_hash: H256,
    /// Hash of the extrinsic.
    pub extrinsic_hash: H256,
    /// Index of the extrinsic within the block.
    pub extrinsic_index: u32,
    /// Whether the block was finalized when this was returned.
    pub finalized: bool,
    /// Weight limit the call was given (the dry-run's, with headroom).
    pub gas_limit: Weight,
    /// Storage deposit the dry-run said it charges or refunds.
    pub storage_deposit: StorageDeposit,
    /// The contract events the call emitted, in order.
    pub events: Vec<RecordedEvent>,
}

/// A connection to the chain and one deployed `access` contract.
///
/// # Examples
///
/// Asking the contract, as a compliance reader or a dApp backend would, whether a node
/// may have a share's key (needs a running chain node, such as `scripts/devnet.sh up`):
///
/// ```no_run
/// use datamgmt_client::chain::{ChainClient, DeployState};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let deployed = DeployState::load(".devnet/deploy.json".as_ref())?;
/// let chain = ChainClient::connect(&deployed.url, deployed.contract_account()?).await?;
/// let (block, _) = chain.best_block().await?;
/// let share_id = "share_00112233445566778899aabbccddeeff".parse()?;
/// match chain.share_record(share_id).await? {
///     Some(share) => println!("block {block}: shared by {:?} at {}", share.owner, share.created_at),
///     None => println!("block {block}: no such share"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ChainClient {
    url: String,
    api: OnlineClient<SubstrateConfig>,
    rpc: LegacyRpcMethods<RpcConfigFor<SubstrateConfig>>,
    metadata: ArcMetadata,
    contract: AccountId32,
    /// Held from reading a nonce until the transaction is in the pool, so concurrent
    /// submissions from one account never sign with the same nonce.
    submit_lock: Arc<tokio::sync::Mutex<()>>,
    /// The same, across the processes that sign for the account (replicas of one
    /// relay), when there are several.
    shared_submit_lock: Option<Arc<dyn SharedSubmitLock>>,
}

/// A lock several processes signing for one account share, held from reading the
/// account's nonce until the transaction is in the pool, so none of them signs with a
/// nonce another is using (a PostgreSQL advisory lock, say).
pub trait SharedSubmitLock: Send + Sync {
    /// Waits for the lock; it is held until the returned guard is dropped.
    fn acquire(
        &self,
    ) -> futures::future::BoxFuture<'_, Result<Box<dyn std::any::Any + Send>, String>>;
}

impl ChainClient {
    /// Connects to the node at `url` (`ws://…`) and targets the contract at `contract`.
    pub async fn connect(url: &str, contract: AccountId32) -> Result<Self, ChainError> {
        let unreachable = |reason: String| ChainError::Unreachable { url: url.to_owned(), reason };
        let rpc_client =
            RpcClient::from_insecure_url(url).await.map_err(|e| unreachable(e.to_string()))?;
        let backend = LegacyBackend::builder().build(rpc_client.clone());
        let api = OnlineClient::<SubstrateConfig>::from_backend(Arc::new(backend))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let metadata =
            api.at_current_block().await.map_err(|e| unreachable(e.to_string()))?.metadata();
        Ok(Self {
            url: url.to_owned(),
            api,
            rpc: LegacyRpcMethods::new(rpc_client),
            metadata,
            contract,
            submit_lock: Arc::default(),
            shared_submit_lock: None,
        })
    }

    /// This client, also taking `lock` around each submission (see [`SharedSubmitLock`]).
    pub fn with_shared_submit_lock(mut self, lock: Arc<dyn SharedSubmitLock>) -> Self {
        self.shared_submit_lock = Some(lock);
        self
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The contract's address.
    pub fn contract(&self) -> &AccountId32 {
        &self.contract
    }

    /// Runs `message` as `origin` against the best block without submitting anything:
    /// what it would return, cost and charge.
    pub async fn dry_run(
        &self,
        origin: &AccountId32,
        message: &ContractMessage,
    ) -> Result<DryRun, ChainError> {
        self.dry_run_at(origin, message, None).await
    }

    async fn dry_run_at(
        &self,
        origin: &AccountId32,
        message: &ContractMessage,
        at: Option<H256>,
    ) -> Result<DryRun, ChainError> {
        let request =
            dry_run::encode_request(&origin.0, &self.contract.0, message.value, &message.input);
        let response =
            self.rpc.state_call("ContractsApi_call", Some(&request), at).await.map_err(|e| {
                ChainError::Unreachable { url: self.url.clone(), reason: e.to_string() }
            })?;
        dry_run::decode_response(&response, &self.metadata)
    }

    /// Everything an access decision rests on, read at one block: the share,
    /// `account`'s receipt, the block's time, and the contract's own decision. A relay
    /// re-checks the decision from the other three with `datamgmt_abi::decide`.
    pub async fn access_view_at(
        &self,
        block_hash: H256,
        share_id: ShareId,
        account: &AccountId,
    ) -> Result<AccessView, ChainError> {
        let at = Some(block_hash);
        let (share_record, receipt, can_access) = (
            messages::share_record(share_id),
            messages::receipt(share_id, account),
            messages::can_access(share_id, account),
        );
        // Four independent reads of one block: sent together.
        let (share, receipt, decision, now) = tokio::try_join!(
            self.query_at::<Option<Share>>(&share_record, at),
            self.query_at::<Option<Receipt>>(&receipt, at),
            self.dry_run_at(&self.contract, &can_access, at),
            self.time_at(block_hash),
        )?;
        let decision = match decision.decode_result::<Decision>() {
            Ok(decision) => Some(decision),
            Err(ChainError::Contract(datamgmt_abi::Error::ShareNotFound)) => None,
            Err(error) => return Err(error),
        };
        Ok(AccessView { block_hash, now, share, receipt, decision })
    }

    /// The best blocks as the node imports them, number and hash, from the next one on.
    pub async fn best_blocks(
        &self,
    ) -> Result<impl futures::Stream<Item = Result<(u64, H256), ChainError>>, ChainError> {
        use futures::StreamExt as _;
        use subxt::config::Header as _;
        let heads = self.rpc.chain_subscribe_new_heads().await?;
        Ok(heads.map(|head| {
            let head = head?;
            Ok((head.number(), block_hash_of(&head.encode())))
        }))
    }

    /// The first block at which `account` is a registered node (`None` when it is not
    /// one now). A binary search over past states, so it needs an archive node; blocks
    /// before the contract existed count as "not registered".
    pub async fn registered_since(&self, account: &AccountId) -> Result<Option<u64>, ChainError> {
        let (best, best_hash) = self.best_block().await?;
        if self.query_at::<Option<Node>>(&messages::node(account), Some(best_hash)).await?.is_none()
        {
            return Ok(None);
        }
        let first = first_block_where(best, |number| async move {
            Ok(matches!(self.node_at_number(account, number).await?, Some(Some(_))))
        })
        .await?;
        Ok(Some(first))
    }

    /// The first block at which the contract exists (answers a query): nothing about it
    /// happened before. A binary search over past states, like [`Self::registered_since`].
    pub async fn contract_since(&self) -> Result<u64, ChainError> {
        let (best, _) = self.best_block().await?;
        let anyone = AccountId([0; 32]);
        let anyone = &anyone;
        first_block_where(best, |number| async move {
            Ok(self.node_at_number(anyone, number).await?.is_some())
        })
        .await
    }

    /// The node record of `account` at block `number`: `None` when the contract did not
    /// exist yet.
    async fn node_at_number(
        &self,
        account: &AccountId,
        number: u64,
    ) -> Result<Option<Option<Node>>, ChainError> {
        let hash = self
            .rpc
            .chain_get_block_hash(Some(number.into()))
            .await?
            .ok_or_else(|| ChainError::Decode(format!("no block {number}")))?;
        match self.node_at(account, hash).await {
            Ok(node) => Ok(Some(node)),
            // No contract yet at that block.
            Err(ChainError::Dispatch(_) | ChainError::Reverted(_) | ChainError::Decode(_)) => {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Block time (ms) of the best block: the clock the contract decides by.
    pub async fn now(&self) -> Result<Timestamp, ChainError> {
        self.time_at(self.best_block_hash().await?).await
    }

    /// Block time (ms) of the block `block_hash`, read straight from its storage (one
    /// RPC, no runtime metadata lookup).
    async fn time_at(&self, block_hash: H256) -> Result<Timestamp, ChainError> {
        let bytes = self
            .rpc
            .state_get_storage(&TIMESTAMP_NOW_KEY, Some(block_hash))
            .await?
            .ok_or_else(|| ChainError::Decode(format!("block {block_hash:?} has no time")))?;
        Timestamp::decode(&mut &bytes[..])
            .map_err(|e| ChainError::Decode(format!("block time: {e}")))
    }

    /// Reads a message's return value at the best block (a read-only message, run as
    /// the contract's own account).
    pub async fn query<T: Decode>(&self, message: &ContractMessage) -> Result<T, ChainError> {
        self.query_at(message, None).await
    }

    async fn query_at<T: Decode>(
        &self,
        message: &ContractMessage,
        at: Option<H256>,
    ) -> Result<T, ChainError> {
        self.dry_run_at(&self.contract, message, at).await?.decode_output()
    }

    /// Submits `message` signed by `signer` and waits as `confirmation` says.
    ///
    /// A dry-run comes first: it gives the gas and storage-deposit limits, and a message
    /// the contract would refuse is reported as [`ChainError::Contract`] without paying
    /// for a transaction.
    pub async fn submit(
        &self,
        signer: &NodeSigner,
        message: &ContractMessage,
        confirmation: Confirmation,
    ) -> Result<CallReceipt, ChainError> {
        let dry_run = self.dry_run(&signer.account_id(), message).await?;
        dry_run.decode_result::<()>()?;
        self.submit_dry_run(signer, message, &dry_run, confirmation).await
    }

    /// Submits `message`, which its `dry_run` (by `signer`, see [`dry_run`](Self::dry_run))
    /// showed the contract accepts, with the limits that dry-run gave; for messages
    /// whose return value says more than success (checked by the caller).
    pub async fn submit_dry_run(
        &self,
        signer: &NodeSigner,
        message: &ContractMessage,
        dry_run: &DryRun,
        confirmation: Confirmation,
    ) -> Result<CallReceipt, ChainError> {
        let gas_limit = dry_run.gas_limit();
        let call =
            subxt::dynamic::transaction("Contracts", "call", self.call_fields(message, dry_run));
        let included = self.sign_submit_watch(signer, &call, confirmation, true).await?;
        let tx_events = included.events;
        let mut recorded = Vec::new();
        for event in tx_events.iter() {
            let event = event.map_err(subxt::Error::from)?;
            if let Some(decoded) = events::decode_contract_event(&event, &self.contract) {
                recorded.push(events::record(
                    &included.block,
                    included.extrinsic_hash,
                    &event,
                    included.extrinsic_index,
                    decoded?,
                ));
            }
        }
        Ok(CallReceipt {
            block_number: included.block.number,
            block_hash: included.block.hash,
            extrinsic_hash: included.extrinsic_hash,
            extrinsic_index: included.extrinsic_index,
            finalized: included.finalized,
            gas_limit,
            storage_deposit: dry_run.storage_deposit,
            events: recorded,
        })
    }

    /// The fields of a `Contracts::call` for `message` with the limits its dry-run gave
    /// (the gas limit with [`DryRun::gas_limit`]'s headroom).
    fn call_fields(
        &self,
        message: &ContractMessage,
        dry_run: &DryRun,
    ) -> (Value, Value, Value, Value, Value) {
        let gas_limit = dry_run.gas_limit();
        (
            Value::unnamed_variant("Id", [Value::from_bytes(self.contract.0)]),
            Value::u128(message.value),
            Value::named_composite([
                ("ref_time", Value::u128(gas_limit.ref_time.into())),
                ("proof_size", Value::u128(gas_limit.proof_size.into())),
            ]),
            Value::unnamed_variant("Some", [Value::u128(dry_run.storage_deposit.charge())]),
            Value::from_bytes(&message.input),
        )
    }

    /// Signs `call` as `signer` with the pool's nonce, submits it, and waits as
    /// `confirmation` says; the block, the extrinsic and its events. With
    /// `require_success`, an extrinsic that failed is an error.
    async fn sign_submit_watch<Call: subxt::transactions::Payload>(
        &self,
        signer: &NodeSigner,
        call: &Call,
        confirmation: Confirmation,
        require_success: bool,
    ) -> Result<Included, ChainError> {
        // A transaction another of this account's transactions displaced in the pool
        // (signed elsewhere with the same nonce) never lands: it is built and sent again.
        let mut displaced = 1;
        let (in_block, finalized) = loop {
            match self.submit_and_watch(signer, call, confirmation).await {
                Err(error) if displaced < SUBMIT_ATTEMPTS && error.is_nonce_clash() => {
                    tracing::debug!(%error, displaced, "transaction displaced; sending it again");
                    displaced += 1;
                }
                other => break other?,
            }
        };
        let events = if require_success {
            in_block.wait_for_success().await.map_err(|error| match error {
                subxt::error::TransactionEventsError::ExtrinsicFailed(dispatch) => {
                    ChainError::Dispatch(dispatch.to_string())
                }
                other => subxt::Error::from(other).into(),
            })?
        } else {
            in_block.fetch_events().await.map_err(subxt::Error::from)?
        };
        let block = BlockCoordinates {
            number: in_block.at().await.map_err(subxt::Error::from)?.block_number(),
            hash: in_block.block_hash(),
        };
        Ok(Included {
            block,
            extrinsic_hash: in_block.extrinsic_hash(),
            extrinsic_index: events.extrinsic_index() as u32,
            finalized,
            events,
        })
    }

    /// Signs `call` with the pool's nonce, submits it (built again when the pool refuses
    /// it outright), and follows it until `confirmation`: its block, and whether that
    /// block was finalized.
    async fn submit_and_watch<Call: subxt::transactions::Payload>(
        &self,
        signer: &NodeSigner,
        call: &Call,
        confirmation: Confirmation,
    ) -> Result<(InBlock, bool), ChainError> {
        let mut progress = {
            let _in_pool = self.submit_lock.lock().await;
            let _shared_in_pool = match &self.shared_submit_lock {
                Some(lock) => Some(lock.acquire().await.map_err(ChainError::SubmitLock)?),
                None => None,
            };
            let mut attempt = 1;
            loop {
                // Built at the best block: under load the dev node seals dozens of blocks
                // a second, and a transaction anchored at the finalized head (subxt's
                // default) can be past its mortality window before it is even submitted.
                let best = self.best_block_hash().await?;
                let submitted = self
                    .api
                    .at_block(best)
                    .await
                    .map_err(subxt::Error::from)?
                    .transactions()
                    .sign_and_submit_then_watch(
                        call,
                        signer.keypair(),
                        self.params_for(signer).await?,
                    )
                    .await
                    .map_err(subxt::Error::from);
                match submitted {
                    Ok(progress) => break progress,
                    // The pool refused it outright (so it is not in the pool): under load
                    // the best block can move between reading it and submitting (about
                    // 1 in 300 submissions at 30 a second). Build it again.
                    Err(error)
                        if attempt < SUBMIT_ATTEMPTS
                            && (error.to_string().contains("Invalid Transaction")
                                || super::error::nonce_clash(&error.to_string())) =>
                    {
                        tracing::debug!(%error, attempt, "transaction refused by the pool; rebuilding");
                        attempt += 1;
                    }
                    Err(error) => return Err(error.into()),
                }
            }
        };
        loop {
            match progress.next().await {
                Some(Ok(TransactionStatus::InBestBlock(block)))
                    if confirmation == Confirmation::InBlock =>
                {
                    return Ok((block, false))
                }
                Some(Ok(TransactionStatus::InFinalizedBlock(block))) => return Ok((block, true)),
                Some(Ok(
                    TransactionStatus::Error { message }
                    | TransactionStatus::Invalid { message }
                    | TransactionStatus::Dropped { message },
                )) => return Err(ChainError::Transaction(message)),
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Err(subxt::Error::from(error).into()),
                None => return Err(ChainError::Transaction("the node stopped reporting".into())),
            }
        }
    }

    /// Transaction parameters with the signer's next nonce as the node's pool sees it.
    /// (subxt would read the nonce at the finalized block, which lags behind the dev
    /// node's instant blocks, and the transaction would be refused as outdated.)
    async fn params_for(
        &self,
        signer: &NodeSigner,
    ) -> Result<DefaultExtrinsicParams<SubstrateConfig>, ChainError> {
        let nonce = self.rpc.system_account_next_index(&signer.account_id()).await?;
        Ok(DefaultExtrinsicParamsBuilder::new().nonce(nonce).build())
    }

    /// The contract's events of each block in `blocks`, block by block in order, with
    /// [`BLOCKS_IN_FLIGHT`] blocks read at once: what an indexer catching up or an
    /// audit reading a range wants.
    pub fn events_in_blocks(
        &self,
        blocks: std::ops::RangeInclusive<u64>,
    ) -> impl futures::Stream<Item = (u64, Result<Vec<RecordedEvent>, ChainError>)> + '_ {
        use futures::StreamExt;
        futures::stream::iter(blocks)
            .map(move |number| async move { (number, self.events_in_block(number).await) })
            .buffered(BLOCKS_IN_FLIGHT)
    }

    /// Every event of the contract in the block with this number.
    pub async fn events_in_block(&self, number: u64) -> Result<Vec<RecordedEvent>, ChainError> {
        let at = self.api.at_block(number).await.map_err(subxt::Error::from)?;
        let block = BlockCoordinates { number, hash: at.block_hash() };
        let block_events = at.events().fetch().await.map_err(subxt::Error::from)?;
        let mut contract_events = block_events
            .iter()
            .filter_map(Result::ok)
            .filter(|event| events::decode_contract_event(event, &self.contract).is_some());
        if contract_events.next().is_none() {
            // Most blocks have nothing of this contract: skip fetching their bodies.
            return Ok(Vec::new());
        }
        let extrinsics = at.extrinsics().fetch().await.map_err(subxt::Error::from)?;
        let mut extrinsic_hashes = Vec::with_capacity(extrinsics.len());
        for extrinsic in extrinsics.iter() {
            extrinsic_hashes.push(extrinsic.map_err(subxt::Error::from)?.hash());
        }
        let mut recorded = Vec::new();
        for event in block_events.iter() {
            let event = event.map_err(subxt::Error::from)?;
            let Some(decoded) = events::decode_contract_event(&event, &self.contract) else {
                continue;
            };
            let index = events::extrinsic_index_of(&event).ok_or_else(|| {
                ChainError::Decode("contract event outside an extrinsic".to_owned())
            })?;
            let hash = *extrinsic_hashes.get(index as usize).ok_or_else(|| {
                ChainError::Decode(format!("event names missing extrinsic {index}"))
            })?;
            recorded.push(events::record(&block, hash, &event, index, decoded?));
        }
        Ok(recorded)
    }

    /// Number and hash of the best block.
    pub async fn best_block(&self) -> Result<(u64, H256), ChainError> {
        let hash = self.best_block_hash().await?;
        Ok((self.block_number_of(hash).await?, hash))
    }

    async fn best_block_hash(&self) -> Result<H256, ChainError> {
        self.rpc
            .chain_get_block_hash(None)
            .await?
            .ok_or_else(|| ChainError::Decode("the node has no best block".to_owned()))
    }

    async fn block_number_of(&self, hash: H256) -> Result<u64, ChainError> {
        let header = self
            .rpc
            .chain_get_header(Some(hash))
            .await?
            .ok_or_else(|| ChainError::Decode(format!("no header for block {hash:?}")))?;
        Ok(header.number)
    }

    /// Number of the last finalized block.
    pub async fn finalized_block_number(&self) -> Result<u64, ChainError> {
        Ok(self.finalized_block().await?.0)
    }

    /// Number and hash of the last finalized block.
    pub async fn finalized_block(&self) -> Result<(u64, H256), ChainError> {
        let hash = self.rpc.chain_get_finalized_head().await?;
        Ok((self.block_number_of(hash).await?, hash))
    }

    /// Submits a `System::remark` signed by `signer` and waits for its block; the block's
    /// number and hash. A chain that seals a block per transaction (a development node)
    /// makes one at once, so this brings its block time up to the present.
    pub async fn produce_block(&self, signer: &NodeSigner) -> Result<(u64, H256), ChainError> {
        let mut note = [0u8; 8];
        getrandom::fill(&mut note).map_err(|e| ChainError::Transaction(e.to_string()))?;
        let call = subxt::dynamic::transaction("System", "remark", (Value::from_bytes(note),));
        let included = self.sign_submit_watch(signer, &call, Confirmation::InBlock, true).await?;
        Ok((included.block.number, included.block.hash))
    }

    /// The access decision for `account` on `share_id` at the best block.
    pub async fn can_access(
        &self,
        share_id: ShareId,
        account: &AccountId,
    ) -> Result<Decision, ChainError> {
        self.dry_run(&self.contract, &messages::can_access(share_id, account))
            .await?
            .decode_result()
    }

    /// The node registered by `account`, if any.
    pub async fn node(&self, account: &AccountId) -> Result<Option<Node>, ChainError> {
        self.query(&messages::node(account)).await
    }

    /// The node record of `account` at block `block_hash`, if it was registered then.
    pub async fn node_at(
        &self,
        account: &AccountId,
        block_hash: H256,
    ) -> Result<Option<Node>, ChainError> {
        self.query_at(&messages::node(account), Some(block_hash)).await
    }

    /// The account holding `node_id`, if any.
    pub async fn node_account(&self, node_id: NodeId) -> Result<Option<AccountId>, ChainError> {
        self.query(&messages::node_account(node_id)).await
    }

    /// The share with id `share_id`, if any.
    pub async fn share_record(&self, share_id: ShareId) -> Result<Option<Share>, ChainError> {
        self.query(&messages::share_record(share_id)).await
    }

    /// `account`'s payment receipt for `share_id` at block `block_hash`, if any.
    pub async fn receipt_at(
        &self,
        share_id: ShareId,
        account: &AccountId,
        block_hash: H256,
    ) -> Result<Option<Receipt>, ChainError> {
        self.query_at(&messages::receipt(share_id, account), Some(block_hash)).await
    }

    /// `account`'s payment receipt for `share_id`, if any.
    pub async fn receipt(
        &self,
        share_id: ShareId,
        account: &AccountId,
    ) -> Result<Option<Receipt>, ChainError> {
        self.query(&messages::receipt(share_id, account)).await
    }

    /// The contract's admin.
    pub async fn admin(&self) -> Result<AccountId, ChainError> {
        self.query(&messages::admin()).await
    }

    /// Number of shares ever created.
    pub async fn share_count(&self) -> Result<u64, ChainError> {
        self.query(&messages::share_count()).await
    }
}

/// The first block from 0 to `high` at which `holds` (which holds at `high`, and at
/// every block after one where it holds); `high` when it holds nowhere before.
async fn first_block_where<F, Fut>(high: u64, mut holds: F) -> Result<u64, ChainError>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = Result<bool, ChainError>>,
{
    // Invariant: it holds at `high`, and not before `low`.
    let (mut low, mut high) = (0, high);
    while low < high {
        let middle = low + (high - low) / 2;
        if holds(middle).await? {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    Ok(low)
}
