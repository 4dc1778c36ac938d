//! One conformance suite for every storage backend: the relay's own tests run it on the
//! local filesystem, the end-to-end tests on Garage. Each check panics with what failed.

use super::{EnvelopeStore, StorageError};
use datamgmt_abi::ShareId;
use datamgmt_client::envelope::{self, Header, DEFAULT_CHUNK_SIZE};
use datamgmt_client::keyring::Keyring;
use datamgmt_client::keys::{DataKey, Passphrase};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fresh_id() -> ShareId {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("OS randomness");
    ShareId(bytes)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Runs every check against `store`.
pub async fn run_all(store: &EnvelopeStore) {
    small_object_round_trips(store).await;
    multipart_object_round_trips(store).await;
    aborted_upload_leaves_nothing(store).await;
    dropped_upload_leaves_nothing(store).await;
    missing_object_is_not_found(store).await;
    existing_object_is_not_overwritten(store).await;
    envelope_streams_through_the_store(store).await;
}

async fn put(store: &EnvelopeStore, id: ShareId, data: &[u8]) {
    let mut upload = store.upload(id).await.expect("upload starts");
    upload.write_all(data).await.expect("write");
    upload.complete().await.expect("upload completes");
}

async fn get(store: &EnvelopeStore, id: ShareId) -> Vec<u8> {
    let (mut reader, size) = store.download(id).await.expect("object is there");
    let mut data = Vec::new();
    reader.read_to_end(&mut data).await.expect("read");
    assert_eq!(data.len() as u64, size, "download size matches its content");
    data
}

/// A small object is written in one put and read back whole.
pub async fn small_object_round_trips(store: &EnvelopeStore) {
    let id = fresh_id();
    assert!(!store.exists(id).await.unwrap());
    put(store, id, b"small envelope").await;
    assert!(store.exists(id).await.unwrap());
    assert!(store.list().await.unwrap().contains(&id), "a stored envelope is listed");
    assert_eq!(get(store, id).await, b"small envelope");
    store.delete(id).await.unwrap();
    assert!(!store.exists(id).await.unwrap());
    store.delete(id).await.expect("deleting twice is fine");
}

/// An object larger than a part goes up in parts and comes back identical.
pub async fn multipart_object_round_trips(store: &EnvelopeStore) {
    let id = fresh_id();
    let data = pattern(3 * super::PART_SIZE + 12_345, 7);
    put(store, id, &data).await;
    let back = get(store, id).await;
    assert_eq!(Sha256::digest(&back), Sha256::digest(&data), "multipart content");
    store.delete(id).await.unwrap();
}

/// Parts written and then aborted never become an object.
pub async fn aborted_upload_leaves_nothing(store: &EnvelopeStore) {
    let id = fresh_id();
    let mut upload = store.upload(id).await.unwrap();
    upload.write_all(&pattern(2 * super::PART_SIZE, 1)).await.unwrap();
    upload.abort().await.unwrap();
    assert!(!store.exists(id).await.unwrap(), "an aborted upload is invisible");
    assert!(!store.list().await.unwrap().contains(&id), "an aborted upload is not listed");
}

/// An upload dropped mid-way (a failed request) never becomes an object.
pub async fn dropped_upload_leaves_nothing(store: &EnvelopeStore) {
    let id = fresh_id();
    let mut upload = store.upload(id).await.unwrap();
    upload.write_all(&pattern(super::PART_SIZE + 10, 2)).await.unwrap();
    upload.shutdown().await.expect("closing the stream does not publish");
    drop(upload);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!store.exists(id).await.unwrap(), "a dropped upload is invisible");
    assert!(!store.list().await.unwrap().contains(&id), "a dropped upload is not listed");
}

/// Reading a share that has no envelope says so.
pub async fn missing_object_is_not_found(store: &EnvelopeStore) {
    let id = fresh_id();
    assert!(
        matches!(store.download(id).await, Err(StorageError::NotFound(missing)) if missing == id)
    );
}

/// A second upload for the same share is refused before anything is written.
pub async fn existing_object_is_not_overwritten(store: &EnvelopeStore) {
    let id = fresh_id();
    put(store, id, b"first").await;
    assert!(
        matches!(store.upload(id).await, Err(StorageError::AlreadyExists(existing)) if existing == id)
    );
    assert_eq!(get(store, id).await, b"first");
    store.delete(id).await.unwrap();
}

/// An envelope encrypted straight into the store decrypts straight out of it.
pub async fn envelope_streams_through_the_store(store: &EnvelopeStore) {
    let keyring = Keyring::generate(&Passphrase::from("storage suite"));
    let data = pattern(5 * DEFAULT_CHUNK_SIZE as usize / 2, 9);
    let data_key = DataKey::generate();
    let mut header = Header::new(DEFAULT_CHUNK_SIZE).unwrap();
    let (version, master) = keyring.current_master();
    header.add_custody(version, master, &data_key).unwrap();
    let id = fresh_id();
    let mut upload = store.upload(id).await.unwrap();
    let sealed = envelope::encrypt(&data[..], &mut upload, &header, &data_key, 2).await.unwrap();
    upload.complete().await.unwrap();

    let (mut reader, size) = store.download(id).await.unwrap();
    assert_eq!(size, sealed.envelope_len);
    let header = Header::read(&mut reader).await.unwrap();
    let data_key = header.open_custody(&keyring).unwrap();
    let mut plaintext = Vec::new();
    let opened = envelope::decrypt(reader, &mut plaintext, &header, &data_key, 2).await.unwrap();
    assert_eq!(opened.content_hash, sealed.content_hash);
    assert_eq!(plaintext, data);
    store.delete(id).await.unwrap();
}
