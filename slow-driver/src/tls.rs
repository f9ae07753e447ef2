//! TLS with rustls, for every runtime at once (the `tls` feature).
//!
//! rustls is itself a sans-IO state machine (ciphertext in with
//! `read_tls`, plaintext out with `reader`, and back), so it composes with
//! SLOW's core the same way the core composes with a socket: [`TlsStream`]
//! is a [`Stream`] over any other `Stream`, moving ciphertext between the
//! socket and rustls and plaintext between rustls and the connection. One
//! implementation serves tokio, smol, async-std and any runtime of your
//! own, instead of one per runtime's IO traits (tokio-rustls,
//! futures-rustls), and costs the same: the records are decrypted in place
//! and copied out once, as those crates do.
//!
//! The TLS handshake runs inside the connection's driver, before SLOW's
//! HELLO can arrive, so the connection's handshake timeout
//! ([`Config::handshake_timeout`](crate::Config)) covers both: a peer that
//! opens TCP and never finishes TLS is closed like one that never sends
//! HELLO. A server's accept loop never waits for a handshake.
//!
//! - [`ServerTls`]: a certificate chain and key (PEM files, PEM bytes, or a
//!   `rustls::ServerConfig` of your own), optionally a client CA that makes
//!   client certificates required (mutual TLS). `Server::tls` serves over
//!   it; a handler sees the verified client certificate in
//!   [`Peer::tls_identity`](crate::Peer::tls_identity).
//! - [`ClientTls`]: trusted roots (a PEM file, the system's, or a
//!   `rustls::ClientConfig`), optionally a client certificate;
//!   `Client::connect_tls` connects over it, naming the server by the
//!   address's host unless told otherwise.

use std::fmt;
use std::io::{self, BufRead, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::Addr;
use crate::runtime::{Listener, Stream};

pub use crate::client::TlsNetStream;

/// A TLS configuration that could not be built: which file, and what is
/// wrong with it.
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
    /// A PEM file (or PEM bytes, `path` then `(PEM)`) is malformed or holds
    /// nothing of the kind expected.
    #[error("{}: {what}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was expected and what was wrong ("no certificate found",
        /// "malformed PEM: ...").
        what: String,
    },
    /// rustls refused the certificates or key (a key that does not match
    /// the certificate, an unsupported algorithm, an invalid CA).
    #[error("{what}: {source}")]
    Rustls {
        /// What was being set up.
        what: &'static str,
        /// rustls's error.
        #[source]
        source: rustls::Error,
    },
    /// The system's trust store could not be loaded.
    #[error("no usable root certificates in the system's trust store: {0}")]
    NativeRoots(String),
    /// A server name that is neither a DNS name nor an IP address.
    #[error("`{0}` is not a valid TLS server name")]
    ServerName(String),
}

/// Where PEM came from, for messages.
fn source_name(path: Option<&Path>) -> PathBuf {
    path.map_or_else(|| PathBuf::from("(PEM)"), Path::to_path_buf)
}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|source| TlsConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn pem_error(path: Option<&Path>, what: impl fmt::Display) -> TlsConfigError {
    TlsConfigError::Pem {
        path: source_name(path),
        what: what.to_string(),
    }
}

/// Every certificate in `pem` (at least one).
fn certs(pem: &[u8], path: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
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

/// The private key in `pem`.
fn key(pem: &[u8], path: Option<&Path>) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => pem_error(
            path,
            "no private key found (expected BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
        ),
        e => pem_error(path, format!("malformed PEM: {e}")),
    })
}

/// A root store of the certificates in `pem`.
fn roots(pem: &[u8], path: Option<&Path>) -> Result<RootCertStore, TlsConfigError> {
    let mut store = RootCertStore::empty();
    for cert in certs(pem, path)? {
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

/// A server's TLS: its certificate chain and key, and (for mutual TLS) the
/// CA its clients' certificates must be signed by. Cheap to clone.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("slow-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let ca = rcgen::CertifiedKey::from(rcgen::generate_simple_self_signed(vec!["localhost".into()])?);
/// # std::fs::write(dir.join("cert.pem"), ca.cert.pem())?;
/// # std::fs::write(dir.join("key.pem"), ca.signing_key.serialize_pem())?;
/// use slow_driver::tls::ServerTls;
///
/// let tls = ServerTls::from_pem_files(dir.join("cert.pem"), dir.join("key.pem"))?;
/// assert!(!tls.requires_client_certificates());
///
/// // A missing file says which.
/// let e = ServerTls::from_pem_files(dir.join("nope.pem"), dir.join("key.pem")).unwrap_err();
/// assert!(e.to_string().contains("nope.pem"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    client_auth: bool,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// From PEM files: the certificate chain (leaf first) and its private
    /// key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<ServerTls, TlsConfigError> {
        Self::from_pem_files_with_client_ca(cert_chain, key, None::<&Path>)
    }

    /// From PEM files, requiring client certificates signed by the CA in
    /// `client_ca` when it is `Some` (mutual TLS).
    pub fn from_pem_files_with_client_ca(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
        client_ca: Option<impl AsRef<Path>>,
    ) -> Result<ServerTls, TlsConfigError> {
        let (cert_path, key_path) = (cert_chain.as_ref(), key.as_ref());
        let chain = certs(&read_pem(cert_path)?, Some(cert_path))?;
        let key = self::key(&read_pem(key_path)?, Some(key_path))?;
        let client_ca = match client_ca {
            Some(path) => {
                let path = path.as_ref();
                Some(roots(&read_pem(path)?, Some(path))?)
            }
            None => None,
        };
        Self::build(chain, key, client_ca)
    }

    /// From PEM text held in memory (certificates made at run time, say);
    /// `client_ca` as in
    /// [`from_pem_files_with_client_ca`](ServerTls::from_pem_files_with_client_ca).
    pub fn from_pem(
        cert_chain: &[u8],
        key: &[u8],
        client_ca: Option<&[u8]>,
    ) -> Result<ServerTls, TlsConfigError> {
        let chain = certs(cert_chain, None)?;
        let key = self::key(key, None)?;
        let client_ca = client_ca.map(|pem| roots(pem, None)).transpose()?;
        Self::build(chain, key, client_ca)
    }

    fn build(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        client_ca: Option<RootCertStore>,
    ) -> Result<ServerTls, TlsConfigError> {
        let rustls = |what| move |source| TlsConfigError::Rustls { what, source };
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(rustls("protocol versions"))?;
        let client_auth = client_ca.is_some();
        let builder = match client_ca {
            Some(ca) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(ca), provider())
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
            .map_err(rustls("the certificate and key"))?;
        Ok(ServerTls {
            config: Arc::new(config),
            client_auth,
        })
    }

    /// A `rustls::ServerConfig` of your own, for full control (ALPN,
    /// resumption, a verifier of your own).
    pub fn from_config(config: Arc<ServerConfig>) -> ServerTls {
        ServerTls {
            config,
            client_auth: false,
        }
    }

    /// Whether clients must present a certificate signed by the client CA.
    pub fn requires_client_certificates(&self) -> bool {
        self.client_auth
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Wraps an accepted stream; the handshake runs as the connection
    /// reads and writes.
    pub fn accept<S: Stream>(&self, stream: S) -> io::Result<TlsStream<S>> {
        let conn = rustls::ServerConnection::new(self.config.clone()).map_err(io::Error::other)?;
        Ok(TlsStream::new(stream, conn.into()))
    }
}

/// A client's TLS: the roots it trusts, the server name it expects (by
/// default the host of the address it connects to), and optionally its
/// own certificate. Cheap to clone.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("slow-doc-c-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let ca = rcgen::CertifiedKey::from(rcgen::generate_simple_self_signed(vec!["localhost".into()])?);
/// # std::fs::write(dir.join("ca.pem"), ca.cert.pem())?;
/// use slow_driver::tls::ClientTls;
///
/// let tls = ClientTls::from_ca_pem_file(dir.join("ca.pem"))?.server_name("localhost")?;
/// assert_eq!(tls.name(), Some("localhost"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientTls {
    roots: Option<Arc<RootCertStore>>,
    identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    config: Option<Arc<ClientConfig>>,
    name: Option<String>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("name", &self.name)
            .field("client_certificate", &self.identity.is_some())
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Trusting the CA certificates in a PEM file.
    pub fn from_ca_pem_file(path: impl AsRef<Path>) -> Result<ClientTls, TlsConfigError> {
        let path = path.as_ref();
        Ok(Self::with_roots(roots(&read_pem(path)?, Some(path))?))
    }

    /// Trusting the CA certificates in PEM text.
    pub fn from_ca_pem(pem: &[u8]) -> Result<ClientTls, TlsConfigError> {
        Ok(Self::with_roots(roots(pem, None)?))
    }

    /// Trusting the operating system's roots (`rustls-native-certs`).
    pub fn native_roots() -> Result<ClientTls, TlsConfigError> {
        let found = rustls_native_certs::load_native_certs();
        let mut store = RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found
                .errors
                .first()
                .map_or_else(|| "none found".to_owned(), ToString::to_string);
            return Err(TlsConfigError::NativeRoots(why));
        }
        Ok(Self::with_roots(store))
    }

    fn with_roots(roots: RootCertStore) -> ClientTls {
        ClientTls {
            roots: Some(Arc::new(roots)),
            identity: None,
            config: None,
            name: None,
        }
    }

    /// A `rustls::ClientConfig` of your own, for full control.
    pub fn from_config(config: Arc<ClientConfig>) -> ClientTls {
        ClientTls {
            roots: None,
            identity: None,
            config: Some(config),
            name: None,
        }
    }

    /// Presents this certificate chain and key (PEM files) when the server
    /// asks for one (mutual TLS).
    pub fn client_cert_pem_files(
        self,
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<ClientTls, TlsConfigError> {
        let (cert_path, key_path) = (cert_chain.as_ref(), key.as_ref());
        let chain = certs(&read_pem(cert_path)?, Some(cert_path))?;
        let key = self::key(&read_pem(key_path)?, Some(key_path))?;
        Ok(self.identity(chain, key))
    }

    /// As [`client_cert_pem_files`](ClientTls::client_cert_pem_files), from
    /// PEM text.
    pub fn client_cert_pem(
        self,
        cert_chain: &[u8],
        key: &[u8],
    ) -> Result<ClientTls, TlsConfigError> {
        let chain = certs(cert_chain, None)?;
        let key = self::key(key, None)?;
        Ok(self.identity(chain, key))
    }

    fn identity(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        self.identity = Some((chain, Arc::new(key)));
        self.config = None;
        self
    }

    /// Expects the server's certificate to be for `name` (a DNS name or an
    /// IP address) rather than the host of the address connected to.
    pub fn server_name(mut self, name: &str) -> Result<ClientTls, TlsConfigError> {
        ServerName::try_from(name.to_owned())
            .map_err(|_| TlsConfigError::ServerName(name.into()))?;
        self.name = Some(name.to_owned());
        Ok(self)
    }

    /// The server name set with [`server_name`](ClientTls::server_name).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The rustls configuration (built from the roots and identity).
    pub fn config(&self) -> Result<Arc<ClientConfig>, TlsConfigError> {
        if let Some(config) = &self.config {
            return Ok(config.clone());
        }
        let rustls = |what| move |source| TlsConfigError::Rustls { what, source };
        let roots = self
            .roots
            .clone()
            .unwrap_or_else(|| Arc::new(RootCertStore::empty()));
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(rustls("protocol versions"))?
            .with_root_certificates(roots);
        let config = match &self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(rustls("the client certificate and key"))?,
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }

    /// The name to verify the server by: the one set, else `host` (the
    /// address's host, brackets of an IPv6 literal removed).
    pub fn name_for(&self, host: &str) -> Result<ServerName<'static>, TlsConfigError> {
        let name = self
            .name
            .as_deref()
            .unwrap_or_else(|| host.trim_start_matches('[').trim_end_matches(']'));
        ServerName::try_from(name.to_owned()).map_err(|_| TlsConfigError::ServerName(name.into()))
    }

    /// Wraps a connected stream; the handshake runs as the connection
    /// reads and writes.
    pub fn connect<S: Stream>(
        &self,
        stream: S,
        name: ServerName<'static>,
    ) -> io::Result<TlsStream<S>> {
        let config = self.config().map_err(io::Error::other)?;
        let conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
        Ok(TlsStream::new(stream, conn.into()))
    }
}

/// Who is on the other end of a TLS connection: the certificate chain it
/// presented and rustls verified (leaf first). On a server, present only
/// when client certificates were asked for (mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
}

impl TlsIdentity {
    /// The verified chain, leaf first (DER).
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The peer's own certificate (DER): parse it with an X.509 crate of
    /// your choice for its subject and names.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }
}

/// A stream with TLS on it: SLOW's plaintext in and out, ciphertext on
/// `S`. Made by [`ServerTls::accept`] and [`ClientTls::connect`] (which
/// `Server::tls` and `Client::connect_tls` call for you).
pub struct TlsStream<S> {
    inner: S,
    tls: rustls::Connection,
    /// Ciphertext read from `inner`, not yet taken by rustls.
    cipher: BytesMut,
    /// `inner` reached end of stream.
    eof: bool,
    /// Plaintext was written during the handshake (rustls holds it).
    held: bool,
    /// Our close_notify is queued.
    closing: bool,
}

impl<S> fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("handshaking", &self.tls.is_handshaking())
            .finish_non_exhaustive()
    }
}

/// The most ciphertext read ahead of rustls: one record and then some.
const CIPHER_READ: usize = 18 * 1024;

impl<S: Stream> TlsStream<S> {
    fn new(inner: S, tls: rustls::Connection) -> Self {
        TlsStream {
            inner,
            tls,
            cipher: BytesMut::new(),
            eof: false,
            held: false,
            closing: false,
        }
    }

    /// Whether the handshake is still going on.
    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// The peer's verified certificates, once the handshake is done.
    pub fn identity(&self) -> Option<TlsIdentity> {
        let chain = self.tls.peer_certificates()?;
        (!chain.is_empty()).then(|| TlsIdentity {
            chain: chain.to_vec(),
        })
    }

    /// The stream under TLS.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Writes rustls's pending records to `inner` until done or it would
    /// block.
    fn flush_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.tls.wants_write() {
            let mut out = PollWriter {
                inner: &mut self.inner,
                cx,
            };
            match self.tls.write_tls(&mut out) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Feeds buffered ciphertext to rustls and processes it, returning
    /// whether any was taken; a TLS error is sent to the peer as an alert
    /// (best effort) and returned as `InvalidData` with rustls's error as
    /// its source.
    fn process(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let mut taken = false;
        while !self.cipher.is_empty() && self.tls.wants_read() {
            let n = self.tls.read_tls(&mut (&self.cipher[..]))?;
            if n == 0 {
                break;
            }
            self.cipher.advance(n);
            taken = true;
            if let Err(e) = self.tls.process_new_packets() {
                let _ = self.flush_tls(cx);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
        Ok(taken)
    }
}

impl<S: Stream> TlsStream<S> {
    /// Moves the handshake on until it is done (or the peer is gone: then
    /// what was held is lost with it, as on any broken stream).
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.tls.is_handshaking() {
            std::task::ready!(self.flush_tls(cx))?;
            if self.process(cx)? {
                continue;
            }
            if self.eof {
                return Poll::Ready(Ok(()));
            }
            self.cipher.reserve(CIPHER_READ);
            match std::task::ready!(self.inner.poll_read_buf(cx, &mut self.cipher)) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// `inner` as an `io::Write` for rustls, `Pending` as `WouldBlock`.
struct PollWriter<'a, 'b, S> {
    inner: &'a mut S,
    cx: &'a mut Context<'b>,
}

impl<S: Stream> Write for PollWriter<'_, '_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self.inner.poll_write_vectored(self.cx, bufs) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: Stream> Stream for TlsStream<S> {
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        loop {
            // Plaintext rustls already has, copied once into the
            // connection's buffer.
            let mut reader = self.tls.reader();
            match reader.fill_buf() {
                Ok(plain) => {
                    // Empty: the peer's close_notify, end of stream.
                    let n = plain.len();
                    buf.extend_from_slice(plain);
                    reader.consume(n);
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The socket ended without a close_notify: as end of stream
                // (SLOW's framing tells a cut frame itself).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Poll::Ready(Ok(0)),
                Err(e) => return Poll::Ready(Err(e)),
            }
            // Records already read go to rustls before the socket is read
            // again (they may hold all the plaintext there is).
            match self.process(cx) {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            // Handshake records to send first (the peer waits for them);
            // sending them may let rustls take what is buffered.
            if let Poll::Ready(Err(e)) = self.flush_tls(cx) {
                return Poll::Ready(Err(e));
            }
            match self.process(cx) {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            if self.eof {
                // Nothing more will come: rustls says whether that was
                // clean (a handshake cut short is an error).
                if self.tls.is_handshaking() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection during the TLS handshake",
                    )));
                }
                return Poll::Ready(Ok(0));
            }
            // More ciphertext.
            self.cipher.reserve(CIPHER_READ);
            match self.inner.poll_read_buf(cx, &mut self.cipher) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => self.eof = true,
                Poll::Ready(Ok(_)) => {}
            }
            if let Err(e) = self.process(cx) {
                return Poll::Ready(Err(e));
            }
        }
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // Earlier records first, so that rustls's buffer stays small.
        match self.flush_tls(cx) {
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending if !self.tls.is_handshaking() => return Poll::Pending,
            _ => {}
        }
        // During the handshake rustls holds the plaintext until it can
        // send it (the HELLO).
        let n = self.tls.writer().write_vectored(bufs)?;
        self.held |= self.tls.is_handshaking();
        // Send what can be sent now; the rest goes with the next call.
        if let Poll::Ready(Err(e)) = self.flush_tls(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Plaintext accepted during the handshake (a server's refusal, say
        // GOAWAY CONNECTION_LIMIT) goes out only once the handshake is
        // done: finish it first. (The connection's teardown bounds how long
        // this may take: a peer that never completes it cannot hold the
        // socket.)
        if self.held {
            std::task::ready!(self.poll_handshake(cx))?;
        }
        if !self.closing {
            self.tls.send_close_notify();
            self.closing = true;
        }
        std::task::ready!(self.flush_tls(cx))?;
        self.inner.poll_shutdown(cx)
    }

    fn tls_identity(&self) -> Option<TlsIdentity> {
        self.identity()
    }
}

/// A stream TLS can go on: any readiness [`Stream`], or either kind a
/// bound server accepts ([`NetStream`](crate::net::NetStream)). Sealed.
pub trait Wrap: Sized {
    /// The stream with TLS on.
    type Tls: crate::runtime::Transport;
    #[doc(hidden)]
    fn accept(self, tls: &ServerTls) -> io::Result<Self::Tls>;
}

impl<S: Stream> Wrap for S {
    type Tls = TlsStream<S>;
    fn accept(self, tls: &ServerTls) -> io::Result<TlsStream<S>> {
        tls.accept(self)
    }
}

impl<T: Stream, U: Stream> Wrap for crate::net::NetStream<T, U> {
    type Tls = crate::net::NetStream<TlsStream<T>, TlsStream<U>>;
    fn accept(self, tls: &ServerTls) -> io::Result<Self::Tls> {
        use crate::net::NetStream;
        Ok(match self {
            NetStream::Tcp(s) => NetStream::Tcp(tls.accept(s)?),
            NetStream::Unix(s) => NetStream::Unix(tls.accept(s)?),
        })
    }
}

/// A listener whose accepted streams get TLS: what `Server::tls` serves.
pub struct TlsListener<L> {
    inner: L,
    tls: ServerTls,
}

impl<L> TlsListener<L> {
    /// TLS with `tls` on what `inner` accepts.
    pub fn new(inner: L, tls: ServerTls) -> Self {
        TlsListener { inner, tls }
    }
}

impl<L: Listener<Stream: Wrap>> Listener for TlsListener<L> {
    type Stream = <L::Stream as Wrap>::Tls;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Addr)>> {
        let (stream, addr) = std::task::ready!(self.inner.poll_accept(cx))?;
        Poll::Ready(stream.accept(&self.tls).map(|s| (s, addr)))
    }

    fn local_addr(&self) -> io::Result<Addr> {
        self.inner.local_addr()
    }
}
