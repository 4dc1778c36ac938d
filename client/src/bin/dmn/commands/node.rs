//! `dmn node register`: a node's record on chain, written straight to the contract.

use crate::context::Context;
use crate::output::print;
use crate::CliError;
use clap::Subcommand;
use datamgmt_abi::NodeId;
use datamgmt_client::chain::{ensure_registered, node_id_of, NodeSigner};
use datamgmt_client::keyring::Keyring;
use datamgmt_client::keys::Passphrase;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum Command {
    /// Register (or update) a node: its account from DATAMGMT_NODE_SURI, its X25519 key
    /// from a keyring (created when missing; passphrase from DATAMGMT_KEYRING_PASSPHRASE).
    Register {
        /// The URL other nodes reach its relay at.
        #[arg(long)]
        endpoint: String,
        /// The keyring file.
        #[arg(long)]
        keyring: PathBuf,
    },
}

/// What a registration did.
#[derive(Serialize)]
struct Registered {
    node_id: NodeId,
    account: String,
    endpoint: String,
    /// `registered`, `updated` or `unchanged`.
    outcome: String,
}

pub async fn run(context: &Context, command: Command) -> Result<(), CliError> {
    let Command::Register { endpoint, keyring } = command;
    let chain = context.chain().await?;
    let suri = std::env::var("DATAMGMT_NODE_SURI")
        .map_err(|_| CliError::usage("set DATAMGMT_NODE_SURI to the node account's secret URI"))?;
    let signer = NodeSigner::from_suri(&suri).map_err(|e| CliError::usage(e.to_string()))?;
    let passphrase = std::env::var("DATAMGMT_KEYRING_PASSPHRASE").map_err(|_| {
        CliError::usage("set DATAMGMT_KEYRING_PASSPHRASE to the keyring's passphrase")
    })?;
    let keys = open_or_create_keyring(&keyring, &Passphrase::new(passphrase))?;
    let outcome = ensure_registered(&chain, &signer, &keys, &endpoint)
        .await
        .map_err(|e| CliError::failed(format!("registration failed: {e}")))?;
    let answer = Registered {
        node_id: node_id_of(&signer.account_id()),
        account: signer.account_id().to_string(),
        endpoint,
        outcome: format!("{outcome:?}").to_lowercase(),
    };
    print(context.json, &answer, || format!("{}: {}", answer.node_id, answer.outcome));
    Ok(())
}

fn open_or_create_keyring(path: &Path, passphrase: &Passphrase) -> Result<Keyring, CliError> {
    let (keyring, created) = Keyring::open_or_create(path, passphrase)
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    if created {
        eprintln!("created a new keyring at {}", path.display());
    }
    Ok(keyring)
}
