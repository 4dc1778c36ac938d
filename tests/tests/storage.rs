//! The storage conformance suite against a real S3 server: Garage, started by
//! `scripts/garage.sh up` (which `scripts/test.sh` runs), with the settings it wrote to
//! `s3.json` in the state directory (`DATAMGMT_S3_STATE` names another file).

use datamgmt_relay::storage::{suite, EnvelopeStore};
use datamgmt_tests::garage_storage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garage_passes_the_storage_suite() {
    let store = EnvelopeStore::open(&garage_storage()).expect("S3 store opens");
    suite::run_all(&store).await;
}

/// One node of a three-node Garage cluster (replication factor 3) is killed while
/// uploads and downloads are under way: every one of them finishes, and every object
/// reads back identical. The relay talks to node 0; node 2 is the one lost. Needs the
/// cluster `scripts/test.sh` starts for its storage stage (`DATAMGMT_S3_NODES=3
/// scripts/garage.sh up`, with `DATAMGMT_S3_STATE` naming its settings).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a three-node Garage cluster: DATAMGMT_S3_NODES=3 scripts/garage.sh up, then --run-ignored all"]
async fn a_lost_garage_node_loses_no_upload_and_no_download() {
    use datamgmt_abi::ShareId;
    use sha2::{Digest, Sha256};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let store = EnvelopeStore::open(&garage_storage()).expect("S3 store opens");
    let state =
        std::env::var("DATAMGMT_S3_STATE").expect("DATAMGMT_S3_STATE names the cluster's settings");
    let victim = std::path::Path::new(&state).with_file_name("garage/node2/garage.pid");
    let victim = std::fs::read_to_string(&victim)
        .unwrap_or_else(|e| panic!("{}: {e} (not a three-node cluster?)", victim.display()));
    let object = |seed: u8| -> std::sync::Arc<Vec<u8>> {
        // 20 MiB: three parts of the store's 8 MiB, written and read one after another.
        std::sync::Arc::new(
            (0..20 << 20).map(|i: usize| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect(),
        )
    };
    let objects: Vec<std::sync::Arc<Vec<u8>>> = (0..6u8).map(object).collect();
    // Objects stored before the loss, read during it.
    let mut stored = Vec::new();
    for seed in 0..3u8 {
        let id = ShareId(rand::random());
        let mut upload = store.upload(id).await.unwrap();
        upload.write_all(&objects[seed as usize]).await.unwrap();
        upload.complete().await.unwrap();
        stored.push((id, seed));
    }
    // Slow transfers, a slice at a time (about 3 s each), so each spans the moment the
    // node dies: parts and ranges go before it and after it.
    let moved = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut transfers = tokio::task::JoinSet::new();
    for seed in 3..6u8 {
        let (store, moved, finished) = (store.clone(), moved.clone(), finished.clone());
        let data = objects[seed as usize].clone();
        transfers.spawn(async move {
            let id = ShareId(rand::random());
            let mut upload = store.upload(id).await.map_err(|e| e.to_string())?;
            for slice in data.chunks(256 << 10) {
                upload.write_all(slice).await.map_err(|e| e.to_string())?;
                moved.fetch_add(slice.len(), std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            upload.complete().await.map_err(|e| e.to_string())?;
            finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, String>((id, seed))
        });
    }
    for &(id, seed) in &stored {
        let (store, moved, finished) = (store.clone(), moved.clone(), finished.clone());
        let data = objects[seed as usize].clone();
        transfers.spawn(async move {
            let (mut reader, _) = store.download(id).await.map_err(|e| e.to_string())?;
            let mut back = Vec::new();
            let mut slice = vec![0u8; 256 << 10];
            loop {
                let n = reader.read(&mut slice).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                back.extend_from_slice(&slice[..n]);
                moved.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            if Sha256::digest(&back) != Sha256::digest(data.as_slice()) {
                return Err(format!("{id} came back different"));
            }
            finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok((id, seed))
        });
    }
    // The node dies once the six have moved about 9 MiB each on average: past their
    // first 8 MiB part or range, none done.
    while moved.load(std::sync::atomic::Ordering::SeqCst) < 6 * (9 << 20) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(finished.load(std::sync::atomic::Ordering::SeqCst), 0, "all six are under way");
    let killed =
        std::process::Command::new("kill").args(["-KILL", victim.trim()]).status().unwrap();
    assert!(killed.success(), "node 2 (pid {}) is killed", victim.trim());
    let mut written = Vec::new();
    while let Some(done) = transfers.join_next().await {
        let (id, seed) = done.unwrap().expect("every transfer finishes with a node lost");
        written.push((id, seed));
    }
    assert_eq!(written.len(), 6);
    // Everything reads back identical from the two nodes left.
    for (id, seed) in written {
        let (mut reader, _) = store.download(id).await.unwrap();
        let mut back = Vec::new();
        reader.read_to_end(&mut back).await.unwrap();
        assert_eq!(
            Sha256::digest(&back),
            Sha256::digest(objects[seed as usize].as_slice()),
            "{id}"
        );
    }
}
