//! `dmn keys`: the relay's keys (admin token). Answers print as JSON either way.

use crate::context::Context;
use crate::output::{json_text, print};
use crate::CliError;
use clap::{Subcommand, ValueEnum};
use datamgmt_client::api::{self, RewrapRequest, RotateRequest};

#[derive(Subcommand)]
pub enum Command {
    /// Key versions and envelopes on older master keys.
    Status,
    /// Rotate the master key or the node's X25519 key.
    Rotate {
        /// Which key.
        #[arg(value_enum)]
        key: KeyKind,
    },
    /// Move every envelope to the newest master key.
    Rewrap {
        /// Then retire older master keys.
        #[arg(long)]
        retire_older: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KeyKind {
    Master,
    Node,
}

impl From<KeyKind> for api::KeyKind {
    fn from(kind: KeyKind) -> Self {
        match kind {
            KeyKind::Master => Self::Master,
            KeyKind::Node => Self::Node,
        }
    }
}

pub async fn run(context: &Context, command: Command) -> Result<(), CliError> {
    let relay = context.relay()?;
    let json = context.json;
    match command {
        Command::Status => {
            let answer = relay.key_status().await?;
            print(json, &answer, || json_text(&answer));
        }
        Command::Rotate { key } => {
            let answer = relay.rotate_key(&RotateRequest { key: key.into() }).await?;
            print(json, &answer, || json_text(&answer));
        }
        Command::Rewrap { retire_older } => {
            let answer = relay.rewrap_keys(&RewrapRequest { retire_older }).await?;
            print(json, &answer, || json_text(&answer));
        }
    }
    Ok(())
}
