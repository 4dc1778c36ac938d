//! The storage conformance suite against a real S3 server: Garage, started by
//! `scripts/garage.sh up` (which `scripts/test.sh` runs), with the settings it wrote to
//! `s3.json` in the state directory (`DATAMGMT_S3_STATE` names another file).

use datamgmt_relay::storage::{suite, EnvelopeStore, StorageConfig};
use std::path::PathBuf;

fn garage_config() -> StorageConfig {
    let path = std::env::var_os("DATAMGMT_S3_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.devnet/s3.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("no S3 settings at {} ({e}): run scripts/garage.sh up first", path.display())
    });
    let mut settings: serde_json::Value = serde_json::from_str(&text).expect("S3 settings JSON");
    settings["kind"] = "s3".into();
    serde_json::from_value(settings).expect("S3 settings")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garage_passes_the_storage_suite() {
    let store = EnvelopeStore::open(&garage_config()).expect("S3 store opens");
    suite::run_all(&store).await;
}
