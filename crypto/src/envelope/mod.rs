//! The envelope: how one object is stored and moved, encrypted.
//!
//! Fernet has no streaming mode, so an object is a short header followed by one standard
//! Fernet token per chunk. Memory stays bounded by a few chunks whatever the object's
//! size, chunks are encrypted and decrypted on all cores, and any Fernet library can
//! open a chunk given the data key.
//!
//! # Format (version 1; integers big-endian)
//!
//! ```text
//! envelope     = header chunk*
//! header       = fixed-header stanza-count:u8 stanza{stanza-count} header-mac:[32]
//! fixed-header = "DMGMTENV" version:u8=1 chunk-size:u32 envelope-id:[16]
//! stanza       = kind:u8 key-version:u32 body-length:u16 body
//! chunk        = token-length:u32 token            (token: Fernet, base64url text)
//! token plaintext = index:u64 flags:u8 header-digest:[32] payload
//! ```
//!
//! - `header-digest` is SHA-256 over a domain label and the fixed header. Binding every
//!   chunk to it (and to its index) makes reordered, dropped, duplicated or spliced chunks
//!   fail. Stanzas are outside the digest on purpose: adding a recipient or re-wrapping
//!   the custody stanza changes the header without touching a chunk.
//! - `header-mac` is HMAC-SHA256 over everything before it, keyed from the data key, so
//!   no stanza can be altered or added without the data key (as in age). Whoever
//!   changes stanzas (adding a recipient, re-wrapping, stripping the custody stanza for a
//!   recipient) holds the data key and seals the header again.
//! - Data chunks (flags 0) carry 1 to `chunk-size` bytes. Exactly one final chunk
//!   (flags 1) ends the envelope; its payload is the SHA-256 of the whole plaintext and
//!   its length (`u64`). The hash is known only once the stream ends, so it travels there,
//!   authenticated, rather than in the header; the chain records it publicly. Anything
//!   after the final chunk, or a missing final chunk, is corruption.
//! - Chunk tokens carry timestamp 0: time is the chain's business, and a token clock
//!   check would make a reader whose clock runs slow refuse good data.
//! - Stanzas: kind 1 is custody (the data key wrapped under the node's master key
//!   version N: a Fernet token of `header-digest || data key`); kind 2 is a recipient
//!   (the data key wrapped to the recipient's X25519 key version N with HPKE, RFC 9180:
//!   DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, with the header digest
//!   and key version as associated data). Both are bound to this envelope.
//!
//! # Examples
//!
//! Encrypting for this node's own custody and opening it again with the same keyring:
//!
//! ```
//! use datamgmt_crypto::envelope::{self, Header, DEFAULT_CHUNK_SIZE};
//! use datamgmt_crypto::keyring::Keyring;
//! use datamgmt_crypto::keys::DataKey;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keyring = Keyring::generate(&"a passphrase".into());
//! let data_key = DataKey::generate();
//! let mut header = Header::new(DEFAULT_CHUNK_SIZE)?;
//! let (version, master) = keyring.current_master();
//! header.add_custody(version, master, &data_key)?;
//!
//! let mut sealed = Vec::new();
//! let written = envelope::encrypt(&b"hello"[..], &mut sealed, &header, &data_key, 1).await?;
//!
//! let mut reader = &sealed[..];
//! let read_header = Header::read(&mut reader).await?;
//! let opened_key = read_header.open_custody(&keyring)?;
//! let mut plaintext = Vec::new();
//! let summary =
//!     envelope::decrypt(reader, &mut plaintext, &read_header, &opened_key, 1).await?;
//! assert_eq!(plaintext, b"hello");
//! assert_eq!(summary.content_hash, written.content_hash);
//! # Ok(())
//! # }
//! ```

mod format;
mod stream;
mod workers;

pub use format::{Header, Stanza, StanzaKind, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};
pub use stream::{decrypt, encrypt, rewrap, DecryptSummary, EncryptSummary};

/// Why an envelope could not be written or read. Deliberately coarse: a decryption
/// failure says that it failed, not which check caught it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Reading or writing the underlying stream failed.
    #[error("envelope I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The input is not an envelope this version understands (bad magic, version or
    /// limits).
    #[error("not a DataMgmt envelope, or an unsupported version")]
    NotAnEnvelope,
    /// No stanza can be opened with the keys at hand.
    #[error("no key stanza in this envelope can be opened with the available keys")]
    NoMatchingKey,
    /// The only stanza that could open it uses a retired master key version.
    #[error("the envelope's master key version is retired")]
    RetiredKey,
    /// Authentication failed: the envelope was altered, truncated or assembled from
    /// other envelopes.
    #[error("the envelope failed authentication")]
    Corrupt,
    /// A parameter is out of range (for example a chunk size).
    #[error("invalid envelope parameter: {0}")]
    InvalidParameter(&'static str),
}
