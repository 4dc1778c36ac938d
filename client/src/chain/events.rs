//! Contract events found on chain, with where they were found: block, extrinsic, index.
//! This is the audit trail's unit: a compliance team can re-fetch each one by these
//! coordinates.

use super::{AccountId32, ChainError, H256};
use datamgmt_abi::events::ContractEvent;
use parity_scale_codec::Decode;
use subxt::{events::Event, SubstrateConfig};

/// A decoded event of the `access` contract and its place on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Number of the block that holds it.
    pub block_number: u64,
    /// Hash of that block.
    pub block_hash: H256,
    /// Index of the extrinsic that emitted it, within the block.
    pub extrinsic_index: u32,
    /// Hash of that extrinsic (the `tx_hash` of API responses).
    pub extrinsic_hash: H256,
    /// Index of the event within the block's events.
    pub event_index: u32,
    /// The event.
    pub event: ContractEvent,
}

/// The block coordinates every event of one block shares.
pub(super) struct BlockCoordinates {
    pub(super) number: u64,
    pub(super) hash: H256,
}

/// Reads `event` as an event of `contract`; `None` when it is any other chain event.
pub(super) fn decode_contract_event(
    event: &Event<'_, SubstrateConfig>,
    contract: &AccountId32,
) -> Option<Result<ContractEvent, ChainError>> {
    if event.pallet_name() != "Contracts" || event.event_name() != "ContractEmitted" {
        return None;
    }
    let (emitter, data) = match <([u8; 32], Vec<u8>)>::decode(&mut event.field_bytes()) {
        Ok(fields) => fields,
        Err(error) => return Some(Err(error.into())),
    };
    if emitter != contract.0 {
        return None;
    }
    let topics: Vec<[u8; 32]> = event.topics().iter().map(|topic| topic.0).collect();
    Some(
        ContractEvent::decode(&topics, &data)
            .map_err(|error| ChainError::Decode(format!("contract event: {error}"))),
    )
}

/// The extrinsic index of an event applied by an extrinsic.
pub(super) fn extrinsic_index_of(event: &Event<'_, SubstrateConfig>) -> Option<u32> {
    match event.phase() {
        subxt::events::Phase::ApplyExtrinsic(index) => Some(index),
        _ => None,
    }
}

pub(super) fn record(
    block: &BlockCoordinates,
    extrinsic_hash: H256,
    event: &Event<'_, SubstrateConfig>,
    extrinsic_index: u32,
    decoded: ContractEvent,
) -> RecordedEvent {
    RecordedEvent {
        block_number: block.number,
        block_hash: block.hash,
        extrinsic_index,
        extrinsic_hash,
        event_index: event.index(),
        event: decoded,
    }
}
