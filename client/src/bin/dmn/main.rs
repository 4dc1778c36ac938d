//! `dmn`: the DataMgmt Node command line. Shares, reads, lists, verifies, revokes and
//! pays through a relay's REST API; manages the relay's keys; registers a node and
//! audits the chain directly, trusting no relay.
//!
//! Output is for people by default and JSON with `--json`. Exit codes: 0 success,
//! 1 failure, 2 bad usage or input, 3 not found, 4 refused (authentication or access),
//! 5 a service is unavailable, 6 an audit found records that do not match the chain.

mod profile;
mod relay;

use clap::{Args, Parser, Subcommand, ValueEnum};
use datamgmt_abi::{AccountId, DataHash, NodeId};
use datamgmt_client::audit::{self, AuditExport, AuditQuery};
use datamgmt_client::chain::{
    ensure_registered, to_abi_account, AccountId32, ChainClient, DeployState, NodeSigner,
};
use datamgmt_client::keyring::Keyring;
use datamgmt_client::timefmt::{parse_instant, rfc3339};
use profile::Profile;
use relay::Relay;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "dmn",
    version,
    about = "Share data between organisations under an on-chain access contract"
)]
struct Cli {
    /// Profile file (TOML: endpoint, token, deploy_state)
    #[arg(long, global = true, env = "DMN_PROFILE")]
    profile: Option<PathBuf>,
    /// The relay's URL
    #[arg(long, global = true, env = "DMN_ENDPOINT")]
    endpoint: Option<String>,
    /// The relay's API token
    #[arg(long, global = true, env = "DMN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The deploy state file naming the chain node and contract
    #[arg(long, global = true, env = "DATAMGMT_DEPLOY_STATE")]
    deploy_state: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Share a file (or `-` for standard input) with another node.
    Share {
        /// The file.
        file: PathBuf,
        /// The recipient: a node id (`node_…`) or an SS58 account.
        #[arg(long)]
        recipient: String,
        /// Price per access, in the chain's smallest unit (0 or absent: free).
        #[arg(long)]
        price: Option<u128>,
        /// Expiry: RFC 3339 time or Unix seconds.
        #[arg(long)]
        expires_at: Option<String>,
        /// Encrypt here, for the recipient alone: the relay stores and releases the
        /// envelope but cannot open it (needs the chain, for the recipient's key).
        #[arg(long)]
        e2e: bool,
    },
    /// Read shared data by its hash: your own, or data shared with your node.
    Get {
        /// `sha256:…`
        hash: String,
        /// Write to this file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// List this node's shares, newest first.
    List(ListArgs),
    /// The on-chain record of some data.
    Verify {
        /// `sha256:…`
        hash: String,
    },
    /// Revoke a share this node made.
    Revoke {
        /// `share_…`
        share_id: String,
    },
    /// Pay for one access to a priced share made to this node.
    Pay {
        /// `share_…`
        share_id: String,
    },
    /// The relay's keys (admin token).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// This node's record on chain.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Compliance audit straight from the chain.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Args)]
struct ListArgs {
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

#[derive(Subcommand)]
enum KeysCommand {
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
enum KeyKind {
    Master,
    Node,
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Register (or update) a node: its account from DATAMGMT_NODE_SURI, its X25519 key
    /// from a keyring (created when missing; passphrase from DATAMGMT_KEYRING_PASSPHRASE).
    Register {
        /// The URL other nodes reach its relay at.
        #[arg(long)]
        endpoint: String,
        /// The keyring file.
        #[arg(long)]
        keyring: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
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
enum ExportFormat {
    Json,
    Csv,
}

/// A failure, with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    code: u8,
    message: String,
}

impl CliError {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
    /// 1: the operation failed.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(1, message)
    }
    /// 2: bad usage or input.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(2, message)
    }
    /// 3: nothing by that name.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(3, message)
    }
    /// 4: refused.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(4, message)
    }
    /// 5: a service is unavailable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(5, message)
    }
    /// A local I/O failure.
    pub fn io(error: std::io::Error) -> Self {
        Self::failed(format!("I/O: {error}"))
    }
}

/// Exit code of an audit that found discrepancies.
const AUDIT_MISMATCH: u8 = 6;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("dmn: {}", error.message);
            ExitCode::from(error.code)
        }
    }
}

async fn run(cli: Cli) -> Result<u8, CliError> {
    let profile = Profile::load(cli.profile.as_deref())?;
    let json = cli.json;
    let relay = || -> Result<Relay, CliError> {
        let endpoint = cli.endpoint.clone().or(profile.endpoint.clone()).ok_or_else(|| {
            CliError::usage(
                "no relay: pass --endpoint, set DMN_ENDPOINT, or put endpoint in the profile",
            )
        })?;
        let token = cli.token.clone().or(profile.token.clone()).ok_or_else(|| {
            CliError::usage(
                "no API token: pass --token, set DMN_TOKEN, or put token in the profile",
            )
        })?;
        Ok(Relay::new(endpoint, token))
    };
    let deploy_state = cli.deploy_state.clone().or(profile.deploy_state.clone());
    match cli.command {
        Command::Share { file, recipient, price, expires_at, e2e } => {
            let mut query = vec![("recipient", recipient.clone())];
            if let Some(price) = price.filter(|p| *p > 0) {
                query.push(("require_payment", "true".into()));
                query.push(("price", price.to_string()));
            }
            if let Some(expires_at) = expires_at {
                query.push(("expires_at", expires_at));
            }
            let answer = if e2e {
                if file == Path::new("-") {
                    return Err(CliError::usage(
                        "--e2e needs a file: it is read twice (hash, then encrypt)",
                    ));
                }
                let chain = connect(deploy_state.as_deref()).await?;
                let account = resolve_party(&chain, &recipient).await?;
                let node = chain
                    .node(&account)
                    .await
                    .map_err(|e| CliError::unavailable(e.to_string()))?
                    .ok_or_else(|| {
                        CliError::usage(format!("{recipient} is not a registered node"))
                    })?;
                relay()?.share_end_to_end(&file, &node, &query).await?
            } else {
                relay()?.share_stream(&file, &query).await?
            };
            print(json, &answer, || {
                format!(
                    "shared {} as {}\nrecorded in block {} (tx {})",
                    answer["data_hash"].as_str().unwrap_or("?"),
                    answer["share_id"].as_str().unwrap_or("?"),
                    answer["compliance"]["block_number"],
                    answer["compliance"]["tx_hash"].as_str().unwrap_or("?"),
                )
            });
        }
        Command::Get { hash, output } => {
            let hash: DataHash = hash.parse().map_err(|e| {
                CliError::usage(format!("the data hash {e} (sha256: and 64 lowercase hex)"))
            })?;
            let hash = hash.to_string();
            let length = relay()?.download(&hash, output.as_deref()).await?;
            let answer = json!({"data_hash": hash, "bytes": length, "verified": true,
                "output": output.as_ref().map(|p| p.display().to_string())});
            if json {
                eprintln!("{}", serde_json::to_string_pretty(&answer).expect("json"));
            } else {
                eprintln!("verified {hash} ({length} bytes)");
            }
        }
        Command::List(args) => {
            let mut query = Vec::new();
            for (name, value) in [
                ("from", args.from),
                ("to", args.to),
                ("sender", args.sender),
                ("recipient", args.recipient),
                ("limit", args.limit.map(|l| l.to_string())),
                ("page_token", args.page_token),
            ] {
                if let Some(value) = value {
                    query.push(format!("{name}={}", urlencode(&value)));
                }
            }
            let path = if query.is_empty() {
                "/data/list".to_owned()
            } else {
                format!("/data/list?{}", query.join("&"))
            };
            let answer = relay()?.json(Method::GET, &path, None).await?;
            print(json, &answer, || {
                let mut lines = Vec::new();
                for item in answer["items"].as_array().into_iter().flatten() {
                    lines.push(format!(
                        "{}  {}  to {}  price {}  {}  {}",
                        item["shared_at"].as_str().unwrap_or("?"),
                        item["share_id"].as_str().unwrap_or("?"),
                        item["recipient"].as_str().unwrap_or("?"),
                        item["price"].as_str().unwrap_or("?"),
                        if item["recorded"] == true { "on chain" } else { "pending" },
                        item["data_hash"].as_str().unwrap_or("?"),
                    ));
                }
                if let Some(token) = answer["next_page_token"].as_str() {
                    lines.push(format!("more: --page-token {token}"));
                }
                if lines.is_empty() {
                    "no shares".to_owned()
                } else {
                    lines.join("\n")
                }
            });
        }
        Command::Verify { hash } => {
            let answer = relay()?
                .json(Method::GET, &format!("/verify_data/{}", urlencode(&hash)), None)
                .await?;
            print(json, &answer, || {
                let mut lines = Vec::new();
                for r in answer["records"].as_array().into_iter().flatten() {
                    lines.push(format!(
                        "block {} event {}  {}  {}  {} -> {}  tx {}{}",
                        r["block_number"],
                        r["event_index"],
                        r["timestamp"].as_str().unwrap_or("?"),
                        r["action"]["kind"].as_str().unwrap_or("?"),
                        r["sender"]["node_id"].as_str().unwrap_or("?"),
                        r["recipient"]["node_id"].as_str().unwrap_or("?"),
                        r["tx_hash"].as_str().unwrap_or("?"),
                        if r["finalized"] == true { "" } else { "  (not final yet)" },
                    ));
                }
                if lines.is_empty() {
                    format!("nothing recorded for {hash}")
                } else {
                    lines.join("\n")
                }
            });
        }
        Command::Revoke { share_id } => {
            let answer = relay()?
                .json(Method::POST, &format!("/shares/{}/revoke", urlencode(&share_id)), None)
                .await?;
            print(json, &answer, || change_line(&answer));
        }
        Command::Pay { share_id } => {
            let answer = relay()?
                .json(Method::POST, &format!("/shares/{}/pay", urlencode(&share_id)), None)
                .await?;
            print(json, &answer, || change_line(&answer));
        }
        Command::Keys(command) => {
            let relay = relay()?;
            let answer = match command {
                KeysCommand::Status => relay.json(Method::GET, "/admin/keys", None).await?,
                KeysCommand::Rotate { key } => {
                    let key = match key {
                        KeyKind::Master => "master",
                        KeyKind::Node => "node",
                    };
                    relay
                        .json(Method::POST, "/admin/keys/rotate", Some(json!({"key": key})))
                        .await?
                }
                KeysCommand::Rewrap { retire_older } => {
                    relay
                        .json(
                            Method::POST,
                            "/admin/keys/rewrap",
                            Some(json!({"retire_older": retire_older})),
                        )
                        .await?
                }
            };
            print(json, &answer, || serde_json::to_string_pretty(&answer).expect("json"));
        }
        Command::Node(NodeCommand::Register { endpoint, keyring }) => {
            let chain = connect(deploy_state.as_deref()).await?;
            let suri = std::env::var("DATAMGMT_NODE_SURI").map_err(|_| {
                CliError::usage("set DATAMGMT_NODE_SURI to the node account's secret URI")
            })?;
            let signer =
                NodeSigner::from_suri(&suri).map_err(|e| CliError::usage(e.to_string()))?;
            let passphrase = std::env::var("DATAMGMT_KEYRING_PASSPHRASE").map_err(|_| {
                CliError::usage("set DATAMGMT_KEYRING_PASSPHRASE to the keyring's passphrase")
            })?;
            let keys = open_or_create_keyring(
                &keyring,
                &datamgmt_client::keys::Passphrase::new(passphrase),
            )?;
            let outcome = ensure_registered(&chain, &signer, &keys, &endpoint)
                .await
                .map_err(|e| CliError::failed(format!("registration failed: {e}")))?;
            let node_id = datamgmt_client::chain::node_id_of(&signer.account_id());
            let answer = json!({"node_id": node_id, "account": signer.account_id().to_string(),
                "endpoint": endpoint, "outcome": format!("{outcome:?}").to_lowercase()});
            print(json, &answer, || {
                format!("{node_id}: {}", answer["outcome"].as_str().unwrap_or("?"))
            });
        }
        Command::Audit(AuditCommand::Export {
            from,
            to,
            from_block,
            to_block,
            party,
            data_hash,
            format,
            output,
        }) => {
            let chain = connect(deploy_state.as_deref()).await?;
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
        }
        Command::Audit(AuditCommand::Verify { file }) => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?;
            let export = AuditExport::parse(&text).map_err(|e| CliError::usage(e.to_string()))?;
            let chain = connect(deploy_state.as_deref()).await?;
            let report = audit::verify(&chain, &export)
                .await
                .map_err(|e| CliError::unavailable(e.to_string()))?;
            let answer = serde_json::to_value(&report).expect("json");
            print(json, &answer, || {
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
            if !report.is_clean() {
                return Ok(AUDIT_MISMATCH);
            }
        }
    }
    Ok(0)
}

fn print(json: bool, answer: &Value, human: impl FnOnce() -> String) {
    if json {
        println!("{}", serde_json::to_string_pretty(answer).expect("json"));
    } else {
        println!("{}", human());
    }
}

fn change_line(answer: &Value) -> String {
    format!(
        "{} {} in block {} (tx {})",
        answer["share_id"].as_str().unwrap_or("?"),
        answer["status"].as_str().unwrap_or("?"),
        answer["compliance"]["block_number"],
        answer["compliance"]["tx_hash"].as_str().unwrap_or("?"),
    )
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn connect(deploy_state: Option<&Path>) -> Result<ChainClient, CliError> {
    let path = deploy_state.ok_or_else(|| {
        CliError::usage("no chain: pass --deploy-state, set DATAMGMT_DEPLOY_STATE, or put deploy_state in the profile")
    })?;
    let state = DeployState::load(path).map_err(|e| CliError::usage(e.to_string()))?;
    state.connect().await.map_err(|e| CliError::unavailable(e.to_string()))
}

/// A party given as a node id, an SS58 account or a `0x` account.
async fn resolve_party(chain: &ChainClient, text: &str) -> Result<AccountId, CliError> {
    if let Ok(node_id) = text.parse::<NodeId>() {
        return chain
            .node_account(node_id)
            .await
            .map_err(|e| CliError::unavailable(e.to_string()))?
            .ok_or_else(|| CliError::not_found(format!("no registered node is {node_id}")));
    }
    if let Ok(account) = text.parse::<AccountId>() {
        return Ok(account);
    }
    text.parse::<AccountId32>().map(|account| to_abi_account(&account)).map_err(|_| {
        CliError::usage(format!("--party {text:?} is not a node id, SS58 account or 0x account"))
    })
}

fn open_or_create_keyring(
    path: &Path,
    passphrase: &datamgmt_client::keys::Passphrase,
) -> Result<Keyring, CliError> {
    let (keyring, created) = Keyring::open_or_create(path, passphrase)
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    if created {
        eprintln!("created a new keyring at {}", path.display());
    }
    Ok(keyring)
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
