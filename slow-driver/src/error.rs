//! The one error type callers of every adapter see.

use std::io;

use slow_proto::config::ConfigError;
use slow_proto::{ConnectionError, ErrorCode, RequestError, SendError};

/// Why a call on a [`Client`](crate::Client) or [`Server`](crate::Server)
/// failed. Each variant tells the caller what it may do next.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request's timeout passed; the server was told to stop (CANCEL).
    #[error("request timed out")]
    TimedOut,
    /// The server answered with ERROR.
    #[error("server error {code}: {message}")]
    Server {
        /// The ERROR code (0x0100 and above are the application's own).
        code: ErrorCode,
        /// The server's message.
        message: String,
    },
    /// The server did not process the request (it was closing, or the
    /// connection was): safe to retry, on a new connection.
    #[error("request not processed (safe to retry)")]
    NotProcessed,
    /// The connection ended without a GOAWAY (or a drain timed out); the
    /// request may or may not have been processed.
    #[error("connection lost")]
    ConnectionLost,
    /// One side broke the protocol; the connection is closed.
    #[error("protocol violation ({code}): {reason}")]
    Protocol {
        /// The GOAWAY code.
        code: ErrorCode,
        /// What was wrong.
        reason: String,
    },
    /// The connection was closed with this code (e.g. CONNECTION_LIMIT,
    /// KEEPALIVE_TIMEOUT, HANDSHAKE_TIMEOUT).
    #[error("connection closed ({code}): {reason}")]
    Closed {
        /// The GOAWAY code.
        code: ErrorCode,
        /// Its reason text.
        reason: String,
    },
    /// The body is larger than the peer accepts; nothing was sent.
    #[error("body of {size} bytes exceeds the peer's limit of {limit}")]
    TooLarge {
        /// The body's size.
        size: u64,
        /// The peer's limit.
        limit: u64,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Connecting, binding or accepting failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Error {
    /// Whether retrying the request on a new connection is safe.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::NotProcessed)
    }
}

impl From<ConnectionError> for Error {
    fn from(e: ConnectionError) -> Error {
        let violation = |code| {
            matches!(
                code,
                ErrorCode::PROTOCOL_ERROR
                    | ErrorCode::FRAME_TOO_LARGE
                    | ErrorCode::MESSAGE_TOO_LARGE
                    | ErrorCode::VERSION_MISMATCH
            )
        };
        match e {
            ConnectionError::Local { code, reason } | ConnectionError::Remote { code, reason } => {
                if violation(code) {
                    Error::Protocol { code, reason }
                } else {
                    Error::Closed { code, reason }
                }
            }
            ConnectionError::Lost | ConnectionError::DrainTimeout => Error::ConnectionLost,
        }
    }
}

impl From<RequestError> for Error {
    fn from(e: RequestError) -> Error {
        match e {
            RequestError::TimedOut => Error::TimedOut,
            RequestError::Server { code, message } => Error::Server { code, message },
            // A cancelled request has no caller left to tell; not processed
            // is the truthful answer should one ask.
            RequestError::NotProcessed | RequestError::Cancelled => Error::NotProcessed,
            RequestError::TooLarge { size, limit } => Error::TooLarge { size, limit },
            RequestError::Connection(c) => c.into(),
        }
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Error {
        match e {
            SendError::TooLarge { size, limit } => Error::TooLarge { size, limit },
            // Refused before anything was sent: nothing was processed.
            SendError::Closed
            | SendError::NotReady
            | SendError::IdsExhausted
            | SendError::UnknownRequest(_)
            | SendError::WrongRole => Error::NotProcessed,
        }
    }
}
