//! The one error type callers of every adapter see.

use std::io;
use std::sync::Arc;

use slow_proto::config::ConfigError;
use slow_proto::{ConnectionError, ErrorCode, RequestError, SendError};

/// Why a call on a `Client` or `Server` failed. Each variant tells the
/// caller what it may do next; which of them is safe to retry is the
/// protocol core's rule ([`is_retryable`](Error::is_retryable)).
///
/// New variants may be added; match with a `_` arm.
///
/// ```
/// # use slow_driver::{Error, ErrorCode};
/// fn advice(e: &Error) -> &'static str {
///     match e {
///         e if e.is_retryable() => "retry, on a new connection",
///         Error::TimedOut => "retry later, or with a longer timeout",
///         Error::Server { code, .. } if code.is_application() => "the application said no",
///         Error::TooLarge { .. } => "send less",
///         _ => "report it",
///     }
/// }
///
/// assert_eq!(advice(&Error::NotProcessed), "retry, on a new connection");
/// let refused = Error::Server { code: ErrorCode(0x0100), message: "no".into() };
/// assert_eq!(advice(&refused), "the application said no");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request's timeout passed; the server was told to stop (CANCEL).
    #[error("request timed out")]
    TimedOut,
    /// The server answered with ERROR.
    #[error("server answered {code}: {message}")]
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
    /// request may or may not have been processed. `cause` is the socket's
    /// own error when there was one (a reset, a broken pipe); `None` for a
    /// plain end of stream.
    #[error("connection lost")]
    ConnectionLost {
        /// What the socket reported, if anything.
        #[source]
        cause: Option<io::Error>,
    },
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
    /// The peer does not speak SLOW/1 (an HTTP server, a TLS endpoint, the
    /// wrong port): the core's [`ConnectionError::NotSlow`] says what it
    /// sent instead.
    #[error(transparent)]
    NotSlow(ConnectionError),
    /// The body is larger than the peer accepts; nothing was sent.
    #[error("body of {size} bytes exceeds the peer's limit of {limit}")]
    TooLarge {
        /// The body's size.
        size: u64,
        /// The peer's limit.
        limit: u64,
    },
    /// The connection refused a command for a reason no retry fixes (e.g.
    /// answering a request that is no longer outstanding); nothing was sent.
    #[error("command refused")]
    Refused(#[source] SendError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Connecting to or listening on a Unix socket failed: `path` is the
    /// socket's (a missing directory, a path too long for `sockaddr_un`,
    /// permission denied, another server already listening there).
    #[error("unix:{}: {source}", path.display())]
    Unix {
        /// The socket's path.
        path: std::path::PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake or a TLS record failed (`tls` feature): an
    /// untrusted, expired or wrong-name certificate, a missing or refused
    /// client certificate, a peer that does not speak TLS (its alert
    /// received is `AlertReceived`).
    #[cfg(feature = "tls")]
    #[error("TLS: {source}")]
    Tls {
        /// rustls's error.
        #[source]
        source: rustls::Error,
    },
    /// A TLS configuration could not be built (`tls` feature): which file
    /// and what is wrong with it.
    #[cfg(feature = "tls")]
    #[error(transparent)]
    TlsConfig(#[from] crate::tls::TlsConfigError),
    /// Connecting, binding or accepting failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Error {
    /// Whether retrying the request on a new connection is safe: the
    /// server certainly did not process it ([`Error::NotProcessed`], which
    /// the core reports only for what it knows was never processed).
    ///
    /// ```
    /// # use slow_driver::Error;
    /// assert!(Error::NotProcessed.is_retryable());
    /// // Lost with the request on the wire: it may have been processed.
    /// assert!(!Error::ConnectionLost { cause: None }.is_retryable());
    /// assert!(!Error::TimedOut.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::NotProcessed)
    }

    /// A request's failure, with the socket error behind a lost connection.
    pub(crate) fn from_request(e: RequestError, cause: Option<&Arc<io::Error>>) -> Error {
        match e {
            RequestError::Connection(c) => Error::from_connection(c, cause),
            e if e.is_retryable() => Error::NotProcessed,
            RequestError::TimedOut => Error::TimedOut,
            RequestError::Server { code, message } => Error::Server { code, message },
            RequestError::TooLarge { size, limit } => Error::TooLarge { size, limit },
            // A cancelled request has no caller left to tell; not processed
            // is the truthful answer should one ask. So is any new outcome.
            _ => Error::NotProcessed,
        }
    }

    /// How a connection ended, with the socket error behind a lost one.
    pub(crate) fn from_connection(e: ConnectionError, cause: Option<&Arc<io::Error>>) -> Error {
        match e {
            e @ ConnectionError::NotSlow { .. } => Error::NotSlow(e),
            ConnectionError::Local { code, reason } | ConnectionError::Remote { code, reason } => {
                if code.is_violation() {
                    Error::Protocol { code, reason }
                } else {
                    Error::Closed { code, reason }
                }
            }
            _ => {
                #[cfg(feature = "tls")]
                if let Some(tls) = cause.and_then(|e| e.get_ref()?.downcast_ref::<rustls::Error>())
                {
                    return Error::Tls {
                        source: tls.clone(),
                    };
                }
                Error::ConnectionLost {
                    cause: cause.map(|e| copy_io_error(e)),
                }
            }
        }
    }
}

/// A copy of the socket's error for each caller that hears of it (an
/// `io::Error` is not `Clone`): the same kind, OS code and text.
fn copy_io_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl From<ConnectionError> for Error {
    fn from(e: ConnectionError) -> Error {
        Error::from_connection(e, None)
    }
}

impl From<RequestError> for Error {
    fn from(e: RequestError) -> Error {
        Error::from_request(e, None)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Error {
        match e {
            // Refused before anything was sent, for a reason a new
            // connection does not have: nothing was processed.
            e if e.is_retryable() => Error::NotProcessed,
            SendError::TooLarge { size, limit } => Error::TooLarge { size, limit },
            e => Error::Refused(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(code: ErrorCode) -> ConnectionError {
        ConnectionError::Local {
            code,
            reason: "why".into(),
        }
    }

    #[test]
    fn violations_are_the_cores_to_name() {
        for code in [
            ErrorCode::PROTOCOL_ERROR,
            ErrorCode::FRAME_TOO_LARGE,
            ErrorCode::MESSAGE_TOO_LARGE,
            ErrorCode::VERSION_MISMATCH,
        ] {
            assert!(
                matches!(Error::from(local(code)), Error::Protocol { code: c, .. } if c == code)
            );
        }
        for code in [
            ErrorCode::CONNECTION_LIMIT,
            ErrorCode::KEEPALIVE_TIMEOUT,
            ErrorCode::HANDSHAKE_TIMEOUT,
        ] {
            assert!(matches!(Error::from(local(code)), Error::Closed { code: c, .. } if c == code));
        }
    }

    #[test]
    fn only_what_was_never_processed_is_retryable() {
        assert!(Error::from(SendError::Closed).is_retryable());
        assert!(Error::from(SendError::IdsExhausted).is_retryable());
        assert!(Error::from(RequestError::NotProcessed).is_retryable());
        // Mistakes in the calling code are not a reason to retry.
        let misuse = Error::from(SendError::UnknownRequest(3.into()));
        assert!(matches!(
            misuse,
            Error::Refused(SendError::UnknownRequest(_))
        ));
        assert!(!misuse.is_retryable());
        assert!(!Error::from(SendError::WrongRole).is_retryable());
        assert!(!Error::from(RequestError::TimedOut).is_retryable());
        assert!(matches!(
            Error::from(SendError::TooLarge { size: 9, limit: 8 }),
            Error::TooLarge { size: 9, limit: 8 }
        ));
    }

    #[test]
    fn a_lost_connection_carries_the_sockets_error() {
        let cause = Arc::new(io::Error::from(io::ErrorKind::ConnectionReset));
        let e = Error::from_request(
            RequestError::Connection(ConnectionError::Lost),
            Some(&cause),
        );
        let source = std::error::Error::source(&e).expect("a cause");
        let io = source.downcast_ref::<io::Error>().expect("an io::Error");
        assert_eq!(io.kind(), io::ErrorKind::ConnectionReset);
        // A plain end of stream has none.
        let e = Error::from(ConnectionError::Lost);
        assert!(matches!(e, Error::ConnectionLost { cause: None }));
        assert!(std::error::Error::source(&e).is_none());
    }
}
