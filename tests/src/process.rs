//! A relay as a user runs it: the `datamgmt-relay` binary with a configuration file,
//! serving HTTPS with a certificate from the scripts' local CA, in a process of its own
//! that a test can stop, kill and start again; and the settings of the Garage that
//! `scripts/garage.sh` started.

use crate::{local_tls, wait_for_status, RelayAddress, TestNode};
use datamgmt_client::chain::DeployState;
use datamgmt_relay::storage::StorageConfig;
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The S3 settings `scripts/garage.sh up` wrote (`DATAMGMT_S3_STATE` names the file;
/// `.devnet/s3.json` by default).
pub fn garage_storage() -> StorageConfig {
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

/// A binary of this workspace, built beside this test (`cargo build -p datamgmt-relay
/// -p datamgmt-client --bins`; `scripts/test.sh` does).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let binary = exe.parent().and_then(Path::parent).expect("target dir").join(name);
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p datamgmt-relay -p datamgmt-client --bins`",
        binary.display()
    );
    binary
}

/// A relay process with its own directory (keyring, index, log, and local envelopes
/// unless it stores in S3). Killed when dropped.
pub struct RelayProcess {
    /// Where it listens (HTTPS).
    pub address: RelayAddress,
    /// Its API token (role admin).
    pub token: String,
    dir: PathBuf,
    database_url: String,
    suri: String,
    child: Option<Child>,
}

/// The string `key` of `[table]` in the TOML `settings`, if there.
fn settings_value(settings: &str, table: &str, key: &str) -> Option<String> {
    let parsed: toml::Table = settings.parse().ok()?;
    parsed.get(table)?.get(key)?.as_str().map(str::to_owned)
}

/// The passphrase of every test relay's keyring.
pub const RELAY_PASSPHRASE: &str = "relay process passphrase";

impl RelayProcess {
    /// Writes the configuration of a relay acting for `node` into `dir` and starts it;
    /// returns once `/readyz` answers 200. `s3` stores in Garage, else on local disk.
    pub async fn start(dir: &Path, node: &TestNode, deploy: &DeployState, s3: bool) -> Self {
        Self::start_with(dir, node, deploy, s3, "").await
    }

    /// As [`start`](Self::start), with `settings` (TOML tables such as `[releases]`,
    /// `[peers]` or `[server]`) replacing the defaults the tests use. Peers on loopback
    /// are called unless `settings` has a `[peers]` table of its own; the index is a new
    /// database (SQLite in `dir`, or on the `DATAMGMT_TEST_POSTGRES` server) unless
    /// `settings` has a `[database]` table. The relay serves HTTPS with the suites'
    /// certificate and trusts the local CA for its peers ([`local_tls`]).
    pub async fn start_with(
        dir: &Path,
        node: &TestNode,
        deploy: &DeployState,
        s3: bool,
        settings: &str,
    ) -> Self {
        Self::start_configured(dir, node, deploy, s3, settings, None).await
    }

    /// A replica of a node: a relay storing in Garage that registers `public_url` (a
    /// load balancer in front of the node's replicas) as the node's endpoint. Replicas
    /// of one node share its `[database]` (given in `settings`) and its keyring (copied
    /// into `dir` before the second starts).
    pub async fn start_replica(
        dir: &Path,
        node: &TestNode,
        deploy: &DeployState,
        public_url: &str,
        settings: &str,
    ) -> Self {
        Self::start_configured(dir, node, deploy, true, settings, Some(public_url)).await
    }

    async fn start_configured(
        dir: &Path,
        node: &TestNode,
        deploy: &DeployState,
        s3: bool,
        settings: &str,
        public_url: Option<&str>,
    ) -> Self {
        let address = RelayAddress::https(free_address());
        let token = format!("token-{}", rand::random::<u64>());
        let q = |s: &str| serde_json::Value::from(s).to_string();
        let mut config = format!(
            "listen = {}\npublic_url = {}\n[chain]\nurl = {}\ncontract = {}\n\
             public_node_url = {}\n[keyring]\npath = {}\n",
            q(&address.socket.to_string()),
            q(public_url.unwrap_or(&address.url())),
            q(&deploy.url),
            q(&deploy.contract),
            q(&deploy.url),
            q(&dir.join("keyring.json").display().to_string()),
        );
        let database_url = match settings_value(settings, "database", "url") {
            Some(url) => url,
            None => {
                let url = datamgmt_relay::index::scratch::database_url(dir).await;
                config += &format!("[database]\nurl = {}\n", q(&url));
                url
            }
        };
        match (s3, garage_storage()) {
            (
                true,
                StorageConfig::S3 { endpoint, region, bucket, access_key_id, secret_access_key },
            ) => {
                config += &format!(
                    "[storage]\nkind = \"s3\"\nendpoint = {}\nregion = {}\nbucket = {}\n\
                     access_key_id = {}\nsecret_access_key = {}\n",
                    q(&endpoint),
                    q(&region),
                    q(&bucket),
                    q(&access_key_id),
                    q(secret_access_key.expose_secret()),
                );
            }
            _ => {
                let root = dir.join("envelopes").display().to_string();
                config += &format!("[storage]\nkind = \"local\"\nroot = {}\n", q(&root));
            }
        }
        if !settings.contains("[peers]") {
            config += "[peers]\nallow_loopback = true\n";
        }
        config += &local_tls().relay_settings();
        config += settings;
        config += "\n";
        let hash = datamgmt_relay::auth::ApiTokens::hash_token(&token);
        config +=
            &format!("[[tokens]]\nname = \"test\"\nsha256 = {}\nrole = \"admin\"\n", q(&hash));
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("relay.toml"), config).unwrap();
        let mut relay = Self {
            address,
            token,
            dir: dir.to_owned(),
            database_url,
            suri: node.suri.clone(),
            child: None,
        };
        relay.restart().await;
        relay
    }

    /// Starts the process again with the same configuration (after [`kill`](Self::kill)
    /// or [`stop`](Self::stop)); returns once it is ready.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the relay is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("relay.log"))
            .unwrap();
        let child = Command::new(workspace_binary("datamgmt-relay"))
            .arg("--config")
            .arg(self.dir.join("relay.toml"))
            .env("DATAMGMT_NODE_SURI", &self.suri)
            .env("DATAMGMT_KEYRING_PASSPHRASE", RELAY_PASSPHRASE)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the relay starts");
        self.child = Some(child);
        wait_for_status(self.address, &self.token, "/readyz", 200, 60).await;
    }

    /// SIGKILL: no shutdown, no clean-up, as in a crash or power loss.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and waits for the graceful shutdown.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let status = child.wait().expect("the relay exits");
            assert!(status.success(), "the relay exited with {status}; see {}", self.log());
        }
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its resident memory (kB), from `/proc`.
    pub fn resident_kb(&self) -> u64 {
        let pid = self.pid().expect("the relay is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }

    /// Its directory: configuration, keyring, index, log (and local envelopes).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its index database's URL.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Its keyring file.
    pub fn keyring_path(&self) -> PathBuf {
        self.dir.join("keyring.json")
    }

    /// A typed client of this relay, with its token, trusting the local CA.
    pub fn client(&self) -> datamgmt_client::api::RelayClient {
        let http = local_tls().http_client();
        datamgmt_client::api::RelayClient::with_http_client(self.address.url(), &self.token, http)
    }

    /// Status and JSON body of a request with its token.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        crate::http_json(self.address, &self.token, method, path, body).await
    }

    /// The value of the metric line `name` (labels included, if any) on its
    /// `/metrics`, if there.
    pub async fn metric(&self, name: &str) -> Option<String> {
        let response = crate::http(self.address, "", "GET", "/metrics", "", b"").await;
        let text = String::from_utf8_lossy(&response.body).into_owned();
        text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned))
    }

    /// The last `lines` lines of its log, for a failing test's message.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("relay.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Where its log is.
    pub fn log(&self) -> String {
        self.dir.join("relay.log").display().to_string()
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback address with a port free at the time of asking.
pub fn free_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}
