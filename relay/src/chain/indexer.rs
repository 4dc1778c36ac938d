//! The indexer: follows finalized blocks and copies into the index the contract's share
//! events that concern this node (it owns the share or receives it), so `/verify_data`
//! and reads answer without scanning the chain, and every node event, so `GET /nodes`
//! lists the directory. Share events between other nodes are not kept: anyone can make
//! them, and they would grow this node's index without end; the directory holds one row
//! per registered account (a registration costs a deposit; updates rewrite the row). It
//! resumes from the last block it finished, so downtime is caught up on restart; each
//! block's events and the cursor are written in one transaction.

use crate::index::{Index, IndexError, IndexedEvent, IndexedNode};
use crate::state::AppState;
use datamgmt_abi::{events::ContractEvent, AccountId};
use datamgmt_client::chain::{ChainClient, ChainError};
use futures::StreamExt;
use std::time::Duration;

/// Why a pass of the indexer stopped.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// The chain did not answer.
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    /// The index could not be written.
    #[error("{0}")]
    Index(#[from] IndexError),
}

/// While catching up through blocks without events, the cursor is saved this often.
const CURSOR_EVERY: u64 = 1024;

/// Indexes the share events concerning `node` and every node event in each finalized
/// block after the cursor (from `first_block` for an empty index); returns the last
/// block indexed. Blocks are read several at a time but written in order, and a block
/// without such events only moves the cursor (every [`CURSOR_EVERY`] blocks and at the
/// end).
pub async fn catch_up(
    chain: &ChainClient,
    index: &Index,
    node: &AccountId,
    first_block: u64,
) -> Result<u64, IndexerError> {
    let finalized = chain.finalized_block_number().await?;
    let next_share = index.indexed_up_to().await?.map_or(first_block, |last| last + 1);
    // An index made before the directory walks the blocks before its share cursor once
    // more, for their node events only.
    let next_node = index.directory_up_to().await?.map_or(first_block, |last| last + 1);
    let blocks = chain.events_in_blocks(next_share.min(next_node)..=finalized);
    futures::pin_mut!(blocks);
    while let Some((number, recorded)) = blocks.next().await {
        let mut events = Vec::new();
        let mut nodes = Vec::new();
        for recorded in recorded? {
            match recorded.event {
                ContractEvent::Share(event)
                    if number >= next_share
                        && (event.owner == *node || event.recipient == *node) =>
                {
                    events.push(IndexedEvent {
                        block_number: recorded.block_number,
                        block_hash: format!("{:?}", recorded.block_hash),
                        extrinsic_index: recorded.extrinsic_index,
                        extrinsic_hash: format!("{:?}", recorded.extrinsic_hash),
                        event_index: recorded.event_index,
                        event,
                    })
                }
                ContractEvent::Node(event) if number >= next_node => nodes.push(IndexedNode {
                    block_number: recorded.block_number,
                    account: event.account,
                    node: event.node,
                }),
                _ => {}
            }
        }
        if !events.is_empty()
            || !nodes.is_empty()
            || number == finalized
            || number % CURSOR_EVERY == 0
        {
            index.record_block(number, &events, &nodes).await?;
        }
    }
    Ok(finalized)
}

/// Runs [`catch_up`] every `interval`. An empty index starts at the block where the
/// contract appeared: nothing before it concerns the contract, so a relay on a chain
/// with a long history before the contract does not walk it.
pub async fn run(state: AppState, interval: Duration) {
    {
        let mut first_block = None;
        loop {
            if let Ok(client) = state.chain().client().await {
                if first_block.is_none() {
                    first_block = match start_block(&client, state.index()).await {
                        Ok(since) => Some(since),
                        Err(error) => {
                            tracing::warn!(%error, "cannot find where to start indexing; retrying");
                            None
                        }
                    };
                }
                if let Some(first_block) = first_block {
                    let node = state.node().account();
                    match catch_up(&client, state.index(), &node, first_block).await {
                        Ok(block) => state.metrics().indexed_block(block),
                        Err(error) => tracing::warn!(%error, "indexer pass stopped; retrying"),
                    }
                }
            }
            tokio::time::sleep(interval).await;
        }
    }
}

/// Where an index with no cursor starts: the block the contract appeared in (a binary
/// search over archive state). An index with both cursors needs none, so a relay on a
/// node that no longer has old state keeps indexing.
async fn start_block(chain: &ChainClient, index: &Index) -> Result<u64, IndexerError> {
    match (index.indexed_up_to().await?, index.directory_up_to().await?) {
        (Some(shares), Some(nodes)) => Ok(shares.min(nodes) + 1),
        _ => Ok(chain.contract_since().await?),
    }
}
