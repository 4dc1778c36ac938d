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
