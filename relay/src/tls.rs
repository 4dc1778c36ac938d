//! HTTPS: the relay's certificate and key for serving, and the extra roots it trusts
//! when calling other nodes (a private CA's, say), read from PEM files. rustls with the
//! `ring` provider, TLS 1.2 and 1.3.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// Why the TLS files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the certificate and key.
    #[error("the certificate and key do not make a TLS server: {0}")]
    Config(#[from] rustls::Error),
}

fn file_error(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File { path: path.to_owned(), reason: reason.to_string() }
}

/// A TLS acceptor serving the certificate chain in `cert` with the private key in `key`
/// (PEM; the chain's first certificate is the relay's).
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert, e))?;
    if chain.is_empty() {
        return Err(file_error(cert, "no certificate in it"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The certificates in `path` (PEM), as roots for calling other nodes.
pub fn peer_roots(path: &Path) -> Result<Vec<reqwest::Certificate>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| file_error(path, e))?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| file_error(path, e))?;
    if roots.is_empty() {
        return Err(file_error(path, "no certificate in it"));
    }
    Ok(roots)
}
