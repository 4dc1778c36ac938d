//! Key-release throughput and latency with one and with two replicas of the owner node,
//! side by side in one run, and the CPU each release costs.
//!
//! Relay B reads a 1 KiB share of node A's under 32 clients (`wrk`, three runs of
//! `SECONDS` each per setup); every read is a full release by A (signed P2P request,
//! chain decision, nonce and outbox row, envelope re-wrapped for B). A is behind nginx
//! in each setup:
//!
//! - one relay on SQLite (the embedded default, for reference);
//! - one replica on PostgreSQL;
//! - two replicas on PostgreSQL, sharing the index, the keyring and the bucket.
//!
//! CPU per release is the user+system time (`/proc/<pid>/stat`) of A's relay processes,
//! and separately of every PostgreSQL server process on the machine, over the run,
//! divided by the releases answered. Rate limits are off: the release path is measured.
//!
//! Needs the devnet, the contract, Garage (`scripts/devnet.sh up && scripts/garage.sh up
//! && scripts/deploy.sh`), a PostgreSQL server (`scripts/postgres.sh up`, then
//! `DATAMGMT_TEST_POSTGRES` naming its `postgres` database), wrk and nginx, and release
//! builds of the binaries: `cargo build --release -p datamgmt-relay -p datamgmt-client
//! --bins && cargo bench -p datamgmt-tests --bench replicas`.

use datamgmt_tests::{Devnet, LoadBalancer, RelayProcess};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const CLIENTS: u32 = 32;
const RUNS: usize = 3;
const SECONDS: u32 = 15;

/// Rate limits off, so that one share read by one node hundreds of times a second is
/// what is measured (as `scripts/bench-p2p.toml`).
const UNLIMITED: &str = "[releases]\nper_share_recipient_per_minute = 0\n\
    [peers]\nallow_loopback = true\nrequests_per_second = 0\n";

/// One wrk run's figures.
struct Run {
    releases_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: u64,
    relay_cpu_ms_per_release: f64,
    postgres_cpu_ms_per_release: f64,
}

#[tokio::main]
async fn main() {
    assert!(
        datamgmt_relay::index::scratch::postgres_server().is_some(),
        "DATAMGMT_TEST_POSTGRES names the PostgreSQL server (scripts/postgres.sh up)"
    );
    let devnet = Devnet::connect().await;
    let dir = tempfile::tempdir().unwrap();
    for (label, postgres, replicas) in [
        ("SQLite, 1 relay", false, 1),
        ("PostgreSQL, 1 replica", true, 1),
        ("PostgreSQL, 2 replicas", true, 2),
    ] {
        let runs = setup_and_measure(
            &devnet,
            &dir.path().join(label.replace(' ', "_")),
            postgres,
            replicas,
        )
        .await;
        report(label, &runs);
    }
}

async fn setup_and_measure(
    devnet: &Devnet,
    dir: &Path,
    postgres: bool,
    replicas: usize,
) -> Vec<Run> {
    let owner = devnet.funded_account("bench-replicated").await;
    let reader = devnet.funded_account("bench-reader").await;
    let database = if postgres {
        datamgmt_relay::index::scratch::database_url(dir).await
    } else {
        format!("sqlite://{}", dir.join("owner-index.db").display())
    };
    let settings =
        format!("[database]\nurl = {}\n{UNLIMITED}", serde_json::Value::from(database.clone()));
    let balancer_address = datamgmt_tests::free_address();
    let endpoint = format!("https://{balancer_address}");
    let mut owners: Vec<RelayProcess> = Vec::new();
    for n in 0..replicas {
        let replica_dir = dir.join(format!("a{n}"));
        if let Some(first) = owners.first() {
            std::fs::create_dir_all(&replica_dir).unwrap();
            std::fs::copy(first.keyring_path(), replica_dir.join("keyring.json")).unwrap();
        }
        owners.push(
            RelayProcess::start_replica(&replica_dir, &owner, &devnet.state, &endpoint, &settings)
                .await,
        );
    }
    let backends: Vec<_> = owners.iter().map(|relay| relay.address).collect();
    let _balancer = LoadBalancer::start_at(&dir.join("nginx"), balancer_address, &backends);
    let b =
        RelayProcess::start_with(&dir.join("b"), &reader, &devnet.state, false, UNLIMITED).await;

    let data: String = (0..1024).map(|n| char::from(b'a' + (n % 26) as u8)).collect();
    let request = serde_json::json!({"data": data, "recipient": reader.account.to_string()});
    let (status, body) = owners[0].request("POST", "/share_data", Some(&request)).await;
    assert_eq!(status, 200, "{body}");
    let path = format!("/data/{}", body["data_hash"].as_str().unwrap());
    for _ in 0..120 {
        if b.request("GET", &path, None).await.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(b.request("GET", &path, None).await.0, 200, "B reads the share");

    let pids: Vec<u32> = owners.iter().filter_map(RelayProcess::pid).collect();
    let url = format!("{}{path}", b.address);
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let (relay_before, postgres_before) = (cpu_ms(&pids), postgres_cpu_ms());
        let output = Command::new("wrk")
            .args(["-t2", &format!("-c{CLIENTS}"), &format!("-d{SECONDS}s"), "--latency"])
            .args(["-H", &format!("authorization: Bearer {}", b.token)])
            .arg(&url)
            .output()
            .expect("wrk runs (Debian's wrk, installed by scripts/setup.sh)");
        let (relay_cpu, postgres_cpu) =
            (cpu_ms(&pids) - relay_before, postgres_cpu_ms() - postgres_before);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let requests = wrk_value(&text, "requests in").unwrap_or(0.0);
        let failed = wrk_value(&text, "Non-2xx or 3xx responses:").unwrap_or(0.0) as u64;
        let answered = (requests - failed as f64).max(1.0);
        runs.push(Run {
            releases_per_second: answered / f64::from(SECONDS),
            p50_ms: wrk_latency_ms(&text, "50%"),
            p99_ms: wrk_latency_ms(&text, "99%"),
            failed,
            relay_cpu_ms_per_release: relay_cpu / answered,
            postgres_cpu_ms_per_release: postgres_cpu / answered,
        });
    }
    runs
}

/// Median and spread of each figure of `runs`.
fn report(label: &str, runs: &[Run]) {
    let stat = |f: &dyn Fn(&Run) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        format!(
            "{:.2} ({:.2}-{:.2})",
            values[values.len() / 2],
            values[0],
            values[values.len() - 1]
        )
    };
    println!("== {label}, {CLIENTS} clients, {RUNS} runs of {SECONDS} s: median (min-max)");
    println!("  releases/s          {}", stat(&|r| r.releases_per_second));
    println!("  p50 ms              {}", stat(&|r| r.p50_ms));
    println!("  p99 ms              {}", stat(&|r| r.p99_ms));
    println!("  relay CPU ms/release      {}", stat(&|r| r.relay_cpu_ms_per_release));
    println!("  PostgreSQL CPU ms/release {}", stat(&|r| r.postgres_cpu_ms_per_release));
    println!("  failed requests     {}", stat(&|r| r.failed as f64));
}

/// User+system CPU time (ms) of the processes `pids`.
fn cpu_ms(pids: &[u32]) -> f64 {
    pids.iter().map(|pid| process_cpu_ms(*pid)).sum()
}

/// User+system CPU time (ms) of every PostgreSQL server process now running.
fn postgres_cpu_ms() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0.0 };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(process_cpu_ms)
        .sum()
}

/// User+system CPU time (ms) of one process (0 once it is gone).
fn process_cpu_ms(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // Fields after the command (which may hold spaces) in parentheses: utime is the
    // 14th field, stime the 15th, in clock ticks (100 a second on Linux).
    let Some(after) = stat.rsplit_once(") ") else { return 0.0 };
    let fields: Vec<&str> = after.1.split_whitespace().collect();
    let ticks = |n: usize| fields.get(n).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) * 10.0
}

/// The number on the wrk output line holding `label`.
fn wrk_value(text: &str, label: &str) -> Option<f64> {
    let line = text.lines().find(|line| line.contains(label))?;
    line.split_whitespace().find_map(|word| word.trim_end_matches(',').parse::<f64>().ok())
}

/// A latency percentile line of wrk's `--latency` output, in ms.
fn wrk_latency_ms(text: &str, percentile: &str) -> f64 {
    let Some(value) = text
        .lines()
        .find(|line| line.trim_start().starts_with(percentile))
        .and_then(|line| line.split_whitespace().nth(1))
    else {
        return f64::NAN;
    };
    let (number, unit) =
        value.split_at(value.find(|c: char| c.is_alphabetic()).unwrap_or(value.len()));
    let number: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => number / 1000.0,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => number,
    }
}
