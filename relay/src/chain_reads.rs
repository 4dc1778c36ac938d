//! Chain reads on the key-release path, made once per block.
//!
//! What a block says never changes, so a read at the best block serves every request
//! until the next block. Under load, hundreds of releases a second ask about the same
//! few shares and peers: without this the chain node would answer the same reads for
//! each, and its pace, not the relays', would set the release rate. Concurrent askers
//! of the same thing wait for one read; a failed read is not kept.

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

/// Values read at one block, by key.
struct BlockMemo<K, V> {
    entries: Mutex<BlockEntries<K, V>>,
}

/// The block read at, and a cell per key that the first asker fills.
type BlockEntries<K, V> = (H256, HashMap<K, Arc<OnceCell<V>>>);

impl<K: Eq + Hash, V: Clone> BlockMemo<K, V> {
    fn new() -> Self {
        Self { entries: Mutex::new((H256::zero(), HashMap::new())) }
    }

    /// The value of `key` at `block`, read by `load` unless it was read already.
    async fn get_or_load<F, Fut>(&self, block: H256, key: K, load: F) -> Result<V, ChainError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, ChainError>>,
    {
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let (at, map) = &mut *entries;
            if *at != block || map.len() >= MAX_ENTRIES {
                *at = block;
                map.clear();
            }
            map.entry(key).or_default().clone()
        };
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
    /// Everything a release of `share_id` to `asker` is decided on, at `block`.
    pub async fn release_view(
        &self,
        chain: &ChainClient,
        block: H256,
        share_id: ShareId,
        asker: AccountId,
    ) -> Result<Arc<ReleaseView>, ChainError> {
        self.releases
            .get_or_load(block, (share_id, asker), || async move {
                let (access, asker) = tokio::try_join!(
                    chain.access_view_at(block, share_id, &asker),
                    chain.node_at(&asker, block),
                )?;
                Ok(Arc::new(ReleaseView { access, asker }))
            })
            .await
    }

    /// The node record of `account` at `block`.
    pub async fn node(
        &self,
        chain: &ChainClient,
        block: H256,
        account: AccountId,
    ) -> Result<Option<Node>, ChainError> {
        self.nodes
            .get_or_load(block, account, || async move { chain.node_at(&account, block).await })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn one_read_per_key_and_block_and_errors_are_not_kept() {
        let memo = BlockMemo::<u8, u32>::new();
        let loads = AtomicUsize::new(0);
        let load = |value: u32| {
            let loads = &loads;
            move || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ChainError>(value)
            }
        };
        let (a, b) = (H256::repeat_byte(1), H256::repeat_byte(2));
        let together = futures::future::join_all((0..8).map(|_| memo.get_or_load(a, 1, load(10))));
        assert!(together.await.into_iter().all(|v| v.unwrap() == 10));
        assert_eq!(memo.get_or_load(a, 2, load(20)).await.unwrap(), 20);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        // A new block reads again.
        assert_eq!(memo.get_or_load(b, 1, load(11)).await.unwrap(), 11);
        assert_eq!(loads.load(Ordering::SeqCst), 3);
        // A failed read is tried again by the next asker.
        let failed =
            memo.get_or_load(b, 3, || async { Err(ChainError::Decode("down".into())) }).await;
        assert!(failed.is_err());
        assert_eq!(memo.get_or_load(b, 3, load(30)).await.unwrap(), 30);
    }
}
