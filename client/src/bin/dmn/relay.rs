//! The relay's REST API as `dmn` calls it: JSON requests, and streamed uploads and
//! downloads with a progress bar.

use crate::CliError;
use datamgmt_abi::{DataHash, Node};
use datamgmt_client::envelope::{self, Header, DEFAULT_CHUNK_SIZE};
use datamgmt_client::keys::DataKey;
use futures::TryStreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

/// A relay at `endpoint`, called with `token`.
pub struct Relay {
    endpoint: String,
    token: String,
    http: reqwest::Client,
}

impl Relay {
    pub fn new(endpoint: String, token: String) -> Self {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        Self { endpoint, token, http: reqwest::Client::new() }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.endpoint)).bearer_auth(&self.token)
    }

    /// A JSON request; the answer's JSON, or the relay's error as a [`CliError`].
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        self.answer(response).await
    }

    /// The JSON of a response, or its error as a [`CliError`].
    async fn answer(&self, response: reqwest::Response) -> Result<Value, CliError> {
        if !response.status().is_success() {
            return Err(failure(response).await);
        }
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Uploads `file` (or standard input for `-`) as a streamed share; `query` holds the
    /// share's terms.
    pub async fn share_stream(
        &self,
        file: &Path,
        query: &[(&str, String)],
    ) -> Result<Value, CliError> {
        let (reader, size): (Box<dyn tokio::io::AsyncRead + Send + Unpin>, Option<u64>) =
            if file == Path::new("-") {
                (Box::new(tokio::io::stdin()), None)
            } else {
                let opened = tokio::fs::File::open(file)
                    .await
                    .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?;
                let size = opened.metadata().await.ok().map(|m| m.len());
                (Box::new(opened), size)
            };
        let bar = progress(size, "uploading");
        let stream = counted_upload(reader, &bar);
        let mut request = self
            .request(Method::POST, "/share_data")
            .query(query)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(stream);
        if let Some(size) = size {
            request = request.header(reqwest::header::CONTENT_LENGTH, size);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        bar.finish_and_clear();
        self.answer(response).await
    }

    /// End-to-end mode: encrypts `file` here, for `recipient` alone, and uploads the
    /// envelope; the relay stores it and releases it but cannot open it. `query` holds
    /// the share's terms.
    pub async fn share_end_to_end(
        &self,
        file: &Path,
        recipient: &Node,
        query: &[(&str, String)],
    ) -> Result<Value, CliError> {
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
        let bar = progress(Some(size), "encrypting and uploading");
        let (encrypted, upload_side) = tokio::io::duplex(1 << 20);
        let sealing = tokio::spawn(async move {
            let mut writer = upload_side;
            let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
            let summary =
                envelope::encrypt(source, &mut writer, &header, &data_key, parallelism).await;
            let _ = writer.shutdown().await;
            summary
        });
        let stream = counted_upload(encrypted, &bar);
        let mut query = query.to_vec();
        query.push(("data_hash", data_hash.to_string()));
        let response = self
            .request(Method::POST, "/share_envelope")
            .query(&query)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(stream)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        bar.finish_and_clear();
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
        self.answer(response).await
    }

    /// Downloads the data with hash `hash` to `output` (standard output for `None`),
    /// checking its SHA-256 on the way. Nothing unverified reaches its destination: a
    /// file is written beside its final name and renamed only once the hash matches;
    /// for standard output the data waits in an unnamed temporary file and is printed
    /// only then.
    pub async fn download(&self, hash: &str, output: Option<&Path>) -> Result<u64, CliError> {
        let response = self
            .request(Method::GET, &format!("/data/{hash}"))
            .header(reqwest::header::ACCEPT, "application/octet-stream")
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failure(response).await);
        }
        let bar = progress(response.content_length(), "downloading");
        let (mut sink, temp) = match output {
            Some(path) => {
                let dir =
                    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                let temp = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
                    CliError::usage(format!("cannot write in {}: {e}", dir.display()))
                })?;
                (tokio::fs::File::from_std(temp.reopen().map_err(CliError::io)?), Some(temp))
            }
            None => (tokio::fs::File::from_std(tempfile::tempfile().map_err(CliError::io)?), None),
        };
        let mut hasher = Sha256::new();
        let mut length = 0u64;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.try_next().await.map_err(|e| self.unreachable(e))? {
            hasher.update(&chunk);
            length += chunk.len() as u64;
            bar.inc(chunk.len() as u64);
            sink.write_all(&chunk).await.map_err(CliError::io)?;
        }
        sink.flush().await.map_err(CliError::io)?;
        bar.finish_and_clear();
        let got = format!("sha256:{}", hex::encode(hasher.finalize()));
        if got != hash {
            return Err(CliError::failed(format!(
                "the data received hashes to {got}, not {hash}; nothing was kept"
            )));
        }
        match (temp, output) {
            (Some(temp), Some(path)) => {
                temp.persist(path).map_err(|e| CliError::io(e.error))?;
            }
            _ => {
                use tokio::io::AsyncSeekExt as _;
                sink.seek(std::io::SeekFrom::Start(0)).await.map_err(CliError::io)?;
                let mut stdout = tokio::io::stdout();
                tokio::io::copy(&mut sink, &mut stdout).await.map_err(CliError::io)?;
                stdout.flush().await.map_err(CliError::io)?;
            }
        }
        Ok(length)
    }

    fn unreachable(&self, error: reqwest::Error) -> CliError {
        CliError::unavailable(format!("cannot reach the relay at {}: {error}", self.endpoint))
    }
}

/// An upload body read from `reader` in 1 MiB pieces, each counted on `bar`.
fn counted_upload(
    reader: impl tokio::io::AsyncRead + Send + 'static,
    bar: &ProgressBar,
) -> reqwest::Body {
    let bar = bar.clone();
    let stream = ReaderStream::with_capacity(reader, 1 << 20)
        .inspect_ok(move |chunk| bar.inc(chunk.len() as u64));
    reqwest::Body::wrap_stream(stream)
}

/// The relay's error answer as a [`CliError`].
async fn failure(response: reqwest::Response) -> CliError {
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    CliError::from_status(status, &serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A progress bar on standard error (hidden when it is not a terminal).
fn progress(total: Option<u64>, what: &str) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::no_length(),
    };
    let template = if total.is_some() {
        "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg} {bytes} {bytes_per_sec}"
    };
    bar.set_style(ProgressStyle::with_template(template).expect("a valid template"));
    bar.set_message(what.to_owned());
    bar
}

impl CliError {
    /// The relay's answer to a failed request.
    pub fn from_status(status: StatusCode, body: &Value) -> Self {
        let message = body["error"]["message"].as_str().unwrap_or("no reason given");
        let text = format!("the relay answered {status}: {message}");
        match status.as_u16() {
            400 | 413 => Self::usage(text),
            401 | 403 => Self::refused(text),
            404 => Self::not_found(text),
            409 => Self::failed(text),
            502..=504 => Self::unavailable(text),
            _ => Self::failed(text),
        }
    }
}
