//! A relay whose PostgreSQL index goes away: it answers 503 (with `Retry-After`) while
//! the database is down, not a hang and not a wrong answer, and recovers by itself when
//! the database is back, the chain writer lease included. The test runs a PostgreSQL
//! cluster of its own (`scripts/postgres.sh` with its own state directory and port), so
//! stopping it disturbs no other test.

use datamgmt_tests::{http, Devnet, RelayProcess};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// `scripts/postgres.sh COMMAND` for the cluster in `state_dir` on `port`.
fn postgres(state_dir: &Path, port: u16, command: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh");
    let status = Command::new("bash")
        .arg(script)
        .arg(command)
        .env("DATAMGMT_STATE_DIR", state_dir)
        .env("DATAMGMT_PG_PORT", port.to_string())
        .status()
        .expect("bash runs");
    assert!(status.success(), "scripts/postgres.sh {command} failed");
}

/// Stops the cluster when the test ends, however it ends.
struct Cluster<'a>(&'a Path, u16);

impl Drop for Cluster<'_> {
    fn drop(&mut self) {
        postgres(self.0, self.1, "down");
    }
}

/// Status of `GET path` on `relay`, and how long the answer took.
async fn timed(relay: &RelayProcess, path: &str) -> (u16, Duration, String) {
    let began = Instant::now();
    let response = http(relay.address, &relay.token, "GET", path, "", b"").await;
    (response.status, began.elapsed(), response.head)
}

/// PostgreSQL stopped under a running relay: listings, `/readyz` and shares answer 503
/// within seconds while it is down; once it is back, the relay answers 200 again, holds
/// the chain writer lease again and shares data, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_down_is_503_and_the_relay_recovers_by_itself() {
    let devnet = Devnet::connect().await;
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("postgres-state");
    let port = datamgmt_tests::free_port();
    postgres(&state_dir, port, "up");
    let _cluster = Cluster(&state_dir, port);
    let url = std::fs::read_to_string(state_dir.join("postgres.url")).unwrap();
    let settings = format!("[database]\nurl = {}\n", serde_json::Value::from(url.trim()));
    let owner = devnet.funded_account("outage").await;
    let reader = devnet.registered_node("outage-reader").await;
    let relay = RelayProcess::start_with(
        &dir.path().join("relay"),
        &owner,
        &devnet.state,
        false,
        &settings,
    )
    .await;
    let share = serde_json::json!({"data": "before", "recipient": reader.account.to_string()});
    assert_eq!(relay.request("POST", "/share_data", Some(&share)).await.0, 200);
    assert_eq!(timed(&relay, "/data/list").await.0, 200);

    postgres(&state_dir, port, "stop");
    for path in ["/data/list", "/readyz"] {
        let (status, took, head) = timed(&relay, path).await;
        assert_eq!(status, 503, "{path} while the database is down");
        assert!(took < Duration::from_secs(10), "{path} answered in {took:?}");
        // An API answer tells the client when to try again (readiness is for balancers).
        if path != "/readyz" {
            assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
        }
    }
    let (status, body) = relay.request("POST", "/share_data", Some(&share)).await;
    assert_eq!(status, 503, "{body}");

    postgres(&state_dir, port, "start");
    let back = Instant::now();
    while timed(&relay, "/data/list").await.0 != 200 {
        assert!(back.elapsed() < Duration::from_secs(30), "still 503 30 s after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = back.elapsed();
    while timed(&relay, "/readyz").await.0 != 200 {
        assert!(back.elapsed() < Duration::from_secs(30), "/readyz still 503 after 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while relay.metric("datamgmt_chain_writer").await.as_deref() != Some("1") {
        assert!(back.elapsed() < Duration::from_secs(30), "the writer lease was not taken again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = serde_json::json!({"data": "after", "recipient": reader.account.to_string()});
    let (status, body) = relay.request("POST", "/share_data", Some(&after)).await;
    assert_eq!(status, 200, "{body}");
    eprintln!(
        "database outage: 503 while down; 200 again {} ms after PostgreSQL was back, \
         writer lease again {} ms after",
        recovered.as_millis(),
        back.elapsed().as_millis()
    );
}
