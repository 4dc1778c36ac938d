//! `dmn verify`: the on-chain records of some data, as the relay's index has them.

use crate::context::Context;
use crate::output::print;
use crate::CliError;
use datamgmt_client::api::VerifyParams;

// `dmn verify` (its help is the variant's in `main.rs`).
#[derive(clap::Args)]
pub struct Args {
    /// `sha256:…`
    hash: String,
}

pub async fn run(context: &Context, args: Args) -> Result<(), CliError> {
    let hash = args.hash;
    // The hash goes to the relay as given: it says what is wrong with it.
    let answer = context.relay()?.verify(&hash, &VerifyParams::default()).await?;
    print(context.json, &answer, || {
        let lines: Vec<String> = answer
            .records
            .iter()
            .map(|r| {
                format!(
                    "block {} event {}  {}  {}  {} -> {}  tx {}{}",
                    r.block_number,
                    // As the JSON has it: `null` until the record is indexed.
                    r.event_index.map_or_else(|| "null".to_owned(), |i| i.to_string()),
                    r.timestamp,
                    r.kind(),
                    r.sender.node_id,
                    r.recipient.node_id,
                    r.tx_hash,
                    if r.finalized { "" } else { "  (not final yet)" },
                )
            })
            .collect();
        if lines.is_empty() {
            format!("nothing recorded for {hash}")
        } else {
            lines.join("\n")
        }
    });
    Ok(())
}
