//! Envelopes in object storage, through `object_store`: the local filesystem by default,
//! any S3-compatible service (Garage, MinIO, AWS…) by configuration.
//!
//! Every envelope lives under a key made from its share id, which is random and fresh
//! for each write, so no write can land on another's object. That is what keeps data
//! safe, not create-only puts: some S3 servers (Garage among them) ignore
//! `If-None-Match`, so the existence check before a write is only a guard against
//! mistakes. Large objects go up as multipart uploads and become visible only when the
//! upload completes; a failed or abandoned upload is aborted.

#[cfg(feature = "storage-suite")]
pub mod suite;

use datamgmt_abi::ShareId;
use object_store::{
    aws::AmazonS3Builder,
    buffered::{BufReader, BufWriter},
    local::LocalFileSystem,
    path::Path,
    BackoffConfig, ObjectStore, RetryConfig,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::{fmt, pin::Pin, sync::Arc, task::Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Bytes buffered before an upload switches to multipart, and the size of each part.
const PART_SIZE: usize = 8 << 20;
/// Retries of a failed S3 request, and how long they may take in all: a store that is
/// down should show up as a 503 within seconds, not minutes.
const S3_RETRIES: usize = 3;
const S3_RETRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Parts uploaded at once: enough to keep a link busy, few enough that an upload holds
/// well under 64 MiB whatever the object's size.
const PARTS_IN_FLIGHT: usize = 2;

/// Where envelopes are stored.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StorageConfig {
    /// A directory on the local filesystem.
    Local {
        /// The directory (created if missing).
        root: std::path::PathBuf,
    },
    /// An S3-compatible service, addressed path-style.
    S3 {
        /// Base URL, such as `http://127.0.0.1:3900`.
        endpoint: String,
        /// Region name the service expects (Garage: `garage`).
        region: String,
        /// Bucket holding the envelopes.
        bucket: String,
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: SecretString,
    },
}

/// What went wrong with object storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// No envelope is stored for this share.
    #[error("no stored envelope for {0}")]
    NotFound(ShareId),
    /// An envelope is already stored for this share.
    #[error("an envelope is already stored for {0}")]
    AlreadyExists(ShareId),
    /// The configuration cannot be used.
    #[error("invalid storage configuration: {0}")]
    Config(String),
    /// The store failed or could not be reached; retrying later may work.
    #[error("object storage unavailable: {0}")]
    Unavailable(String),
}

impl From<object_store::Error> for StorageError {
    fn from(error: object_store::Error) -> Self {
        StorageError::Unavailable(error.to_string())
    }
}

/// The envelopes of one relay.
#[derive(Clone)]
pub struct EnvelopeStore {
    store: Arc<dyn ObjectStore>,
    description: String,
}

impl fmt::Debug for EnvelopeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvelopeStore").field("store", &self.description).finish()
    }
}

impl EnvelopeStore {
    /// Opens the store `config` describes.
    pub fn open(config: &StorageConfig) -> Result<Self, StorageError> {
        let bad = |e: &dyn fmt::Display| StorageError::Config(e.to_string());
        match config {
            StorageConfig::Local { root } => {
                std::fs::create_dir_all(root).map_err(|e| bad(&e))?;
                let store = LocalFileSystem::new_with_prefix(root).map_err(|e| bad(&e))?;
                Ok(Self::new(Arc::new(store), format!("local directory {}", root.display())))
            }
            StorageConfig::S3 { endpoint, region, bucket, access_key_id, secret_access_key } => {
                let store = AmazonS3Builder::new()
                    .with_endpoint(endpoint)
                    .with_region(region)
                    .with_bucket_name(bucket)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key.expose_secret())
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(false)
                    .with_retry(RetryConfig {
                        backoff: BackoffConfig::default(),
                        max_retries: S3_RETRIES,
                        retry_timeout: S3_RETRY_TIMEOUT,
                    })
                    .build()
                    .map_err(|e| bad(&e))?;
                Ok(Self::new(Arc::new(store), format!("S3 bucket {bucket} at {endpoint}")))
            }
        }
    }

    /// A store over any `object_store` backend.
    pub fn new(store: Arc<dyn ObjectStore>, description: String) -> Self {
        Self { store, description }
    }

    fn location(share_id: ShareId) -> Path {
        Path::from(format!("envelopes/{share_id}"))
    }

    /// Whether an envelope is stored for `share_id`.
    pub async fn exists(&self, share_id: ShareId) -> Result<bool, StorageError> {
        match self.store.head(&Self::location(share_id)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Starts writing the envelope of `share_id`. Nothing is visible until
    /// [`EnvelopeUpload::complete`] returns; dropping the upload, or
    /// [`EnvelopeUpload::abort`], discards it.
    pub async fn upload(&self, share_id: ShareId) -> Result<EnvelopeUpload, StorageError> {
        if self.exists(share_id).await? {
            return Err(StorageError::AlreadyExists(share_id));
        }
        Ok(self.writer(share_id))
    }

    /// Starts writing a new version of the stored envelope of `share_id` (a re-wrapped
    /// header over the same chunks). Until [`EnvelopeUpload::complete`] returns readers
    /// see the old version; then the new one, whole: both the local store (rename) and S3
    /// (multipart completion) replace an object in one step.
    pub async fn replace(&self, share_id: ShareId) -> Result<EnvelopeUpload, StorageError> {
        if !self.exists(share_id).await? {
            return Err(StorageError::NotFound(share_id));
        }
        Ok(self.writer(share_id))
    }

    fn writer(&self, share_id: ShareId) -> EnvelopeUpload {
        let writer =
            BufWriter::with_capacity(Arc::clone(&self.store), Self::location(share_id), PART_SIZE)
                .with_max_concurrency(PARTS_IN_FLIGHT);
        EnvelopeUpload { writer: Some(writer) }
    }

    /// Reads the envelope of `share_id` as a stream, with its size in bytes.
    pub async fn download(
        &self,
        share_id: ShareId,
    ) -> Result<(impl AsyncRead + Send + Unpin, u64), StorageError> {
        let meta = match self.store.head(&Self::location(share_id)).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StorageError::NotFound(share_id))
            }
            Err(error) => return Err(error.into()),
        };
        let size = meta.size;
        Ok((BufReader::with_capacity(Arc::clone(&self.store), &meta, PART_SIZE), size))
    }

    /// The share ids of every stored envelope (complete objects only: an upload in
    /// progress or abandoned is not an object). Reads the whole listing; for audits and
    /// tests, not request paths.
    pub async fn list(&self) -> Result<Vec<ShareId>, StorageError> {
        use futures::TryStreamExt;
        let prefix = Path::from("envelopes");
        let objects: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        Ok(objects.iter().filter_map(|object| object.location.filename()?.parse().ok()).collect())
    }

    /// Deletes the envelope of `share_id`, if any.
    pub async fn delete(&self, share_id: ShareId) -> Result<(), StorageError> {
        match self.store.delete(&Self::location(share_id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

/// An envelope being written: an `AsyncWrite` that becomes a stored object only when
/// [`complete`](Self::complete) succeeds.
pub struct EnvelopeUpload {
    writer: Option<BufWriter>,
}

impl EnvelopeUpload {
    /// Finishes the upload: the object becomes visible, whole, or not at all.
    pub async fn complete(mut self) -> Result<(), StorageError> {
        let mut writer = self.writer.take().expect("an upload completes once");
        match writer.shutdown().await {
            Ok(()) => Ok(()),
            Err(error) => {
                let _ = writer.abort().await;
                Err(StorageError::Unavailable(error.to_string()))
            }
        }
    }

    /// Discards the upload; nothing becomes visible.
    pub async fn abort(mut self) -> Result<(), StorageError> {
        match self.writer.take() {
            Some(mut writer) => writer.abort().await.map_err(StorageError::from),
            None => Ok(()),
        }
    }

    fn writer(&mut self) -> std::io::Result<Pin<&mut BufWriter>> {
        match self.writer.as_mut() {
            Some(writer) => Ok(Pin::new(writer)),
            None => Err(std::io::Error::other("the upload is finished")),
        }
    }
}

impl Drop for EnvelopeUpload {
    /// An upload dropped before completing (an error, a cancelled request) is aborted in
    /// the background, so no parts are left behind on the store.
    fn drop(&mut self) {
        if let Some(mut writer) = self.writer.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = writer.abort().await;
                });
            }
        }
    }
}

impl AsyncWrite for EnvelopeUpload {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.writer() {
            Ok(writer) => writer.poll_write(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.writer() {
            Ok(writer) => writer.poll_flush(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    /// Shutting down the stream does not complete the upload: only
    /// [`EnvelopeUpload::complete`] does, so a generic copy cannot publish a partial
    /// object by closing its writer.
    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.as_mut().poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_printed() {
        let config = StorageConfig::S3 {
            endpoint: "http://127.0.0.1:3900".into(),
            region: "garage".into(),
            bucket: "b".into(),
            access_key_id: "GK123".into(),
            secret_access_key: "very-secret".into(),
        };
        let printed = format!("{config:?}");
        assert!(printed.contains("GK123"));
        assert!(!printed.contains("very-secret"));
    }

    #[cfg(feature = "storage-suite")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_memory_store_passes_the_storage_suite() {
        let store =
            EnvelopeStore::new(Arc::new(object_store::memory::InMemory::new()), "memory".into());
        suite::run_all(&store).await;
    }

    #[cfg(feature = "storage-suite")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_filesystem_passes_the_storage_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            EnvelopeStore::open(&StorageConfig::Local { root: dir.path().join("store") }).unwrap();
        suite::run_all(&store).await;
    }
}
