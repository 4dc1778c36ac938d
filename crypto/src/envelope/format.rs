//! The header and its stanzas: layout, limits, key wrapping, and the header MAC. A
//! recipient stanza's body
//! is `key-id:[8] encapsulated-key:[32] ciphertext`, where `key-id` is a truncated
//! SHA-256 of the recipient's public key.
//!
//! # Version policy
//!
//! - **Version 1 is frozen.** Its bytes are pinned by golden files in
//!   `crypto/testdata/envelope-v1/`, read by `crypto/tests/envelope_v1.rs`: every `good_*`
//!   envelope there must keep opening to its recorded plaintext, and every `fail_*` one
//!   must keep failing with its recorded error, at the same stage, in every release. The
//!   files are never regenerated or edited; when that test fails, the code changed the
//!   format.
//! - **Readers read every released version forever.** Stored objects and shares outlive
//!   the software that wrote them, so support for reading a version is never dropped
//!   (writers may stop *writing* an old version). Today only version 1 exists, and
//!   [`Header::read`] refuses any other version byte.
//! - **Any change to the bytes is a new version**: a new version byte, a new golden folder
//!   (`envelope-v2/`) with its own generator, and readers that read both. That covers the
//!   layout, any field's meaning, the domain labels, the primitives, the chunk prefix, the
//!   final chunk's payload, a new stanza kind (version 1 refuses unknown kinds instead of
//!   skipping them, so a new kind cannot be added inside version 1), and the limits
//!   ([`MIN_CHUNK_SIZE`], [`MAX_CHUNK_SIZE`], at most 32 stanzas, stanza bodies of at most
//!   1024 bytes): tightening one would refuse stored envelopes, loosening one would let a
//!   writer make envelopes that released readers refuse.
//! - **What may change without a version bump: nothing on the wire.** Free are the
//!   writer's choices within what version 1 readers already accept (the chunk size it
//!   picks, such as [`DEFAULT_CHUNK_SIZE`], within the limits; which stanzas it adds) and
//!   everything that leaves the bytes and verdicts alone: parallelism, buffering, worker
//!   threads, error messages. Which [`EnvelopeError`] variant an input produces is pinned
//!   by the golden files; a finer variant may be added only if the tests can map it back
//!   to the recorded class.
//! - **Retired keys.** Retirement belongs to the keyring, not to the format: an envelope
//!   whose custody stanza names a master key version below the keyring's minimum
//!   decryption version is still a valid version 1 envelope, and a keyring that raised its
//!   minimum refuses it with [`EnvelopeError::RetiredKey`] (when no other stanza opens),
//!   even though the old key is still in the file. Retiring is one-way, and a retired
//!   stanza cannot be re-wrapped either, so custody stanzas are moved to the current key
//!   (`envelope::rewrap`) *before* the minimum is raised. Recipient stanzas (X25519 node
//!   keys) have no retirement: every node key version in the keyring opens its stanzas.

use super::EnvelopeError;
use crate::keyring::{KeyError, Keyring};
use crate::keys::{random_bytes, DataKey, MasterKey, NodeSecretKey};
use datamgmt_abi::{EncryptionKey, KeyVersion};
use hmac::{Hmac, Mac};
use hpke::{
    aead::ChaCha20Poly1305, kdf::HkdfSha256, kem::X25519HkdfSha256, Deserializable, OpModeR,
    OpModeS, Serializable,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"DMGMTENV";
const VERSION: u8 = 1;
const FIXED_HEADER_LEN: usize = 8 + 1 + 4 + 16;
/// Domain label of the header digest.
const HEADER_DIGEST_LABEL: &[u8] = b"datamgmt envelope v1 header digest";
/// HPKE `info` of recipient stanzas.
const RECIPIENT_INFO: &[u8] = b"datamgmt envelope v1 recipient stanza";
/// Domain label of a recipient key's id in its stanza.
const RECIPIENT_KEY_ID_LABEL: &[u8] = b"datamgmt envelope v1 recipient key id";
/// Bytes of a recipient key id.
const KEY_ID_LEN: usize = 8;
/// Domain label of the header MAC key.
const HEADER_MAC_LABEL: &[u8] = b"datamgmt envelope v1 header mac";
/// Bytes of the header MAC.
const HEADER_MAC_LEN: usize = 32;

/// Default plaintext bytes per chunk.
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 20;
/// Smallest chunk size accepted.
pub const MIN_CHUNK_SIZE: u32 = 1 << 10;
/// Largest chunk size accepted (bounds a reader's memory).
pub const MAX_CHUNK_SIZE: u32 = 16 << 20;
/// Most stanzas a header may carry.
const MAX_STANZAS: usize = 32;
/// Largest stanza body accepted.
const MAX_STANZA_BODY: usize = 1024;
/// Bytes of the plaintext prefix of every chunk: index, flags, header digest.
pub(super) const CHUNK_PREFIX_LEN: usize = 8 + 1 + 32;

/// What a stanza's body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StanzaKind {
    /// The data key under one of the node's master keys.
    Custody,
    /// The data key wrapped to a recipient node's X25519 key.
    Recipient,
}

impl StanzaKind {
    fn code(self) -> u8 {
        match self {
            Self::Custody => 1,
            Self::Recipient => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Custody),
            2 => Some(Self::Recipient),
            _ => None,
        }
    }
}

/// One way to recover the data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza {
    /// What the body holds.
    pub kind: StanzaKind,
    /// Version of the master key (custody) or of the recipient's X25519 key.
    pub key_version: KeyVersion,
    body: Vec<u8>,
}

/// An envelope's header: chunk size, identity, key stanzas and the MAC over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    chunk_size: u32,
    envelope_id: [u8; 16],
    stanzas: Vec<Stanza>,
    /// The MAC read with the header; `None` for a header built here and not yet sealed.
    mac: Option<[u8; 32]>,
}

impl Header {
    /// A header for a new envelope with a fresh random id and no stanza yet.
    pub fn new(chunk_size: u32) -> Result<Self, EnvelopeError> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(EnvelopeError::InvalidParameter("chunk size out of range"));
        }
        Ok(Self { chunk_size, envelope_id: random_bytes(), stanzas: Vec::new(), mac: None })
    }

    /// Plaintext bytes per data chunk.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The stanzas, in order.
    pub fn stanzas(&self) -> &[Stanza] {
        &self.stanzas
    }

    /// The digest every chunk is bound to (covers the fixed header, not the stanzas).
    pub fn digest(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(HEADER_DIGEST_LABEL);
        hasher.update(self.fixed_bytes());
        hasher.finalize().into()
    }

    fn fixed_bytes(&self) -> [u8; FIXED_HEADER_LEN] {
        let mut fixed = [0u8; FIXED_HEADER_LEN];
        fixed[..8].copy_from_slice(MAGIC);
        fixed[8] = VERSION;
        fixed[9..13].copy_from_slice(&self.chunk_size.to_be_bytes());
        fixed[13..].copy_from_slice(&self.envelope_id);
        fixed
    }

    /// The header's bytes as written before the chunks: everything, then a MAC under a
    /// key derived from `data_key`, so that no stanza can be altered unnoticed.
    pub fn seal(&self, data_key: &DataKey) -> Vec<u8> {
        let mut out = self.unsealed_bytes();
        let mac = header_mac(data_key, &out);
        out.extend_from_slice(&mac);
        out
    }

    /// The bytes of a header read from an envelope, with the MAC it was read with
    /// (`None` for a header built here and not yet sealed). What a node that cannot open
    /// the envelope (end-to-end mode) passes on unchanged.
    pub fn bytes_as_read(&self) -> Option<Vec<u8>> {
        let mac = self.mac?;
        let mut out = self.unsealed_bytes();
        out.extend_from_slice(&mac);
        Some(out)
    }

    /// Length of the sealed header in bytes.
    pub fn encoded_len(&self) -> usize {
        self.unsealed_bytes().len() + HEADER_MAC_LEN
    }

    /// Checks the MAC read with this header against `data_key`.
    fn verify(&self, data_key: &DataKey) -> Result<(), EnvelopeError> {
        use subtle::ConstantTimeEq as _;
        match self.mac {
            // Compared in constant time: how many leading bytes match must not show.
            Some(mac) if bool::from(mac.ct_eq(&header_mac(data_key, &self.unsealed_bytes()))) => {
                Ok(())
            }
            Some(_) => Err(EnvelopeError::Corrupt),
            None => Ok(()),
        }
    }

    fn unsealed_bytes(&self) -> Vec<u8> {
        let mut out = self.fixed_bytes().to_vec();
        out.push(self.stanzas.len() as u8);
        for stanza in &self.stanzas {
            out.push(stanza.kind.code());
            out.extend_from_slice(&stanza.key_version.to_be_bytes());
            out.extend_from_slice(&(stanza.body.len() as u16).to_be_bytes());
            out.extend_from_slice(&stanza.body);
        }
        out
    }

    /// Reads a header from the start of an envelope, leaving `reader` at the first chunk.
    pub async fn read<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Self, EnvelopeError> {
        let mut fixed = [0u8; FIXED_HEADER_LEN];
        read_or_not_envelope(reader, &mut fixed).await?;
        if &fixed[..8] != MAGIC || fixed[8] != VERSION {
            return Err(EnvelopeError::NotAnEnvelope);
        }
        let chunk_size = u32::from_be_bytes(fixed[9..13].try_into().expect("4 bytes"));
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(EnvelopeError::NotAnEnvelope);
        }
        let envelope_id = fixed[13..].try_into().expect("16 bytes");
        let mut count = [0u8; 1];
        read_or_not_envelope(reader, &mut count).await?;
        let count = usize::from(count[0]);
        if count > MAX_STANZAS {
            return Err(EnvelopeError::NotAnEnvelope);
        }
        let mut stanzas = Vec::with_capacity(count);
        for _ in 0..count {
            let mut head = [0u8; 7];
            read_or_not_envelope(reader, &mut head).await?;
            let kind = StanzaKind::from_code(head[0]).ok_or(EnvelopeError::NotAnEnvelope)?;
            let key_version = u32::from_be_bytes(head[1..5].try_into().expect("4 bytes"));
            let len = usize::from(u16::from_be_bytes([head[5], head[6]]));
            if len > MAX_STANZA_BODY {
                return Err(EnvelopeError::NotAnEnvelope);
            }
            let mut body = vec![0u8; len];
            read_or_not_envelope(reader, &mut body).await?;
            stanzas.push(Stanza { kind, key_version, body });
        }
        let mut mac = [0u8; HEADER_MAC_LEN];
        read_or_not_envelope(reader, &mut mac).await?;
        Ok(Self { chunk_size, envelope_id, stanzas, mac: Some(mac) })
    }

    fn push(&mut self, stanza: Stanza) -> Result<(), EnvelopeError> {
        if self.stanzas.len() >= MAX_STANZAS {
            return Err(EnvelopeError::InvalidParameter("too many stanzas"));
        }
        self.stanzas.push(stanza);
        Ok(())
    }

    /// Adds a custody stanza: `data_key` under master key `version`.
    pub fn add_custody(
        &mut self,
        version: KeyVersion,
        master: &MasterKey,
        data_key: &DataKey,
    ) -> Result<(), EnvelopeError> {
        let body = self.custody_body(master, data_key);
        self.push(Stanza { kind: StanzaKind::Custody, key_version: version, body })
    }

    fn custody_body(&self, master: &MasterKey, data_key: &DataKey) -> Vec<u8> {
        let mut plaintext = Zeroizing::new([0u8; 64]);
        plaintext[..32].copy_from_slice(&self.digest());
        plaintext[32..].copy_from_slice(data_key.expose());
        master.fernet().encrypt_at_time(&plaintext[..], 0).into_bytes()
    }

    /// Adds a recipient stanza: `data_key` wrapped to `recipient` (its key `version`).
    pub fn add_recipient(
        &mut self,
        version: KeyVersion,
        recipient: &EncryptionKey,
        data_key: &DataKey,
    ) -> Result<(), EnvelopeError> {
        let public = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(&recipient.0)
            .map_err(|_| EnvelopeError::InvalidParameter("not an X25519 public key"))?;
        let (encapped, ciphertext) =
            hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                &OpModeS::Base,
                &public,
                RECIPIENT_INFO,
                data_key.expose(),
                &self.recipient_aad(version),
            )
            .map_err(|_| EnvelopeError::InvalidParameter("recipient key rejected"))?;
        let mut body = recipient_key_id(recipient).to_vec();
        body.extend_from_slice(&encapped.to_bytes());
        body.extend_from_slice(&ciphertext);
        self.push(Stanza { kind: StanzaKind::Recipient, key_version: version, body })
    }

    fn recipient_aad(&self, version: KeyVersion) -> [u8; 36] {
        let mut aad = [0u8; 36];
        aad[..32].copy_from_slice(&self.digest());
        aad[32..].copy_from_slice(&version.to_be_bytes());
        aad
    }

    /// The data key, from a custody stanza under one of `keyring`'s master keys.
    pub fn open_custody(&self, keyring: &Keyring) -> Result<DataKey, EnvelopeError> {
        let mut retired = false;
        for stanza in self.stanzas.iter().filter(|s| s.kind == StanzaKind::Custody) {
            match keyring.master_for_decrypt(stanza.key_version) {
                Ok(master) => {
                    if let Some(key) = self.unwrap_custody(stanza, master) {
                        self.verify(&key)?;
                        return Ok(key);
                    }
                }
                Err(KeyError::Retired) => retired = true,
                Err(_) => {}
            }
        }
        Err(if retired { EnvelopeError::RetiredKey } else { EnvelopeError::NoMatchingKey })
    }

    fn unwrap_custody(&self, stanza: &Stanza, master: &MasterKey) -> Option<DataKey> {
        let token = std::str::from_utf8(&stanza.body).ok()?;
        let plaintext = Zeroizing::new(master.fernet().decrypt(token).ok()?);
        if plaintext.len() != 64 || plaintext[..32] != self.digest() {
            return None;
        }
        Some(DataKey::from_bytes(plaintext[32..].try_into().expect("32 bytes")))
    }

    /// The data key, from a recipient stanza for one of `keyring`'s X25519 keys.
    pub fn open_recipient(&self, keyring: &Keyring) -> Result<DataKey, EnvelopeError> {
        let key = self
            .stanzas
            .iter()
            .filter(|s| s.kind == StanzaKind::Recipient)
            .find_map(|stanza| {
                let secret = keyring.node_key(stanza.key_version)?;
                let public = keyring.node_public_key(stanza.key_version)?;
                (stanza.recipient_key_id() == Some(recipient_key_id(&public)))
                    .then(|| self.unwrap_recipient(stanza, secret))
                    .flatten()
            })
            .ok_or(EnvelopeError::NoMatchingKey)?;
        self.verify(&key)?;
        Ok(key)
    }

    fn unwrap_recipient(&self, stanza: &Stanza, secret: &NodeSecretKey) -> Option<DataKey> {
        if stanza.body.len() < KEY_ID_LEN + 32 {
            return None;
        }
        let (encapped, ciphertext) = stanza.body[KEY_ID_LEN..].split_at(32);
        let encapped = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(encapped).ok()?;
        let plaintext = Zeroizing::new(
            hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                &OpModeR::Base,
                &secret.hpke_key(),
                &encapped,
                RECIPIENT_INFO,
                ciphertext,
                &self.recipient_aad(stanza.key_version),
            )
            .ok()?,
        );
        Some(DataKey::from_bytes(plaintext.as_slice().try_into().ok()?))
    }

    /// Moves every custody stanza to `keyring`'s newest master key; returns the data key
    /// (to seal the changed header with) and how many stanzas changed. Chunks are
    /// untouched and no plaintext is produced.
    pub fn rewrap_custody(&mut self, keyring: &Keyring) -> Result<(DataKey, usize), EnvelopeError> {
        let (current_version, current) = keyring.current_master();
        let data_key = self.open_custody(keyring)?;
        let body = self.custody_body(current, &data_key);
        let mut changed = 0;
        for stanza in self.stanzas.iter_mut().filter(|s| s.kind == StanzaKind::Custody) {
            if stanza.key_version != current_version {
                stanza.key_version = current_version;
                stanza.body = body.clone();
                changed += 1;
            }
        }
        Ok((data_key, changed))
    }

    /// A copy keeping only the stanzas wrapped to `recipient`: what that recipient is
    /// sent (never the custody stanza, nor other recipients' stanzas). Seal it with the
    /// same data key.
    pub fn for_recipient(&self, recipient: &EncryptionKey) -> Self {
        let key_id = recipient_key_id(recipient);
        Self {
            stanzas: self
                .stanzas
                .iter()
                .filter(|s| s.recipient_key_id() == Some(key_id))
                .cloned()
                .collect(),
            mac: None,
            ..self.clone()
        }
    }
}

impl Stanza {
    /// For a recipient stanza, the id of the public key it is wrapped to.
    fn recipient_key_id(&self) -> Option<[u8; KEY_ID_LEN]> {
        if self.kind != StanzaKind::Recipient {
            return None;
        }
        self.body.get(..KEY_ID_LEN).map(|id| id.try_into().expect("KEY_ID_LEN bytes"))
    }
}

/// HMAC-SHA256 of the header under a key derived from the data key.
fn header_mac(data_key: &DataKey, header: &[u8]) -> [u8; HEADER_MAC_LEN] {
    let key = Zeroizing::new(<[u8; 32]>::from(
        Sha256::new().chain_update(HEADER_MAC_LABEL).chain_update(data_key.expose()).finalize(),
    ));
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key[..]).expect("any key length");
    mac.update(header);
    mac.finalize().into_bytes().into()
}

/// Names the public key a recipient stanza is for, so a relay can send each recipient
/// only its own stanza and a reader tries only its own keys.
fn recipient_key_id(key: &EncryptionKey) -> [u8; KEY_ID_LEN] {
    let digest = Sha256::new().chain_update(RECIPIENT_KEY_ID_LABEL).chain_update(key.0).finalize();
    digest[..KEY_ID_LEN].try_into().expect("KEY_ID_LEN bytes")
}

/// Fills `buf` from `reader`; input that ends early is `on_eof` (what a short read means
/// depends on where in the envelope it happens).
pub(super) async fn read_exact_or<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
    on_eof: EnvelopeError,
) -> Result<(), EnvelopeError> {
    match reader.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(on_eof),
        Err(e) => Err(e.into()),
    }
}

async fn read_or_not_envelope<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
) -> Result<(), EnvelopeError> {
    read_exact_or(reader, buf, EnvelopeError::NotAnEnvelope).await
}
