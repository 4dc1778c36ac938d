//! Chain reads on the key-release path, made once per block, and only ever answered
//! for the block they were read at.
//!
//! What a block says never changes, so a read at the newest block serves every request
//! until the next block. Under load, hundreds of releases a second ask about the same
//! few shares and peers: without this the chain node would answer the same reads for
//! each, and its pace, not the relays', would set the release rate. Concurrent askers
//! of the same thing wait for one read; a failed read is not kept.
//!
//! The memo holds one block: the newest asked about. A read at an older block is made
//! and answered but never kept, and nothing read at one block ever answers for
//! another: a release decided on a memo entry is decided on exactly the block the
//! caller named (the newest it had seen, see [`crate::release::decision`]).
//!
//! Other nodes' records (their endpoints, for the recipient's side) are kept for
//! [`NODE_RECORD_TTL`] instead: nothing is decided on them (what comes back is opened
//! with this node's key and checked against its hash), and an endpoint that moved just
//! fails until the record is read again.

use crate::chain::connection::Block;
use datamgmt_abi::{AccountId, Node, ShareId};
use datamgmt_client::chain::{AccessView, ChainClient, ChainError, H256};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Entries kept for one block before they are dropped wholesale (a bound, not a
/// working size: a block is usually asked about a few shares).
const MAX_ENTRIES: usize = 4096;

/// What the owner's relay reads before releasing a share's key to an asker.
#[derive(Debug)]
pub struct ReleaseView {
    /// The share, the asker's receipt, the block time and the contract's decision.
    pub access: AccessView,
    /// The asker's node record (its current X25519 key), if it is a node.
    pub asker: Option<Node>,
}

/// Values read at one block (the newest asked about), by key.
struct BlockMemo<K, V> {
    current: Mutex<Generation<K, V>>,
}

/// The block read at, and a cell per key that the first asker fills.
struct Generation<K, V> {
    block: Block,
    cells: HashMap<K, Arc<OnceCell<V>>>,
}

impl<K, V> BlockMemo<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    fn new() -> Self {
        Self { current: Mutex::new(Generation { block: (0, H256::zero()), cells: HashMap::new() }) }
    }

    /// The cell of `key` at `block`; `None` when `block` is older than the newest
    /// block asked about (or another block of the same height).
    fn cell(&self, block: Block, key: &K) -> Option<Arc<OnceCell<V>>> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if block.0 > current.block.0 || (block.0 == current.block.0 && block.1 != current.block.1) {
            if block.0 == current.block.0 {
                // Two blocks at one height (a fork): keep neither; read each afresh.
                *current = Generation { block: (block.0, H256::zero()), cells: HashMap::new() };
                return None;
            }
            *current = Generation { block, cells: HashMap::new() };
        } else if block != current.block {
            return None;
        }
        if current.cells.len() >= MAX_ENTRIES {
            current.cells.clear();
        }
        Some(current.cells.entry(key.clone()).or_default().clone())
    }

    /// The value of `key` at `block`, read by `load` unless it was read at that very
    /// block already.
    async fn get<F, Fut>(&self, block: Block, key: K, load: F) -> Result<V, ChainError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, ChainError>>,
    {
        match self.cell(block, &key) {
            Some(cell) => cell.get_or_try_init(load).await.cloned(),
            // Older than the newest block asked about: read, keep nothing.
            None => load().await,
        }
    }
}

/// Rounds [`at_newest`] makes before it gives up on blocks arriving faster than it can
/// read them.
const MAX_ROUNDS: usize = 8;

/// Reads `load` at the newest block `newest` names, and again at each newer block that
/// arrives while it reads, until a read ends with its block still the newest: the
/// value and the block it was read at. `None` after [`MAX_ROUNDS`] rounds.
///
/// A release decided on the result is decided on the newest block the relay had seen
/// when the decision was made, never on an older view.
pub async fn at_newest<V, E, N, NF, L, LF>(
    mut newest: N,
    mut load: L,
) -> Result<Option<(Block, V)>, E>
where
    N: FnMut() -> NF,
    NF: std::future::Future<Output = Result<Block, E>>,
    L: FnMut(Block) -> LF,
    LF: std::future::Future<Output = Result<V, E>>,
{
    let mut block = newest().await?;
    for _ in 0..MAX_ROUNDS {
        let value = load(block).await?;
        let now_newest = newest().await?;
        if now_newest == block {
            return Ok(Some((block, value)));
        }
        block = now_newest;
    }
    Ok(None)
}

/// How long another node's record read from the chain is used before it is read again.
pub const NODE_RECORD_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// Node records kept at most (then forgotten wholesale: they are read again).
const MAX_NODE_RECORDS: usize = 4096;

/// The per-block reads of one relay.
pub struct ChainReads {
    releases: BlockMemo<(ShareId, AccountId), Arc<ReleaseView>>,
    nodes: Mutex<HashMap<AccountId, (std::time::Instant, Option<Node>)>>,
}

impl Default for ChainReads {
    fn default() -> Self {
        Self { releases: BlockMemo::new(), nodes: Mutex::default() }
    }
}

impl ChainReads {
    /// Everything a release of `share_id` to `asker` is decided on, read at `block`.
    pub async fn release_view(
        &self,
        chain: &ChainClient,
        block: Block,
        share_id: ShareId,
        asker: AccountId,
    ) -> Result<Arc<ReleaseView>, ChainError> {
        self.releases
            .get(block, (share_id, asker), || async {
                let (access, asker) = tokio::try_join!(
                    chain.access_view_at(block.1, share_id, &asker),
                    chain.node_at(&asker, block.1),
                )?;
                Ok(Arc::new(ReleaseView { access, asker }))
            })
            .await
    }

    /// The node record of `account`, as read at `block` or at most [`NODE_RECORD_TTL`]
    /// before.
    pub async fn node(
        &self,
        chain: &ChainClient,
        block: Block,
        account: AccountId,
    ) -> Result<Option<Node>, ChainError> {
        let known = {
            let nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
            nodes.get(&account).filter(|(at, _)| at.elapsed() < NODE_RECORD_TTL).cloned()
        };
        if let Some((_, node)) = known {
            return Ok(node);
        }
        let node = chain.node_at(&account, block.1).await?;
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        if nodes.len() >= MAX_NODE_RECORDS {
            nodes.clear();
        }
        nodes.insert(account, (std::time::Instant::now(), node.clone()));
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn block(number: u64) -> Block {
        (number, H256::repeat_byte(number as u8))
    }

    /// A loader that counts its reads and answers `value`.
    fn counted(
        loads: &Arc<AtomicUsize>,
        value: u32,
    ) -> impl FnOnce() -> futures::future::Ready<Result<u32, ChainError>> {
        let loads = loads.clone();
        move || {
            loads.fetch_add(1, Ordering::SeqCst);
            futures::future::ready(Ok(value))
        }
    }

    #[tokio::test]
    async fn one_read_per_key_and_block_and_errors_are_not_kept() {
        let memo = BlockMemo::<u8, u32>::new();
        let loads = Arc::new(AtomicUsize::new(0));
        let together =
            futures::future::join_all((0..8).map(|_| memo.get(block(1), 1, counted(&loads, 10))));
        assert!(together.await.into_iter().all(|v| v.unwrap() == 10));
        assert_eq!(memo.get(block(1), 2, counted(&loads, 20)).await.unwrap(), 20);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        // A new block reads again.
        assert_eq!(memo.get(block(2), 1, counted(&loads, 11)).await.unwrap(), 11);
        assert_eq!(loads.load(Ordering::SeqCst), 3);
        // A failed read is tried again by the next asker.
        let failed =
            memo.get(block(2), 3, || async { Err(ChainError::Decode("down".into())) }).await;
        assert!(failed.is_err());
        assert_eq!(memo.get(block(2), 3, counted(&loads, 30)).await.unwrap(), 30);
        // An older block is read but not kept.
        assert_eq!(memo.get(block(1), 1, counted(&loads, 9)).await.unwrap(), 9);
        assert_eq!(memo.get(block(2), 1, counted(&loads, 0)).await.unwrap(), 11);
    }

    #[tokio::test]
    async fn two_blocks_at_one_height_are_each_read_afresh() {
        let memo = BlockMemo::<u8, u32>::new();
        let loads = Arc::new(AtomicUsize::new(0));
        let fork = (1, H256::repeat_byte(0xee));
        assert_eq!(memo.get(block(1), 1, counted(&loads, 10)).await.unwrap(), 10);
        assert_eq!(memo.get(fork, 1, counted(&loads, 11)).await.unwrap(), 11);
        assert_eq!(memo.get(block(1), 1, counted(&loads, 12)).await.unwrap(), 12);
        assert_eq!(loads.load(Ordering::SeqCst), 3);
    }

    /// One step of the model: a block arrives, an ask starts, or a read in flight
    /// makes progress.
    #[derive(Debug, Clone)]
    enum Step {
        NewBlock,
        Ask(u8),
        Progress(usize),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        prop::collection::vec(
            prop_oneof![
                1 => Just(Step::NewBlock),
                3 => (0u8..3).prop_map(Step::Ask),
                4 => (0usize..8).prop_map(Step::Progress),
            ],
            1..80,
        )
    }

    proptest! {
        /// Blocks arrive at random while reads are under way: whatever [`at_newest`]
        /// returns was read at the block that was the newest when it returned.
        #[test]
        fn a_view_is_never_older_than_the_newest_block(
            arrivals in prop::collection::vec(0u8..4, 1..40)
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {
                let newest = std::cell::Cell::new(1u64);
                let mut arrivals = arrivals.into_iter();
                let outcome = at_newest(
                    || futures::future::ready(Ok::<_, ()>(block(newest.get()))),
                    |at| {
                        // While this read is under way, 0 to 3 blocks arrive.
                        let arriving = arrivals.next().unwrap_or(0);
                        newest.set(newest.get() + u64::from(arriving));
                        futures::future::ready(Ok(at.0 * 10))
                    },
                )
                .await
                .unwrap();
                if let Some((at, value)) = outcome {
                    prop_assert_eq!(at, block(newest.get()), "decided on an older block");
                    prop_assert_eq!(value, at.0 * 10, "a value read at another block");
                }
                Ok(())
            })?;
        }

        /// Whatever the order in which blocks arrive, asks start and reads finish, an
        /// answer is always the value of the block it was asked at, never one read at
        /// another block; and an ask at the newest block is answered with that block's
        /// value even when its read finishes after newer blocks arrived.
        #[test]
        fn an_answer_is_always_the_value_at_the_block_asked(steps in steps()) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {
                // The "chain": the value of key k at block b is b * 10 + k.
                let value = |b: u64, k: u8| (b * 10 + u64::from(k)) as u32;
                let memo = Arc::new(BlockMemo::<u8, u32>::new());
                let mut newest = 1u64;
                // Reads in flight: each waits for its gate before its loader answers.
                let mut gates: Vec<tokio::sync::oneshot::Sender<()>> = Vec::new();
                let mut asks = Vec::new();
                for step in steps {
                    match step {
                        Step::NewBlock => newest += 1,
                        Step::Ask(key) => {
                            let (open, gate) = tokio::sync::oneshot::channel::<()>();
                            gates.push(open);
                            let memo = memo.clone();
                            let at = newest;
                            asks.push(tokio::spawn(async move {
                                let answer = memo
                                    .get(block(at), key, move || async move {
                                        let _ = gate.await;
                                        Ok(value(at, key))
                                    })
                                    .await
                                    .unwrap();
                                (at, key, answer)
                            }));
                        }
                        Step::Progress(which) => {
                            if !gates.is_empty() {
                                let _ = gates.swap_remove(which % gates.len()).send(());
                            }
                        }
                    }
                    tokio::task::yield_now().await;
                }
                for gate in gates.drain(..) {
                    let _ = gate.send(());
                }
                for ask in asks {
                    let (at, key, answer) = ask.await.unwrap();
                    prop_assert_eq!(answer, value(at, key), "asked at block {}", at);
                }
                Ok(())
            })?;
        }
    }
}
