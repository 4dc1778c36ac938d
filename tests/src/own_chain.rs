//! A chain node of a test's own, for the suites that freeze, stop or starve the chain
//! (which they must not do to the devnet every other suite shares): a
//! `substrate-contracts-node --dev` with state in a directory of the test's, the
//! contract built by `scripts/deploy.sh` deployed to it, and the means to freeze
//! (SIGSTOP), thaw, stop and restart it.

use datamgmt_client::chain::DeployState;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A loopback port no one listens on now.
pub fn free_port() -> u16 {
    crate::free_address().port()
}

/// A chain node of the test's own, with persistent state so it can be restarted.
pub struct OwnChain {
    /// Its state directory.
    pub base: PathBuf,
    /// Its JSON-RPC port.
    pub rpc_port: u16,
    p2p_port: u16,
    finalize_delay_sec: u32,
    child: Option<Child>,
}

impl OwnChain {
    /// Starts a node with state in `base`, finalizing `finalize_delay_sec` after each
    /// block, and waits until it answers.
    pub async fn start(base: &Path, finalize_delay_sec: u32) -> Self {
        let mut chain = Self {
            base: base.to_owned(),
            rpc_port: free_port(),
            p2p_port: free_port(),
            finalize_delay_sec,
            child: None,
        };
        chain.restart().await;
        chain
    }

    /// Its WebSocket URL.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.rpc_port)
    }

    /// Starts the node again (after [`stop`](Self::stop)) with the same state and ports.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the node is running");
        let child = Command::new("substrate-contracts-node")
            .args(["--dev", "--no-prometheus", "--no-telemetry", "--no-mdns"])
            .args(["--finalize-delay-sec", &self.finalize_delay_sec.to_string()])
            .args(["--state-pruning", "archive"])
            .arg("--base-path")
            .arg(&self.base)
            .args(["--rpc-port", &self.rpc_port.to_string()])
            .args(["--listen-addr", &format!("/ip4/127.0.0.1/tcp/{}", self.p2p_port)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("substrate-contracts-node runs (scripts/setup.sh installs it)");
        self.child = Some(child);
        for _ in 0..240 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.rpc_port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("the node did not answer within 60 s");
    }

    /// Deploys the contract `scripts/deploy.sh` built (found through the shared deploy
    /// state) to this node, as `//Alice`.
    pub fn deploy(&self) -> DeployState {
        let shared =
            DeployState::load(&crate::deploy_state_path()).unwrap_or_else(|e| panic!("{e}"));
        let artifact = shared.metadata.with_extension("contract");
        let output = Command::new("cargo-contract")
            .args(["contract", "instantiate"])
            .arg(&artifact)
            .args(["--constructor", "new", "--suri", "//Alice", "--url", &self.url()])
            .args(["--execute", "--skip-confirm", "--output-json"])
            .output()
            .expect("cargo-contract runs (scripts/setup.sh installs it)");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let instantiated: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        DeployState {
            url: self.url(),
            contract: instantiated["contract"].as_str().expect("a contract address").to_owned(),
            ..shared
        }
    }

    /// SIGSTOP: the node keeps its connections but answers nothing.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`freeze`](Self::freeze).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the node is running");
        let status = Command::new("kill").args([signal, &child.id().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill {signal}");
    }

    /// SIGTERM, and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-CONT", &child.id().to_string()]).status();
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnChain {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-CONT", &child.id().to_string()]).status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
