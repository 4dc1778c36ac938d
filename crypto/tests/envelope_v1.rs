//! The envelope format, version 1, frozen as golden files in `testdata/envelope-v1/`.
//!
//! [`golden_files_open_or_fail_as_recorded`] reads every file in that folder: each
//! envelope (`NAME.env`) has a sidecar (`NAME.json`) naming the keys to try and what must
//! happen: `good_*` envelopes open to the recorded plaintext, `fail_*` envelopes fail
//! with the recorded error class at the recorded stage, without writing a byte of
//! plaintext past what was verified. Every envelope is read whole and trickled, on one
//! core and on several.
//!
//! [`generate_golden_files`] made the files, once. They are never made again nor edited:
//! a new format version gets a new folder. The generator refuses to overwrite a file:
//!
//! ```text
//! DATAMGMT_REGENERATE_GOLDEN=1 cargo test -p datamgmt-crypto --test envelope_v1 \
//!     -- --ignored generate_golden_files
//! ```

use base64::{engine::general_purpose::URL_SAFE, Engine as _};
use datamgmt_abi::EncryptionKey;
use datamgmt_crypto::envelope::{
    self, DecryptSummary, EnvelopeError, Header, StanzaKind, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE,
};
use datamgmt_crypto::keyring::Keyring;
use datamgmt_crypto::keys::{DataKey, Passphrase};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::runtime::Runtime;

/// The folder of this format version, under `crypto/testdata/`.
const FOLDER: &str = "envelope-v1";
/// Environment variable that lets [`generate_golden_files`] write.
const REGENERATE_ENV: &str = "DATAMGMT_REGENERATE_GOLDEN";
/// Passphrases of the two keyring files in the folder (also in every sidecar).
const PASSPHRASE_A: &str = "golden envelope v1, node a";
const PASSPHRASE_B: &str = "golden envelope v1, node b";
const KEYRING_A: &str = "node_a.keyring";
const KEYRING_B: &str = "node_b.keyring";
/// Bytes before the first stanza: magic, version, chunk size, envelope id, stanza count.
const FIRST_STANZA_AT: usize = 8 + 1 + 4 + 16 + 1;

/// Every envelope the generator wrote. The folder may gain files (each is read anyway);
/// it must never lose one of these.
const GOLDEN_NAMES: &[&str] = &[
    "good_custody",
    "good_recipient",
    "good_empty",
    "good_multichunk",
    "good_large_chunks",
    "fail_empty_file",
    "fail_bad_magic",
    "fail_unknown_version",
    "fail_chunk_size_zero",
    "fail_chunk_size_below_min",
    "fail_chunk_size_above_max",
    "fail_chunk_size_huge",
    "fail_stanza_count_huge",
    "fail_unknown_stanza_kind",
    "fail_stanza_body_too_long",
    "fail_truncated_in_stanza",
    "fail_truncated_in_header_mac",
    "fail_wrong_custody_key",
    "fail_wrong_recipient_key",
    "fail_retired_key",
    "fail_bad_header_mac",
    "fail_stanza_added_without_data_key",
    "fail_custody_stanza_altered",
    "fail_envelope_id_changed",
    "fail_chunk_size_changed",
    "fail_zero_stanzas",
    "fail_header_only",
    "fail_truncated_in_length_prefix",
    "fail_truncated_mid_chunk",
    "fail_truncated_before_final",
    "fail_truncated_in_final",
    "fail_reordered_chunks",
    "fail_dropped_chunk",
    "fail_duplicated_chunk",
    "fail_chunk_after_final",
    "fail_trailing_byte",
    "fail_spliced_same_data_key",
    "fail_spliced_other_data_key",
    "fail_chunk_bitflip",
    "fail_token_length_zero",
    "fail_token_length_huge",
    "fail_chunk_future_timestamp",
    "fail_final_hash_mismatch",
    "fail_final_length_mismatch",
    "fail_empty_data_chunk",
    "fail_oversized_data_chunk",
    "fail_unknown_chunk_flags",
    "fail_final_payload_short",
    "fail_chunk_shorter_than_prefix",
    "fail_large_chunk_bitflip",
];

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(FOLDER)
}

// ---------------------------------------------------------------------------------------
// Sidecars
// ---------------------------------------------------------------------------------------

/// What `NAME.json` says about `NAME.env`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    /// What the envelope is and how it was made.
    description: String,
    /// Keys to open it with, each on its own: every one must give the recorded outcome.
    openers: Vec<Opener>,
    /// For `good_*`: what it opens to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    opens: Option<Opens>,
    /// For `fail_*`: how it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fails: Option<Fails>,
}

/// A keyring file in the folder, its passphrase, and which kind of stanza to open.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Opener {
    keyring: String,
    passphrase: String,
    /// `custody` (`Header::open_custody`) or `recipient` (`Header::open_recipient`).
    stanza: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Opens {
    plaintext_len: u64,
    plaintext_sha256: String,
    /// The plaintext itself, when it is in the folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plaintext_file: Option<String>,
    chunk_size: u32,
    stanzas: Vec<StanzaInfo>,
    /// The envelope's data key (hex): the chunks must open with it alone too.
    data_key: String,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StanzaInfo {
    kind: String,
    key_version: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fails {
    /// The error class: see [`error_class`].
    error: String,
    /// Where it fails: `header` (`Header::read`), `key` (opening a stanza, which checks
    /// the header MAC) or `chunks` (`envelope::decrypt`).
    stage: String,
    /// Most plaintext bytes a reader may write before failing: those of the chunks that
    /// are authentic and in order before the damage.
    max_plaintext_out: u64,
    /// The plaintext of the envelope this one was made from, when any may be written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plaintext_file: Option<String>,
    /// The good envelope this one was made from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    derived_from: Option<String>,
    /// What else produces the same error variant.
    error_note: String,
}

/// The stable name of an error variant, as sidecars record it.
fn error_class(error: &EnvelopeError) -> &'static str {
    match error {
        EnvelopeError::Io(_) => "io",
        EnvelopeError::NotAnEnvelope => "not_an_envelope",
        EnvelopeError::NoMatchingKey => "no_matching_key",
        EnvelopeError::RetiredKey => "retired_key",
        EnvelopeError::Corrupt => "corrupt",
        EnvelopeError::InvalidParameter(_) => "invalid_parameter",
        // A new variant needs a class name here before any sidecar may record it.
        _ => "unclassified",
    }
}

/// Where an envelope failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Header,
    Key,
    Chunks,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Key => "key",
            Self::Chunks => "chunks",
        }
    }
}

fn stanza_kind_name(kind: StanzaKind) -> &'static str {
    match kind {
        StanzaKind::Custody => "custody",
        StanzaKind::Recipient => "recipient",
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------------------
// Reading envelopes
// ---------------------------------------------------------------------------------------

/// A reader that hands out `step` bytes at a time and is not ready every other poll, as
/// a slow network would.
struct Trickle<'a> {
    rest: &'a [u8],
    step: usize,
    stall: bool,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        this.stall = !this.stall;
        if this.stall {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = this.step.min(buf.remaining()).min(this.rest.len());
        let (head, tail) = this.rest.split_at(n);
        buf.put_slice(head);
        this.rest = tail;
        Poll::Ready(Ok(()))
    }
}

/// How an envelope is fed to the reader.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Whole { parallelism: usize },
    Trickle { step: usize, parallelism: usize },
}

const MODES: [Mode; 3] = [
    Mode::Whole { parallelism: 1 },
    Mode::Whole { parallelism: 4 },
    Mode::Trickle { step: 1, parallelism: 2 },
];

/// Where the data key comes from.
enum KeySource<'a> {
    Custody(&'a Keyring),
    Recipient(&'a Keyring),
    Raw([u8; 32]),
}

/// Reads the header, opens a stanza (or takes the raw key) and decrypts the chunks into
/// `out`, saying at which stage it failed.
async fn open_envelope<R: AsyncRead + Unpin>(
    mut reader: R,
    key: &KeySource<'_>,
    parallelism: usize,
    out: &mut Vec<u8>,
) -> Result<DecryptSummary, (Stage, EnvelopeError)> {
    let header = Header::read(&mut reader).await.map_err(|e| (Stage::Header, e))?;
    let data_key = match key {
        KeySource::Custody(keyring) => header.open_custody(keyring),
        KeySource::Recipient(keyring) => header.open_recipient(keyring),
        KeySource::Raw(bytes) => Ok(DataKey::from_bytes(*bytes)),
    }
    .map_err(|e| (Stage::Key, e))?;
    envelope::decrypt(reader, &mut *out, &header, &data_key, parallelism)
        .await
        .map_err(|e| (Stage::Chunks, e))
}

/// Plaintext written, and how it ended.
struct Outcome {
    result: Result<DecryptSummary, (Stage, EnvelopeError)>,
    out: Vec<u8>,
}

fn run(runtime: &Runtime, bytes: &[u8], key: &KeySource<'_>, mode: Mode) -> Outcome {
    let mut out = Vec::new();
    let result = runtime.block_on(async {
        match mode {
            Mode::Whole { parallelism } => open_envelope(bytes, key, parallelism, &mut out).await,
            Mode::Trickle { step, parallelism } => {
                let reader = Trickle { rest: bytes, step, stall: false };
                open_envelope(reader, key, parallelism, &mut out).await
            }
        }
    });
    Outcome { result, out }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime starts")
}

/// Keyring files opened so far (each costs a PBKDF2 at 600,000 iterations).
struct Keyrings<'a> {
    dir: &'a Path,
    open: HashMap<(String, String), Keyring>,
}

impl Keyrings<'_> {
    fn get(&mut self, opener: &Opener) -> &Keyring {
        let dir = self.dir;
        self.open.entry((opener.keyring.clone(), opener.passphrase.clone())).or_insert_with(|| {
            let path = dir.join(&opener.keyring);
            match Keyring::open(&path, &Passphrase::from(opener.passphrase.as_str())) {
                Ok(keyring) => keyring,
                Err(error) => panic!("keyring {} does not open: {error}", path.display()),
            }
        })
    }
}

fn key_source<'k>(opener: &Opener, keyring: &'k Keyring) -> KeySource<'k> {
    match opener.stanza.as_str() {
        "custody" => KeySource::Custody(keyring),
        "recipient" => KeySource::Recipient(keyring),
        other => panic!("unknown stanza kind {other:?} in an opener"),
    }
}

/// Checks every file of a golden folder; returns the envelope names checked.
fn check_folder(dir: &Path, require_readme: bool) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("the golden folder is readable") {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name().into_string().expect("file names are UTF-8");
        assert!(entry.file_type().expect("a file type").is_file(), "{name}: not a plain file");
        names.insert(name);
    }
    assert!(!require_readme || names.contains("README.md"), "the folder needs its README.md");

    let runtime = runtime();
    let mut keyrings = Keyrings { dir, open: HashMap::new() };
    let mut referenced = BTreeSet::new();
    let mut envelopes = BTreeSet::new();
    for name in &names {
        let Some((stem, extension)) = name.rsplit_once('.') else {
            panic!("{name}: a file without an extension has no place in the golden folder");
        };
        match extension {
            "env" => {
                let sidecar_name = format!("{stem}.json");
                assert!(names.contains(&sidecar_name), "{name} has no sidecar {sidecar_name}");
                let sidecar: Sidecar = serde_json::from_slice(
                    &std::fs::read(dir.join(&sidecar_name)).expect("the sidecar is readable"),
                )
                .unwrap_or_else(|error| panic!("{sidecar_name} is not a valid sidecar: {error}"));
                let bytes = std::fs::read(dir.join(name)).expect("the envelope is readable");
                check_envelope(&runtime, &mut keyrings, dir, stem, &bytes, &sidecar);
                referenced.extend(sidecar.openers.iter().map(|o| o.keyring.clone()));
                referenced.extend(sidecar.opens.iter().filter_map(|o| o.plaintext_file.clone()));
                referenced.extend(sidecar.fails.iter().filter_map(|f| f.plaintext_file.clone()));
                envelopes.insert(stem.to_owned());
            }
            "json" => {
                assert!(names.contains(&format!("{stem}.env")), "{name}: sidecar of no envelope")
            }
            "keyring" | "plain" => {}
            "md" if name == "README.md" => {}
            _ => panic!("{name}: unexpected file in the golden folder"),
        }
    }
    for name in &names {
        if name.ends_with(".keyring") || name.ends_with(".plain") {
            assert!(referenced.contains(name), "{name} is used by no sidecar");
        }
    }
    envelopes
}

fn check_envelope(
    runtime: &Runtime,
    keyrings: &mut Keyrings<'_>,
    dir: &Path,
    name: &str,
    bytes: &[u8],
    sidecar: &Sidecar,
) {
    assert!(!sidecar.openers.is_empty(), "{name}: a sidecar names at least one key");
    match (name.split('_').next(), &sidecar.opens, &sidecar.fails) {
        (Some("good"), Some(opens), None) => {
            check_good(runtime, keyrings, dir, name, bytes, &sidecar.openers, opens)
        }
        (Some("fail"), None, Some(fails)) => {
            check_fail(runtime, keyrings, dir, name, bytes, &sidecar.openers, fails)
        }
        _ => panic!("{name}: good_* needs `opens` only, fail_* needs `fails` only"),
    }
}

fn check_good(
    runtime: &Runtime,
    keyrings: &mut Keyrings<'_>,
    dir: &Path,
    name: &str,
    bytes: &[u8],
    openers: &[Opener],
    opens: &Opens,
) {
    let plaintext = opens.plaintext_file.as_ref().map(|file| {
        let plaintext = std::fs::read(dir.join(file)).expect("the plaintext file is readable");
        assert_eq!(plaintext.len() as u64, opens.plaintext_len, "{name}: {file} length");
        assert_eq!(sha256_hex(&plaintext), opens.plaintext_sha256, "{name}: {file} hash");
        plaintext
    });

    // The header parses to what the sidecar records, and writes back to the same bytes.
    let header = runtime
        .block_on(Header::read(&mut &bytes[..]))
        .unwrap_or_else(|error| panic!("{name}: header does not read: {error}"));
    assert_eq!(header.chunk_size(), opens.chunk_size, "{name}: chunk size");
    let stanzas: Vec<StanzaInfo> = header
        .stanzas()
        .iter()
        .map(|s| StanzaInfo { kind: stanza_kind_name(s.kind).into(), key_version: s.key_version })
        .collect();
    assert_eq!(stanzas, opens.stanzas, "{name}: stanzas");
    assert_eq!(
        header.bytes_as_read().as_deref(),
        Some(&bytes[..header.encoded_len()]),
        "{name}: the header reads and writes back byte for byte"
    );

    let data_key: [u8; 32] = hex::decode(&opens.data_key)
        .ok()
        .and_then(|key| key.try_into().ok())
        .unwrap_or_else(|| panic!("{name}: data_key is not 32 bytes of hex"));
    check_good_with(runtime, name, bytes, opens, plaintext.as_deref(), "data_key", &{
        KeySource::Raw(data_key)
    });
    for opener in openers {
        let keyring = keyrings.get(opener).clone();
        let source = key_source(opener, &keyring);
        let label = format!("{opener:?}");
        check_good_with(runtime, name, bytes, opens, plaintext.as_deref(), &label, &source);
    }
}

fn check_good_with(
    runtime: &Runtime,
    name: &str,
    bytes: &[u8],
    opens: &Opens,
    plaintext: Option<&[u8]>,
    label: &str,
    source: &KeySource<'_>,
) {
    for mode in MODES {
        let context = format!("{name} ({label}, {mode:?})");
        let outcome = run(runtime, bytes, source, mode);
        let summary = match outcome.result {
            Ok(summary) => summary,
            Err((stage, error)) => panic!("{context}: failed at {stage:?}: {error:?}"),
        };
        assert_eq!(outcome.out.len() as u64, opens.plaintext_len, "{context}: length");
        assert_eq!(sha256_hex(&outcome.out), opens.plaintext_sha256, "{context}: hash");
        assert_eq!(summary.plaintext_len, opens.plaintext_len, "{context}: summary length");
        assert_eq!(hex::encode(summary.content_hash.0), opens.plaintext_sha256, "{context}");
        if let Some(plaintext) = plaintext {
            assert!(outcome.out == plaintext, "{context}: plaintext differs");
        }
    }
}

fn check_fail(
    runtime: &Runtime,
    keyrings: &mut Keyrings<'_>,
    dir: &Path,
    name: &str,
    bytes: &[u8],
    openers: &[Opener],
    fails: &Fails,
) {
    let plaintext = fails
        .plaintext_file
        .as_ref()
        .map(|file| std::fs::read(dir.join(file)).expect("the plaintext file is readable"));
    assert!(
        fails.max_plaintext_out == 0 || plaintext.is_some(),
        "{name}: plaintext may be written, so the sidecar names the plaintext it must match"
    );
    for opener in openers {
        let keyring = keyrings.get(opener).clone();
        let source = key_source(opener, &keyring);
        for mode in MODES {
            let context = format!("{name} ({opener:?}, {mode:?})");
            let outcome = run(runtime, bytes, &source, mode);
            let (stage, error) = match outcome.result {
                Ok(summary) => panic!("{context}: opened ({summary:?}) but must fail"),
                Err(failure) => failure,
            };
            assert_eq!(
                (stage.name(), error_class(&error)),
                (fails.stage.as_str(), fails.error.as_str()),
                "{context}: failed with {error:?}"
            );
            assert!(
                stage == Stage::Chunks || outcome.out.is_empty(),
                "{context}: plaintext written before the key was found"
            );
            assert!(
                outcome.out.len() as u64 <= fails.max_plaintext_out,
                "{context}: {} plaintext bytes written, at most {} were verified",
                outcome.out.len(),
                fails.max_plaintext_out
            );
            if !outcome.out.is_empty() {
                let plaintext = plaintext.as_deref().unwrap_or_default();
                assert!(
                    plaintext.starts_with(&outcome.out),
                    "{context}: bytes written that are not the original plaintext"
                );
            }
        }
    }
}

#[test]
fn golden_files_open_or_fail_as_recorded() {
    let dir = folder();
    let checked = check_folder(&dir, true);
    for name in GOLDEN_NAMES {
        assert!(checked.contains(*name), "golden envelope {name} is missing from {FOLDER}/");
    }
}

// ---------------------------------------------------------------------------------------
// The generator: run once, never again.
// ---------------------------------------------------------------------------------------

/// Made the files of `testdata/envelope-v1/` (once; it refuses to overwrite any). Every
/// file is written to a scratch folder first and checked there as the reader test checks
/// the real one, so a file is only ever written whole and already verified.
#[test]
#[ignore = "writes the golden files; run once with DATAMGMT_REGENERATE_GOLDEN=1"]
fn generate_golden_files() {
    if std::env::var_os(REGENERATE_ENV).is_none() {
        eprintln!("{REGENERATE_ENV} is not set: nothing written");
        return;
    }
    let dir = folder();
    let existing: Vec<&str> = GOLDEN_NAMES
        .iter()
        .copied()
        .filter(|name| dir.join(format!("{name}.env")).exists())
        .collect();
    assert!(
        existing.is_empty(),
        "refusing to make golden files again ({} exist): version 1 is frozen, and a new \
         format version gets a new folder",
        existing.len()
    );
    let files = Generator::new().run();

    let generated: BTreeSet<&str> =
        files.keys().filter_map(|name| name.strip_suffix(".env")).collect();
    assert_eq!(generated, GOLDEN_NAMES.iter().copied().collect(), "GOLDEN_NAMES is complete");

    let staging = tempfile::tempdir().expect("a scratch folder");
    for (name, bytes) in &files {
        std::fs::write(staging.path().join(name), bytes).expect("a scratch file is written");
    }
    check_folder(staging.path(), false);

    let clashes: Vec<&String> = files.keys().filter(|name| dir.join(name).exists()).collect();
    assert!(
        clashes.is_empty(),
        "refusing to overwrite golden files {clashes:?}: version 1 is frozen, and a new \
         format version gets a new folder"
    );
    std::fs::create_dir_all(&dir).expect("the golden folder is created");
    for (name, bytes) in &files {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.join(name))
            .expect("a golden file is created, never overwritten");
        file.write_all(bytes).expect("a golden file is written");
        file.sync_all().expect("a golden file is synced");
    }
    eprintln!("wrote {} files to {}", files.len(), dir.display());
}

/// An envelope made by the generator, with what made it.
struct Sealed {
    bytes: Vec<u8>,
    header: Header,
    header_len: usize,
    chunks: Vec<Vec<u8>>,
    data_key: [u8; 32],
    plaintext: Vec<u8>,
}

/// A stanza to put in a new envelope.
enum StanzaSpec<'a> {
    Custody(&'a Keyring, u32),
    Recipient(u32, EncryptionKey),
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    bytes
}

fn random_vec(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    bytes
}

/// One chunk as written: `token-length:u32 token`, the token a Fernet token of `index
/// flags header-digest payload` under `data_key`, stamped `timestamp`.
fn craft_chunk(
    data_key: &[u8; 32],
    index: u64,
    flags: u8,
    digest: &[u8; 32],
    payload: &[u8],
    timestamp: u64,
) -> Vec<u8> {
    let fernet = fernet::Fernet::new(&URL_SAFE.encode(data_key)).expect("a 32-byte Fernet key");
    let mut plaintext = index.to_be_bytes().to_vec();
    plaintext.push(flags);
    plaintext.extend_from_slice(digest);
    plaintext.extend_from_slice(payload);
    length_prefixed(fernet.encrypt_at_time(&plaintext, timestamp).as_bytes())
}

fn length_prefixed(token: &[u8]) -> Vec<u8> {
    let mut chunk = (token.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(token);
    chunk
}

/// The final chunk's payload: SHA-256 of the plaintext and its length.
fn final_payload(hash: &[u8], len: u64) -> Vec<u8> {
    let mut payload = hash.to_vec();
    payload.extend_from_slice(&len.to_be_bytes());
    payload
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The chunk with one base64 character in the middle of its token replaced by another.
fn flip_token_char(chunk: &[u8]) -> Vec<u8> {
    let mut chunk = chunk.to_vec();
    let at = 4 + (chunk.len() - 4) / 2;
    chunk[at] = if chunk[at] == b'A' { b'B' } else { b'A' };
    chunk
}

struct Generator {
    runtime: Runtime,
    files: BTreeMap<String, Vec<u8>>,
}

impl Generator {
    fn new() -> Self {
        Self { runtime: runtime(), files: BTreeMap::new() }
    }

    /// An envelope of `plaintext` with `stanzas`, under a fresh data key.
    fn seal(&self, chunk_size: u32, plaintext: &[u8], stanzas: &[StanzaSpec<'_>]) -> Sealed {
        self.seal_with_key(chunk_size, plaintext, stanzas, random_bytes())
    }

    fn seal_with_key(
        &self,
        chunk_size: u32,
        plaintext: &[u8],
        stanzas: &[StanzaSpec<'_>],
        data_key: [u8; 32],
    ) -> Sealed {
        let key = DataKey::from_bytes(data_key);
        let mut header = Header::new(chunk_size).expect("a valid chunk size");
        for stanza in stanzas {
            match stanza {
                StanzaSpec::Custody(keyring, version) => {
                    let master = keyring.master_for_decrypt(*version).expect("a usable master");
                    header.add_custody(*version, master, &key).expect("custody stanza added");
                }
                StanzaSpec::Recipient(version, public) => {
                    header.add_recipient(*version, public, &key).expect("recipient stanza added")
                }
            }
        }
        let mut bytes = Vec::new();
        let summary = self
            .runtime
            .block_on(envelope::encrypt(plaintext, &mut bytes, &header, &key, 2))
            .expect("encryption succeeds");
        assert_eq!(summary.envelope_len, bytes.len() as u64);
        let (header_len, chunks) = self.split(&bytes);
        Sealed { bytes, header, header_len, chunks, data_key, plaintext: plaintext.to_vec() }
    }

    /// The header length and the chunks (length prefix included) of a good envelope.
    fn split(&self, bytes: &[u8]) -> (usize, Vec<Vec<u8>>) {
        let header = self.runtime.block_on(Header::read(&mut &bytes[..])).expect("a header");
        let header_len = header.encoded_len();
        let mut chunks = Vec::new();
        let mut rest = &bytes[header_len..];
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
            chunks.push(rest[..4 + len].to_vec());
            rest = &rest[4 + len..];
        }
        (header_len, chunks)
    }

    fn add(&mut self, name: &str, bytes: Vec<u8>) {
        assert!(self.files.insert(name.to_owned(), bytes).is_none(), "{name} made twice");
    }

    fn add_sidecar(&mut self, name: &str, sidecar: &Sidecar) {
        let mut json = serde_json::to_vec_pretty(sidecar).expect("a sidecar serializes");
        json.push(b'\n');
        self.add(&format!("{name}.json"), json);
    }

    fn good(
        &mut self,
        name: &str,
        description: &str,
        openers: Vec<Opener>,
        sealed: &Sealed,
        keep_plaintext: bool,
    ) {
        let plaintext_file = keep_plaintext.then(|| format!("{name}.plain"));
        if let Some(file) = &plaintext_file {
            self.add(file, sealed.plaintext.clone());
        }
        let sidecar = Sidecar {
            description: description.to_owned(),
            openers,
            opens: Some(Opens {
                plaintext_len: sealed.plaintext.len() as u64,
                plaintext_sha256: sha256_hex(&sealed.plaintext),
                plaintext_file,
                chunk_size: sealed.header.chunk_size(),
                stanzas: sealed
                    .header
                    .stanzas()
                    .iter()
                    .map(|s| StanzaInfo {
                        kind: stanza_kind_name(s.kind).into(),
                        key_version: s.key_version,
                    })
                    .collect(),
                data_key: hex::encode(sealed.data_key),
            }),
            fails: None,
        };
        self.add(&format!("{name}.env"), sealed.bytes.clone());
        self.add_sidecar(name, &sidecar);
    }

    #[allow(clippy::too_many_arguments)]
    fn fail(
        &mut self,
        name: &str,
        description: &str,
        openers: Vec<Opener>,
        bytes: Vec<u8>,
        (error, stage): (EnvelopeError, Stage),
        max_plaintext_out: usize,
        derived_from: Option<&str>,
    ) {
        let plaintext_file = (max_plaintext_out > 0).then(|| {
            let source = derived_from.expect("plaintext comes from a good envelope");
            format!("{source}.plain")
        });
        let sidecar = Sidecar {
            description: description.to_owned(),
            openers,
            opens: None,
            fails: Some(Fails {
                error: error_class(&error).to_owned(),
                stage: stage.name().to_owned(),
                max_plaintext_out: max_plaintext_out as u64,
                plaintext_file,
                derived_from: derived_from.map(str::to_owned),
                error_note: error_note(&error).to_owned(),
            }),
        };
        self.add(&format!("{name}.env"), bytes);
        self.add_sidecar(name, &sidecar);
    }

    fn run(mut self) -> BTreeMap<String, Vec<u8>> {
        let scratch = tempfile::tempdir().expect("a scratch folder");

        // Node A: master key 1 seals one envelope, then master key 2 arrives and key 1 is
        // retired. Node B: node key 2 (X25519) added next to 1. A stranger's keys have
        // the same version numbers, so "wrong key" is never "unknown version".
        let mut node_a = Keyring::generate(&Passphrase::from(PASSPHRASE_A));
        let custody_text = b"DataMgmt envelope format v1, golden file: one custody stanza.\n";
        let retired = self.seal(MIN_CHUNK_SIZE, custody_text, &[StanzaSpec::Custody(&node_a, 1)]);
        assert_eq!(node_a.rotate_master(), 2);
        node_a.set_min_decrypt_version(2).expect("master key 1 retires");
        let mut node_b = Keyring::generate(&Passphrase::from(PASSPHRASE_B));
        assert_eq!(node_b.rotate_node_key(), 2);
        let mut stranger = Keyring::generate(&Passphrase::from("a stranger, not kept"));
        stranger.rotate_master();
        stranger.rotate_node_key();
        for (name, keyring) in [(KEYRING_A, &node_a), (KEYRING_B, &node_b)] {
            let path = scratch.path().join(name);
            keyring.save(&path).expect("a keyring is saved");
            self.add(name, std::fs::read(&path).expect("a saved keyring reads back"));
        }
        let b_public = node_b.node_public_key(2).expect("node key 2");
        let stranger_public = stranger.node_public_key(2).expect("node key 2");
        let a_custody = || vec![opener(KEYRING_A, PASSPHRASE_A, "custody")];
        let b_recipient = || vec![opener(KEYRING_B, PASSPHRASE_B, "recipient")];
        let both = || {
            vec![
                opener(KEYRING_A, PASSPHRASE_A, "custody"),
                opener(KEYRING_B, PASSPHRASE_B, "recipient"),
            ]
        };
        let custody_2 = StanzaSpec::Custody(&node_a, 2);
        let recipient_2 = StanzaSpec::Recipient(2, b_public);

        // ----- Good envelopes.
        let custody = self.seal(MIN_CHUNK_SIZE, custody_text, &[StanzaSpec::Custody(&node_a, 2)]);
        self.good(
            "good_custody",
            "One custody stanza (node A, master key version 2), chunk size 1024, a short \
             text in one data chunk plus the final chunk.",
            a_custody(),
            &custody,
            true,
        );
        let recipient_text =
            b"DataMgmt envelope format v1, golden file: one recipient stanza (HPKE, X25519).\n";
        let recipient =
            self.seal(MIN_CHUNK_SIZE, recipient_text, &[StanzaSpec::Recipient(2, b_public)]);
        self.good(
            "good_recipient",
            "One recipient stanza (node B, X25519 node key version 2, HPKE), chunk size 1024, \
             a short text in one data chunk plus the final chunk: what a recipient is sent.",
            b_recipient(),
            &recipient,
            true,
        );
        let empty = self.seal(MIN_CHUNK_SIZE, b"", &[StanzaSpec::Custody(&node_a, 2), recipient_2]);
        assert_eq!(empty.chunks.len(), 1, "an empty plaintext is the final chunk alone");
        self.good(
            "good_empty",
            "Empty plaintext: custody stanza (node A, master 2) and recipient stanza (node B, \
             node key 2); no data chunk, only the final chunk.",
            both(),
            &empty,
            false,
        );
        let multi_len = 2 * MIN_CHUNK_SIZE as usize + 300;
        let multi = self.seal(
            MIN_CHUNK_SIZE,
            &random_vec(multi_len),
            &[StanzaSpec::Custody(&node_a, 2), StanzaSpec::Recipient(2, b_public)],
        );
        assert_eq!(multi.chunks.len(), 4, "three data chunks and the final one");
        self.good(
            "good_multichunk",
            "2,348 random bytes in chunks of 1024: data chunks of 1024, 1024 and 300 bytes, \
             then the final chunk. Custody stanza (node A, master 2) and recipient stanza \
             (node B, node key 2). Most fail_* files are made from it.",
            both(),
            &multi,
            true,
        );
        let large_chunk = 64 << 10;
        let large = self.seal(large_chunk, &random_vec(large_chunk as usize + 100), &[custody_2]);
        assert_eq!(large.chunks.len(), 3);
        self.good(
            "good_large_chunks",
            "65,636 random bytes in chunks of 65,536 (tokens over 64 KiB, so the reader hands \
             them to its worker threads): two data chunks and the final one. Custody stanza \
             (node A, master 2). The plaintext is not kept; its SHA-256 and length are.",
            a_custody(),
            &large,
            false,
        );

        // ----- Headers that do not parse: edits of good_custody.
        let not_envelope = || (EnvelopeError::NotAnEnvelope, Stage::Header);
        let from_custody = Some("good_custody");
        let edit = |at: usize, new: &[u8]| {
            let mut bytes = custody.bytes.clone();
            bytes[at..at + new.len()].copy_from_slice(new);
            bytes
        };
        let header_cases: Vec<(&str, &str, Vec<u8>)> = vec![
            ("fail_empty_file", "A file of zero bytes.", Vec::new()),
            ("fail_bad_magic", "good_custody with the magic's last byte 'V' made 'X'.", {
                edit(7, b"X")
            }),
            (
                "fail_unknown_version",
                "good_custody with version byte 2 (a version that does not exist yet).",
                edit(8, &[2]),
            ),
            ("fail_chunk_size_zero", "good_custody with chunk size 0.", edit(9, &[0; 4])),
            (
                "fail_chunk_size_below_min",
                "good_custody with chunk size 1023 (one below the minimum, 1024).",
                edit(9, &(MIN_CHUNK_SIZE - 1).to_be_bytes()),
            ),
            (
                "fail_chunk_size_above_max",
                "good_custody with chunk size 16 MiB + 1 (one above the maximum).",
                edit(9, &(MAX_CHUNK_SIZE + 1).to_be_bytes()),
            ),
            (
                "fail_chunk_size_huge",
                "good_custody with chunk size 0xFFFFFFFF.",
                edit(9, &u32::MAX.to_be_bytes()),
            ),
            (
                "fail_stanza_count_huge",
                "good_custody with stanza count 255 (the limit is 32).",
                edit(FIRST_STANZA_AT - 1, &[255]),
            ),
            (
                "fail_unknown_stanza_kind",
                "good_custody with its stanza's kind byte 3 (1 is custody, 2 recipient; v1 \
                 readers refuse unknown kinds rather than skip them).",
                edit(FIRST_STANZA_AT, &[3]),
            ),
            (
                "fail_stanza_body_too_long",
                "good_custody with its stanza's body length 0xFFFF (the limit is 1024).",
                edit(FIRST_STANZA_AT + 5, &[0xff, 0xff]),
            ),
            (
                "fail_truncated_in_stanza",
                "good_custody cut 10 bytes into its stanza's body.",
                custody.bytes[..FIRST_STANZA_AT + 7 + 10].to_vec(),
            ),
            (
                "fail_truncated_in_header_mac",
                "good_custody cut 10 bytes before the end of its header MAC.",
                custody.bytes[..custody.header_len - 10].to_vec(),
            ),
        ];
        for (name, description, bytes) in header_cases {
            self.fail(name, description, a_custody(), bytes, not_envelope(), 0, from_custody);
        }

        // ----- Headers that parse, but no stanza yields a key that checks out.
        let no_key = || (EnvelopeError::NoMatchingKey, Stage::Key);
        let wrong_custody =
            self.seal(MIN_CHUNK_SIZE, custody_text, &[StanzaSpec::Custody(&stranger, 2)]);
        self.fail(
            "fail_wrong_custody_key",
            "A custody stanza under another node's master key version 2, opened with node A \
             (whose master key 2 is a different key).",
            a_custody(),
            wrong_custody.bytes,
            no_key(),
            0,
            None,
        );
        let wrong_recipient =
            self.seal(MIN_CHUNK_SIZE, recipient_text, &[StanzaSpec::Recipient(2, stranger_public)]);
        self.fail(
            "fail_wrong_recipient_key",
            "A recipient stanza wrapped to another node's X25519 key version 2, opened with \
             node B (whose node key 2 is a different key).",
            b_recipient(),
            wrong_recipient.bytes,
            no_key(),
            0,
            None,
        );
        self.fail(
            "fail_retired_key",
            "A custody stanza under node A's master key version 1, made before node A rotated \
             to version 2 and raised its minimum decryption version to 2. The keyring still \
             holds key 1; it refuses to use it.",
            a_custody(),
            retired.bytes.clone(),
            (EnvelopeError::RetiredKey, Stage::Key),
            0,
            None,
        );
        let mut bad_mac = multi.bytes.clone();
        bad_mac[multi.header_len - 1] ^= 0x01;
        self.fail(
            "fail_bad_header_mac",
            "good_multichunk with the last bit of its header MAC flipped: both stanzas still \
             unwrap the data key, and the MAC check under it fails.",
            both(),
            bad_mac,
            (EnvelopeError::Corrupt, Stage::Key),
            0,
            Some("good_multichunk"),
        );
        let mut forged = self
            .runtime
            .block_on(Header::read(&mut &custody.bytes[..]))
            .expect("good_custody's header reads");
        let attacker_key = DataKey::from_bytes(random_bytes());
        forged.add_recipient(2, &b_public, &attacker_key).expect("a stanza is added");
        let forged = join(&[&forged.seal(&attacker_key), &custody.bytes[custody.header_len..]]);
        self.fail(
            "fail_stanza_added_without_data_key",
            "good_custody with a recipient stanza for node B appended, wrapping a key of the \
             forger's choosing, and the header re-sealed under that key (the forger does not \
             know the real data key). Node A's custody stanza unwraps the real key, under \
             which the MAC fails. (Opened by node B instead, the forged key passes the MAC \
             and the first chunk fails to authenticate: corrupt at the chunks stage, nothing \
             written.)",
            a_custody(),
            forged,
            (EnvelopeError::Corrupt, Stage::Key),
            0,
            from_custody,
        );
        let mut altered = custody.bytes.clone();
        let at = FIRST_STANZA_AT + 7 + 100;
        altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
        let key_cases: Vec<(&str, &str, Vec<u8>)> = vec![
            (
                "fail_custody_stanza_altered",
                "good_custody with one base64 character of its custody stanza's token \
                 changed: the token no longer authenticates, so no stanza opens.",
                altered,
            ),
            (
                "fail_envelope_id_changed",
                "good_custody with one bit of its envelope id flipped: the header digest \
                 changes, and the custody stanza, bound to it, no longer opens.",
                {
                    let mut bytes = custody.bytes.clone();
                    bytes[13] ^= 0x01;
                    bytes
                },
            ),
            (
                "fail_chunk_size_changed",
                "good_custody with chunk size 2048 instead of 1024 (in range): the header \
                 digest changes, and the custody stanza, bound to it, no longer opens.",
                edit(9, &2048u32.to_be_bytes()),
            ),
            (
                "fail_zero_stanzas",
                "good_custody with stanza count 0: the header then reads its MAC from the \
                 stanza's first 32 bytes, and has no stanza to open.",
                edit(FIRST_STANZA_AT - 1, &[0]),
            ),
        ];
        for (name, description, bytes) in key_cases {
            self.fail(name, description, a_custody(), bytes, no_key(), 0, from_custody);
        }

        // ----- Chunks: edits of good_multichunk (data chunks c0 c1 c2, final chunk f).
        let header = &multi.bytes[..multi.header_len];
        let [c0, c1, c2, f] = [0, 1, 2, 3].map(|i| multi.chunks[i].as_slice());
        let digest = multi.header.digest();
        let key = &multi.data_key;
        let plain = &multi.plaintext;
        let (one, all) = (MIN_CHUNK_SIZE as usize, multi_len);
        let chunk = |index: u64, flags: u8, payload: &[u8]| {
            craft_chunk(key, index, flags, &digest, payload, 0)
        };
        // The crafting is faithful: chunks made this way open as the writer's do.
        let remade = join(&[
            header,
            &chunk(0, 0, &plain[..one]),
            &chunk(1, 0, &plain[one..2 * one]),
            &chunk(2, 0, &plain[2 * one..]),
            &chunk(3, 1, &final_payload(&Sha256::digest(plain), all as u64)),
        ]);
        let control = run(&self.runtime, &remade, &KeySource::Raw(*key), MODES[0]);
        assert!(control.result.is_ok() && control.out == *plain, "crafted chunks open");

        let same_key = self.seal_with_key(
            MIN_CHUNK_SIZE,
            plain,
            &[StanzaSpec::Custody(&node_a, 2), StanzaSpec::Recipient(2, b_public)],
            multi.data_key,
        );
        let other_key = self.seal(
            MIN_CHUNK_SIZE,
            plain,
            &[StanzaSpec::Custody(&node_a, 2), StanzaSpec::Recipient(2, b_public)],
        );
        let mut wrong_hash = Sha256::digest(plain);
        wrong_hash[0] ^= 0x01;
        let chunk_cases: Vec<(&str, &str, Vec<u8>, usize)> = vec![
            (
                "fail_header_only",
                "good_multichunk's header alone: no chunk at all.",
                header.to_vec(),
                0,
            ),
            (
                "fail_truncated_in_length_prefix",
                "good_multichunk cut 2 bytes into the length prefix of its second chunk.",
                join(&[header, c0, &c1[..2]]),
                one,
            ),
            (
                "fail_truncated_mid_chunk",
                "good_multichunk cut in the middle of its second chunk's token.",
                join(&[header, c0, &c1[..c1.len() / 2]]),
                one,
            ),
            (
                "fail_truncated_before_final",
                "good_multichunk without its final chunk: every data chunk is intact, so a \
                 streaming reader may write all 2,348 bytes before it fails.",
                join(&[header, c0, c1, c2]),
                all,
            ),
            (
                "fail_truncated_in_final",
                "good_multichunk cut in the middle of its final chunk's token.",
                join(&[header, c0, c1, c2, &f[..f.len() / 2]]),
                all,
            ),
            (
                "fail_reordered_chunks",
                "good_multichunk with its first two data chunks swapped.",
                join(&[header, c1, c0, c2, f]),
                0,
            ),
            (
                "fail_dropped_chunk",
                "good_multichunk without its second data chunk.",
                join(&[header, c0, c2, f]),
                one,
            ),
            (
                "fail_duplicated_chunk",
                "good_multichunk with its first data chunk twice.",
                join(&[header, c0, c0, c1, c2, f]),
                one,
            ),
            (
                "fail_chunk_after_final",
                "good_multichunk with its first data chunk again after the final chunk.",
                join(&[header, c0, c1, c2, f, c0]),
                all,
            ),
            (
                "fail_trailing_byte",
                "good_multichunk followed by one zero byte.",
                join(&[header, c0, c1, c2, f, &[0]]),
                all,
            ),
            (
                "fail_spliced_same_data_key",
                "good_multichunk with its second chunk taken from another envelope of the same \
                 plaintext under the same data key (another envelope id): the chunk \
                 authenticates but is bound to the other header.",
                join(&[header, c0, &same_key.chunks[1], c2, f]),
                one,
            ),
            (
                "fail_spliced_other_data_key",
                "good_multichunk with its second chunk taken from another envelope of the same \
                 plaintext under another data key.",
                join(&[header, c0, &other_key.chunks[1], c2, f]),
                one,
            ),
            (
                "fail_chunk_bitflip",
                "good_multichunk with one base64 character in the middle of its second \
                 chunk's token changed.",
                join(&[header, c0, &flip_token_char(c1), c2, f]),
                one,
            ),
            (
                "fail_token_length_zero",
                "good_multichunk with its second chunk's length prefix 0.",
                join(&[header, c0, &[0; 4], &c1[4..], c2, f]),
                one,
            ),
            (
                "fail_token_length_huge",
                "good_multichunk with its second chunk's length prefix 0xFFFFFFFF (far above \
                 the longest token a 1024-byte chunk makes).",
                join(&[header, c0, &[0xff; 4], &c1[4..], c2, f]),
                one,
            ),
            (
                "fail_chunk_future_timestamp",
                "good_multichunk with its second chunk re-encrypted (same content, data key) \
                 under Fernet timestamp 2^64-1 instead of 0.",
                join(&[
                    header,
                    c0,
                    &craft_chunk(key, 1, 0, &digest, &plain[one..2 * one], u64::MAX),
                    c2,
                    f,
                ]),
                one,
            ),
            (
                "fail_final_hash_mismatch",
                "good_multichunk with its final chunk remade (with the data key) to record a \
                 SHA-256 with one bit flipped.",
                join(&[header, c0, c1, c2, &chunk(3, 1, &final_payload(&wrong_hash, all as u64))]),
                all,
            ),
            (
                "fail_final_length_mismatch",
                "good_multichunk with its final chunk remade (with the data key) to record \
                 length 2,349 instead of 2,348.",
                join(&[
                    header,
                    c0,
                    c1,
                    c2,
                    &chunk(3, 1, &final_payload(&Sha256::digest(plain), all as u64 + 1)),
                ]),
                all,
            ),
            (
                "fail_empty_data_chunk",
                "good_multichunk remade (with the data key) with an empty data chunk (flags 0, \
                 no payload) at index 1 and the later chunks renumbered.",
                join(&[
                    header,
                    c0,
                    &chunk(1, 0, b""),
                    &chunk(2, 0, &plain[one..2 * one]),
                    &chunk(3, 0, &plain[2 * one..]),
                    &chunk(4, 1, &final_payload(&Sha256::digest(plain), all as u64)),
                ]),
                one,
            ),
            (
                "fail_oversized_data_chunk",
                "good_multichunk remade (with the data key) with a first data chunk of 1025 \
                 bytes, one over the chunk size, and the rest in chunks of 1024 and 299.",
                join(&[
                    header,
                    &chunk(0, 0, &plain[..one + 1]),
                    &chunk(1, 0, &plain[one + 1..2 * one + 1]),
                    &chunk(2, 0, &plain[2 * one + 1..]),
                    &chunk(3, 1, &final_payload(&Sha256::digest(plain), all as u64)),
                ]),
                0,
            ),
            (
                "fail_unknown_chunk_flags",
                "good_multichunk with its second chunk remade (with the data key) with flags 2.",
                join(&[header, c0, &chunk(1, 2, &plain[one..2 * one]), c2, f]),
                one,
            ),
            (
                "fail_final_payload_short",
                "good_multichunk with its final chunk remade (with the data key) with a \
                 39-byte payload (the hash and 7 of the 8 length bytes).",
                join(&[
                    header,
                    c0,
                    c1,
                    c2,
                    &chunk(3, 1, &final_payload(&Sha256::digest(plain), all as u64)[..39]),
                ]),
                all,
            ),
            (
                "fail_chunk_shorter_than_prefix",
                "good_multichunk with its second chunk remade (with the data key) as a token \
                 of 40 bytes: index, flags and 31 of the 32 header digest bytes.",
                join(&[
                    header,
                    c0,
                    &{
                        let fernet = fernet::Fernet::new(&URL_SAFE.encode(key)).expect("a key");
                        let mut short = 1u64.to_be_bytes().to_vec();
                        short.push(0);
                        short.extend_from_slice(&digest[..31]);
                        length_prefixed(fernet.encrypt_at_time(&short, 0).as_bytes())
                    },
                    c2,
                    f,
                ]),
                one,
            ),
        ];
        for (name, description, bytes, max_out) in chunk_cases {
            let corrupt = (EnvelopeError::Corrupt, Stage::Chunks);
            self.fail(name, description, both(), bytes, corrupt, max_out, Some("good_multichunk"));
        }
        let large_flipped = join(&[
            &large.bytes[..large.header_len],
            &flip_token_char(&large.chunks[0]),
            &large.chunks[1],
            &large.chunks[2],
        ]);
        self.fail(
            "fail_large_chunk_bitflip",
            "good_large_chunks with one base64 character in the middle of its first chunk's \
             token changed: the failure is found on a worker thread.",
            a_custody(),
            large_flipped,
            (EnvelopeError::Corrupt, Stage::Chunks),
            0,
            Some("good_large_chunks"),
        );
        self.files
    }
}

fn opener(keyring: &str, passphrase: &str, stanza: &str) -> Opener {
    Opener { keyring: keyring.into(), passphrase: passphrase.into(), stanza: stanza.into() }
}

/// What else gives the same error variant: the classes are coarse on purpose.
fn error_note(error: &EnvelopeError) -> &'static str {
    match error {
        EnvelopeError::NotAnEnvelope => {
            "EnvelopeError::NotAnEnvelope. The same variant covers every header that does not \
             parse: bad magic, unknown version byte, chunk size out of range, too many stanzas, \
             unknown stanza kind, stanza body over the limit, and input that ends inside the \
             header. The reader does not say which."
        }
        EnvelopeError::NoMatchingKey => {
            "EnvelopeError::NoMatchingKey. The same variant covers a key version the keyring \
             lacks, a stanza wrapped to another key, a stanza whose bytes were altered, a fixed \
             header (chunk size, envelope id) changed after sealing (stanzas are bound to the \
             header digest), and a header without stanzas."
        }
        EnvelopeError::RetiredKey => {
            "EnvelopeError::RetiredKey: only when no stanza opens and a custody stanza names a \
             master key version below the keyring's minimum decryption version."
        }
        EnvelopeError::Corrupt => {
            "EnvelopeError::Corrupt. The same variant covers a bad header MAC, every chunk \
             failure (truncation, reordering, dropping, duplication, splicing, altered tokens, \
             bad length prefixes, bad flags or sizes, a final chunk that does not match) and \
             data after the final chunk. The reader does not say which."
        }
        _ => "",
    }
}
