//! `dmn list`: the shares this node made (or received, or both), newest first, a page
//! at a time, each with where it stands.

use crate::context::Context;
use crate::output::print;
use crate::CliError;
use datamgmt_client::api::{Direction, ListParams, ShareStatus};

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
    /// The shares made to this node instead.
    #[arg(long, conflicts_with = "all")]
    received: bool,
    /// The shares this node made and those made to it.
    #[arg(long)]
    all: bool,
}

pub async fn run(context: &Context, args: Args) -> Result<(), CliError> {
    let params = ListParams {
        from: args.from,
        to: args.to,
        sender: args.sender,
        recipient: args.recipient,
        limit: args.limit.map(|limit| limit.to_string()),
        page_token: args.page_token,
        direction: match (args.received, args.all) {
            (true, _) => Some(Direction::Received),
            (_, true) => Some(Direction::All),
            _ => None,
        },
    };
    let answer = context.relay()?.list(&params).await?;
    print(context.json, &answer, || {
        let mut lines: Vec<String> = answer
            .items
            .iter()
            .map(|item| {
                let party = match item.direction {
                    Direction::Received => format!("from {}", item.sender),
                    _ => format!("to {}", item.recipient),
                };
                let status = match item.status {
                    ShareStatus::Pending => "pending",
                    ShareStatus::Active if item.payment_open == Some(true) => "on chain, paid",
                    ShareStatus::Active => "on chain",
                    ShareStatus::Expired => "expired",
                    ShareStatus::Revoked => "revoked",
                    ShareStatus::Unknown => "status unknown",
                };
                format!(
                    "{}  {}  {party}  price {}  {status}  {}",
                    item.shared_at, item.share_id, item.price, item.data_hash,
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
