//! The `dmn` command line as a user runs it, against relays A, B and C on the devnet:
//! every subcommand once on its way to success and once on its way to a clear error,
//! with the documented exit codes. The relays serve HTTPS; `dmn` trusts the local CA
//! through `DMN_CA_CERT`, `--ca-cert` or its profile's `ca_cert`.

use datamgmt_tests::{local_tls, workspace_binary, Network, RelayProcess};
use serde_json::Value;
use std::process::{Command, Output};
use std::time::Duration;

/// Exit codes `dmn` documents.
const OK: i32 = 0;
const FAILED: i32 = 1;
const USAGE: i32 = 2;
const NOT_FOUND: i32 = 3;
const REFUSED: i32 = 4;
const UNAVAILABLE: i32 = 5;
const AUDIT_MISMATCH: i32 = 6;

/// Runs `dmn` against `relay` (when given) with `args`.
fn dmn(relay: Option<&RelayProcess>, args: &[&str]) -> Output {
    let mut command = Command::new(workspace_binary("dmn"));
    command.env_remove("DMN_PROFILE").env_remove("DMN_ENDPOINT").env_remove("DMN_TOKEN");
    command.env("XDG_CONFIG_HOME", "/nonexistent");
    if let Some(relay) = relay {
        command.env("DMN_ENDPOINT", relay.address.url());
        command.env("DMN_TOKEN", &relay.token);
        command.env("DMN_CA_CERT", &local_tls().ca);
    }
    command.args(args).output().expect("dmn runs")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    assert_eq!(code(output), OK, "stdout: {}\nstderr: {}", stdout(output), stderr(output));
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

fn expect(output: &Output, expected: i32, says: &str) {
    assert_eq!(code(output), expected, "stdout: {}\nstderr: {}", stdout(output), stderr(output));
    let text = stdout(output) + &stderr(output);
    assert!(text.contains(says), "expected {says:?} in: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subcommand_succeeds_and_fails_clearly() {
    let net = Network::start().await;
    let (a, b, c) = (Some(&net.a), Some(&net.b), Some(&net.c));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.csv");
    let content: Vec<u8> = (0..2_500_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&file, &content).unwrap();
    let (_, b_health) = net.b.request("GET", "/healthz", None).await;
    let b_node = b_health["node_id"].as_str().unwrap().to_owned();

    // share: a file to B, priced, with an expiry.
    let shared = json(&dmn(
        a,
        &[
            "--json",
            "share",
            file.to_str().unwrap(),
            "--recipient",
            &b_node,
            "--price",
            "3",
            "--expires-at",
            "2099-01-01T00:00:00Z",
        ],
    ));
    let hash = shared["data_hash"].as_str().unwrap().to_owned();
    let share_id = shared["share_id"].as_str().unwrap().to_owned();
    expect(&dmn(a, &["share", "/no/such/file", "--recipient", &b_node]), USAGE, "cannot read");
    expect(
        &dmn(a, &["share", file.to_str().unwrap(), "--recipient", "node_000000000000"]),
        USAGE,
        "no registered node",
    );

    // list and verify, on A.
    let listed = json(&dmn(a, &["--json", "list", "--limit", "5"]));
    assert_eq!(listed["items"][0]["share_id"], share_id.as_str());
    expect(&dmn(a, &["list"]), OK, &share_id);
    expect(&dmn(a, &["list", "--limit", "100000"]), USAGE, "limit");
    expect(&dmn(a, &["verify", &hash]), OK, "created");
    expect(&dmn(a, &["verify", "sha256:nothex"]), USAGE, "400");

    // nodes: the directory has B (and A, marked as the node answering) once their
    // registrations are final and indexed.
    let a_node = net.a.request("GET", "/healthz", None).await.1["node_id"].clone();
    let mut directory = serde_json::Value::Null;
    for _ in 0..60 {
        directory = json(&dmn(a, &["--json", "nodes"]));
        let items = directory["items"].as_array().unwrap();
        // (B's relay updates the endpoint its account registered with when it starts.)
        let b_url = net.b.address.url();
        if items.iter().any(|n| n["node_id"] == b_node.as_str() && n["endpoint"] == b_url.as_str())
            && items.iter().any(|n| n["node_id"] == a_node)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let items = directory["items"].as_array().unwrap();
    let entry = |id: &serde_json::Value| items.iter().find(|n| &n["node_id"] == id).cloned();
    let b_entry = entry(&serde_json::Value::from(b_node.as_str())).expect("B in the directory");
    assert_eq!(b_entry["endpoint"], net.b.address.url().as_str());
    assert_eq!(b_entry["this_node"], false);
    assert_eq!(entry(&a_node).expect("A in the directory")["this_node"], true);
    expect(&dmn(a, &["nodes"]), OK, &b_node);

    // get: B must pay first; C has nothing.
    let out = dir.path().join("out.csv");
    let out_arg = out.to_str().unwrap();
    let refused = wait_until_indexed(|| dmn(b, &["get", &hash, "-o", out_arg]));
    expect(&refused, REFUSED, "pay for access");
    assert!(!out.exists(), "nothing written on refusal");
    let paid = json(&dmn(b, &["--json", "pay", &share_id]));
    assert_eq!(paid["status"], "paid");
    expect(&dmn(b, &["pay", &share_id]), FAILED, "unused payment");
    expect(&dmn(b, &["get", &hash, "-o", out_arg]), OK, "verified");
    assert_eq!(std::fs::read(&out).unwrap(), content);
    expect(&dmn(b, &["get", &hash]), REFUSED, "pay again");
    expect(&dmn(c, &["get", &hash]), NOT_FOUND, "no data");
    expect(&dmn(b, &["get", "sha256:ABC"]), USAGE, "data hash");

    // revoke, on A; twice is a conflict.
    expect(&dmn(a, &["revoke", &share_id]), OK, "revoked");
    expect(&dmn(a, &["revoke", &share_id]), FAILED, "409");
    expect(&dmn(b, &["revoke", &share_id]), NOT_FOUND, "no share");

    // keys (the test tokens are admin tokens).
    assert_eq!(json(&dmn(a, &["--json", "keys", "status"]))["master_version"], 1);
    assert_eq!(json(&dmn(a, &["--json", "keys", "rotate", "master"]))["version"], 2);
    let rewrapped = json(&dmn(a, &["--json", "keys", "rewrap", "--retire-older"]));
    assert_eq!(rewrapped["min_decrypt_version"], 2);
    expect(&dmn(a, &["keys", "rotate", "everything"]), USAGE, "invalid value");

    // node register, straight on chain.
    let deploy = datamgmt_tests::deploy_state_path();
    let fresh = net.devnet.funded_account("cli-node").await;
    let keyring = dir.path().join("keys/keyring.json");
    let register = || {
        Command::new(workspace_binary("dmn"))
            .env("DATAMGMT_DEPLOY_STATE", &deploy)
            .env("DATAMGMT_NODE_SURI", &fresh.suri)
            .env("DATAMGMT_KEYRING_PASSPHRASE", "cli test")
            .args(["--json", "node", "register", "--endpoint", "http://127.0.0.1:9", "--keyring"])
            .arg(&keyring)
            .output()
            .unwrap()
    };
    assert_eq!(json(&register())["outcome"], "registered");
    assert_eq!(json(&register())["outcome"], "unchanged");
    let no_secret = Command::new(workspace_binary("dmn"))
        .env("DATAMGMT_DEPLOY_STATE", &deploy)
        .env_remove("DATAMGMT_NODE_SURI")
        .args(["node", "register", "--endpoint", "http://x", "--keyring", "k.json"])
        .output()
        .unwrap();
    expect(&no_secret, USAGE, "DATAMGMT_NODE_SURI");

    // audit, straight from the chain: B's records, exported and verified; then an edited
    // field, a deleted row and an added row are each caught.
    let export = dir.path().join("audit.csv");
    let audit = |args: &[&str]| {
        Command::new(workspace_binary("dmn"))
            .env("DATAMGMT_DEPLOY_STATE", &deploy)
            .args(args)
            .output()
            .unwrap()
    };
    // (An export reads up to the finalized head: the last blocks finalize within a second
    // or two.)
    let export_arg = export.to_str().unwrap();
    // From B's registration: nothing before it can concern B (and a long-lived devnet
    // has many blocks before it).
    let since = net.devnet.chain.registered_since(&net.node_b.id).await.unwrap().unwrap();
    let since = since.to_string();
    let kinds = ["created", "paid", "key_released", "revoked"];
    let has_all = |text: &str| kinds.iter().all(|k| text.contains(&format!(",{k},{share_id},")));
    let mut text = String::new();
    for _ in 0..40 {
        let args = [
            "audit",
            "export",
            "--from-block",
            &since,
            "--party",
            &b_node,
            "--format",
            "csv",
            "-o",
            export_arg,
        ];
        expect(&audit(&args), OK, "records from blocks");
        text = std::fs::read_to_string(&export).unwrap();
        if has_all(&text) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(has_all(&text), "records missing:\n{text}");
    expect(&audit(&["audit", "verify", export.to_str().unwrap()]), OK, "every record matches");
    let rows: Vec<&str> = text.lines().collect();
    let tampered = dir.path().join("tampered.csv");
    let tampered_arg = tampered.to_str().unwrap();
    let edited =
        rows.iter().map(|r| r.replacen(",paid,", ",created,", 1)).collect::<Vec<_>>().join("\n");
    std::fs::write(&tampered, edited).unwrap();
    expect(&audit(&["audit", "verify", tampered_arg]), AUDIT_MISMATCH, "ALTERED");
    let deleted: Vec<&str> =
        rows.iter().copied().filter(|r| !r.contains(",key_released,")).collect();
    std::fs::write(&tampered, deleted.join("\n")).unwrap();
    expect(&audit(&["audit", "verify", tampered_arg]), AUDIT_MISMATCH, "REMOVED");
    let last = rows.last().unwrap();
    let mut fields: Vec<String> = last.split(',').map(str::to_owned).collect();
    fields[4] = "999".into(); // an event index no block has
    let added = format!("{text}{}\n", fields.join(","));
    std::fs::write(&tampered, added).unwrap();
    expect(&audit(&["audit", "verify", tampered_arg]), AUDIT_MISMATCH, "INVENTED");
    expect(&audit(&["audit", "verify", "/no/such/export"]), USAGE, "cannot read");
    std::fs::write(&tampered, "not an export").unwrap();
    expect(&audit(&["audit", "verify", tampered_arg]), USAGE, "not an audit export");
    expect(&audit(&["audit", "export", "--party", "nobody"]), USAGE, "not a node id");
    expect(&audit(&["audit", "export", "--from", "yesterday"]), USAGE, "--from");

    // Configuration and connection errors.
    expect(&dmn(None, &["list"]), USAGE, "no relay");
    let ca = local_tls().ca.display().to_string();
    let a_url = net.a.address.url();
    let wrong_token = Command::new(workspace_binary("dmn"))
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .args(["--endpoint", &a_url, "--ca-cert", &ca, "--token", "wrong", "list"])
        .output()
        .unwrap();
    expect(&wrong_token, REFUSED, "401");
    let untrusted = Command::new(workspace_binary("dmn"))
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env_remove("DMN_CA_CERT")
        .args(["--endpoint", &a_url, "--token", &net.a.token, "list"])
        .output()
        .unwrap();
    expect(&untrusted, UNAVAILABLE, "certificate");
    let nobody = Command::new(workspace_binary("dmn"))
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .args(["--endpoint", "http://127.0.0.1:9", "--token", "x", "list"])
        .output()
        .unwrap();
    expect(&nobody, UNAVAILABLE, "cannot reach");
    let profile = dir.path().join("profile.toml");
    std::fs::write(
        &profile,
        format!("endpoint = \"{a_url}\"\ntoken = \"{}\"\nca_cert = {ca:?}\n", net.a.token),
    )
    .unwrap();
    let from_profile = Command::new(workspace_binary("dmn"))
        .args(["--profile", profile.to_str().unwrap(), "list"])
        .output()
        .unwrap();
    expect(&from_profile, OK, &share_id);
    std::fs::write(&profile, "endpoint = 5\n").unwrap();
    let bad_profile = Command::new(workspace_binary("dmn"))
        .args(["--profile", profile.to_str().unwrap(), "list"])
        .output()
        .unwrap();
    expect(&bad_profile, USAGE, "not valid");
}

/// Runs `attempt` until B's index has the share (it stops answering "no data").
fn wait_until_indexed(attempt: impl Fn() -> Output) -> Output {
    for _ in 0..60 {
        let output = attempt();
        if code(&output) != NOT_FOUND {
            return output;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    attempt()
}
