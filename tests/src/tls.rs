//! HTTPS for the suites' relays, as the demo's: a certificate from the local CA that the
//! scripts make (`relay_certificate` in `scripts/lib.sh`, under the state directory's
//! `tls/`), and clients that trust that CA and nothing else.
//!
//! One certificate (`relay-tests`, for `127.0.0.1`) serves every relay a suite starts:
//! they differ by port, which a certificate does not name.

use std::io::{Error, ErrorKind};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// The files a relay of the suites serves HTTPS with, and the CA that vouches for them.
pub struct LocalTls {
    /// The local CA's certificate: what clients trust (`[tls] peer_roots`,
    /// `DMN_CA_CERT`).
    pub ca: PathBuf,
    /// The relays' certificate chain.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    connector: TlsConnector,
}

/// The local CA and the suites' relay certificate, made by the scripts on first use in
/// this process (and kept by them while valid).
pub fn local_tls() -> &'static LocalTls {
    static TLS: OnceLock<LocalTls> = OnceLock::new();
    TLS.get_or_init(|| {
        let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lib.sh");
        let made = Command::new("bash")
            .arg("-c")
            .arg(r#"source "$1" && relay_certificate tests && printf '%s' "$TLS_DIR""#)
            .arg("bash")
            .arg(&lib)
            .output()
            .expect("bash runs scripts/lib.sh");
        assert!(
            made.status.success(),
            "relay_certificate (scripts/lib.sh) failed: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let dir = PathBuf::from(String::from_utf8(made.stdout).expect("a UTF-8 path"));
        let ca = dir.join("ca.pem");
        let mut roots = RootCertStore::empty();
        for certificate in CertificateDer::pem_file_iter(&ca).expect("the local CA's file") {
            roots.add(certificate.expect("the local CA's PEM")).expect("a usable CA");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        LocalTls {
            cert: dir.join("relay-tests.pem"),
            key: dir.join("relay-tests.key"),
            ca,
            connector: TlsConnector::from(Arc::new(config)),
        }
    })
}

impl std::fmt::Debug for LocalTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTls")
            .field("ca", &self.ca)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl LocalTls {
    /// The `[tls]` table of a relay serving with this certificate and trusting this CA
    /// for its peers.
    pub fn relay_settings(&self) -> String {
        let q = |path: &Path| serde_json::Value::from(path.display().to_string()).to_string();
        format!(
            "[tls]\ncert = {}\nkey = {}\npeer_roots = {}\n",
            q(&self.cert),
            q(&self.key),
            q(&self.ca)
        )
    }

    /// The same, as the relay's settings type (for a relay run in the test's process).
    pub fn relay_config(&self) -> datamgmt_relay::config::TlsConfig {
        datamgmt_relay::config::TlsConfig {
            cert: Some(self.cert.clone()),
            key: Some(self.key.clone()),
            peer_roots: Some(self.ca.clone()),
        }
    }

    /// An HTTP client that trusts this CA (and not the system's roots).
    pub fn http_client(&self) -> reqwest::Client {
        let pem = std::fs::read(&self.ca).expect("the local CA's file");
        let mut builder = reqwest::Client::builder().tls_built_in_root_certs(false);
        for root in reqwest::Certificate::from_pem_bundle(&pem).expect("the local CA's PEM") {
            builder = builder.add_root_certificate(root);
        }
        builder.build().expect("an HTTPS client")
    }

    /// A TLS connection to the relay at `socket`, checked against this CA.
    pub async fn connect(
        &self,
        socket: SocketAddr,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let tcp = tokio::net::TcpStream::connect(socket).await?;
        let name = ServerName::IpAddress(socket.ip().into());
        self.connector.connect(name, tcp).await
    }
}

/// Writes `request` to `stream` and reads the answer until the server closes. A TLS
/// peer that closes without its close-notify after a whole answer is an end, not an
/// error.
pub(crate) async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[&[u8]],
) -> std::io::Result<Vec<u8>> {
    for part in request {
        stream.write_all(part).await?;
    }
    stream.flush().await?;
    let mut response = Vec::new();
    match stream.read_to_end(&mut response).await {
        Ok(_) => Ok(response),
        Err(error) if error.kind() == ErrorKind::UnexpectedEof && !response.is_empty() => {
            Ok(response)
        }
        Err(error) => Err(Error::new(error.kind(), format!("reading the answer: {error}"))),
    }
}
