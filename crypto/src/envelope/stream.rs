//! Streaming encryption and decryption: constant memory, chunks on all cores, in order.
//!
//! Both directions keep one chunk per worker plus one in flight on the envelope worker
//! threads (so a worker never waits while the stream is read, hashed or written) and
//! write results in order, so memory is a few chunks whatever the object's size.

use super::{
    format::{read_exact_or, Header, CHUNK_PREFIX_LEN},
    workers, EnvelopeError,
};
use crate::keyring::Keyring;
use crate::keys::DataKey;
use datamgmt_abi::DataHash;
use fernet::Fernet;
use sha2::{Digest, Sha256};
use std::{collections::VecDeque, sync::Arc};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    sync::oneshot,
};

const FLAG_FINAL: u8 = 1;
/// Chunks below this size are cheaper to process in place than to hand to another thread.
const INLINE_LIMIT: usize = 64 << 10;
/// Payload of the final chunk: SHA-256 of the plaintext and its length.
const FINAL_PAYLOAD_LEN: usize = 32 + 8;

/// What [`encrypt`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptSummary {
    /// SHA-256 of the plaintext.
    pub content_hash: DataHash,
    /// Plaintext bytes read.
    pub plaintext_len: u64,
    /// Envelope bytes written (header included).
    pub envelope_len: u64,
}

/// What [`decrypt`] verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecryptSummary {
    /// SHA-256 of the plaintext, as recomputed and as recorded in the final chunk.
    pub content_hash: DataHash,
    /// Plaintext bytes written.
    pub plaintext_len: u64,
}

/// Encrypts everything `reader` yields into an envelope on `writer`: `header` (with its
/// stanzas for `data_key`), then the chunks. `parallelism` chunks are encrypted at once
/// (1: on one core). `writer` is flushed, not shut down: completing the object (closing
/// a file, completing a multipart upload) is the caller's step, taken only on `Ok`.
pub async fn encrypt<R, W>(
    mut reader: R,
    mut writer: W,
    header: &Header,
    data_key: &DataKey,
    parallelism: usize,
) -> Result<EncryptSummary, EnvelopeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let header_bytes = header.seal(data_key);
    writer.write_all(&header_bytes).await?;
    let mut envelope_len = header_bytes.len() as u64;
    let fernet = Arc::new(data_key.fernet());
    let digest = header.digest();
    let chunk_size = header.chunk_size() as usize;
    let mut hasher = Sha256::new();
    let mut plaintext_len = 0u64;
    let mut in_flight: VecDeque<oneshot::Receiver<String>> = VecDeque::new();
    let mut index = 0u64;
    loop {
        let mut plaintext = chunk_prefix(index, 0, &digest, chunk_size);
        let read = read_up_to(&mut reader, &mut plaintext, chunk_size).await?;
        if read == 0 {
            break;
        }
        hasher.update(&plaintext[CHUNK_PREFIX_LEN..]);
        plaintext_len += read as u64;
        index += 1;
        if read < INLINE_LIMIT && in_flight.is_empty() {
            envelope_len += write_token(&mut writer, fernet.encrypt_at_time(&plaintext, 0)).await?;
        } else {
            in_flight.push_back(spawn_encrypt(&fernet, plaintext));
            if in_flight.len() >= depth(parallelism) {
                envelope_len += write_token(&mut writer, next_token(&mut in_flight).await?).await?;
            }
        }
        if read < chunk_size {
            break;
        }
    }
    while !in_flight.is_empty() {
        envelope_len += write_token(&mut writer, next_token(&mut in_flight).await?).await?;
    }
    let content_hash: [u8; 32] = hasher.finalize().into();
    let mut last = chunk_prefix(index, FLAG_FINAL, &digest, FINAL_PAYLOAD_LEN);
    last.extend_from_slice(&content_hash);
    last.extend_from_slice(&plaintext_len.to_be_bytes());
    envelope_len += write_token(&mut writer, fernet.encrypt_at_time(&last, 0)).await?;
    writer.flush().await?;
    Ok(EncryptSummary { content_hash: DataHash(content_hash), plaintext_len, envelope_len })
}

/// Decrypts the chunks that follow `header` on `reader` into `writer`, checking order,
/// binding, completeness and the final SHA-256.
///
/// Plaintext reaches `writer` as it is verified chunk by chunk; only an `Ok` return
/// says the whole object was intact, so a caller that must not expose partial data
/// writes to a temporary place and keeps it only on success.
pub async fn decrypt<R, W>(
    mut reader: R,
    mut writer: W,
    header: &Header,
    data_key: &DataKey,
    parallelism: usize,
) -> Result<DecryptSummary, EnvelopeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let fernet = Arc::new(data_key.fernet());
    let mut checker = ChunkChecker::new(header);
    let max_token = max_token_len(header.chunk_size() as usize);
    let mut in_flight: VecDeque<oneshot::Receiver<Option<Vec<u8>>>> = VecDeque::new();
    let mut finished = None;
    loop {
        let token = read_token(&mut reader, max_token).await?;
        let Some(token) = token else { break };
        if token.len() < INLINE_LIMIT && in_flight.is_empty() {
            let plaintext = decrypt_token(&fernet, &token).ok_or(EnvelopeError::Corrupt)?;
            if let Some(summary) = checker.accept(&plaintext, &mut writer).await? {
                finished = Some(summary);
                break;
            }
            continue;
        }
        in_flight.push_back(spawn_decrypt(&fernet, token));
        if in_flight.len() >= depth(parallelism) {
            let plaintext = next_plaintext(&mut in_flight).await?;
            if let Some(summary) = checker.accept(&plaintext, &mut writer).await? {
                finished = Some(summary);
                break;
            }
        }
    }
    while finished.is_none() && !in_flight.is_empty() {
        let plaintext = next_plaintext(&mut in_flight).await?;
        finished = checker.accept(&plaintext, &mut writer).await?;
    }
    let summary = finished.ok_or(EnvelopeError::Corrupt)?;
    // The final chunk must be the last thing in the envelope.
    if !in_flight.is_empty() || reader.read(&mut [0u8; 1]).await? != 0 {
        return Err(EnvelopeError::Corrupt);
    }
    writer.flush().await?;
    Ok(summary)
}

/// Copies an envelope from `reader` to `writer` with its custody stanzas moved to
/// `keyring`'s newest master key. Chunks are copied byte for byte: no plaintext exists
/// at any point. Returns the number of stanzas changed.
pub async fn rewrap<R, W>(
    mut reader: R,
    mut writer: W,
    keyring: &Keyring,
) -> Result<usize, EnvelopeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut header = Header::read(&mut reader).await?;
    let (data_key, changed) = header.rewrap_custody(keyring)?;
    writer.write_all(&header.seal(&data_key)).await?;
    tokio::io::copy(&mut reader, &mut writer).await?;
    writer.flush().await?;
    Ok(changed)
}

/// Chunks in flight for `parallelism` workers: one chunk when working on one core, else
/// one per worker and one more.
fn depth(parallelism: usize) -> usize {
    match parallelism {
        0 | 1 => 1,
        n => n + 1,
    }
}

/// Checks each decrypted chunk in order and forwards its payload.
struct ChunkChecker {
    digest: [u8; 32],
    chunk_size: usize,
    next_index: u64,
    hasher: Sha256,
    plaintext_len: u64,
}

impl ChunkChecker {
    fn new(header: &Header) -> Self {
        Self {
            digest: header.digest(),
            chunk_size: header.chunk_size() as usize,
            next_index: 0,
            hasher: Sha256::new(),
            plaintext_len: 0,
        }
    }

    /// Verifies one chunk; returns the summary once the final chunk checks out.
    async fn accept<W: AsyncWrite + Unpin>(
        &mut self,
        plaintext: &[u8],
        writer: &mut W,
    ) -> Result<Option<DecryptSummary>, EnvelopeError> {
        if plaintext.len() < CHUNK_PREFIX_LEN {
            return Err(EnvelopeError::Corrupt);
        }
        let (prefix, payload) = plaintext.split_at(CHUNK_PREFIX_LEN);
        let index = u64::from_be_bytes(prefix[..8].try_into().expect("8 bytes"));
        let flags = prefix[8];
        if index != self.next_index || prefix[9..] != self.digest {
            return Err(EnvelopeError::Corrupt);
        }
        self.next_index += 1;
        match flags {
            0 if !payload.is_empty() && payload.len() <= self.chunk_size => {
                self.hasher.update(payload);
                self.plaintext_len += payload.len() as u64;
                writer.write_all(payload).await?;
                Ok(None)
            }
            FLAG_FINAL if payload.len() == FINAL_PAYLOAD_LEN => {
                let computed: [u8; 32] = self.hasher.clone().finalize().into();
                let recorded_len = u64::from_be_bytes(payload[32..].try_into().expect("8 bytes"));
                if payload[..32] != computed || recorded_len != self.plaintext_len {
                    return Err(EnvelopeError::Corrupt);
                }
                Ok(Some(DecryptSummary {
                    content_hash: DataHash(computed),
                    plaintext_len: self.plaintext_len,
                }))
            }
            _ => Err(EnvelopeError::Corrupt),
        }
    }
}

fn chunk_prefix(index: u64, flags: u8, digest: &[u8; 32], payload_capacity: usize) -> Vec<u8> {
    // Slack past the payload: a full buffer would make the reader grow (and copy) it
    // just to find out that the input has no more bytes for this chunk.
    let mut plaintext = Vec::with_capacity(CHUNK_PREFIX_LEN + payload_capacity + 64);
    plaintext.extend_from_slice(&index.to_be_bytes());
    plaintext.push(flags);
    plaintext.extend_from_slice(digest);
    plaintext
}

/// Appends up to `limit` bytes from `reader` to `buf`; fewer only at end of input.
async fn read_up_to<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<usize> {
    (reader).take(limit as u64).read_to_end(buf).await
}

/// Longest token a chunk of `chunk_size` plaintext bytes can produce: version,
/// timestamp, IV, padded ciphertext and HMAC, in padded base64.
fn max_token_len(chunk_size: usize) -> usize {
    let padded = (CHUNK_PREFIX_LEN + chunk_size) / 16 * 16 + 16;
    let raw = 1 + 8 + 16 + padded + 32;
    raw.div_ceil(3) * 4
}

/// Reads the next chunk's token; `None` at a clean end of input.
async fn read_token<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_len: usize,
) -> Result<Option<Vec<u8>>, EnvelopeError> {
    let mut len = [0u8; 4];
    let first = reader.read(&mut len[..1]).await?;
    if first == 0 {
        return Ok(None);
    }
    read_exact_or(reader, &mut len[1..], EnvelopeError::Corrupt).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > max_len {
        return Err(EnvelopeError::Corrupt);
    }
    let mut token = vec![0u8; len];
    read_exact_or(reader, &mut token, EnvelopeError::Corrupt).await?;
    Ok(Some(token))
}

async fn write_token<W: AsyncWrite + Unpin>(writer: &mut W, token: String) -> std::io::Result<u64> {
    writer.write_all(&(token.len() as u32).to_be_bytes()).await?;
    writer.write_all(token.as_bytes()).await?;
    Ok(4 + token.len() as u64)
}

fn spawn_encrypt(fernet: &Arc<Fernet>, plaintext: Vec<u8>) -> oneshot::Receiver<String> {
    let fernet = Arc::clone(fernet);
    workers::run(move || fernet.encrypt_at_time(&plaintext, 0))
}

fn decrypt_token(fernet: &Fernet, token: &[u8]) -> Option<Vec<u8>> {
    fernet.decrypt(std::str::from_utf8(token).ok()?).ok()
}

fn spawn_decrypt(fernet: &Arc<Fernet>, token: Vec<u8>) -> oneshot::Receiver<Option<Vec<u8>>> {
    let fernet = Arc::clone(fernet);
    workers::run(move || decrypt_token(&fernet, &token))
}

async fn next_token(
    in_flight: &mut VecDeque<oneshot::Receiver<String>>,
) -> Result<String, EnvelopeError> {
    let handle = in_flight.pop_front().expect("a chunk is in flight");
    handle.await.map_err(|e| EnvelopeError::Io(std::io::Error::other(e)))
}

async fn next_plaintext(
    in_flight: &mut VecDeque<oneshot::Receiver<Option<Vec<u8>>>>,
) -> Result<Vec<u8>, EnvelopeError> {
    let handle = in_flight.pop_front().expect("a chunk is in flight");
    handle
        .await
        .map_err(|e| EnvelopeError::Io(std::io::Error::other(e)))?
        .ok_or(EnvelopeError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_token_len_matches_a_real_token() {
        let fernet = DataKey::generate().fernet();
        for size in [0usize, 1, 15, 16, 1000, 1 << 12] {
            let token = fernet.encrypt_at_time(&vec![0u8; CHUNK_PREFIX_LEN + size], 0);
            assert!(token.len() <= max_token_len(size), "size {size}");
            assert!(token.len() + 24 > max_token_len(size), "bound is tight for size {size}");
        }
    }
}
