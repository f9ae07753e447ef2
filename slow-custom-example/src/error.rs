//! The client's errors: why a connection ended, why a command was refused.

use std::io;

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
}

impl ConnError {
    /// The GOAWAY code involved, if there was one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ConnError::Connection(e) => e.code(),
            ConnError::Io(_) | ConnError::ClosedBeforeHandshake => None,
        }
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
}
