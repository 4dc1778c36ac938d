//! nginx (Debian's `nginx-light`, installed by `scripts/setup.sh`) as the load balancer
//! in front of a node's replicas, for the replica suite and benchmark: HTTPS on both
//! sides, with the suites' certificate and the local CA ([`crate::local_tls`]).

use crate::{local_tls, RelayAddress};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// nginx in front of `backends`, serving HTTPS on the address it is given; stopped when
/// dropped. It runs as one process (`master_process off`), so killing it leaves no
/// worker behind. A backend that refuses or drops a connection is skipped for the next one;
/// backends serve HTTPS too, checked against the local CA.
pub struct LoadBalancer {
    child: Child,
}

impl LoadBalancer {
    /// Starts nginx on `address` in front of `backends`, with its files in `dir`.
    pub fn start_at(dir: &Path, address: SocketAddr, backends: &[RelayAddress]) -> Self {
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        assert!(backends.iter().all(|b| b.tls), "the balancer calls its backends over HTTPS");
        let servers: String = backends
            .iter()
            .map(|b| format!("    server {} max_fails=1 fail_timeout=2s;\n", b.socket))
            .collect();
        let tls = local_tls();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {dir}/nginx.pid;\n\
             error_log {dir}/logs/error.log warn;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n\
             proxy_temp_path {dir}/proxy;\n  fastcgi_temp_path {dir}/fastcgi;\n\
             uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n\
             upstream node {{\n{servers}    keepalive 64;\n  }}\n\
             server {{\n    listen {address} ssl;\n    client_max_body_size 0;\n\
             ssl_certificate {cert};\n    ssl_certificate_key {key};\n\
             location / {{\n      proxy_pass https://node;\n      proxy_http_version 1.1;\n\
             proxy_ssl_verify on;\n      proxy_ssl_trusted_certificate {ca};\n\
             proxy_ssl_name localhost;\n      proxy_ssl_session_reuse on;\n\
             proxy_set_header Connection \"\";\n      proxy_set_header Host $http_host;\n\
             proxy_next_upstream error timeout http_502;\n      proxy_connect_timeout 1s;\n\
             proxy_buffering off;\n    }}\n  }}\n}}\n",
            dir = dir.display(),
            cert = tls.cert.display(),
            key = tls.key.display(),
            ca = tls.ca.display(),
        );
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
        let mut child = Command::new("nginx")
            .arg("-e")
            .arg(dir.join("logs/error.log"))
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts (Debian's nginx-light, installed by scripts/setup.sh)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(address).is_ok() {
                return Self { child };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("nginx does not listen on {address}; see {}/logs/error.log", dir.display());
    }
}

impl Drop for LoadBalancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
