//! The errors: why a client connection ended, why a command was refused,
//! and which Unix socket a bind or connect failed on.

use std::io;
use std::path::PathBuf;

use slow_proto::config::ConfigError;
use slow_proto::{ConnectionError, ErrorCode, SendError};

use crate::client::ConnId;

/// Why a client connection ended (or never became usable).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnError {
    /// The protocol ended it: a connection error found by either side (the
    /// peer's GOAWAY code, e.g. CONNECTION_LIMIT, is in it), or the stream
    /// ended without GOAWAY.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The socket failed: connection refused, reset, ...; or the event loop
    /// itself failed.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    /// The connection closed gracefully before the handshake completed (a
    /// server's GOAWAY SHUTTING_DOWN came first).
    #[error("connection closed before the handshake completed")]
    ClosedBeforeHandshake,
    /// TLS failed (`tls` feature): the handshake (an untrusted, expired or
    /// wrong-name certificate, a missing client certificate, a peer that
    /// does not speak TLS, the peer's alert) or a record (garbage, a
    /// failed decryption). rustls's error says which.
    ///
    /// ```
    /// use slow_custom_example::ConnError;
    ///
    /// let e = ConnError::Tls { source: rustls::Error::DecryptError };
    /// assert!(e.to_string().starts_with("TLS: "));
    /// assert!(std::error::Error::source(&e).unwrap().is::<rustls::Error>());
    /// ```
    #[cfg(feature = "tls")]
    #[error("TLS: {source}")]
    Tls {
        /// rustls's error.
        #[source]
        source: rustls::Error,
    },
}

impl ConnError {
    /// The GOAWAY code involved, if there was one.
    ///
    /// ```
    /// use slow_custom_example::ConnError;
    ///
    /// assert_eq!(ConnError::ClosedBeforeHandshake.code(), None);
    /// ```
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ConnError::Connection(e) => e.code(),
            ConnError::Io(_) | ConnError::ClosedBeforeHandshake => None,
            #[cfg(feature = "tls")]
            ConnError::Tls { .. } => None,
        }
    }

    /// The socket error behind a lost connection, as its report: TLS's own
    /// failure when it was one, the socket's otherwise.
    pub(crate) fn from_socket(e: io::Error) -> ConnError {
        #[cfg(feature = "tls")]
        if let Some(tls) = crate::tls_session::rustls_error(&e) {
            return ConnError::Tls {
                source: tls.clone(),
            };
        }
        ConnError::Io(e)
    }
}

/// A [`ClientLoop`](crate::ClientLoop) command that was refused; nothing was
/// sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No connection has this id any more: it is over
    /// ([`Closed`](crate::Completion::Closed)) and its socket is closed.
    #[error("unknown connection {0}")]
    UnknownConnection(ConnId),
    /// The connection refused the command (closing, body too large, ...).
    #[error(transparent)]
    Send(#[from] SendError),
    /// The connection's config is not valid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The socket could not be opened.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// rustls refused to start a connection with this config (`tls`
    /// feature).
    ///
    /// ```
    /// use slow_custom_example::ClientError;
    ///
    /// let e = ClientError::from(rustls::Error::General("no".into()));
    /// assert!(e.to_string().starts_with("TLS: "));
    /// ```
    #[cfg(feature = "tls")]
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// A Unix socket that could not be bound or connected to, with its path: a
/// missing directory, a path too long for `sockaddr_un` (over 107 bytes),
/// permission denied, nobody listening, a live server already there, a
/// file there that is not a socket.
///
/// It travels inside the [`io::Error`] that
/// [`Server::bind_unix`](crate::Server::bind_unix),
/// [`ClientLoop::connect_unix`](crate::ClientLoop::connect_unix) and
/// [`BlockingClient::connect_unix`](crate::BlockingClient::connect_unix)
/// return, which keeps the system's [`io::ErrorKind`] (`NotFound`,
/// `InvalidInput`, `AddrInUse`, `AlreadyExists`, ...) and whose message
/// names the path: `unix:PATH: what the system said`.
///
/// ```
/// use slow_custom_example::{Server, UnixSocketError};
/// use std::path::Path;
///
/// let path = Path::new("/no/such/dir/slow.sock");
/// let e = Server::bind_unix(path, Default::default()).err().unwrap();
/// assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
/// assert!(e.to_string().starts_with("unix:/no/such/dir/slow.sock: "));
/// assert_eq!(UnixSocketError::of(&e).unwrap().path, path);
/// ```
#[derive(Debug, thiserror::Error)]
#[error("unix:{}: {source}", path.display())]
pub struct UnixSocketError {
    /// The socket's path, as given.
    pub path: PathBuf,
    /// What the system said.
    #[source]
    pub source: io::Error,
}

impl UnixSocketError {
    /// The Unix socket error inside `error`, if it is one (errors from
    /// TCP sockets, and later errors on an open connection, are not).
    ///
    /// ```
    /// use slow_custom_example::UnixSocketError;
    ///
    /// let plain = std::io::Error::from(std::io::ErrorKind::NotFound);
    /// assert!(UnixSocketError::of(&plain).is_none());
    /// ```
    pub fn of(error: &io::Error) -> Option<&UnixSocketError> {
        error.get_ref()?.downcast_ref()
    }
}
