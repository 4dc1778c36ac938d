//! `dmn share`: a file (or standard input) streamed to the relay, which encrypts it;
//! or, with `--e2e`, encrypted here for the recipient alone and uploaded as an
//! envelope.

use crate::context::{resolve_party, Context};
use crate::output::print;
use crate::progress::{self, Counted};
use crate::CliError;
use datamgmt_abi::{DataHash, Node};
use datamgmt_client::api::{RelayClient, RelayError, ShareDataResponse, StreamShareParams};
use datamgmt_client::envelope::{self, Header, DEFAULT_CHUNK_SIZE};
use datamgmt_client::keys::DataKey;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

// `dmn share` (its help is the variant's in `main.rs`).
#[derive(clap::Args)]
pub struct Args {
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
}

pub async fn run(context: &Context, args: Args) -> Result<(), CliError> {
    let Args { file, recipient, price, expires_at, e2e } = args;
    let mut params = StreamShareParams::new(recipient.clone());
    if let Some(price) = price.filter(|p| *p > 0) {
        params.require_payment = true;
        params.price = Some(price.to_string());
    }
    params.expires_at = expires_at;
    let answer = if e2e {
        if file == Path::new("-") {
            return Err(CliError::usage(
                "--e2e needs a file: it is read twice (hash, then encrypt)",
            ));
        }
        let chain = context.chain().await?;
        let account = resolve_party(&chain, &recipient).await?;
        let node = chain
            .node(&account)
            .await
            .map_err(|e| CliError::unavailable(e.to_string()))?
            .ok_or_else(|| CliError::usage(format!("{recipient} is not a registered node")))?;
        end_to_end(&context.relay()?, &file, &node, params).await?
    } else {
        stream(&context.relay()?, &file, &params).await?
    };
    print(context.json, &answer, || {
        format!(
            "shared {} as {}\nrecorded in block {} (tx {})",
            answer.data_hash,
            answer.share_id,
            answer.compliance.block_number,
            answer.compliance.tx_hash,
        )
    });
    Ok(())
}

/// Uploads `file` (or standard input for `-`) for the relay to encrypt.
async fn stream(
    relay: &RelayClient,
    file: &Path,
    params: &StreamShareParams,
) -> Result<ShareDataResponse, CliError> {
    let (reader, size): (Box<dyn AsyncRead + Send + Unpin>, Option<u64>) = if file == Path::new("-")
    {
        (Box::new(tokio::io::stdin()), None)
    } else {
        let opened = tokio::fs::File::open(file)
            .await
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?;
        let size = opened.metadata().await.ok().map(|m| m.len());
        (Box::new(opened), size)
    };
    let bar = progress::bar(size, "uploading");
    let answer = relay.share_data_stream(params, Counted::new(reader, bar.clone()), size).await;
    bar.finish_and_clear();
    Ok(answer?)
}

/// End-to-end mode: encrypts `file` here, for `recipient` alone, and uploads the
/// envelope; the relay stores it and releases it but cannot open it.
async fn end_to_end(
    relay: &RelayClient,
    file: &Path,
    recipient: &Node,
    mut params: StreamShareParams,
) -> Result<ShareDataResponse, CliError> {
    let unreadable =
        |e: std::io::Error| CliError::usage(format!("cannot read {}: {e}", file.display()));
    // The relay records the hash on chain before the upload ends, so it is computed
    // first, in a pass of its own.
    let mut hasher = Sha256::new();
    let mut source = tokio::fs::File::open(file).await.map_err(unreadable)?;
    let size = source.metadata().await.map_err(unreadable)?.len();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = source.read(&mut buffer).await.map_err(unreadable)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    let data_hash = DataHash(hasher.finalize().into());

    let data_key = DataKey::generate();
    let mut header =
        Header::new(DEFAULT_CHUNK_SIZE).map_err(|e| CliError::failed(e.to_string()))?;
    header
        .add_recipient(recipient.key_version, &recipient.encryption_key, &data_key)
        .map_err(|_| CliError::failed("the recipient's registered key is not usable"))?;
    let source = tokio::fs::File::open(file).await.map_err(unreadable)?;
    let bar = progress::bar(Some(size), "encrypting and uploading");
    let (encrypted, upload_side) = tokio::io::duplex(1 << 20);
    let sealing = tokio::spawn(async move {
        let mut writer = upload_side;
        let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
        let summary = envelope::encrypt(source, &mut writer, &header, &data_key, parallelism).await;
        let _ = writer.shutdown().await;
        summary
    });
    params.data_hash = Some(data_hash.to_string());
    let answer = relay.share_envelope(&params, Counted::new(encrypted, bar.clone()), None).await;
    bar.finish_and_clear();
    if let Err(unreachable @ RelayError::Transport { .. }) = answer {
        return Err(unreachable.into());
    }
    let sealed = sealing
        .await
        .map_err(|e| CliError::failed(e.to_string()))?
        .map_err(|e| CliError::failed(format!("encryption failed: {e}")))?;
    if sealed.content_hash != data_hash {
        return Err(CliError::failed(format!(
            "{} changed while it was being shared; share it again",
            file.display()
        )));
    }
    Ok(answer?)
}
