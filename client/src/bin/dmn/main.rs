//! `dmn`: the DataMgmt Node command line. Shares, reads, lists, verifies, revokes and
//! pays through a relay's REST API; manages the relay's keys; registers a node and
//! audits the chain directly, trusting no relay.
//!
//! Output is for people by default and JSON with `--json`. Exit codes: 0 success,
//! 1 failure, 2 bad usage or input, 3 not found, 4 refused (authentication or access),
//! 5 a service is unavailable, 6 an audit found records that do not match the chain.
//!
//! This file parses the command line and hands each command to its module in
//! [`commands`]; [`context`] has what they share (the relay client, the chain
//! connection), [`output`] how they print, [`error`] how failures map to exit codes.

mod commands;
mod context;
mod error;
mod output;
mod profile;
mod progress;

use clap::{Parser, Subcommand};
use commands::{audit, get, keys, list, node, nodes, pay, revoke, share, verify};
use context::Context;
pub use error::CliError;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "dmn",
    version,
    about = "Share data between organisations under an on-chain access contract"
)]
struct Cli {
    /// Profile file (TOML: endpoint, token, deploy_state)
    #[arg(long, global = true, env = "DMN_PROFILE")]
    profile: Option<PathBuf>,
    /// The relay's URL
    #[arg(long, global = true, env = "DMN_ENDPOINT")]
    endpoint: Option<String>,
    /// The relay's API token
    #[arg(long, global = true, env = "DMN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM certificates to trust for the relay's HTTPS, beside the system's (a private CA)
    #[arg(long, global = true, env = "DMN_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// The deploy state file naming the chain node and contract
    #[arg(long, global = true, env = "DATAMGMT_DEPLOY_STATE")]
    deploy_state: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Share a file (or `-` for standard input) with another node.
    Share(share::Args),
    /// Read shared data by its hash: your own, or data shared with your node.
    Get(get::Args),
    /// List this node's shares (or those it received: --received, --all), newest first.
    List(list::Args),
    /// The on-chain record of some data.
    Verify(verify::Args),
    /// Revoke a share this node made.
    Revoke(revoke::Args),
    /// Pay for one access to a priced share made to this node.
    Pay(pay::Args),
    /// The relay's keys (admin token).
    #[command(subcommand)]
    Keys(keys::Command),
    /// This node's record on chain.
    #[command(subcommand)]
    Node(node::Command),
    /// The registered nodes (the directory recipients are picked from).
    Nodes,
    /// Compliance audit straight from the chain.
    #[command(subcommand)]
    Audit(audit::Command),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("dmn: {}", error.message());
            ExitCode::from(error.code())
        }
    }
}

/// Runs the command; the exit code of a success (0 but for an audit that found
/// discrepancies).
async fn run(cli: Cli) -> Result<u8, CliError> {
    let context = Context::new(
        cli.profile.as_deref(),
        cli.endpoint,
        cli.token,
        cli.ca_cert,
        cli.deploy_state,
        cli.json,
    )?;
    match cli.command {
        Command::Share(args) => share::run(&context, args).await?,
        Command::Get(args) => get::run(&context, args).await?,
        Command::List(args) => list::run(&context, args).await?,
        Command::Verify(args) => verify::run(&context, args).await?,
        Command::Revoke(args) => revoke::run(&context, args).await?,
        Command::Pay(args) => pay::run(&context, args).await?,
        Command::Keys(command) => keys::run(&context, command).await?,
        Command::Node(command) => node::run(&context, command).await?,
        Command::Nodes => nodes::run(&context).await?,
        Command::Audit(command) => return audit::run(&context, command).await,
    }
    Ok(0)
}
