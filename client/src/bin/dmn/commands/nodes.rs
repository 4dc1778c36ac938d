//! `dmn nodes`: the directory of registered nodes, as the relay's index has it.

use crate::context::Context;
use crate::output::print;
use crate::CliError;
use datamgmt_client::api::{NodesParams, NodesResponse};

/// At most this many pages are read (50,000 nodes): a relay that keeps handing out
/// tokens does not keep the command running.
const MAX_PAGES: usize = 100;

pub async fn run(context: &Context) -> Result<(), CliError> {
    let relay = context.relay()?;
    let mut params = NodesParams { limit: Some("500".into()), page_token: None };
    let mut all = NodesResponse { items: Vec::new(), next_page_token: None };
    for _ in 0..MAX_PAGES {
        let page = relay.nodes(&params).await?;
        all.items.extend(page.items);
        match page.next_page_token {
            Some(token) => params.page_token = Some(token),
            None => break,
        }
    }
    print(context.json, &all, || {
        if all.items.is_empty() {
            return "no nodes registered yet (or the relay has not indexed them)".to_owned();
        }
        all.items
            .iter()
            .map(|node| {
                format!(
                    "{}  {}  key v{}  {}{}",
                    node.node_id,
                    node.endpoint,
                    node.key_version,
                    node.account,
                    if node.this_node { "  (this node)" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}
