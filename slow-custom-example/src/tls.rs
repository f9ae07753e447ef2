//! rustls configurations from PEM files (the `tls` feature): what the
//! binary's `--tls-cert`, `--tls-key` and `--tls-client-ca` load, and what
//! a test or tool can use instead of building a `rustls::ServerConfig` or
//! `rustls::ClientConfig` by hand.
//!
//! The loop itself takes any rustls config ([`Server::tls`](crate::Server::tls),
//! [`ClientLoop::connect_tls`](crate::ClientLoop::connect_tls)); these only
//! load certificates, with errors that name the file and say what is wrong.
//!
//! ```
//! use slow_custom_example::tls::{self, TlsConfigError};
//!
//! let e = tls::server_config("/no/such/cert.pem", "/no/such/key.pem", None).unwrap_err();
//! assert!(matches!(e, TlsConfigError::Read { .. }));
//! assert!(e.to_string().starts_with("cannot read /no/such/cert.pem: "));
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// A TLS configuration that could not be built: which file, and what is
/// wrong with it.
///
/// ```
/// use slow_custom_example::tls::{self, TlsConfigError};
///
/// match tls::client_config("/no/such/ca.pem", None) {
///     Err(TlsConfigError::Read { path, source }) => {
///         assert_eq!(path.to_str(), Some("/no/such/ca.pem"));
///         assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A PEM file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A PEM file is malformed or holds nothing of the kind expected.
    #[error("{}: {what}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was expected and what was wrong ("no certificate found",
        /// "malformed PEM: ...").
        what: String,
    },
    /// rustls refused the certificates or key (a key that does not match
    /// the certificate, an unsupported algorithm, an unusable CA).
    #[error("{what}: {source}")]
    Rustls {
        /// What was being set up.
        what: &'static str,
        /// rustls's error.
        #[source]
        source: rustls::Error,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|source| TlsConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn pem_error(path: &Path, what: impl Into<String>) -> TlsConfigError {
    TlsConfigError::Pem {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// Every certificate in the file (at least one).
fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_slice_iter(&read(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, format!("malformed PEM: {e}")))?;
    if certs.is_empty() {
        return Err(pem_error(
            path,
            "no certificate found (expected BEGIN CERTIFICATE)",
        ));
    }
    Ok(certs)
}

/// The private key in the file.
fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_slice(&read(path)?).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => pem_error(
            path,
            "no private key found (expected BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
        ),
        e => pem_error(path, format!("malformed PEM: {e}")),
    })
}

/// A root store of the file's certificates.
fn roots(path: &Path) -> Result<RootCertStore, TlsConfigError> {
    let mut store = RootCertStore::empty();
    for cert in certs(path)? {
        store.add(cert).map_err(|source| TlsConfigError::Rustls {
            what: "not a usable CA certificate",
            source,
        })?;
    }
    Ok(store)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn rustls_error(what: &'static str) -> impl FnOnce(rustls::Error) -> TlsConfigError {
    move |source| TlsConfigError::Rustls { what, source }
}

/// A server's config: its certificate chain (leaf first) and private key
/// (PKCS#8, PKCS#1 or SEC1), PEM; with `client_ca`, clients must present a
/// certificate signed by a CA in that file (mutual TLS).
///
/// ```
/// use slow_custom_example::tls::{self, TlsConfigError};
///
/// let dir = std::env::temp_dir().join(format!("slow-doc-tls-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("empty.pem"), "not PEM at all\n")?;
/// let e = tls::server_config(dir.join("empty.pem"), dir.join("empty.pem"), None).unwrap_err();
/// assert!(matches!(e, TlsConfigError::Pem { .. }));
/// assert!(e.to_string().ends_with("empty.pem: no certificate found (expected BEGIN CERTIFICATE)"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn server_config(
    cert_chain: impl AsRef<Path>,
    key: impl AsRef<Path>,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let chain = certs(cert_chain.as_ref())?;
    let key = self::key(key.as_ref())?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(rustls_error("protocol versions"))?;
    let builder = match client_ca {
        Some(path) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(path)?), provider())
                    .build()
                    .map_err(|e| TlsConfigError::Rustls {
                        what: "the client CA",
                        source: rustls::Error::General(e.to_string()),
                    })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(rustls_error("the certificate and key"))?;
    Ok(Arc::new(config))
}

/// A client's config: it trusts the CA certificates in `ca`, and presents
/// `identity`, a certificate chain and key (PEM files), when the server
/// asks for one (mutual TLS).
///
/// ```
/// use slow_custom_example::tls;
///
/// let e = tls::client_config("/no/such/ca.pem", None).unwrap_err();
/// assert!(e.to_string().contains("/no/such/ca.pem"));
/// ```
pub fn client_config(
    ca: impl AsRef<Path>,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(rustls_error("protocol versions"))?
        .with_root_certificates(roots(ca.as_ref())?);
    let config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(certs(chain)?, self::key(key)?)
            .map_err(rustls_error("the client certificate and key"))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
