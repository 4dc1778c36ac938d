//! Three nodes on the devnet, for the suites that need several: relay processes A, B
//! and C with accounts of their own.

use crate::{Devnet, RelayProcess, TestNode};
use datamgmt_abi::DataHash;
use datamgmt_abi::ShareId;
use datamgmt_client::api::{DataResponse, ErrorCode, ReadParams, RelayError, VerifyParams};
use serde_json::{json, Value};
use std::time::Duration;

/// Three relay processes on the devnet, each its own node: A stores in Garage, B and C
/// on local disk.
pub struct Network {
    /// The devnet.
    pub devnet: Devnet,
    /// Relay A (Garage).
    pub a: RelayProcess,
    /// Relay B (local disk).
    pub b: RelayProcess,
    /// Relay C (local disk).
    pub c: RelayProcess,
    /// A's account.
    pub node_a: TestNode,
    /// B's account.
    pub node_b: TestNode,
    /// C's account.
    pub node_c: TestNode,
    _dir: tempfile::TempDir,
}

impl Network {
    /// Starts A, B and C for fresh funded accounts.
    pub async fn start() -> Self {
        let devnet = Devnet::connect().await;
        let dir = tempfile::tempdir().unwrap();
        let node_a = devnet.funded_account("p2p-a").await;
        let node_b = devnet.funded_account("p2p-b").await;
        let node_c = devnet.funded_account("p2p-c").await;
        let a = RelayProcess::start(&dir.path().join("a"), &node_a, &devnet.state, true).await;
        let b = RelayProcess::start(&dir.path().join("b"), &node_b, &devnet.state, false).await;
        let c = RelayProcess::start(&dir.path().join("c"), &node_c, &devnet.state, false).await;
        Self { devnet, a, b, c, node_a, node_b, node_c, _dir: dir }
    }

    /// A shares `data` with B on these terms; returns the share id and data hash.
    pub async fn share(&self, data: &str, terms: Value) -> (ShareId, String) {
        let mut request = json!({"data": data, "recipient": self.node_b.account.to_string()});
        request.as_object_mut().unwrap().extend(terms.as_object().unwrap().clone());
        let (status, body) = self.a.request("POST", "/share_data", Some(&request)).await;
        assert_eq!(status, 200, "{body}");
        (
            body["share_id"].as_str().unwrap().parse().unwrap(),
            body["data_hash"].as_str().unwrap().to_owned(),
        )
    }

    /// B's `GET /data/{hash}`, once B's indexer has seen the share.
    pub async fn b_reads(&self, hash: &str) -> (u16, Value) {
        let path = format!("/data/{hash}");
        for _ in 0..60 {
            let (status, body) = self.b.request("GET", &path, None).await;
            let unseen = status == 404
                && body["error"]["message"].as_str().unwrap_or("").contains("no data");
            if !unseen {
                return (status, body);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let log = std::fs::read_to_string(self.b.log()).unwrap_or_default();
        panic!("B's index never saw {hash}; B's log:\n{log}");
    }

    /// B reads `hash` through its typed client, once B's indexer has seen the share.
    pub async fn b_gets(&self, hash: &str) -> Result<DataResponse, RelayError> {
        let hash: DataHash = hash.parse().expect("a data hash");
        let api = self.b.client();
        for _ in 0..60 {
            match api.get_data(&hash, &ReadParams::default()).await {
                Err(error)
                    if error.code() == Some(ErrorCode::NotFound)
                        && error.to_string().contains("no data") =>
                {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                answer => return answer,
            }
        }
        let log = std::fs::read_to_string(self.b.log()).unwrap_or_default();
        panic!("B's index never saw {hash}; B's log:\n{log}");
    }

    /// The records of `share_id` in A's proof for `hash`, as (kind, time), in the
    /// proof's order.
    pub async fn a_proof_of(&self, hash: &str, share_id: ShareId) -> Vec<(String, String)> {
        let proof = self.a.client().verify(hash, &VerifyParams::default()).await.unwrap();
        proof
            .records
            .iter()
            .filter(|record| record.share_id == share_id)
            .map(|record| (record.kind().to_owned(), record.timestamp.clone()))
            .collect()
    }

    /// A's count of key releases.
    pub async fn releases(&self) -> u64 {
        let count = self.a.metric("datamgmt_key_releases_total").await;
        count.and_then(|n| n.trim().parse().ok()).expect("the release counter")
    }
}
