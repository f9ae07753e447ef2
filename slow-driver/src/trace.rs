//! `tracing` for the driver, in one place: spans for a connection and a
//! request, and the connection's events at their levels. With the
//! `tracing` feature off (it is on by default) every item here is empty
//! and compiles to nothing.
//!
//! Levels: WARN for what an operator must look at (a protocol violation, a
//! peer that does not speak SLOW), INFO for a connection that ended in
//! error otherwise (a timeout, a lost peer, a refused connection), DEBUG
//! for a connection's life (opened, handshake, GOAWAY, closed) and each
//! request, TRACE for keepalive and the socket's teardown. Nothing is
//! logged per frame at INFO or above. The connection's span is at WARN, so
//! that even a warnings-only subscriber says which peer a warning is about;
//! a request's span is at DEBUG.

use std::fmt::Display;
use std::future::Future;

use slow_proto::{AbandonReason, ConnectionError, ErrorCode, RequestId, Settings};

/// A `tracing` event (with the feature on), else nothing.
macro_rules! event {
    ($($arg:tt)*) => {{
        #[cfg(feature = "tracing")]
        ::tracing::event!($($arg)*);
    }};
}

/// The span of one connection, or of one request on it.
#[derive(Clone, Debug)]
pub struct Span {
    #[cfg(feature = "tracing")]
    inner: tracing::Span,
}

/// Inside a [`Span`] until dropped.
pub(crate) struct Entered<'a> {
    #[cfg(feature = "tracing")]
    _inner: tracing::span::Entered<'a>,
    _span: std::marker::PhantomData<&'a Span>,
}

impl Span {
    /// No span (a detached peer's).
    pub(crate) fn none() -> Span {
        Span {
            #[cfg(feature = "tracing")]
            inner: tracing::Span::none(),
        }
    }

    /// Whether a subscriber records this span. A connection whose span is
    /// not recorded skips its requests' spans and the per-poll entering,
    /// so that tracing compiled in but not listened to costs nothing
    /// measurable.
    #[inline]
    pub(crate) fn is_enabled(&self) -> bool {
        #[cfg(feature = "tracing")]
        return !self.inner.is_disabled();
        #[cfg(not(feature = "tracing"))]
        false
    }

    /// Enters the span until the guard is dropped (not across an await).
    #[inline]
    pub(crate) fn enter(&self) -> Entered<'_> {
        Entered {
            #[cfg(feature = "tracing")]
            _inner: self.inner.enter(),
            _span: std::marker::PhantomData,
        }
    }

    /// A connection's span: its role, its peer and the runtime it runs on.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn connection(role: &'static str, peer: &dyn Display, runtime: &str) -> Span {
        let span = Span {
            #[cfg(feature = "tracing")]
            inner: tracing::warn_span!("connection", role, peer = %peer, runtime),
        };
        span.in_scope(|| event!(tracing::Level::DEBUG, "connection opened"));
        span
    }

    /// The span of request `id` on this connection, or `None` when the
    /// connection's is not recorded (then nothing per request is logged
    /// either: all of it is at DEBUG, below the connection span's WARN).
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    #[inline]
    pub(crate) fn request(&self, id: RequestId) -> Option<Span> {
        if !self.is_enabled() {
            return None;
        }
        Some(Span {
            #[cfg(feature = "tracing")]
            inner: tracing::debug_span!(parent: &self.inner, "request", id = %id),
        })
    }

    /// Runs `f` inside this span (for the code it calls synchronously).
    #[inline]
    pub(crate) fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        #[cfg(feature = "tracing")]
        return self.inner.in_scope(f);
        #[cfg(not(feature = "tracing"))]
        f()
    }

    /// `f`, inside this span whenever it is polled.
    pub(crate) fn instrument<F: Future>(self, f: F) -> impl Future<Output = F::Output> {
        #[cfg(feature = "tracing")]
        return tracing::Instrument::instrument(f, self.inner);
        #[cfg(not(feature = "tracing"))]
        f
    }
}

/// The short name of runtime type `R` (`Tokio`, `PerCore`), for spans.
pub(crate) fn runtime_name<R>() -> &'static str {
    let name = std::any::type_name::<R>();
    let base = name.split('<').next().unwrap_or(name);
    base.rsplit("::").next().unwrap_or(base)
}

/// The handshake completed.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn connected(peer: &Settings) {
    event!(
        tracing::Level::DEBUG,
        max_frame_size = peer.max_frame_size,
        max_message_size = peer.max_message_size,
        max_concurrent_requests = peer.max_concurrent_requests,
        "handshake complete"
    );
}

/// The peer sent GOAWAY.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn goaway_received(code: ErrorCode, last_id: RequestId, reason: &str) {
    event!(tracing::Level::DEBUG, %code, %last_id, reason, "GOAWAY received");
}

/// This side closes gracefully (GOAWAY `code`).
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn closing(code: ErrorCode, reason: &str) {
    event!(tracing::Level::DEBUG, %code, reason, "closing: GOAWAY sent, draining");
}

/// The connection is over, cleanly or not; `socket` is the socket's
/// first error, if any.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn closed(error: Option<&ConnectionError>, socket: Option<&std::io::Error>) {
    let Some(e) = error else {
        event!(tracing::Level::DEBUG, "connection closed");
        return;
    };
    if let ConnectionError::NotSlow { .. } = e {
        event!(tracing::Level::WARN, error = %e, "the peer does not speak SLOW/1");
    } else if e.is_violation() {
        if let ConnectionError::Remote { .. } = e {
            event!(tracing::Level::WARN, error = %e, "the peer reports a protocol violation");
        } else {
            event!(tracing::Level::WARN, error = %e, "protocol violation by the peer");
        }
    } else if let Some(cause) = socket {
        event!(tracing::Level::INFO, error = %e, %cause, "connection ended");
    } else {
        event!(tracing::Level::INFO, error = %e, "connection ended");
    }
}

/// A PING we sent was answered.
pub(crate) fn pong() {
    event!(tracing::Level::TRACE, "keepalive: PONG");
}

/// The socket failed.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn socket_error(e: &std::io::Error) {
    event!(tracing::Level::DEBUG, error = %e, "socket error");
}

/// The socket is done with (flushed, shut down, lingered).
pub(crate) fn socket_closed() {
    event!(tracing::Level::TRACE, "socket closed");
}

/// A request arrived (server), in its span.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn request(len: usize) {
    event!(tracing::Level::DEBUG, len, "request");
}

/// The core abandoned a request (cancelled, expired, closed): its handler
/// is stopped.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn abandoned(id: RequestId, reason: AbandonReason) {
    event!(tracing::Level::DEBUG, %id, ?reason, "request abandoned");
}

/// A handler asked to close the connection once request `id` is answered.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn close_after(id: RequestId) {
    event!(tracing::Level::DEBUG, %id, "closing once this request is answered");
}

/// A connection beyond the server's limit was refused (GOAWAY
/// CONNECTION_LIMIT).
pub(crate) fn refused() {
    event!(
        tracing::Level::INFO,
        "connection refused: the server is at its connection limit"
    );
}
