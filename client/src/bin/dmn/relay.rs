//! The relay's REST API as `dmn` calls it: JSON requests, and streamed uploads and
//! downloads with a progress bar.

use crate::CliError;
use futures::TryStreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;
use tokio::io::AsyncWriteExt;
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
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(CliError::from_status(status, &body))
        }
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
        let counted = bar.clone();
        let stream = ReaderStream::with_capacity(reader, 1 << 20).inspect_ok(move |chunk| {
            counted.inc(chunk.len() as u64);
        });
        let mut request = self
            .request(Method::POST, "/share_data")
            .query(query)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(stream));
        if let Some(size) = size {
            request = request.header(reqwest::header::CONTENT_LENGTH, size);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        bar.finish_and_clear();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(CliError::from_status(status, &body))
        }
    }

    /// Downloads the data with hash `hash` to `output` (standard output for `None`),
    /// checking its SHA-256 on the way. A file is written beside its final name and
    /// renamed only once the hash matches.
    pub async fn download(&self, hash: &str, output: Option<&Path>) -> Result<u64, CliError> {
        let response = self
            .request(Method::GET, &format!("/data/{hash}"))
            .header(reqwest::header::ACCEPT, "application/octet-stream")
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if !status.is_success() {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            return Err(CliError::from_status(status, &body));
        }
        let bar = progress(response.content_length(), "downloading");
        let (mut sink, temp): (Box<dyn tokio::io::AsyncWrite + Unpin>, _) = match output {
            Some(path) => {
                let dir =
                    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                let temp = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
                    CliError::usage(format!("cannot write in {}: {e}", dir.display()))
                })?;
                let file = tokio::fs::File::from_std(temp.reopen().map_err(CliError::io)?);
                (Box::new(file), Some(temp))
            }
            None => (Box::new(tokio::io::stdout()), None),
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
        if let (Some(temp), Some(path)) = (temp, output) {
            temp.persist(path).map_err(|e| CliError::io(e.error))?;
        }
        Ok(length)
    }

    fn unreachable(&self, error: reqwest::Error) -> CliError {
        CliError::unavailable(format!("cannot reach the relay at {}: {error}", self.endpoint))
    }
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
