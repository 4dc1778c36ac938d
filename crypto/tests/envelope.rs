//! The envelope format end to end: round trips, the tamper suite, key stanzas, rotation
//! and re-wrapping, and interoperability of chunk tokens with Python's `cryptography`.

use datamgmt_crypto::envelope::{self, EnvelopeError, Header, StanzaKind, MIN_CHUNK_SIZE};
use datamgmt_crypto::keyring::Keyring;
use datamgmt_crypto::keys::{DataKey, Passphrase};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const CHUNK: usize = MIN_CHUNK_SIZE as usize;

/// Keyrings are slow to make (PBKDF2 at 600,000 iterations): share two per test binary.
fn keyrings() -> &'static (Keyring, Keyring) {
    static KEYRINGS: OnceLock<(Keyring, Keyring)> = OnceLock::new();
    KEYRINGS.get_or_init(|| {
        let passphrase = Passphrase::from("test");
        (Keyring::generate(&passphrase), Keyring::generate(&passphrase))
    })
}

fn sender() -> &'static Keyring {
    &keyrings().0
}

fn recipient() -> &'static Keyring {
    &keyrings().1
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    })
}

/// An envelope of `data` with a custody stanza for `sender()` and a recipient stanza for
/// `recipient()`, under `data_key`.
fn seal_with(data: &[u8], data_key: &DataKey, parallelism: usize) -> Vec<u8> {
    let mut header = Header::new(CHUNK as u32).unwrap();
    let (version, master) = sender().current_master();
    header.add_custody(version, master, data_key).unwrap();
    let (recipient_version, recipient_key) = recipient().current_node_public_key();
    header.add_recipient(recipient_version, &recipient_key, data_key).unwrap();
    let mut out = Vec::new();
    let summary = runtime()
        .block_on(envelope::encrypt(data, &mut out, &header, data_key, parallelism))
        .unwrap();
    assert_eq!(summary.content_hash.0, <[u8; 32]>::from(Sha256::digest(data)));
    assert_eq!(summary.plaintext_len, data.len() as u64);
    assert_eq!(summary.envelope_len, out.len() as u64);
    out
}

fn seal(data: &[u8]) -> Vec<u8> {
    seal_with(data, &DataKey::generate(), 2)
}

/// Opens an envelope with the custody stanza (`sender()`'s keyring).
fn open_as_sender(envelope: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    open(envelope, |header| header.open_custody(sender()))
}

/// Opens an envelope with the recipient stanza (`recipient()`'s keyring).
fn open_as_recipient(envelope: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    open(envelope, |header| header.open_recipient(recipient()))
}

fn open(
    envelope: &[u8],
    key: impl FnOnce(&Header) -> Result<DataKey, EnvelopeError>,
) -> Result<Vec<u8>, EnvelopeError> {
    runtime().block_on(async {
        let mut reader = envelope;
        let header = Header::read(&mut reader).await?;
        let data_key = key(&header)?;
        let mut out = Vec::new();
        let summary = envelope::decrypt(reader, &mut out, &header, &data_key, 2).await?;
        assert_eq!(summary.plaintext_len, out.len() as u64);
        Ok(out)
    })
}

/// Splits an envelope into its header bytes and its chunks (length prefix included).
fn split(envelope: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let header = runtime().block_on(Header::read(&mut &envelope[..])).unwrap();
    let header_len = header.encoded_len();
    let mut chunks = Vec::new();
    let mut rest = &envelope[header_len..];
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        chunks.push(rest[..4 + len].to_vec());
        rest = &rest[4 + len..];
    }
    (envelope[..header_len].to_vec(), chunks)
}

fn join(header: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = header.to_vec();
    chunks.iter().for_each(|chunk| out.extend_from_slice(chunk));
    out
}

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn boundary_sizes_round_trip_for_sender_and_recipient() {
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 7 * CHUNK + 13] {
        let data = sample(len);
        let sealed = seal(&data);
        assert_eq!(open_as_sender(&sealed).unwrap(), data, "sender, {len} bytes");
        assert_eq!(open_as_recipient(&sealed).unwrap(), data, "recipient, {len} bytes");
        let data_chunks = len.div_ceil(CHUNK);
        assert_eq!(split(&sealed).1.len(), data_chunks + 1, "data chunks plus the final one");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn any_data_round_trips(data in proptest::collection::vec(any::<u8>(), 0..6 * CHUNK), parallelism in 1usize..5) {
        let sealed = seal_with(&data, &DataKey::generate(), parallelism);
        prop_assert_eq!(open_as_recipient(&sealed).unwrap(), data);
    }
}

#[test]
fn every_single_byte_flip_is_rejected() {
    let sealed = seal(&sample(2 * CHUNK + 100));
    for position in 0..sealed.len() {
        let mut tampered = sealed.clone();
        tampered[position] ^= 0x01;
        assert!(open_as_sender(&tampered).is_err(), "flip at byte {position} went unnoticed");
        assert!(open_as_recipient(&tampered).is_err(), "flip at byte {position} went unnoticed");
    }
}

#[test]
fn reordered_dropped_duplicated_and_truncated_chunks_are_rejected() {
    let sealed = seal(&sample(3 * CHUNK + 5));
    let (header, chunks) = split(&sealed);
    assert_eq!(chunks.len(), 5);
    assert!(open_as_recipient(&join(&header, &chunks)).is_ok());

    let mut swapped = chunks.clone();
    swapped.swap(0, 1);
    assert!(matches!(open_as_recipient(&join(&header, &swapped)), Err(EnvelopeError::Corrupt)));

    for dropped in 0..chunks.len() {
        let mut fewer = chunks.clone();
        fewer.remove(dropped);
        assert!(matches!(open_as_recipient(&join(&header, &fewer)), Err(EnvelopeError::Corrupt)));
    }

    let mut duplicated = chunks.clone();
    duplicated.insert(1, chunks[1].clone());
    assert!(matches!(open_as_recipient(&join(&header, &duplicated)), Err(EnvelopeError::Corrupt)));

    let mut extra_after_final = chunks.clone();
    extra_after_final.push(chunks[0].clone());
    assert!(matches!(
        open_as_recipient(&join(&header, &extra_after_final)),
        Err(EnvelopeError::Corrupt)
    ));

    for cut in header.len()..sealed.len() {
        assert!(open_as_recipient(&sealed[..cut]).is_err(), "truncated at {cut} accepted");
    }
}

#[test]
fn chunks_spliced_between_envelopes_are_rejected() {
    // Same data key in both, so only the header binding can tell them apart.
    let data_key = DataKey::generate();
    let first = seal_with(&sample(2 * CHUNK + 1), &data_key, 1);
    let second = seal_with(&sample(2 * CHUNK + 1), &data_key, 1);
    let (header_one, chunks_one) = split(&first);
    let (_, chunks_two) = split(&second);
    let mut spliced = chunks_one.clone();
    spliced[1] = chunks_two[1].clone();
    assert!(matches!(open_as_recipient(&join(&header_one, &spliced)), Err(EnvelopeError::Corrupt)));
    // Different data keys: the chunk does not even authenticate.
    let third = seal(&sample(2 * CHUNK + 1));
    let mut foreign = chunks_one.clone();
    foreign[0] = split(&third).1[0].clone();
    assert!(matches!(open_as_recipient(&join(&header_one, &foreign)), Err(EnvelopeError::Corrupt)));
}

#[test]
fn a_reencrypted_chunk_with_the_largest_timestamp_is_rejected_without_panic() {
    let data_key_bytes = [9u8; 32];
    let data_key = DataKey::from_bytes(data_key_bytes);
    let sealed = seal_with(&sample(10), &data_key, 1);
    let (header, mut chunks) = split(&sealed);
    let fernet = fernet::Fernet::new(&base64_url(&data_key_bytes)).unwrap();
    let plaintext = fernet.decrypt(std::str::from_utf8(&chunks[0][4..]).unwrap()).unwrap();
    let token = fernet.encrypt_at_time(&plaintext, u64::MAX);
    let mut chunk = (token.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(token.as_bytes());
    chunks[0] = chunk;
    assert!(matches!(open_as_recipient(&join(&header, &chunks)), Err(EnvelopeError::Corrupt)));
}

#[test]
fn garbage_is_not_an_envelope() {
    for garbage in [&b""[..], b"DMGMTENV", b"hello world, not an envelope at all", &[0xff; 64]] {
        assert!(matches!(open_as_recipient(garbage), Err(EnvelopeError::NotAnEnvelope)));
    }
    let sealed = seal(b"x");
    let mut oversized_chunk_size = sealed.clone();
    oversized_chunk_size[9..13].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(open_as_recipient(&oversized_chunk_size), Err(EnvelopeError::NotAnEnvelope)));
}

#[test]
fn a_wrong_recipient_cannot_open_it() {
    let sealed = seal(b"for the recipient only");
    let stranger = Keyring::generate(&Passphrase::from("stranger"));
    let result = open(&sealed, |header| header.open_recipient(&stranger));
    assert!(matches!(result, Err(EnvelopeError::NoMatchingKey)));
    let result = open(&sealed, |header| header.open_custody(&stranger));
    assert!(matches!(result, Err(EnvelopeError::NoMatchingKey)));
}

#[test]
fn the_recipient_copy_has_no_custody_stanza() {
    let sealed = seal(&sample(CHUNK + 3));
    let (header_bytes, chunks) = split(&sealed);
    let header = runtime().block_on(Header::read(&mut &header_bytes[..])).unwrap();
    let data_key = header.open_custody(sender()).unwrap();
    let for_recipient = header.for_recipient(&recipient().current_node_public_key().1);
    assert_eq!(for_recipient.stanzas().len(), 1);
    assert_eq!(for_recipient.stanzas()[0].kind, StanzaKind::Recipient);
    let released = join(&for_recipient.seal(&data_key), &chunks);
    assert_eq!(open_as_recipient(&released).unwrap(), sample(CHUNK + 3));
    assert!(matches!(open_as_sender(&released), Err(EnvelopeError::NoMatchingKey)));
    let for_stranger =
        header.for_recipient(&Keyring::generate(&"x".into()).current_node_public_key().1);
    assert!(for_stranger.stanzas().is_empty());
}

#[test]
fn adding_a_recipient_leaves_the_chunks_untouched() {
    let data = sample(2 * CHUNK);
    let mut header = Header::new(CHUNK as u32).unwrap();
    let data_key = DataKey::generate();
    let (version, master) = sender().current_master();
    header.add_custody(version, master, &data_key).unwrap();
    let mut sealed = Vec::new();
    runtime().block_on(envelope::encrypt(&data[..], &mut sealed, &header, &data_key, 2)).unwrap();
    assert!(matches!(open_as_recipient(&sealed), Err(EnvelopeError::NoMatchingKey)));

    let (header_bytes, chunks) = split(&sealed);
    let mut header = runtime().block_on(Header::read(&mut &header_bytes[..])).unwrap();
    let recovered = header.open_custody(sender()).unwrap();
    let (recipient_version, recipient_key) = recipient().current_node_public_key();
    header.add_recipient(recipient_version, &recipient_key, &recovered).unwrap();
    assert_eq!(open_as_recipient(&join(&header.seal(&recovered), &chunks)).unwrap(), data);
    // Without the data key a stanza cannot be slipped in: a MAC under any other key fails.
    let mut forged = header.seal(&DataKey::generate());
    forged.extend(chunks.concat());
    assert!(matches!(open_as_recipient(&forged), Err(EnvelopeError::Corrupt)));
}

#[test]
fn rotate_rewrap_and_retire() {
    let mut keyring = Keyring::generate(&Passphrase::from("rotation"));
    let data = sample(CHUNK + 1);
    let data_key = DataKey::generate();
    let mut header = Header::new(CHUNK as u32).unwrap();
    let (version, master) = keyring.current_master();
    header.add_custody(version, master, &data_key).unwrap();
    let mut old = Vec::new();
    runtime().block_on(envelope::encrypt(&data[..], &mut old, &header, &data_key, 1)).unwrap();

    assert_eq!(keyring.rotate_master(), 2);
    let mut rewrapped = Vec::new();
    let changed = runtime().block_on(envelope::rewrap(&old[..], &mut rewrapped, &keyring)).unwrap();
    assert_eq!(changed, 1);
    let (old_header, old_chunks) = split(&old);
    let (new_header, new_chunks) = split(&rewrapped);
    assert_eq!(old_chunks, new_chunks, "chunks are copied byte for byte");
    assert_ne!(old_header, new_header);
    let parsed = runtime().block_on(Header::read(&mut &new_header[..])).unwrap();
    assert_eq!(parsed.stanzas()[0].key_version, 2);

    keyring.set_min_decrypt_version(2).unwrap();
    let open_with = |envelope: &[u8]| open(envelope, |header| header.open_custody(&keyring));
    assert_eq!(open_with(&rewrapped).unwrap(), data);
    assert!(matches!(open_with(&old), Err(EnvelopeError::RetiredKey)));
    // A retired version cannot be re-wrapped either.
    let mut again = Vec::new();
    let result = runtime().block_on(envelope::rewrap(&old[..], &mut again, &keyring));
    assert!(matches!(result, Err(EnvelopeError::RetiredKey)));
}

#[test]
fn chunk_tokens_open_with_python_fernet() {
    let check = std::process::Command::new("python3")
        .args(["-c", "import cryptography.fernet"])
        .status()
        .expect("python3 runs");
    assert!(check.success(), "Python `cryptography` is required (scripts/setup.sh installs it)");
    let data_key_bytes: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
    let data = sample(CHUNK + 10);
    let sealed = seal_with(&data, &DataKey::from_bytes(data_key_bytes), 2);
    let (_, chunks) = split(&sealed);
    let script = "import sys; from cryptography.fernet import Fernet; \
                  f = Fernet(sys.argv[1].encode()); \
                  sys.stdout.write(f.decrypt(sys.argv[2].encode()).hex())";
    let mut recovered = Vec::new();
    for chunk in &chunks[..2] {
        let output = std::process::Command::new("python3")
            .args([
                "-c",
                script,
                &base64_url(&data_key_bytes),
                std::str::from_utf8(&chunk[4..]).unwrap(),
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let plaintext = hex::decode(output.stdout).unwrap();
        // index (8) + flags (1) + header digest (32), then the data.
        recovered.extend_from_slice(&plaintext[41..]);
    }
    assert_eq!(recovered, data);
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// No input, however malformed, makes reading or opening an envelope panic.
    #[test]
    fn arbitrary_bytes_never_panic(garbage in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = open_as_sender(&garbage);
        let _ = open_as_recipient(&garbage);
    }

    /// Neither does a valid envelope with a few random bytes overwritten.
    #[test]
    fn mutated_envelopes_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut sealed = seal(&sample(CHUNK + 7));
        for (at, value) in edits {
            let at = at.index(sealed.len());
            sealed[at] = value;
        }
        let _ = open_as_recipient(&sealed);
    }
}
