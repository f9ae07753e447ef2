//! Error codes on the wire and the typed errors the core reports.

use alloc::string::String;
use core::fmt;

use crate::id::RequestId;

/// A SLOW/1 error code (PROTOCOL.md §7), as carried by ERROR and GOAWAY.
///
/// Codes 0x0000–0x00FF are the protocol's own (named below);
/// 0x0100–0xFFFF are for applications to use in ERROR frames.
///
/// ```
/// # use slow_proto::ErrorCode;
///
/// assert_eq!(ErrorCode::DEADLINE_EXCEEDED.as_u16(), 0x000A);
/// assert_eq!(ErrorCode::from(0x0100).name(), None);
/// assert!(ErrorCode::from(0x0100).is_application());
/// assert!(ErrorCode::IDLE_TIMEOUT.is_graceful());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// Graceful close: nothing went wrong.
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0000);
    /// The peer broke a rule of the protocol.
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x0001);
    /// A frame longer than the receiver's MAX_FRAME_SIZE.
    pub const FRAME_TOO_LARGE: ErrorCode = ErrorCode(0x0002);
    /// A message longer than the receiver's MAX_MESSAGE_SIZE.
    pub const MESSAGE_TOO_LARGE: ErrorCode = ErrorCode(0x0003);
    /// No protocol version both sides speak.
    pub const VERSION_MISMATCH: ErrorCode = ErrorCode(0x0004);
    /// The handshake did not finish within the local handshake timeout.
    pub const HANDSHAKE_TIMEOUT: ErrorCode = ErrorCode(0x0005);
    /// Graceful close after the negotiated idle timeout.
    pub const IDLE_TIMEOUT: ErrorCode = ErrorCode(0x0006);
    /// The peer answered nothing after a keepalive PING.
    pub const KEEPALIVE_TIMEOUT: ErrorCode = ErrorCode(0x0007);
    /// The server refused a request over its concurrency limit or load.
    pub const TOO_MANY_REQUESTS: ErrorCode = ErrorCode(0x0008);
    /// The caller cancelled the request (local only).
    pub const CANCELLED: ErrorCode = ErrorCode(0x0009);
    /// The request's DEADLINE passed before the response was finished.
    pub const DEADLINE_EXCEEDED: ErrorCode = ErrorCode(0x000A);
    /// The server is shutting down (request refused, or graceful close).
    pub const SHUTTING_DOWN: ErrorCode = ErrorCode(0x000B);
    /// Something failed inside the implementation.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(0x000C);
    /// The server is at its connection limit.
    pub const CONNECTION_LIMIT: ErrorCode = ErrorCode(0x000D);

    /// The first application-defined code.
    pub const APPLICATION_MIN: u16 = 0x0100;

    /// The code as it goes on the wire.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether this code is application-defined (0x0100–0xFFFF).
    pub const fn is_application(self) -> bool {
        self.0 >= Self::APPLICATION_MIN
    }

    /// Whether a GOAWAY with this code starts a graceful drain (§6) rather
    /// than ending the connection at once.
    pub const fn is_graceful(self) -> bool {
        matches!(
            self,
            Self::NO_ERROR | Self::IDLE_TIMEOUT | Self::SHUTTING_DOWN
        )
    }

    /// Whether a connection closed with this code was closed because one
    /// side broke the protocol (as opposed to a timeout, a limit or a
    /// shutdown): the code of a bug in one of the two implementations.
    ///
    /// ```
    /// # use slow_proto::ErrorCode;
    ///
    /// assert!(ErrorCode::FRAME_TOO_LARGE.is_violation());
    /// assert!(!ErrorCode::CONNECTION_LIMIT.is_violation());
    /// ```
    pub const fn is_violation(self) -> bool {
        matches!(
            self,
            Self::PROTOCOL_ERROR
                | Self::FRAME_TOO_LARGE
                | Self::MESSAGE_TOO_LARGE
                | Self::VERSION_MISMATCH
        )
    }

    /// The protocol's name for the code, if it has one.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0000 => "NO_ERROR",
            0x0001 => "PROTOCOL_ERROR",
            0x0002 => "FRAME_TOO_LARGE",
            0x0003 => "MESSAGE_TOO_LARGE",
            0x0004 => "VERSION_MISMATCH",
            0x0005 => "HANDSHAKE_TIMEOUT",
            0x0006 => "IDLE_TIMEOUT",
            0x0007 => "KEEPALIVE_TIMEOUT",
            0x0008 => "TOO_MANY_REQUESTS",
            0x0009 => "CANCELLED",
            0x000A => "DEADLINE_EXCEEDED",
            0x000B => "SHUTTING_DOWN",
            0x000C => "INTERNAL_ERROR",
            0x000D => "CONNECTION_LIMIT",
            _ => return None,
        })
    }
}

impl From<u16> for ErrorCode {
    fn from(code: u16) -> Self {
        ErrorCode(code)
    }
}

impl From<ErrorCode> for u16 {
    fn from(code: ErrorCode) -> u16 {
        code.0
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:04X})", self.0),
            None if self.is_application() => write!(f, "application error 0x{:04X}", self.0),
            None => write!(f, "unassigned error 0x{:04X}", self.0),
        }
    }
}

/// A violation found while decoding one frame: the connection error to send.
///
/// The `code` is what goes into the GOAWAY; `reason` says which rule broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct FrameError {
    /// The connection error code (PROTOCOL.md §7).
    pub code: ErrorCode,
    /// Which rule the frame broke, for logs and the GOAWAY reason.
    pub reason: &'static str,
}

impl FrameError {
    pub(crate) const fn protocol(reason: &'static str) -> Self {
        FrameError {
            code: ErrorCode::PROTOCOL_ERROR,
            reason,
        }
    }
}

/// Why a connection ended in error, as reported to the application.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// This side found a violation (or a local timeout) and sent GOAWAY.
    #[error("closed locally with {code}: {reason}")]
    Local {
        /// The code this side sent.
        code: ErrorCode,
        /// What happened.
        reason: String,
    },
    /// The peer sent GOAWAY with an error code.
    #[error("closed by peer with {code}: {reason}")]
    Remote {
        /// The code the peer sent.
        code: ErrorCode,
        /// The peer's reason text.
        reason: String,
    },
    /// The stream ended without a GOAWAY.
    #[error("connection lost (end of stream without GOAWAY)")]
    Lost,
    /// The graceful drain did not finish within the local drain timeout.
    #[error("graceful close did not finish within the drain timeout")]
    DrainTimeout,
    /// The peer does not speak SLOW/1: its first bytes are not a HELLO
    /// (server) or WELCOME (client) frame — an HTTP server, a TLS
    /// endpoint, the wrong port. This side sent GOAWAY `code` and closed.
    #[error(
        "the peer does not speak SLOW/1 (no {expected} frame); its first bytes were `{}`{}",
        FirstBytes(first_bytes),
        Guess(first_bytes)
    )]
    NotSlow {
        /// The frame this side waited for: `"HELLO"` or `"WELCOME"`.
        expected: &'static str,
        /// The code this side sent in its GOAWAY.
        code: ErrorCode,
        /// Up to the first 16 bytes the peer sent.
        first_bytes: alloc::vec::Vec<u8>,
    },
}

/// Shows bytes the way a person reads them: printable ASCII as is, the
/// rest escaped.
struct FirstBytes<'a>(&'a [u8]);

impl fmt::Display for FirstBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            match b {
                b'\\' => f.write_str("\\\\")?,
                b'\r' => f.write_str("\\r")?,
                b'\n' => f.write_str("\\n")?,
                0x20..=0x7E => write!(f, "{}", char::from(b))?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        Ok(())
    }
}

/// Whether `bytes` start like a TLS record (content type, then major
/// version 3): a peer speaking TLS where SLOW/1 was expected.
pub(crate) fn is_tls_record(bytes: &[u8]) -> bool {
    matches!(bytes, [0x14..=0x18, 0x03, ..])
}

/// What a stranger's first bytes look like, when that is plain: said after
/// them, so that the fix is obvious.
struct Guess<'a>(&'a [u8]);

impl fmt::Display for Guess<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_tls_record(self.0) {
            f.write_str(" (a TLS record: the peer speaks TLS)")
        } else if self.0.starts_with(b"HTTP/") {
            f.write_str(" (an HTTP response)")
        } else {
            Ok(())
        }
    }
}

impl ConnectionError {
    /// The wire code involved, if there was one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ConnectionError::Local { code, .. }
            | ConnectionError::Remote { code, .. }
            | ConnectionError::NotSlow { code, .. } => Some(*code),
            ConnectionError::Lost | ConnectionError::DrainTimeout => None,
        }
    }

    /// Whether the connection ended because one side broke the protocol
    /// (see [`ErrorCode::is_violation`]).
    pub fn is_violation(&self) -> bool {
        self.code().is_some_and(ErrorCode::is_violation)
    }
}

/// How one request ended, when it did not end with a response.
///
/// Each variant tells the caller what it may do next: retry
/// ([`NotProcessed`](RequestError::NotProcessed)), give up, or report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The local per-request deadline passed; a CANCEL was sent if the request
    /// had gone out.
    #[error("request timed out")]
    TimedOut,
    /// The caller cancelled the request.
    #[error("request cancelled")]
    Cancelled,
    /// The server answered ERROR.
    #[error("server error {code}: {message}")]
    Server {
        /// The code of the ERROR frame.
        code: ErrorCode,
        /// Its message.
        message: String,
    },
    /// The server never processed the request (it was above the last id of
    /// a GOAWAY, or never sent): safe to retry on another connection.
    #[error("request not processed (safe to retry)")]
    NotProcessed,
    /// The body is larger than the server's MAX_MESSAGE_SIZE.
    #[error("request body of {size} bytes exceeds the peer's limit of {limit}")]
    TooLarge {
        /// The body's size.
        size: u64,
        /// The peer's MAX_MESSAGE_SIZE.
        limit: u64,
    },
    /// The connection ended before the request did.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
}

impl RequestError {
    /// Whether sending the same request again, on another connection, is
    /// safe: only when the server certainly did not process it.
    ///
    /// ```
    /// use slow_proto::RequestError;
    ///
    /// assert!(RequestError::NotProcessed.is_retryable());
    /// assert!(!RequestError::TimedOut.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(self, RequestError::NotProcessed)
    }
}

/// A command the core refused; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is closing or closed: no new work is accepted.
    #[error("connection is closing or closed")]
    Closed,
    /// The handshake has not completed yet (notifications and pings wait for it).
    #[error("handshake not complete")]
    NotReady,
    /// The body exceeds what the peer accepts.
    #[error("body of {size} bytes exceeds the peer's limit of {limit}")]
    TooLarge {
        /// The body's size.
        size: u64,
        /// The peer's limit (MAX_MESSAGE_SIZE, or MAX_FRAME_SIZE for NOTIFY).
        limit: u64,
    },
    /// No outstanding request has this id (answered, cancelled or expired).
    #[error("request {0} is not outstanding")]
    UnknownRequest(RequestId),
    /// The command is for the other role (e.g. a server sending a request).
    #[error("not allowed in this role")]
    WrongRole,
    /// All 2^32 − 1 request ids of this connection are used.
    #[error("request ids exhausted on this connection")]
    IdsExhausted,
}

impl SendError {
    /// Whether the same command would be accepted on a new connection:
    /// this one is closing or out of ids. The others are final
    /// ([`TooLarge`](SendError::TooLarge)), a matter of waiting for the
    /// handshake ([`NotReady`](SendError::NotReady)), or mistakes in the
    /// calling code ([`UnknownRequest`](SendError::UnknownRequest),
    /// [`WrongRole`](SendError::WrongRole)), which no retry fixes.
    ///
    /// ```
    /// use slow_proto::{RequestId, SendError};
    ///
    /// assert!(SendError::Closed.is_retryable());
    /// assert!(!SendError::UnknownRequest(RequestId::new(3)).is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Closed | SendError::IdsExhausted)
    }
}
