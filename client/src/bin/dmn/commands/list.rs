//! `dmn list`: the shares this node made, newest first, a page at a time.

use crate::context::Context;
use crate::output::print;
use crate::CliError;
use datamgmt_client::api::ListParams;

// `dmn list` (its help is the variant's in `main.rs`).
#[derive(clap::Args)]
pub struct Args {
    /// Shared at or after (RFC 3339 or Unix seconds).
    #[arg(long)]
    from: Option<String>,
    /// Shared before.
    #[arg(long)]
    to: Option<String>,
    /// Only this sender (node id).
    #[arg(long)]
    sender: Option<String>,
    /// Only this recipient (node id).
    #[arg(long)]
    recipient: Option<String>,
    /// Page size (at most 500).
    #[arg(long)]
    limit: Option<u32>,
    /// Continue from a previous page.
    #[arg(long)]
    page_token: Option<String>,
}

pub async fn run(context: &Context, args: Args) -> Result<(), CliError> {
    let params = ListParams {
        from: args.from,
        to: args.to,
        sender: args.sender,
        recipient: args.recipient,
        limit: args.limit.map(|limit| limit.to_string()),
        page_token: args.page_token,
    };
    let answer = context.relay()?.list(&params).await?;
    print(context.json, &answer, || {
        let mut lines: Vec<String> = answer
            .items
            .iter()
            .map(|item| {
                format!(
                    "{}  {}  to {}  price {}  {}  {}",
                    item.shared_at,
                    item.share_id,
                    item.recipient,
                    item.price,
                    if item.recorded { "on chain" } else { "pending" },
                    item.data_hash,
                )
            })
            .collect();
        if let Some(token) = &answer.next_page_token {
            lines.push(format!("more: --page-token {token}"));
        }
        if lines.is_empty() {
            "no shares".to_owned()
        } else {
            lines.join("\n")
        }
    });
    Ok(())
}
