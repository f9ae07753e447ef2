//! `tracing` for the loop: the events slow-driver logs for the async
//! adapters, at the same levels, in a span per connection (role, peer).
//! With the `tracing` feature off (it is on by default) this is empty.

use slow_proto::{ConnectionError, ErrorCode, RequestId, Settings};

/// A `tracing` event (with the feature on), else nothing.
macro_rules! event {
    ($($arg:tt)*) => {{
        #[cfg(feature = "tracing")]
        ::tracing::event!($($arg)*);
    }};
}

/// One connection's span (at WARN, so that a warning names its peer).
#[derive(Debug)]
pub(crate) struct Span {
    #[cfg(feature = "tracing")]
    inner: tracing::Span,
}

impl Span {
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn connection(role: &'static str, peer: &str) -> Span {
        let span = Span {
            #[cfg(feature = "tracing")]
            inner: tracing::warn_span!("connection", role, peer = %peer, runtime = "custom"),
        };
        span.in_scope(|| event!(tracing::Level::DEBUG, "connection opened"));
        span
    }

    pub(crate) fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        #[cfg(feature = "tracing")]
        return self.inner.in_scope(f);
        #[cfg(not(feature = "tracing"))]
        f()
    }
}

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

#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn goaway_received(code: ErrorCode, last_id: RequestId, reason: &str) {
    event!(tracing::Level::DEBUG, %code, %last_id, reason, "GOAWAY received");
}

#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn request(id: RequestId, len: usize) {
    event!(tracing::Level::DEBUG, %id, len, "request");
}

/// As slow-driver's: WARN for a violation or a peer that is not SLOW,
/// INFO for another error, DEBUG for a clean close.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn closed(error: Option<&ConnectionError>, socket: Option<&std::io::Error>) {
    let Some(e) = error else {
        event!(tracing::Level::DEBUG, "connection closed");
        return;
    };
    #[cfg(feature = "tls")]
    if let Some(tls) = socket.and_then(crate::tls_session::rustls_error) {
        return tls_failed(tls);
    }
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

/// TLS ended the connection: WARN for a peer that broke TLS itself
/// (garbage records, plaintext to a TLS port, a failed decryption), INFO
/// for the rest (a certificate refused, either way; the peer's alert).
#[cfg(feature = "tls")]
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
fn tls_failed(e: &rustls::Error) {
    use rustls::Error as E;
    let violation = matches!(
        e,
        E::InvalidMessage(_)
            | E::PeerMisbehaved(_)
            | E::DecryptError
            | E::InappropriateMessage { .. }
            | E::InappropriateHandshakeMessage { .. }
    );
    if violation {
        event!(tracing::Level::WARN, error = %e, "TLS violation by the peer");
    } else {
        event!(tracing::Level::INFO, error = %e, "TLS failed");
    }
}
