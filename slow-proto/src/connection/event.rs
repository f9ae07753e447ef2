//! What a connection reports ([`Event`]) and the small types its events
//! carry.

use alloc::string::String;
use bytes::Bytes;

use crate::error::{ConnectionError, ErrorCode, RequestError};
use crate::id::RequestId;
use crate::settings::Settings;
use crate::time::Instant;

#[cfg(doc)]
use super::Connection;

/// Which end of the connection this side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Opened the connection; sends HELLO and requests.
    Client,
    /// Accepted the connection; sends WELCOME and responses.
    Server,
}

/// What the core reports to the code driving it. Drain with
/// [`Connection::poll_event`] after every call.
///
/// New kinds of event may be added; match with a `_` arm for those you do
/// not act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed; the peer's settings are known.
    Connected {
        /// What the peer advertised.
        peer: Settings,
    },
    /// (server) A whole request arrived. Answer it with
    /// [`Connection::respond`] or [`Connection::respond_error`].
    Request {
        /// Its id.
        id: RequestId,
        /// The reassembled body.
        body: Bytes,
        /// When its DEADLINE runs out, if it has one; the core answers
        /// DEADLINE_EXCEEDED by itself then.
        deadline: Option<Instant>,
    },
    /// (server) Stop working on a request: it will not be answered.
    RequestAbandoned {
        /// Its id.
        id: RequestId,
        /// Why.
        reason: AbandonReason,
    },
    /// (client) A request's whole response arrived.
    Response {
        /// The request's id.
        id: RequestId,
        /// The reassembled body.
        body: Bytes,
    },
    /// (client) A request ended without a response.
    RequestFailed {
        /// The request's id.
        id: RequestId,
        /// How it ended.
        error: RequestError,
    },
    /// The peer sent a notification.
    Notify {
        /// Its body.
        body: Bytes,
    },
    /// A PING we sent (ours or a keepalive) was answered.
    Pong {
        /// The 8 bytes echoed.
        data: [u8; 8],
    },
    /// The peer sent GOAWAY. For a graceful code the connection drains.
    GoAway {
        /// The peer's code.
        code: ErrorCode,
        /// The last request id the peer will handle (server) or sent (client).
        last_id: RequestId,
        /// The peer's reason text.
        reason: String,
    },
    /// The connection is over; always the last event. `None` for a clean,
    /// graceful close.
    Closed {
        /// Why, when it was not clean.
        error: Option<ConnectionError>,
    },
}

/// Why a server-side request was abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbandonReason {
    /// The client sent CANCEL.
    Cancelled,
    /// Its DEADLINE passed; the core has sent ERROR DEADLINE_EXCEEDED.
    DeadlineExceeded,
    /// The connection closed.
    ConnectionClosed,
}
