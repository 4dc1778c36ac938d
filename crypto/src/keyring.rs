//! The node's keyring: versioned master keys and X25519 node keys, in a file encrypted
//! under a passphrase.
//!
//! The file is JSON: the KDF's name, iteration count and salt, and a Fernet token whose
//! key is PBKDF2-HMAC-SHA256(passphrase, salt) (the construction the seed describes, so
//! Python's `cryptography` can open it too). New files use [`KDF_ITERATIONS`]; files
//! made with the seed's 480,000 iterations still open and move to the current count on
//! the next save. The key is derived once when the file is opened, never per request.
//!
//! Rotation works like Vault's transit engine: [`Keyring::rotate_master`] adds version
//! N+1 for new writes; `envelope::rewrap` moves custody stanzas to it; raising the
//! minimum decryption version retires older keys for good. Writes are atomic: a crash
//! leaves either the old file or the new one.

use crate::keys::{random_bytes, MasterKey, NodeSecretKey, Passphrase};
use base64::{engine::general_purpose::URL_SAFE, Engine as _};
use datamgmt_abi::{EncryptionKey, KeyVersion};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::{collections::BTreeMap, io::Write, path::Path};
use zeroize::Zeroizing;

/// PBKDF2 iterations for new keyring files (OWASP's figure for PBKDF2-HMAC-SHA256).
pub const KDF_ITERATIONS: u32 = 600_000;
/// Fewest iterations a keyring file may have and still open (the seed's figure).
pub const MIN_KDF_ITERATIONS: u32 = 480_000;
/// Most iterations a keyring file may ask for: more would stall start-up for minutes.
pub const MAX_KDF_ITERATIONS: u32 = 20_000_000;
const FORMAT: &str = "datamgmt-keyring/1";
const KDF_ALGORITHM: &str = "pbkdf2-hmac-sha256";

/// Why a key could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No key has this version.
    #[error("no key with this version")]
    Unknown,
    /// The version is below the minimum decryption version.
    #[error("this key version is retired")]
    Retired,
}

/// Why a keyring file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// The file could not be read or written.
    #[error("keyring file I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not a keyring of a known format.
    #[error("not a keyring file of a supported format")]
    BadFormat,
    /// The file's iteration count is below [`MIN_KDF_ITERATIONS`].
    #[error("the keyring's key derivation is too weak ({0} iterations)")]
    WeakKdf(u32),
    /// Wrong passphrase, or the file was altered.
    #[error("wrong passphrase, or the keyring file was altered")]
    Decryption,
    /// A version change that would break the keyring.
    #[error("{0}")]
    InvalidVersion(&'static str),
}

/// The key that encrypts the keyring file, with the parameters that made it.
#[derive(Clone)]
struct FileKey {
    salt: [u8; 16],
    iterations: u32,
    key: MasterKey,
}

impl FileKey {
    fn derive(passphrase: &Passphrase, salt: [u8; 16], iterations: u32) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(passphrase.as_bytes(), &salt, iterations, &mut key[..]);
        Self { salt, iterations, key: MasterKey::from_bytes(*key) }
    }
}

/// A node's keys. Not `Debug`: it holds secrets.
#[derive(Clone)]
pub struct Keyring {
    master_keys: BTreeMap<KeyVersion, MasterKey>,
    min_decrypt_version: KeyVersion,
    node_keys: BTreeMap<KeyVersion, NodeSecretKey>,
    /// The public halves of `node_keys`, derived once (every envelope opened for this
    /// node compares against one).
    node_public_keys: BTreeMap<KeyVersion, EncryptionKey>,
    file_key: FileKey,
}

fn public_halves(
    node_keys: &BTreeMap<KeyVersion, NodeSecretKey>,
) -> BTreeMap<KeyVersion, EncryptionKey> {
    node_keys.iter().map(|(version, key)| (*version, key.public_key())).collect()
}

/// The decrypted file payload.
#[derive(Serialize, Deserialize)]
struct Payload {
    master_keys: Vec<StoredKey>,
    min_decrypt_version: KeyVersion,
    node_keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    version: KeyVersion,
    key: String,
}

/// The file as stored.
#[derive(Serialize, Deserialize)]
struct KeyringFile {
    format: String,
    kdf: KdfParams,
    payload: String,
}

#[derive(Serialize, Deserialize)]
struct KdfParams {
    algorithm: String,
    iterations: u32,
    salt: String,
}

impl Keyring {
    /// A new keyring with master key version 1 and node key version 1, to be saved under
    /// `passphrase`. Derives the file key (about a third of a second).
    ///
    /// # Examples
    ///
    /// ```
    /// use datamgmt_crypto::keyring::Keyring;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("keyring.json");
    /// let mut keyring = Keyring::generate(&"a passphrase".into());
    /// assert_eq!(keyring.rotate_master(), 2);
    /// keyring.save(&path)?;
    ///
    /// let reopened = Keyring::open(&path, &"a passphrase".into())?;
    /// assert_eq!(reopened.current_master().0, 2);
    /// assert!(Keyring::open(&path, &"another passphrase".into()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn generate(passphrase: &Passphrase) -> Self {
        let node_keys = BTreeMap::from([(1, NodeSecretKey::generate())]);
        Self {
            master_keys: BTreeMap::from([(1, MasterKey::generate())]),
            min_decrypt_version: 1,
            node_public_keys: public_halves(&node_keys),
            node_keys,
            file_key: FileKey::derive(passphrase, random_bytes(), KDF_ITERATIONS),
        }
    }

    /// Opens a keyring file.
    pub fn open(path: &Path, passphrase: &Passphrase) -> Result<Self, KeyringError> {
        let file: KeyringFile =
            serde_json::from_slice(&std::fs::read(path)?).map_err(|_| KeyringError::BadFormat)?;
        if file.format != FORMAT || file.kdf.algorithm != KDF_ALGORITHM {
            return Err(KeyringError::BadFormat);
        }
        if file.kdf.iterations < MIN_KDF_ITERATIONS {
            return Err(KeyringError::WeakKdf(file.kdf.iterations));
        }
        if file.kdf.iterations > MAX_KDF_ITERATIONS {
            return Err(KeyringError::BadFormat);
        }
        let salt: [u8; 16] = decode_b64(&file.kdf.salt).ok_or(KeyringError::BadFormat)?;
        let mut file_key = FileKey::derive(passphrase, salt, file.kdf.iterations);
        let plaintext = Zeroizing::new(
            file_key.key.fernet().decrypt(&file.payload).map_err(|_| KeyringError::Decryption)?,
        );
        let payload: Payload =
            serde_json::from_slice(&plaintext).map_err(|_| KeyringError::BadFormat)?;
        if file.kdf.iterations < KDF_ITERATIONS {
            // Older, weaker file: the next save uses today's count, under a new salt.
            file_key = FileKey::derive(passphrase, random_bytes(), KDF_ITERATIONS);
        }
        let node_keys = decode_keys(&payload.node_keys, NodeSecretKey::from_bytes)?;
        let keyring = Self {
            master_keys: decode_keys(&payload.master_keys, MasterKey::from_bytes)?,
            min_decrypt_version: payload.min_decrypt_version,
            node_public_keys: public_halves(&node_keys),
            node_keys,
            file_key,
        };
        if keyring.master_keys.is_empty() || keyring.node_keys.is_empty() {
            return Err(KeyringError::BadFormat);
        }
        Ok(keyring)
    }

    /// Opens the keyring at `path`, or creates one there with fresh keys (and its
    /// directory) when there is none; the flag says whether it was created.
    pub fn open_or_create(
        path: &Path,
        passphrase: &Passphrase,
    ) -> Result<(Self, bool), KeyringError> {
        if path.exists() {
            return Ok((Self::open(path, passphrase)?, false));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let keyring = Self::generate(passphrase);
        keyring.save(path)?;
        Ok((keyring, true))
    }

    /// Writes the keyring to `path` atomically (temporary file in the same directory,
    /// synced, renamed over the old one), readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), KeyringError> {
        let payload = Payload {
            master_keys: encode_keys(&self.master_keys, |k| k.expose()),
            min_decrypt_version: self.min_decrypt_version,
            node_keys: encode_keys(&self.node_keys, |k| k.expose()),
        };
        let plaintext = Zeroizing::new(serde_json::to_vec(&payload).expect("serializable"));
        drop(payload);
        let file = KeyringFile {
            format: FORMAT.to_owned(),
            kdf: KdfParams {
                algorithm: KDF_ALGORITHM.to_owned(),
                iterations: self.file_key.iterations,
                salt: URL_SAFE.encode(self.file_key.salt),
            },
            payload: self.file_key.key.fernet().encrypt(&plaintext),
        };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer_pretty(&mut temp, &file).map_err(std::io::Error::other)?;
        temp.write_all(b"\n")?;
        temp.as_file().sync_all()?;
        temp.persist(path).map_err(|e| e.error)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// The newest master key, which new envelopes use.
    pub fn current_master(&self) -> (KeyVersion, &MasterKey) {
        let (version, key) = self.master_keys.last_key_value().expect("never empty");
        (*version, key)
    }

    /// The master key of `version`, if it may still decrypt.
    pub fn master_for_decrypt(&self, version: KeyVersion) -> Result<&MasterKey, KeyError> {
        if version < self.min_decrypt_version {
            return Err(KeyError::Retired);
        }
        self.master_keys.get(&version).ok_or(KeyError::Unknown)
    }

    /// Adds a new master key version for new writes; returns it.
    pub fn rotate_master(&mut self) -> KeyVersion {
        let next = self.current_master().0 + 1;
        self.master_keys.insert(next, MasterKey::generate());
        next
    }

    /// The lowest master key version that may still decrypt.
    pub fn min_decrypt_version(&self) -> KeyVersion {
        self.min_decrypt_version
    }

    /// Retires every master key version below `version`. It can only go up, and never
    /// past the newest key.
    pub fn set_min_decrypt_version(&mut self, version: KeyVersion) -> Result<(), KeyringError> {
        if version < self.min_decrypt_version {
            return Err(KeyringError::InvalidVersion(
                "the minimum decryption version only goes up",
            ));
        }
        if version > self.current_master().0 {
            return Err(KeyringError::InvalidVersion("no master key that new"));
        }
        self.min_decrypt_version = version;
        Ok(())
    }

    /// The node's X25519 secret key of `version`.
    pub fn node_key(&self, version: KeyVersion) -> Option<&NodeSecretKey> {
        self.node_keys.get(&version)
    }

    /// The public half of the node key of `version`.
    pub fn node_public_key(&self, version: KeyVersion) -> Option<EncryptionKey> {
        self.node_public_keys.get(&version).copied()
    }

    /// The newest node key's version and public half, as registered on chain.
    pub fn current_node_public_key(&self) -> (KeyVersion, EncryptionKey) {
        let (version, key) = self.node_public_keys.last_key_value().expect("never empty");
        (*version, *key)
    }

    /// Adds a new X25519 node key version; returns it. Older versions stay, so data
    /// wrapped to them still opens.
    pub fn rotate_node_key(&mut self) -> KeyVersion {
        let next = self.current_node_public_key().0 + 1;
        let key = NodeSecretKey::generate();
        self.node_public_keys.insert(next, key.public_key());
        self.node_keys.insert(next, key);
        next
    }

    /// PBKDF2 iterations the file is (or will be) saved with.
    pub fn kdf_iterations(&self) -> u32 {
        self.file_key.iterations
    }
}

fn decode_b64<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = Zeroizing::new(URL_SAFE.decode(text).ok()?);
    bytes.as_slice().try_into().ok()
}

fn decode_keys<K>(
    stored: &[StoredKey],
    make: impl Fn([u8; 32]) -> K,
) -> Result<BTreeMap<KeyVersion, K>, KeyringError> {
    let mut keys = BTreeMap::new();
    for entry in stored {
        let bytes = decode_b64(&entry.key).ok_or(KeyringError::BadFormat)?;
        if entry.version == 0 || keys.insert(entry.version, make(bytes)).is_some() {
            return Err(KeyringError::BadFormat);
        }
    }
    Ok(keys)
}

fn encode_keys<K>(
    keys: &BTreeMap<KeyVersion, K>,
    bytes: impl Fn(&K) -> &[u8; 32],
) -> Vec<StoredKey> {
    keys.iter()
        .map(|(version, key)| StoredKey { version: *version, key: URL_SAFE.encode(bytes(key)) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passphrase() -> Passphrase {
        Passphrase::from("correct horse battery staple")
    }

    #[test]
    fn save_and_open_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let mut keyring = Keyring::generate(&passphrase());
        keyring.rotate_master();
        keyring.save(&path).unwrap();
        let opened = Keyring::open(&path, &passphrase()).unwrap();
        assert_eq!(opened.current_master().0, 2);
        assert_eq!(opened.current_master().1.expose(), keyring.current_master().1.expose());
        assert_eq!(opened.current_node_public_key(), keyring.current_node_public_key());
        assert_eq!(opened.kdf_iterations(), KDF_ITERATIONS);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"iterations\": 600000"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "keyring readable by its owner only");
    }

    #[test]
    fn wrong_passphrase_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        Keyring::generate(&passphrase()).save(&path).unwrap();
        assert!(matches!(
            Keyring::open(&path, &Passphrase::from("wrong")),
            Err(KeyringError::Decryption)
        ));
    }

    #[test]
    fn seed_iteration_count_opens_and_upgrades() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let mut old = Keyring::generate(&passphrase());
        old.file_key = FileKey::derive(&passphrase(), random_bytes(), MIN_KDF_ITERATIONS);
        old.save(&path).unwrap();
        let opened = Keyring::open(&path, &passphrase()).unwrap();
        assert_eq!(opened.kdf_iterations(), KDF_ITERATIONS);
        opened.save(&path).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("\"iterations\": 600000"));
        Keyring::open(&path, &passphrase()).unwrap();
    }

    #[test]
    fn weak_kdf_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let mut weak = Keyring::generate(&passphrase());
        weak.file_key = FileKey::derive(&passphrase(), random_bytes(), 1_000);
        weak.save(&path).unwrap();
        assert!(matches!(Keyring::open(&path, &passphrase()), Err(KeyringError::WeakKdf(1_000))));
    }

    #[test]
    fn min_decrypt_version_only_goes_up_to_the_newest() {
        let mut keyring = Keyring::generate(&passphrase());
        assert!(keyring.set_min_decrypt_version(2).is_err());
        keyring.rotate_master();
        keyring.set_min_decrypt_version(2).unwrap();
        assert_eq!(keyring.master_for_decrypt(1).err(), Some(KeyError::Retired));
        assert!(keyring.master_for_decrypt(2).is_ok());
        assert!(keyring.set_min_decrypt_version(1).is_err());
        assert_eq!(keyring.master_for_decrypt(3).err(), Some(KeyError::Unknown));
    }

    /// Environment variable that turns `save_loop_helper` into an endless saver.
    const SAVE_LOOP_ENV: &str = "DATAMGMT_KEYRING_SAVE_LOOP";

    /// Not a check of its own: the child process of `save_survives_being_killed`.
    #[test]
    fn save_loop_helper() {
        let Some(path) = std::env::var_os(SAVE_LOOP_ENV) else { return };
        let path = std::path::PathBuf::from(path);
        let mut keyring = Keyring::open(&path, &passphrase()).unwrap();
        println!("saving");
        loop {
            keyring.rotate_master();
            keyring.save(&path).unwrap();
        }
    }

    /// Kills a process in the middle of saving, again and again: the file always opens.
    #[test]
    fn save_survives_being_killed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        Keyring::generate(&passphrase()).save(&path).unwrap();
        let mut newest = 1;
        for round in 0..12u64 {
            let mut child = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["keyring::tests::save_loop_helper", "--exact", "--nocapture"])
                .env(SAVE_LOOP_ENV, &path)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // Wait until the child has opened the keyring and started saving.
            let mut lines =
                std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
            while !lines.next().unwrap().unwrap().contains("saving") {}
            std::thread::sleep(std::time::Duration::from_millis(5 + 7 * round));
            child.kill().unwrap();
            child.wait().unwrap();
            let opened = Keyring::open(&path, &passphrase()).expect("a whole keyring survives");
            assert!(opened.current_master().0 >= newest);
            newest = opened.current_master().0;
        }
        assert!(newest > 1, "the child did save while it ran");
    }
}
