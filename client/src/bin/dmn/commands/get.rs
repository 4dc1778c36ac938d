//! `dmn get`: data by its hash, streamed from the relay and checked against the hash
//! before any of it reaches the file or standard output.

use crate::context::Context;
use crate::output::json_text;
use crate::progress;
use crate::CliError;
use datamgmt_abi::DataHash;
use datamgmt_client::api::ReadParams;
use serde::Serialize;
use std::path::PathBuf;

// `dmn get` (its help is the variant's in `main.rs`).
#[derive(clap::Args)]
pub struct Args {
    /// `sha256:…`
    hash: String,
    /// Write to this file (default: standard output).
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// What `--json` reports (on standard error: standard output may be the data).
#[derive(Serialize)]
struct Got {
    data_hash: DataHash,
    bytes: u64,
    verified: bool,
    output: Option<String>,
}

pub async fn run(context: &Context, args: Args) -> Result<(), CliError> {
    let hash: DataHash = args.hash.parse().map_err(|e| {
        CliError::usage(format!("the data hash {e} (sha256: and 64 lowercase hex)"))
    })?;
    let relay = context.relay()?;
    let bar = progress::Download::new("downloading");
    let params = ReadParams::default();
    let downloaded = match &args.output {
        Some(path) => relay.get_data_to_file(&hash, &params, path, &bar).await?,
        None => relay.get_data_to(&hash, &params, &mut tokio::io::stdout(), &bar).await?,
    };
    let length = downloaded.length;
    if context.json {
        let got = Got {
            data_hash: hash,
            bytes: length,
            verified: true,
            output: args.output.as_ref().map(|p| p.display().to_string()),
        };
        eprintln!("{}", json_text(&got));
    } else {
        eprintln!("verified {hash} ({length} bytes)");
    }
    Ok(())
}
