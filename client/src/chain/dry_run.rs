//! Dry-running contract messages through the `ContractsApi_call` runtime API.
//!
//! The request and response are encoded by hand with SCALE: the layouts are fixed by
//! pallet-contracts, and a raw `state_call` costs well under a millisecond on loopback,
//! which matters because every key release waits on one.

use super::ChainError;
use parity_scale_codec::{Decode, DecodeAll, Encode};
use subxt::ArcMetadata;

/// The weight of a call: execution time (picoseconds) and proof size (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Encode, Decode)]
pub struct Weight {
    /// Execution time, in picoseconds of reference hardware.
    #[codec(compact)]
    pub ref_time: u64,
    /// Size of the storage proof, in bytes.
    #[codec(compact)]
    pub proof_size: u64,
}

/// The storage deposit a call charges the caller or refunds to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum StorageDeposit {
    /// Deposit returned to the caller (storage was freed).
    Refund(u128),
    /// Deposit taken from the caller (storage was added).
    Charge(u128),
}

impl StorageDeposit {
    /// The amount charged (0 for a refund).
    pub fn charge(&self) -> u128 {
        match self {
            Self::Charge(amount) => *amount,
            Self::Refund(_) => 0,
        }
    }
}

/// The contract's answer to a dry-run that executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractOutput {
    /// Whether the contract reverted (its state changes would be rolled back).
    pub reverted: bool,
    /// The contract's SCALE-encoded return value.
    pub data: Vec<u8>,
}

/// What a message would do and cost if submitted now, at the best block.
#[derive(Debug, Clone)]
pub struct DryRun {
    /// Weight the call used.
    pub gas_consumed: Weight,
    /// Weight limit the call needs to succeed (can exceed `gas_consumed`).
    pub gas_required: Weight,
    /// Storage deposit the call would charge or refund.
    pub storage_deposit: StorageDeposit,
    /// The contract's output, or why the chain refused to execute it.
    pub result: Result<ContractOutput, String>,
}

impl DryRun {
    /// The gas limit to submit with: what the dry-run required plus an eighth.
    ///
    /// The dry-run ran at the best block; the transaction runs in a later one, where
    /// what it reads may have grown (a share revoked in between carries its revocation
    /// time, so reading it costs more proof size and decoding time). A limit of exactly
    /// the dry-run's figure then runs out of gas. Unused gas is refunded, and an eighth
    /// more of the largest call (a full `record_releases` batch) stays far below a
    /// block's limit for one transaction.
    pub fn gas_limit(&self) -> Weight {
        let required = self.gas_required;
        Weight {
            ref_time: required.ref_time.saturating_add(required.ref_time / 8),
            proof_size: required.proof_size.saturating_add(required.proof_size / 8),
        }
    }

    /// The message's return value, for a message declared to return `T`.
    pub fn decode_output<T: Decode>(&self) -> Result<T, ChainError> {
        let output = self.result.as_ref().map_err(|e| ChainError::Dispatch(e.clone()))?;
        if output.reverted {
            return Err(contract_failure(&output.data));
        }
        decode_message_result(&output.data)
    }

    /// The return value of a message declared to return `Result<T, datamgmt_abi::Error>`,
    /// with the contract's error as [`ChainError::Contract`].
    pub fn decode_result<T: Decode>(&self) -> Result<T, ChainError> {
        self.decode_output::<Result<T, datamgmt_abi::Error>>()?.map_err(ChainError::Contract)
    }
}

/// Encodes the arguments of `ContractsApi_call`: no gas or deposit limit, so the node
/// reports what the call needs.
pub(super) fn encode_request(
    origin: &[u8; 32],
    contract: &[u8; 32],
    value: u128,
    input: &[u8],
) -> Vec<u8> {
    (origin, contract, value, None::<Weight>, None::<u128>, input).encode()
}

/// Decodes `ContractResult<Result<ExecReturnValue, DispatchError>, Balance, EventRecord>`.
/// The trailing events are never requested and are ignored.
pub(super) fn decode_response(bytes: &[u8], metadata: &ArcMetadata) -> Result<DryRun, ChainError> {
    let input = &mut &bytes[..];
    let gas_consumed = Weight::decode(input)?;
    let gas_required = Weight::decode(input)?;
    let storage_deposit = StorageDeposit::decode(input)?;
    let _debug_message = Vec::<u8>::decode(input)?;
    let result = match u8::decode(input)? {
        0 => {
            const REVERT_FLAG: u32 = 1;
            let flags = u32::decode(input)?;
            let data = Vec::<u8>::decode(input)?;
            Ok(ContractOutput { reverted: flags & REVERT_FLAG != 0, data })
        }
        1 => Err(subxt::error::DispatchError::decode_from(*input, metadata.clone())
            .map(|error| error.to_string())
            .unwrap_or_else(|_| "undecodable dispatch error".to_owned())),
        tag => return Err(ChainError::Decode(format!("bad dry-run result tag {tag}"))),
    };
    Ok(DryRun { gas_consumed, gas_required, storage_deposit, result })
}

/// ink! wraps every message's return value in `Result<T, LangError>`.
fn decode_message_result<T: Decode>(data: &[u8]) -> Result<T, ChainError> {
    match data.split_first() {
        Some((0, value)) => T::decode_all(&mut &value[..]).map_err(|e| {
            ChainError::Decode(format!("contract output does not match the abi: {e}"))
        }),
        Some((1, _)) => Err(ChainError::Decode(
            "the contract could not read the input: wrong contract or selector".to_owned(),
        )),
        _ => Err(ChainError::Decode("empty or malformed contract output".to_owned())),
    }
}

/// A reverted call's output: the contract's documented error where it is one.
pub(super) fn contract_failure(data: &[u8]) -> ChainError {
    match decode_message_result::<Result<(), datamgmt_abi::Error>>(data) {
        Ok(Err(error)) => ChainError::Contract(error),
        _ => ChainError::Reverted(data.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datamgmt_abi::{DenyReason, Error};

    #[test]
    fn weight_fields_are_compact() {
        let weight = Weight { ref_time: 1, proof_size: 1 << 20 };
        assert_eq!(weight.encode(), vec![0x04, 0x02, 0x00, 0x40, 0x00]);
    }

    #[test]
    fn the_gas_limit_has_an_eighth_of_headroom() {
        let dry_run = DryRun {
            gas_consumed: Weight { ref_time: 700, proof_size: 64 },
            gas_required: Weight { ref_time: 800, proof_size: 80 },
            storage_deposit: StorageDeposit::Charge(0),
            result: Err("unused".into()),
        };
        assert_eq!(dry_run.gas_limit(), Weight { ref_time: 900, proof_size: 90 });
        let huge = DryRun { gas_required: Weight { ref_time: u64::MAX, proof_size: 8 }, ..dry_run };
        assert_eq!(huge.gas_limit(), Weight { ref_time: u64::MAX, proof_size: 9 });
    }

    #[test]
    fn documented_contract_errors_are_recognised() {
        let revert: Result<Result<(), Error>, u8> =
            Ok(Err(Error::AccessDenied(DenyReason::Expired)));
        assert!(matches!(
            contract_failure(&revert.encode()),
            ChainError::Contract(Error::AccessDenied(DenyReason::Expired))
        ));
        assert!(matches!(contract_failure(&[0x01, 0x01]), ChainError::Reverted(_)));
        assert!(matches!(contract_failure(&[]), ChainError::Reverted(_)));
    }

    #[test]
    fn message_output_must_match_exactly() {
        let ok: Result<u64, u8> = Ok(7);
        assert_eq!(decode_message_result::<u64>(&ok.encode()).unwrap(), 7);
        let mut longer = ok.encode();
        longer.push(0);
        assert!(decode_message_result::<u64>(&longer).is_err());
        assert!(decode_message_result::<u64>(&[1, 1]).is_err());
    }
}
