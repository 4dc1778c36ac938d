//! End-to-end mode: the sharer's CLI encrypts for the recipient alone and the sharer's
//! relay only stores and releases the envelope. The breach test takes everything relay
//! A has (its object store, its database, its keyring with the passphrase, its log and
//! configuration) and finds neither the plaintext nor the data key in it, nor any key
//! that opens the envelope; B's key does.

use datamgmt_abi::ShareId;
use datamgmt_client::api::{ErrorCode, ReadParams, ShareDataResponse};
use datamgmt_client::envelope::{self, Header};
use datamgmt_client::keyring::Keyring;
use datamgmt_relay::storage::EnvelopeStore;
use datamgmt_tests::{garage_storage, workspace_binary, Network, RELAY_PASSPHRASE};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio::io::AsyncReadExt;

const MARKER: &[u8] = b"MERGER-PLAN-TOP-SECRET-7731";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_a_holds_nothing_that_opens_an_end_to_end_share() {
    let net = Network::start().await;
    let dir = tempfile::tempdir().unwrap();
    let plaintext: Vec<u8> = MARKER.iter().copied().cycle().take(300_000).collect();
    let file = dir.path().join("plan.txt");
    std::fs::write(&file, &plaintext).unwrap();
    let (_, b_health) = net.b.request("GET", "/healthz", None).await;
    let b_node = b_health["node_id"].as_str().unwrap();

    let output = Command::new(workspace_binary("dmn"))
        .env("DMN_ENDPOINT", net.a.address.url())
        .env("DMN_CA_CERT", &datamgmt_tests::local_tls().ca)
        .env("DMN_TOKEN", &net.a.token)
        .env("DATAMGMT_DEPLOY_STATE", datamgmt_tests::deploy_state_path())
        .args(["--json", "share", "--e2e", "--recipient", b_node])
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let shared: ShareDataResponse = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shared.encryption.key_version, 0, "no custody key: {shared:?}");
    let share_id: ShareId = shared.share_id;
    let hash = shared.data_hash.to_string();

    // B reads it through A; A itself cannot.
    let read = net.b_gets(&hash).await.unwrap();
    assert_eq!(read.data.as_bytes(), plaintext.as_slice());
    assert!(read.verified);
    let refused = net.a.client().get_data(&shared.data_hash, &ReadParams::default()).await;
    assert_eq!(refused.unwrap_err().code(), Some(ErrorCode::Conflict));

    // A contrasting custodial share, which A can open: the same checks must see it.
    let (custodial_id, _) = net.share("custodial control", serde_json::json!({})).await;

    // The breach: everything A has.
    let garage = EnvelopeStore::open(&garage_storage()).unwrap();
    let envelope = read_object(&garage, share_id).await;
    let custodial = read_object(&garage, custodial_id).await;
    let mut loot: Vec<(String, Vec<u8>)> = Vec::new();
    for id in garage.list().await.unwrap() {
        loot.push((format!("object {id}"), read_object(&garage, id).await));
    }
    for entry in walk(net.a.dir()) {
        loot.push((entry.display().to_string(), std::fs::read(&entry).unwrap()));
    }
    assert!(loot.iter().any(|(name, _)| name.ends_with("index.db")), "A's database is in the loot");

    // 1. No plaintext anywhere.
    for (name, bytes) in &loot {
        assert!(!contains(bytes, MARKER), "plaintext found in {name}");
    }
    // 2. A's keyring, passphrase and all, opens neither stanza of the end-to-end
    //    envelope, while it opens the custodial one.
    let a_keyring = Keyring::open(&net.a.keyring_path(), &RELAY_PASSPHRASE.into()).unwrap();
    let header = Header::read(&mut envelope.as_slice()).await.unwrap();
    assert!(header.open_custody(&a_keyring).is_err());
    assert!(header.open_recipient(&a_keyring).is_err());
    let custodial_header = Header::read(&mut custodial.as_slice()).await.unwrap();
    assert!(custodial_header.open_custody(&a_keyring).is_ok(), "the control share opens");
    // 3. B's key opens it, and the data key it yields is nowhere in the loot, in any of
    //    the forms a key is written in.
    let b_keyring = Keyring::open(&net.b.keyring_path(), &RELAY_PASSPHRASE.into()).unwrap();
    let data_key = header.open_recipient(&b_keyring).unwrap();
    let mut chunks = &envelope[header.encoded_len()..];
    let mut opened = Vec::new();
    envelope::decrypt(&mut chunks, &mut opened, &header, &data_key, 1).await.unwrap();
    assert_eq!(opened, plaintext);
    let key = data_key.expose_for_tests();
    let forms = [
        key.to_vec(),
        hex::encode(key).into_bytes(),
        base64_url(key).into_bytes(),
        base64_url(key).trim_end_matches('=').as_bytes().to_vec(),
    ];
    for (name, bytes) in &loot {
        for form in &forms {
            assert!(!contains(bytes, form), "the data key is in {name}");
        }
    }
}

async fn read_object(store: &EnvelopeStore, id: ShareId) -> Vec<u8> {
    for _ in 0..20 {
        if let Ok((mut reader, _)) = store.download(id).await {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).await.unwrap();
            return bytes;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("object {id} is not in the store");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}
