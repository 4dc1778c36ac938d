//! What can go wrong talking to the chain.

/// An error from the chain client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The node could not be reached or the connection broke.
    #[error("cannot reach the chain node at {url}: {reason}")]
    Unreachable {
        /// The node's URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The contract refused the message with one of its documented errors.
    #[error("the contract refused: {0}")]
    Contract(datamgmt_abi::Error),
    /// The contract reverted with output that is not one of its documented errors.
    #[error("the contract reverted (output 0x{})", hex::encode(.0))]
    Reverted(Vec<u8>),
    /// The chain rejected the call (for example an out-of-gas trap or too little balance).
    #[error("the chain rejected the call: {0}")]
    Dispatch(String),
    /// The lock that orders this account's submissions across processes could not be
    /// taken (its database is down?): nothing was submitted.
    #[error("cannot take the submission lock: {0}")]
    SubmitLock(String),
    /// The transaction did not make it into a block.
    #[error("the transaction failed: {0}")]
    Transaction(String),
    /// A response did not have the expected layout (wrong contract address or version?).
    #[error("unexpected response from the chain: {0}")]
    Decode(String),
    /// A secret URI (`//Alice`, a mnemonic, …) could not be parsed into a key.
    #[error("invalid secret URI for the node account")]
    BadSecretUri,
    /// Configuration (such as the deploy state file) is missing or wrong.
    #[error("{0}")]
    Config(String),
    /// An address was not a valid SS58 account.
    #[error("invalid account address `{0}`")]
    BadAddress(String),
    /// Another subxt failure.
    #[error(transparent)]
    Subxt(Box<subxt::Error>),
}

impl ChainError {
    /// Whether a transaction lost its nonce to another one of the same account (signed
    /// elsewhere, say by a dApp holding the same key): building it again is the cure,
    /// nothing is wrong with the chain or the account.
    pub fn is_nonce_clash(&self) -> bool {
        nonce_clash(&self.to_string())
    }

    /// Whether a contract call ran out of the limits its dry-run gave (gas or storage
    /// deposit) because the state it ran on changed since: a fresh dry-run and a resend
    /// is the cure. Nothing of the call took effect.
    pub fn is_over_dry_run_limits(&self) -> bool {
        let message = self.to_string();
        ["Contracts::OutOfGas", "Contracts::StorageDepositLimitExhausted"]
            .iter()
            .any(|sign| message.contains(sign))
    }
}

/// Whether a transaction pool's message says another transaction took the nonce.
pub(crate) fn nonce_clash(message: &str) -> bool {
    ["outdated", "Priority is too low", "stale", "Stale", "Already Imported", "surped"]
        .iter()
        .any(|sign| message.contains(sign))
}

impl From<subxt::Error> for ChainError {
    fn from(error: subxt::Error) -> Self {
        ChainError::Subxt(Box::new(error))
    }
}

impl From<subxt::rpcs::Error> for ChainError {
    fn from(error: subxt::rpcs::Error) -> Self {
        ChainError::Transaction(error.to_string())
    }
}

impl From<parity_scale_codec::Error> for ChainError {
    fn from(error: parity_scale_codec::Error) -> Self {
        ChainError::Decode(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_that_outgrew_their_dry_run_are_told_apart() {
        let out_of_gas = "the chain rejected the call: Pallet error: Contracts::OutOfGas";
        assert!(ChainError::Transaction(out_of_gas.into()).is_over_dry_run_limits());
        let deposit = "Pallet error: Contracts::StorageDepositLimitExhausted";
        assert!(ChainError::Transaction(deposit.into()).is_over_dry_run_limits());
        let trapped = "the chain rejected the call: Pallet error: Contracts::ContractTrapped";
        assert!(!ChainError::Transaction(trapped.into()).is_over_dry_run_limits());
    }
}
