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
        all.next_page_token = page.next_page_token.clone();
        match page.next_page_token {
            Some(token) => params.page_token = Some(token),
            None => break,
        }
    }
    if all.next_page_token.is_some() {
        eprintln!("(stopped after {MAX_PAGES} pages; next_page_token continues)");
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
                    // Anyone registers any endpoint: its control characters cannot
                    // rewrite the terminal or fake a line.
                    printable(&node.endpoint),
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

/// `text` with control and text-direction characters written as escapes.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || bidi {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn endpoints_cannot_write_control_characters() {
        let hostile = "https://x.example\r\u{1b}]0;owned\u{7}\n(this node)\u{202e}";
        let shown = super::printable(hostile);
        assert!(!shown.chars().any(|c| c.is_control() || c == '\u{202e}'), "{shown}");
        assert!(shown.starts_with("https://x.example\\u{d}"), "{shown}");
        assert_eq!(super::printable("https://ok.example:8443"), "https://ok.example:8443");
    }
}
