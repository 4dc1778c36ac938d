//! Writes the seed corpus of the fuzz targets, `fuzz/corpus/<target>/seed-*`, and the
//! keyring fixture `fuzz/fixtures/keyring.json` if there is none (the seed headers carry
//! stanzas for its keys, so it is kept when the seeds are written again):
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus
//! ```
//!
//! Valid seeds are checked against the client before they are written.

use std::path::Path;

use datamgmt_client::chain::NodeSigner;
use datamgmt_client::envelope::{self, Header, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};
use datamgmt_client::keyring::Keyring;
use datamgmt_client::keys::{DataKey, Passphrase};
use datamgmt_client::p2p::{SignedHeaders, FRESHNESS_MS};
use datamgmt_fuzz::{
    block_on, build_chunks, chunk_fixture, keyring_path, reference_open, valid_chunks, DATA_KEY,
    KEYRING_PASSPHRASE, P2P_DEFAULT_METHOD, P2P_DEFAULT_PATH, P2P_NOW, P2P_SEPARATOR,
};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("seed written");
}

fn main() {
    let (keyring, created) =
        Keyring::open_or_create(keyring_path(), &Passphrase::from(KEYRING_PASSPHRASE))
            .expect("keyring fixture");
    if created {
        println!("wrote {}", keyring_path().display());
    }
    envelope_header(&keyring);
    envelope_chunks();
    p2p_headers();
}

fn envelope_header(keyring: &Keyring) {
    let data_key = DataKey::from_bytes(DATA_KEY);
    let (master_version, master) = keyring.current_master();
    let (node_version, node_public) = keyring.current_node_public_key();

    let mut both = Header::new(MIN_CHUNK_SIZE).unwrap();
    both.add_custody(master_version, master, &data_key).unwrap();
    both.add_recipient(node_version, &node_public, &data_key).unwrap();
    let sealed = both.seal(&data_key);
    let read = block_on(Header::read(&mut &sealed[..])).unwrap();
    assert_eq!(read.open_custody(keyring).unwrap().expose_for_tests(), &DATA_KEY);
    assert_eq!(read.open_recipient(keyring).unwrap().expose_for_tests(), &DATA_KEY);
    write("envelope_header", "custody-and-recipient", &sealed);
    write("envelope_header", "recipient-only", &both.for_recipient(&node_public).seal(&data_key));

    let mut custody = Header::new(DEFAULT_CHUNK_SIZE).unwrap();
    custody.add_custody(master_version, master, &data_key).unwrap();
    write("envelope_header", "custody-only", &custody.seal(&data_key));
    write("envelope_header", "no-stanza", &Header::new(MAX_CHUNK_SIZE).unwrap().seal(&data_key));

    // A whole (small) envelope: the reader must stop right after the header.
    let mut whole = Vec::new();
    block_on(envelope::encrypt(&b"seed"[..], &mut whole, &both, &data_key, 1)).unwrap();
    write("envelope_header", "whole-envelope", &whole);

    write("envelope_header", "truncated-fixed-part", &sealed[..20]);
    write("envelope_header", "truncated-mac", &sealed[..sealed.len() - 5]);
}

fn envelope_chunks() {
    let fixture = chunk_fixture();
    let chunk_size = fixture.header.chunk_size() as usize;
    let seed = |name: &str, mode: u8, body: &[u8]| {
        let mut input = vec![mode];
        input.extend_from_slice(body);
        write("envelope_chunks", name, &input);
    };

    // Raw chunk bytes (mode bit 0 clear): envelopes written by the client itself ...
    for (name, data, mode) in [("raw-hello", &b"hello, fuzzer"[..], 0x00), ("raw-empty", b"", 0x02)]
    {
        let mut envelope = Vec::new();
        block_on(envelope::encrypt(data, &mut envelope, &fixture.header, &fixture.data_key, 1))
            .unwrap();
        assert_eq!(&envelope[..fixture.sealed.len()], &fixture.sealed[..]);
        let chunks = &envelope[fixture.sealed.len()..];
        assert_eq!(reference_open(chunks, &fixture.digest, chunk_size).as_deref(), Some(data));
        seed(name, mode, chunks);
    }
    // ... one of several short data chunks (valid: any size from 1 to the chunk size),
    let data: Vec<u8> = (0..100u8).collect();
    let multi = valid_chunks(&fixture.digest, &data, 30);
    let mut out = Vec::new();
    let summary =
        block_on(envelope::decrypt(&multi[..], &mut out, &fixture.header, &fixture.data_key, 2))
            .expect("the multi-chunk seed decrypts");
    assert_eq!((out.as_slice(), summary.plaintext_len), (data.as_slice(), 100));
    seed("raw-multi", 0x00, &multi);
    seed("raw-multi-trickle", 0x3a, &multi);
    // ... and broken ones: cut short, and without the final chunk.
    seed("raw-truncated", 0x00, &multi[..multi.len() - 7]);
    let final_len = 4 + u32::from_be_bytes(multi[..4].try_into().unwrap()) as usize;
    seed("raw-missing-final", 0x00, &multi[..multi.len() - final_len.min(multi.len())]);

    // Descriptions (mode bit 0 set): records `ctl len payload` (see build_chunks); the
    // valid ones must decrypt, or the fuzzer would never see an accepted description.
    for description in
        [&b"\x00\x05hello\x00\x03abc\x0c\x00"[..], b"\x40\xc0\x00a\x40\xff\xffb\x00\x02hi\x0c\x00"]
    {
        let chunks = build_chunks(description, &fixture.digest);
        let expected = reference_open(&chunks, &fixture.digest, chunk_size).expect("valid");
        let mut out = Vec::new();
        block_on(envelope::decrypt(&chunks[..], &mut out, &fixture.header, &fixture.data_key, 4))
            .expect("a valid description decrypts");
        assert_eq!(out, expected);
    }
    seed("built-valid", 0x01, b"\x00\x05hello\x00\x03abc\x0c\x00");
    // 48 KiB and 64 KiB chunks: tokens over 64 KiB go to the worker threads.
    seed("built-big", 0x07, b"\x40\xc0\x00a\x40\xff\xffb\x00\x02hi\x0c\x00");
    seed("built-wrong-index", 0x01, b"\x00\x02hi\x01\x02ho\x0c\x00");
    seed("built-wrong-digest", 0x03, b"\x02\x02hi\x0c\x00");
    seed("built-data-after-final", 0x01, b"\x00\x02hi\x0c\x00\x00\x02ho");
    seed("built-odd-flags", 0x01, b"\x10\x02hi\x0c\x00");
    seed("built-tampered", 0x09, b"\x00\x02hi\x2c\x00");
}

fn p2p_headers() {
    let join = |fields: &[&[u8]]| fields.join(&P2P_SEPARATOR);
    let headers_of = |signed: &SignedHeaders| -> Vec<Vec<u8>> {
        signed.to_pairs().into_iter().map(|(_, value)| value.into_bytes()).collect()
    };
    let bob = NodeSigner::from_suri("//Bob").unwrap();
    let alice = NodeSigner::from_suri("//Alice").unwrap();

    let valid = SignedHeaders::sign(&bob, P2P_DEFAULT_METHOD, P2P_DEFAULT_PATH, b"", P2P_NOW);
    valid.verify(P2P_DEFAULT_METHOD, P2P_DEFAULT_PATH, b"", P2P_NOW).unwrap();
    let fields = headers_of(&valid);
    let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    write("p2p_headers", "valid", &join(&refs));
    let mut cut = refs.clone();
    cut[3] = &refs[3][..70];
    write("p2p_headers", "truncated-signature", &join(&cut));
    write("p2p_headers", "missing-nonce-and-signature", &join(&refs[..2]));

    let (path, body) = ("/p2p/envelopes/share_02?part=1", &b"body\nwith a newline"[..]);
    let post = SignedHeaders::sign(&alice, "POST", path, body, P2P_NOW - FRESHNESS_MS);
    post.verify("POST", path, body, P2P_NOW).unwrap();
    let fields = headers_of(&post);
    let mut refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    refs.extend([&b"POST"[..], path.as_bytes(), body]);
    write("p2p_headers", "valid-post-with-body", &join(&refs));

    let stale = SignedHeaders::sign(&bob, "GET", P2P_DEFAULT_PATH, b"", P2P_NOW + 2 * FRESHNESS_MS);
    let fields = headers_of(&stale);
    let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    write("p2p_headers", "stale", &join(&refs));
}
