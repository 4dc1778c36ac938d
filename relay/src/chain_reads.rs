//! Chain reads on the key-release path, made once per block.
//!
//! What a block says never changes, so a read at the best block serves every request
//! until the next block. Under load, hundreds of releases a second ask about the same
//! few shares and peers: without this the chain node would answer the same reads for
//! each, and its pace, not the relays', would set the release rate. Concurrent askers
//! of the same thing wait for one read; a failed read is not kept. Where the caller
//! allows it, the block before answers while a new block is being read, so a new block
//! does not stall every release behind one round trip.

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

/// A block, by number and hash.
pub type Block = (u64, H256);

/// Values read at the newest block asked about, by key, and those of the block before.
struct BlockMemo<K, V> {
    generations: Mutex<Generations<K, V>>,
}

struct Generations<K, V> {
    current: Generation<K, V>,
    previous: Option<Generation<K, V>>,
}

/// The block read at, and a cell per key that the first asker fills.
struct Generation<K, V> {
    block: Block,
    cells: HashMap<K, Arc<OnceCell<V>>>,
}

impl<K, V> Generation<K, V> {
    fn new(block: Block) -> Self {
        Self { block, cells: HashMap::new() }
    }
}

impl<K, V> BlockMemo<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn new() -> Self {
        let generations =
            Generations { current: Generation::new((0, H256::zero())), previous: None };
        Self { generations: Mutex::new(generations) }
    }

    /// The cell of `key` at `block`, and its value at the block before if that may
    /// answer; `None` when `block` is older than the newest block asked about.
    fn cells(
        &self,
        block: Block,
        key: &K,
        previous_ok: bool,
    ) -> Option<(Arc<OnceCell<V>>, Option<V>)> {
        let mut generations = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        let Generations { current, previous } = &mut *generations;
        let newer =
            block.0 > current.block.0 || (block.0 == current.block.0 && block.1 != current.block.1);
        if newer {
            *previous = Some(std::mem::replace(current, Generation::new(block)));
        } else if block != current.block {
            return None;
        }
        if current.cells.len() >= MAX_ENTRIES {
            current.cells.clear();
        }
        let cell = current.cells.entry(key.clone()).or_default().clone();
        let previous = previous
            .as_ref()
            .filter(|_| previous_ok)
            .and_then(|generation| generation.cells.get(key))
            .and_then(|cell| cell.get().cloned());
        Some((cell, previous))
    }

    /// The value of `key` at `block`, read by `load` unless it was read already.
    ///
    /// With `previous_ok`, while the read at a new block is under way the value read at
    /// the block before it answers instead (the read goes on in the background), so a
    /// new block does not stall everyone behind one read.
    async fn get<F, Fut>(
        &self,
        block: Block,
        key: K,
        previous_ok: bool,
        load: F,
    ) -> Result<V, ChainError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<V, ChainError>> + Send + 'static,
    {
        let Some((cell, previous)) = self.cells(block, &key, previous_ok) else {
            // Older than the newest block asked about: read, keep nothing.
            return load().await;
        };
        if let Some(value) = cell.get() {
            return Ok(value.clone());
        }
        if let Some(value) = previous {
            tokio::spawn(async move {
                if let Err(error) = cell.get_or_try_init(load).await {
                    tracing::warn!(%error, "a chain read in the background failed");
                }
            });
            return Ok(value);
        }
        cell.get_or_try_init(load).await.cloned()
    }
}

/// The per-block reads of one relay.
pub struct ChainReads {
    releases: BlockMemo<(ShareId, AccountId), Arc<ReleaseView>>,
    nodes: BlockMemo<AccountId, Option<Node>>,
}

impl Default for ChainReads {
    fn default() -> Self {
        Self { releases: BlockMemo::new(), nodes: BlockMemo::new() }
    }
}

impl ChainReads {
    /// Everything a release of `share_id` to `asker` is decided on, at `block` (or,
    /// with `previous_ok` and while that read is under way, at the block before).
    pub async fn release_view(
        &self,
        chain: &ChainClient,
        block: Block,
        share_id: ShareId,
        asker: AccountId,
        previous_ok: bool,
    ) -> Result<Arc<ReleaseView>, ChainError> {
        let chain = chain.clone();
        self.releases
            .get(block, (share_id, asker), previous_ok, move || async move {
                let (access, asker) = tokio::try_join!(
                    chain.access_view_at(block.1, share_id, &asker),
                    chain.node_at(&asker, block.1),
                )?;
                Ok(Arc::new(ReleaseView { access, asker }))
            })
            .await
    }

    /// The node record of `account` at `block` (or the block before, while that read
    /// is under way: a node's endpoint and key rarely change, and a stale one fails
    /// visibly).
    pub async fn node(
        &self,
        chain: &ChainClient,
        block: Block,
        account: AccountId,
    ) -> Result<Option<Node>, ChainError> {
        let chain = chain.clone();
        self.nodes
            .get(
                block,
                account,
                true,
                move || async move { chain.node_at(&account, block.1).await },
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn block(number: u64) -> Block {
        (number, H256::repeat_byte(number as u8))
    }

    /// A loader that counts its reads and answers `value`.
    fn counted(
        loads: &Arc<AtomicUsize>,
        value: u32,
    ) -> impl FnOnce() -> futures::future::Ready<Result<u32, ChainError>> + Send + 'static {
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
        let together = futures::future::join_all(
            (0..8).map(|_| memo.get(block(1), 1, false, counted(&loads, 10))),
        );
        assert!(together.await.into_iter().all(|v| v.unwrap() == 10));
        assert_eq!(memo.get(block(1), 2, false, counted(&loads, 20)).await.unwrap(), 20);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        // A new block reads again.
        assert_eq!(memo.get(block(2), 1, false, counted(&loads, 11)).await.unwrap(), 11);
        assert_eq!(loads.load(Ordering::SeqCst), 3);
        // A failed read is tried again by the next asker.
        let failed =
            memo.get(block(2), 3, false, || async { Err(ChainError::Decode("down".into())) }).await;
        assert!(failed.is_err());
        assert_eq!(memo.get(block(2), 3, false, counted(&loads, 30)).await.unwrap(), 30);
        // An older block is read but not kept.
        assert_eq!(memo.get(block(1), 1, false, counted(&loads, 9)).await.unwrap(), 9);
        assert_eq!(memo.get(block(2), 1, false, counted(&loads, 0)).await.unwrap(), 11);
    }

    #[tokio::test]
    async fn the_previous_block_answers_only_when_allowed_and_only_while_reading() {
        let memo = BlockMemo::<u8, u32>::new();
        let loads = Arc::new(AtomicUsize::new(0));
        assert_eq!(memo.get(block(1), 1, true, counted(&loads, 10)).await.unwrap(), 10);
        // Not allowed: wait for block 2's read.
        assert_eq!(memo.get(block(2), 1, false, counted(&loads, 20)).await.unwrap(), 20);
        // Allowed: block 2's value answers while block 3's read goes on behind it...
        let (started, release) = tokio::sync::oneshot::channel::<()>();
        let slow = move || async move {
            let _ = release.await;
            Ok(30)
        };
        assert_eq!(memo.get(block(3), 1, true, slow).await.unwrap(), 20);
        // ...and once it is done, block 3's value does.
        started.send(()).unwrap();
        let mut value = 0;
        for _ in 0..100 {
            value = memo.get(block(3), 1, true, counted(&loads, 0)).await.unwrap();
            if value == 30 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(value, 30);
        // Nothing read at the block before: nothing to answer with.
        assert_eq!(memo.get(block(4), 2, true, counted(&loads, 40)).await.unwrap(), 40);
    }
}
