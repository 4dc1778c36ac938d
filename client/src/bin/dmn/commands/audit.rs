//! `dmn audit`: compliance exports straight from the chain, trusting no relay, and
//! their re-verification.

use crate::context::{resolve_party, Context};
use crate::output::print;
use crate::CliError;
use clap::{Subcommand, ValueEnum};
use datamgmt_client::audit::{self, AuditExport, AuditQuery};
use datamgmt_client::timefmt::{parse_instant, rfc3339};
use std::path::{Path, PathBuf};

/// Exit code of an audit that found discrepancies.
const AUDIT_MISMATCH: u8 = 6;

#[derive(Subcommand)]
pub enum Command {
    /// Export share records from the chain.
    Export {
        /// Only events at or after this time (RFC 3339 or Unix seconds).
        #[arg(long)]
        from: Option<String>,
        /// Only events at or before this time.
        #[arg(long)]
        to: Option<String>,
        /// First block to read (default 0).
        #[arg(long)]
        from_block: Option<u64>,
        /// Last block to read (default: the finalized head).
        #[arg(long)]
        to_block: Option<u64>,
        /// Only events where this party (node id, SS58 or 0x account) is owner or recipient.
        #[arg(long)]
        party: Option<String>,
        /// Only events about this data (`sha256:…`).
        #[arg(long)]
        data_hash: Option<String>,
        /// File format.
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
        /// Write to this file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Re-check an export against the chain: altered, removed or invented records.
    Verify {
        /// The export (JSON or CSV).
        file: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
}

/// Runs the audit command; its exit code (6 when a verification found discrepancies).
pub async fn run(context: &Context, command: Command) -> Result<u8, CliError> {
    match command {
        Command::Export { from, to, from_block, to_block, party, data_hash, format, output } => {
            let chain = context.chain().await?;
            let time = |field: &str, text: Option<String>| {
                text.map(|t| {
                    parse_instant(&t).map_err(|e| CliError::usage(format!("--{field} {e}")))
                })
                .transpose()
            };
            let query = AuditQuery {
                from_block,
                to_block,
                from_time: time("from", from)?,
                to_time: time("to", to)?,
                party: match party {
                    Some(party) => Some(resolve_party(&chain, &party).await?),
                    None => None,
                },
                data_hash: data_hash
                    .map(|h| h.parse().map_err(|e| CliError::usage(format!("--data-hash {e}"))))
                    .transpose()?,
            };
            let export = audit::export(&chain, &query)
                .await
                .map_err(|e| CliError::unavailable(e.to_string()))?;
            let text = match format {
                ExportFormat::Json => serde_json::to_string_pretty(&export).expect("json") + "\n",
                ExportFormat::Csv => export.to_csv(),
            };
            write_output(output.as_deref(), &text)?;
            eprintln!(
                "{} records from blocks {}..={}{}",
                export.records.len(),
                export.from_block,
                export.to_block,
                export
                    .records
                    .last()
                    .map(|r| format!(", the last at {}", rfc3339(r.at)))
                    .unwrap_or_default()
            );
            Ok(0)
        }
        Command::Verify { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?;
            let export = AuditExport::parse(&text).map_err(|e| CliError::usage(e.to_string()))?;
            let chain = context.chain().await?;
            let report = audit::verify(&chain, &export)
                .await
                .map_err(|e| CliError::unavailable(e.to_string()))?;
            print(context.json, &report, || {
                let mut lines = vec![format!(
                    "checked {} records against blocks {}..={}",
                    report.checked, export.from_block, export.to_block
                )];
                for (record, fields) in &report.altered {
                    lines.push(format!(
                        "ALTERED  block {} event {}: not as on chain: {}",
                        record.block_number,
                        record.event_index,
                        fields.join(", ")
                    ));
                }
                for record in &report.removed {
                    lines.push(format!(
                        "REMOVED  block {} event {}: {} of {} is on chain but not in the file",
                        record.block_number, record.event_index, record.kind, record.share_id
                    ));
                }
                for record in &report.invented {
                    lines.push(format!(
                        "INVENTED block {} event {}: no such record on chain",
                        record.block_number, record.event_index
                    ));
                }
                if report.is_clean() {
                    lines.push("every record matches the chain".to_owned());
                }
                lines.join("\n")
            });
            Ok(if report.is_clean() { 0 } else { AUDIT_MISMATCH })
        }
    }
}

fn write_output(output: Option<&Path>, text: &str) -> Result<(), CliError> {
    match output {
        Some(path) => std::fs::write(path, text).map_err(CliError::io),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
