//! What the fuzz targets and the seed generator share: fixed keys, a fixed envelope
//! header, a deterministic builder of Fernet chunk tokens, a reference model of a valid
//! chunk sequence, a reader that hands out bytes a few at a time, and the layout of the
//! P2P target's input.
//!
//! Everything here is deterministic (the same input always runs the same code), which is
//! what libFuzzer's coverage feedback needs: random envelope ids, IVs and nonces appear
//! only while a fixture is built, once per process.

use std::{
    future::Future,
    io,
    path::Path,
    pin::Pin,
    sync::OnceLock,
    task::{Context, Poll},
};

use base64::{engine::general_purpose::URL_SAFE, Engine as _};
use datamgmt_client::envelope::{Header, DEFAULT_CHUNK_SIZE};
use datamgmt_client::keyring::Keyring;
use datamgmt_client::keys::{DataKey, MasterKey, Passphrase};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};

/// The data key of every envelope the targets build or expect.
pub const DATA_KEY: [u8; 32] = *b"datamgmt fuzz fixed data key 32b";
/// The master key of the chunk target's custody stanza.
pub const MASTER_KEY: [u8; 32] = *b"datamgmt fuzz fixed master key!!";
/// The envelope id of the chunk target's header (its digest is fixed with it).
pub const ENVELOPE_ID: [u8; 16] = *b"fuzz envelope id";
/// Where the envelope id sits in a header: after magic, version and chunk size.
const ENVELOPE_ID_OFFSET: usize = 8 + 1 + 4;

/// Passphrase of `fixtures/keyring.json` (a throwaway keyring; nothing it protects is
/// secret).
pub const KEYRING_PASSPHRASE: &str = "datamgmt fuzz fixture";

/// The keyring fixture the header target opens stanzas with (written once by the
/// `seed_corpus` example; the seed headers carry stanzas for its keys).
pub fn keyring_path() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/keyring.json"))
}

/// The keyring fixture, opened once per process (PBKDF2: about a second).
pub fn keyring() -> &'static Keyring {
    static KEYRING: OnceLock<Keyring> = OnceLock::new();
    KEYRING.get_or_init(|| {
        Keyring::open(keyring_path(), &Passphrase::from(KEYRING_PASSPHRASE))
            .expect("fuzz/fixtures/keyring.json opens (run the seed_corpus example to write it)")
    })
}

/// Runs `future` to completion on a current-thread runtime. Not to be called from
/// inside another `block_on`.
pub fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime")
        })
        .block_on(future)
}

/// The fixed header the chunk target decrypts against.
pub struct ChunkFixture {
    /// The header as a reader gets it from [`Self::sealed`].
    pub header: Header,
    /// The sealed header bytes (what precedes the chunks in an envelope).
    pub sealed: Vec<u8>,
    /// [`DATA_KEY`].
    pub data_key: DataKey,
    /// The header digest every chunk is bound to.
    pub digest: [u8; 32],
}

/// A header made with `Header::new(DEFAULT_CHUNK_SIZE)` and a custody stanza under
/// [`MASTER_KEY`], sealed with [`DATA_KEY`], with its random envelope id replaced by
/// [`ENVELOPE_ID`] so that its digest (and so every valid chunk) is the same in every
/// process. Built once.
pub fn chunk_fixture() -> &'static ChunkFixture {
    static FIXTURE: OnceLock<ChunkFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let data_key = DataKey::from_bytes(DATA_KEY);
        let mut bytes =
            Header::new(DEFAULT_CHUNK_SIZE).expect("default chunk size").seal(&data_key);
        bytes[ENVELOPE_ID_OFFSET..ENVELOPE_ID_OFFSET + ENVELOPE_ID.len()]
            .copy_from_slice(&ENVELOPE_ID);
        // The MAC is stale now; it is recomputed when the stanza is added and the header
        // sealed again.
        let mut header = block_on(Header::read(&mut &bytes[..])).expect("a header reads back");
        header
            .add_custody(1, &MasterKey::from_bytes(MASTER_KEY), &data_key)
            .expect("a custody stanza fits");
        let sealed = header.seal(&data_key);
        let header = block_on(Header::read(&mut &sealed[..])).expect("a sealed header reads");
        assert_eq!(header.encoded_len(), sealed.len());
        let digest = header.digest();
        ChunkFixture { header, sealed, data_key, digest }
    })
}

/// A Fernet token (timestamp 0, like every chunk token) of `plaintext` under the 32-byte
/// Fernet `key`, with a chosen IV so that the same input always gives the same token.
pub fn fernet_token(key: &[u8; 32], iv: [u8; 16], plaintext: &[u8]) -> String {
    use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
    use hmac::{Hmac, Mac};
    let (signing_key, encryption_key) = key.split_at(16);
    let ciphertext = cbc::Encryptor::<aes::Aes128>::new_from_slices(encryption_key, &iv)
        .expect("16-byte key and IV")
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    let mut token = vec![0x80];
    token.extend_from_slice(&0u64.to_be_bytes());
    token.extend_from_slice(&iv);
    token.extend_from_slice(&ciphertext);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(signing_key).expect("any key length");
    mac.update(&token);
    token.extend_from_slice(&mac.finalize().into_bytes());
    URL_SAFE.encode(token)
}

/// A chunk as it is framed in an envelope: `token-length:u32` then the token.
pub fn frame(token: &str) -> Vec<u8> {
    let mut out = (token.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(token.as_bytes());
    out
}

/// The plaintext of a chunk token: `index:u64 flags:u8 header-digest:[32] payload`.
pub fn chunk_plaintext(index: u64, flags: u8, digest: &[u8; 32], payload: &[u8]) -> Vec<u8> {
    let mut plaintext = index.to_be_bytes().to_vec();
    plaintext.push(flags);
    plaintext.extend_from_slice(digest);
    plaintext.extend_from_slice(payload);
    plaintext
}

/// The payload of a valid final chunk after `data`: its SHA-256 and length.
pub fn final_payload(data: &[u8]) -> Vec<u8> {
    let mut payload = Sha256::digest(data).to_vec();
    payload.extend_from_slice(&(data.len() as u64).to_be_bytes());
    payload
}

/// The chunks (no header) of a well-formed envelope of `data` under [`DATA_KEY`], bound
/// to `digest`, with data chunks of at most `piece` bytes (any size from 1 to the
/// header's chunk size is valid).
pub fn valid_chunks(digest: &[u8; 32], data: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut index = 0u64;
    for payload in data.chunks(piece.max(1)) {
        let token =
            fernet_token(&DATA_KEY, iv_for(index), &chunk_plaintext(index, 0, digest, payload));
        out.extend_from_slice(&frame(&token));
        index += 1;
    }
    let last = chunk_plaintext(index, 1, digest, &final_payload(data));
    out.extend_from_slice(&frame(&fernet_token(&DATA_KEY, iv_for(index), &last)));
    out
}

fn iv_for(index: u64) -> [u8; 16] {
    let mut iv = [0x5a; 16];
    iv[8..].copy_from_slice(&index.to_be_bytes());
    iv
}

/// The reference model of the chunk part of an envelope, written from the format's
/// description (crypto/src/envelope/mod.rs) rather than from the reader's code: the
/// plaintext if `chunks` is exactly a valid chunk sequence for a header with `digest`
/// and `chunk_size`, under [`DATA_KEY`], else `None`.
///
/// Token decoding is the `fernet` crate's, the same Fernet implementation the client
/// uses (it accepts a token with or without its `=` padding); everything above the
/// token (framing, order, binding, flags, lengths, the final hash, nothing after the
/// final chunk) is checked here.
pub fn reference_open(chunks: &[u8], digest: &[u8; 32], chunk_size: usize) -> Option<Vec<u8>> {
    let fernet = fernet::Fernet::new(&URL_SAFE.encode(DATA_KEY)).expect("a Fernet key");
    let mut rest = chunks;
    let mut data = Vec::new();
    for index in 0u64.. {
        // A chunk: 4 length bytes, then that many (at least one) token bytes.
        let (len, after) = rest.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        if len == 0 || len > after.len() {
            return None;
        }
        let (token, after) = after.split_at(len);
        rest = after;
        let plaintext = fernet.decrypt(std::str::from_utf8(token).ok()?).ok()?;
        if plaintext.len() < 8 + 1 + 32 {
            return None;
        }
        let (chunk_index, after) = plaintext.split_at(8);
        let (flags, after) = after.split_at(1);
        let (chunk_digest, payload) = after.split_at(32);
        if chunk_index != index.to_be_bytes() || chunk_digest != digest {
            return None;
        }
        match flags[0] {
            0 if !payload.is_empty() && payload.len() <= chunk_size => {
                data.extend_from_slice(payload)
            }
            1 if payload == final_payload(&data) => {
                return rest.is_empty().then_some(data);
            }
            _ => return None,
        }
    }
    unreachable!("the index runs out after 2^64 chunks")
}

/// Builds chunk bytes from a compact description, so that the fuzzer can reach the
/// checks behind Fernet's MAC (index, flags, binding, lengths, the final hash, and the
/// worker-thread path of large chunks), which it could never reach by mutating tokens.
///
/// The description is a list of records, each `ctl:u8` followed by either
/// `len:u8 payload[len]` or, with [`BIG`], `len:u16 fill:u8` (a payload of `len`
/// bytes `fill`). Each record becomes one chunk token, by default a well-formed data
/// chunk at the right index for this header; the `ctl` bits below spoil or change it.
pub fn build_chunks(description: &[u8], digest: &[u8; 32]) -> Vec<u8> {
    /// Wrong index (next one, or far off with `0x80`).
    const WRONG_INDEX: u8 = 0x01;
    /// Bound to another header digest.
    const WRONG_DIGEST: u8 = 0x02;
    /// Flags 1 (final) instead of 0.
    const FINAL: u8 = 0x04;
    /// Payload replaced by the right final payload (hash and length of the data so far).
    const AUTO_FINAL_PAYLOAD: u8 = 0x08;
    /// Flags other than 0 and 1 (from the first payload byte).
    const ODD_FLAGS: u8 = 0x10;
    /// One token character changed after encryption.
    const TAMPER_TOKEN: u8 = 0x20;
    /// Large payload (see above).
    const BIG: u8 = 0x40;
    /// Bounds the work of one input (every byte is encrypted here and decrypted twice).
    const MAX_PLAINTEXT: usize = 320 << 10;

    let mut rest = description;
    let mut out = Vec::new();
    let mut data = Vec::new();
    let mut total = 0usize;
    let mut index = 0u64;
    while let Some((&ctl, after)) = rest.split_first() {
        rest = after;
        let mut payload = if ctl & BIG != 0 {
            let Some((head, after)) = rest.split_first_chunk::<3>() else { break };
            rest = after;
            vec![head[2]; usize::from(u16::from_be_bytes([head[0], head[1]]))]
        } else {
            let Some((&len, after)) = rest.split_first() else { break };
            let take = usize::from(len).min(after.len());
            rest = &after[take..];
            after[..take].to_vec()
        };
        let mut flags = 0;
        if ctl & FINAL != 0 {
            flags = 1;
        }
        if ctl & ODD_FLAGS != 0 {
            flags = payload.first().copied().unwrap_or(0xff) | 2;
        }
        if ctl & AUTO_FINAL_PAYLOAD != 0 {
            payload = final_payload(&data);
        }
        let chunk_index = match (ctl & WRONG_INDEX != 0, ctl & 0x80 != 0) {
            (false, _) => index,
            (true, false) => index + 1,
            (true, true) => u64::MAX - index,
        };
        let mut chunk_digest = *digest;
        if ctl & WRONG_DIGEST != 0 {
            chunk_digest[31] ^= 1;
        }
        total += payload.len();
        if total > MAX_PLAINTEXT {
            break;
        }
        if flags == 0 {
            data.extend_from_slice(&payload);
        }
        let plaintext = chunk_plaintext(chunk_index, flags, &chunk_digest, &payload);
        let mut token = fernet_token(&DATA_KEY, iv_for(index), &plaintext).into_bytes();
        if ctl & TAMPER_TOKEN != 0 {
            let middle = token.len() / 2;
            token[middle] = if token[middle] == b'A' { b'B' } else { b'A' };
        }
        out.extend_from_slice(&(token.len() as u32).to_be_bytes());
        out.extend_from_slice(&token);
        index += 1;
    }
    out
}

/// An `AsyncRead` over a byte slice that hands out at most `step` bytes per read and
/// says `Pending` (waking itself at once) before every read, as a slow socket would.
pub struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    pending: bool,
}

impl<'a> Trickle<'a> {
    /// A reader over `data`, `step` bytes at a time (at least one).
    pub fn new(data: &'a [u8], step: usize) -> Self {
        Self { data, step: step.max(1), pending: true }
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.data
    }
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pending {
            this.pending = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.pending = true;
        let n = this.step.min(this.data.len()).min(buf.remaining());
        buf.put_slice(&this.data[..n]);
        this.data = &this.data[n..];
        Poll::Ready(Ok(()))
    }
}

/// The P2P target's input: fields separated by this byte, in the order of
/// [`P2P_FIELDS`], then method, path and body (the body is the rest of the input).
pub const P2P_SEPARATOR: u8 = b'\n';
/// The four signed headers, in input order.
pub const P2P_FIELDS: [&str; 4] = [
    datamgmt_client::p2p::ACCOUNT_HEADER,
    datamgmt_client::p2p::TIMESTAMP_HEADER,
    datamgmt_client::p2p::NONCE_HEADER,
    datamgmt_client::p2p::SIGNATURE_HEADER,
];
/// The receiver's clock in the P2P target (ms); the seeds are signed at this time.
pub const P2P_NOW: u64 = 1_800_000_000_000;
/// Method and path the P2P target verifies against when the input names none (what the
/// relay's envelope route verifies).
pub const P2P_DEFAULT_METHOD: &str = "GET";
/// See [`P2P_DEFAULT_METHOD`].
pub const P2P_DEFAULT_PATH: &str = "/p2p/envelopes/share_01";
