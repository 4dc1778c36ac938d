//! `dmn pay`: the recipient pays for one access to a priced share.

use crate::context::Context;
use crate::output::{change_line, print};
use crate::CliError;

// `dmn pay` (its help is the variant's in `main.rs`).
#[derive(clap::Args)]
pub struct Args {
    /// `share_…`
    share_id: String,
}

pub async fn run(context: &Context, args: Args) -> Result<(), CliError> {
    // The id goes to the relay as given: it says what is wrong with it.
    let answer = context.relay()?.pay(&args.share_id).await?;
    print(context.json, &answer, || change_line(&answer));
    Ok(())
}
