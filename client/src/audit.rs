//! Compliance audit straight from the chain: no relay, no index, nothing to trust but
//! the node answering.
//!
//! [`export`] reads the contract's share events from a range of blocks, keeps those a
//! [`AuditQuery`] selects (time range, party, data hash), and returns them with every
//! coordinate a reviewer needs (block number and hash, extrinsic index and hash, event
//! index). [`verify`] reads the same range again and compares: a record whose fields
//! differ from the chain's is *altered*, a chain record the query selects but the export
//! lacks was *removed*, and an exported record the chain does not have was *invented*.
//! Exports travel as JSON ([`AuditExport`]) or CSV (a `#` line with the query and range,
//! then one row per record).

use crate::chain::{ChainClient, ChainError};
use datamgmt_abi::{events::ContractEvent, AccountId, DataHash, Timestamp};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

/// Which records an audit wants. Every bound is inclusive; `None` means no bound.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// First block to read (default 0).
    pub from_block: Option<u64>,
    /// Last block to read (default: the finalized head at export time).
    pub to_block: Option<u64>,
    /// Only events at or after this block time (ms).
    pub from_time: Option<Timestamp>,
    /// Only events at or before this block time (ms).
    pub to_time: Option<Timestamp>,
    /// Only events where this account is the owner or the recipient.
    pub party: Option<AccountId>,
    /// Only events about this data.
    pub data_hash: Option<DataHash>,
}

impl AuditQuery {
    fn selects(&self, record: &AuditRecord) -> bool {
        self.from_time.is_none_or(|t| record.at >= t)
            && self.to_time.is_none_or(|t| record.at <= t)
            && self.party.is_none_or(|p| record.owner == p || record.recipient == p)
            && self.data_hash.is_none_or(|h| record.data_hash == h)
    }
}

/// One share event as it stands on chain, flat enough for a spreadsheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Block number.
    pub block_number: u64,
    /// Block hash (`0x…`).
    pub block_hash: String,
    /// Index of the extrinsic within the block.
    pub extrinsic_index: u32,
    /// Extrinsic hash (`0x…`): the transaction.
    pub extrinsic_hash: String,
    /// Index of the event within the block.
    pub event_index: u32,
    /// Block time (ms since the epoch).
    pub at: Timestamp,
    /// `created`, `paid`, `key_released`, `expiry_changed` or `revoked`.
    pub kind: String,
    /// The share (`share_…`).
    pub share_id: String,
    /// The owner's account.
    pub owner: AccountId,
    /// The recipient's account.
    pub recipient: AccountId,
    /// SHA-256 of the data.
    pub data_hash: DataHash,
    /// The rest of the event (price, expiry, amount…) as JSON.
    pub details: String,
}

/// An export: the query, the block range actually read, and the records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditExport {
    /// What was asked.
    pub query: AuditQuery,
    /// First block read.
    pub from_block: u64,
    /// Last block read.
    pub to_block: u64,
    /// The records, in chain order.
    pub records: Vec<AuditRecord>,
}

/// Why an audit failed (the chain, or the file).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The export file does not parse.
    #[error("not an audit export: {0}")]
    BadFile(String),
}

/// Reads the records `query` selects from the chain.
pub async fn export(chain: &ChainClient, query: &AuditQuery) -> Result<AuditExport, AuditError> {
    let from_block = query.from_block.unwrap_or(0);
    let to_block = match query.to_block {
        Some(block) => block,
        None => chain.finalized_block_number().await?,
    };
    let records = read_range(chain, query, from_block, to_block).await?;
    Ok(AuditExport { query: query.clone(), from_block, to_block, records })
}

async fn read_range(
    chain: &ChainClient,
    query: &AuditQuery,
    from_block: u64,
    to_block: u64,
) -> Result<Vec<AuditRecord>, AuditError> {
    let blocks = chain.events_in_blocks(from_block..=to_block);
    futures::pin_mut!(blocks);
    let mut records = Vec::new();
    while let Some((_, events)) = blocks.next().await {
        for recorded in events? {
            let ContractEvent::Share(event) = recorded.event else { continue };
            let mut action = serde_json::to_value(event.action).expect("serializable");
            let kind = action["kind"].as_str().unwrap_or_default().to_owned();
            if let Some(fields) = action.as_object_mut() {
                fields.remove("kind");
            }
            let record = AuditRecord {
                block_number: recorded.block_number,
                block_hash: format!("{:?}", recorded.block_hash),
                extrinsic_index: recorded.extrinsic_index,
                extrinsic_hash: format!("{:?}", recorded.extrinsic_hash),
                event_index: recorded.event_index,
                at: event.at,
                kind,
                share_id: event.share_id.to_string(),
                owner: event.owner,
                recipient: event.recipient,
                data_hash: event.data_hash,
                details: action.to_string(),
            };
            if query.selects(&record) {
                records.push(record);
            }
        }
    }
    Ok(records)
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Records checked against the chain.
    pub checked: usize,
    /// Exported records whose fields differ from the chain's: the export's version, and
    /// the fields that differ.
    pub altered: Vec<(AuditRecord, Vec<String>)>,
    /// Chain records the query selects that the export lacks.
    pub removed: Vec<AuditRecord>,
    /// Exported records with no chain record at their coordinates.
    pub invented: Vec<AuditRecord>,
}

impl VerifyReport {
    /// Whether the export matches the chain exactly.
    pub fn is_clean(&self) -> bool {
        self.altered.is_empty() && self.removed.is_empty() && self.invented.is_empty()
    }
}

/// Reads the export's block range again and compares it with the export.
pub async fn verify(chain: &ChainClient, export: &AuditExport) -> Result<VerifyReport, AuditError> {
    let on_chain = read_range(chain, &export.query, export.from_block, export.to_block).await?;
    let key = |r: &AuditRecord| (r.block_number, r.event_index);
    let chain_by_key: std::collections::HashMap<_, _> =
        on_chain.iter().map(|r| (key(r), r)).collect();
    let exported: std::collections::HashSet<_> = export.records.iter().map(key).collect();
    let mut report = VerifyReport { checked: export.records.len(), ..VerifyReport::default() };
    for record in &export.records {
        match chain_by_key.get(&key(record)) {
            Some(truth) if *truth == record => {}
            Some(truth) => report.altered.push((record.clone(), differing_fields(truth, record))),
            None => report.invented.push(record.clone()),
        }
    }
    report.removed = on_chain.iter().filter(|r| !exported.contains(&key(r))).cloned().collect();
    Ok(report)
}

fn differing_fields(a: &AuditRecord, b: &AuditRecord) -> Vec<String> {
    let (a, b) = (serde_json::to_value(a).expect("json"), serde_json::to_value(b).expect("json"));
    let (a, b) = (a.as_object().expect("object"), b.as_object().expect("object"));
    a.keys().filter(|field| a[*field] != b[*field]).cloned().collect()
}

/// Why row `row` (counting from the file's first line) could not be read.
fn row_error(row: usize, error: &csv::Error) -> String {
    let column = match error.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.field(),
        csv::ErrorKind::UnequalLengths { len, .. } => return format!("row {row} has {len} fields"),
        _ => None,
    };
    match column.and_then(|index| CSV_COLUMNS.get(index as usize)) {
        Some(column) => format!("row {row}: bad {column}"),
        None => format!("row {row}: {error}"),
    }
}

/// The CSV columns, in order.
const CSV_COLUMNS: [&str; 12] = [
    "block_number",
    "block_hash",
    "extrinsic_index",
    "extrinsic_hash",
    "event_index",
    "at",
    "kind",
    "share_id",
    "owner",
    "recipient",
    "data_hash",
    "details",
];

const CSV_MARK: &str = "# dmn audit export ";

impl AuditExport {
    /// The export as CSV: a `#` line with the query and range (JSON), a header row,
    /// then one row per record (RFC 4180 quoting).
    pub fn to_csv(&self) -> String {
        let range = serde_json::json!({
            "query": self.query, "from_block": self.from_block, "to_block": self.to_block,
        });
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(format!("{CSV_MARK}{range}\n").into_bytes());
        if self.records.is_empty() {
            writer.write_record(CSV_COLUMNS).expect("writing to memory");
        }
        for record in &self.records {
            writer.serialize(record).expect("writing to memory");
        }
        let bytes = writer.into_inner().expect("writing to memory");
        String::from_utf8(bytes).expect("every field is text")
    }

    /// Reads an export written by [`to_csv`](Self::to_csv) or as JSON.
    pub fn parse(text: &str) -> Result<Self, AuditError> {
        let bad = |what: &str| AuditError::BadFile(what.to_owned());
        if text.trim_start().starts_with('{') {
            return serde_json::from_str(text).map_err(|e| bad(&e.to_string()));
        }
        let (first, rows) = text.split_once('\n').unwrap_or((text, ""));
        let range: serde_json::Value = first
            .strip_prefix(CSV_MARK)
            .and_then(|json| serde_json::from_str(json).ok())
            .ok_or_else(|| bad("the first line is not the `# dmn audit export` line"))?;
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(rows.as_bytes());
        let header = reader.headers().map_err(|e| bad(&format!("the column header: {e}")))?;
        if header.iter().ne(CSV_COLUMNS) {
            return Err(bad("the second line is not the column header"));
        }
        let records = reader
            .deserialize()
            .enumerate()
            .map(|(number, record)| record.map_err(|error| bad(&row_error(number + 3, &error))))
            .collect::<Result<Vec<AuditRecord>, _>>()?;
        Ok(Self {
            query: serde_json::from_value(range["query"].clone())
                .map_err(|e| bad(&format!("query: {e}")))?,
            from_block: range["from_block"].as_u64().ok_or_else(|| bad("from_block"))?,
            to_block: range["to_block"].as_u64().ok_or_else(|| bad("to_block"))?,
            records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(block: u64, kind: &str, details: &str) -> AuditRecord {
        AuditRecord {
            block_number: block,
            block_hash: format!("0x{:064x}", block),
            extrinsic_index: 1,
            extrinsic_hash: format!("0x{:064x}", block + 1000),
            event_index: 2,
            at: 1_800_000_000_000 + block,
            kind: kind.to_owned(),
            share_id: "share_0123456789abcdef0123456789abcdef".to_owned(),
            owner: AccountId([1; 32]),
            recipient: AccountId([2; 32]),
            data_hash: DataHash([3; 32]),
            details: details.to_owned(),
        }
    }

    #[test]
    fn csv_round_trips_with_quotes_and_commas() {
        let export = AuditExport {
            query: AuditQuery { party: Some(AccountId([2; 32])), ..AuditQuery::default() },
            from_block: 3,
            to_block: 90,
            records: vec![
                record(5, "created", r#"{"price":"5","expires_at":null,"key_version":1}"#),
                record(6, "revoked", "{}"),
            ],
        };
        let csv = export.to_csv();
        assert!(csv.contains(r#""{""price"":""5"",""expires_at"":null,""key_version"":1}""#));
        assert_eq!(AuditExport::parse(&csv).unwrap(), export);
        let json = serde_json::to_string(&export).unwrap();
        assert_eq!(AuditExport::parse(&json).unwrap(), export);
    }

    #[test]
    fn broken_files_are_refused_with_the_reason() {
        let export = AuditExport {
            query: AuditQuery::default(),
            from_block: 0,
            to_block: 9,
            records: vec![record(5, "created", "{}")],
        };
        let csv = export.to_csv();
        let mut lines: Vec<&str> = csv.lines().collect();
        for (broken, reason) in [
            (lines[1..].join("\n"), "first line"),
            ([lines[0], lines[2]].join("\n"), "column header"),
            (format!("{csv}1,2,3\n"), "row 4 has 3 fields"),
            (format!("{csv}\"unterminated\n"), "row 4"),
        ] {
            let error = AuditExport::parse(&broken).unwrap_err().to_string();
            assert!(error.contains(reason), "{error}");
        }
        lines[2] = "x,0x,1,0x,2,3,created,share_x,0x01,0x02,sha256:00,{}";
        let error = AuditExport::parse(&lines.join("\n")).unwrap_err().to_string();
        assert!(error.contains("bad block_number"), "{error}");
    }

    #[test]
    fn differing_fields_are_named() {
        let a = record(5, "created", "{}");
        let mut b = a.clone();
        b.recipient = AccountId([9; 32]);
        b.at += 1;
        assert_eq!(differing_fields(&a, &b), ["at", "recipient"]);
    }
}
