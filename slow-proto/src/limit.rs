//! A server's connection limit and how a connection over it is refused
//! (PROTOCOL.md §6, CONNECTION_LIMIT): the rule every server shares,
//! whatever accepts its sockets.

use crate::config::{Config, ConfigError};
use crate::connection::Connection;
use crate::error::ErrorCode;
use crate::time::Instant;

/// Counts a server's live connections against its limit.
///
/// Each accepted stream gets its [`Connection`] from
/// [`accept`](ConnectionLimit::accept). Under the limit the connection is
/// [`Admission::Admitted`] and counted until the server calls
/// [`release`](ConnectionLimit::release) when it ends; at the limit it is
/// [`Admission::Refused`]: already closed, its only output a GOAWAY
/// CONNECTION_LIMIT, and not counted (the server writes that out, then drops
/// the socket). Draining connections still count; refused ones never do.
///
/// ```
/// use slow_proto::{Config, ConnectionLimit, Instant};
/// use slow_proto::limit::Admission;
///
/// let mut limit = ConnectionLimit::new(1);
/// let (first, admitted) = limit.accept(Config::default(), Instant::ZERO)?;
/// assert_eq!(admitted, Admission::Admitted);
/// let (second, refused) = limit.accept(Config::default(), Instant::ZERO)?;
/// assert_eq!(refused, Admission::Refused);
/// assert!(second.is_closed() && second.transmit_len() > 0); // the GOAWAY
/// drop(first);
/// limit.release(); // the first one ended: there is room again
/// assert_eq!(limit.live(), 0);
/// # Ok::<(), slow_proto::config::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConnectionLimit {
    max: usize,
    live: usize,
}

/// Whether [`ConnectionLimit::accept`] let a connection in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an admitted connection must be released when it ends"]
pub enum Admission {
    /// Counted: call [`ConnectionLimit::release`] when it ends.
    Admitted,
    /// Over the limit: closed with GOAWAY CONNECTION_LIMIT, not counted.
    Refused,
}

impl ConnectionLimit {
    /// The limit unless a server says otherwise (INTEROP.md's
    /// `--max-connections` default).
    pub const DEFAULT_MAX: usize = 10_000;

    /// A limit of `max` live connections.
    pub fn new(max: usize) -> ConnectionLimit {
        ConnectionLimit { max, live: 0 }
    }

    /// The most live connections allowed.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Changes the limit; connections already live stay.
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// How many admitted connections have not been released.
    pub fn live(&self) -> usize {
        self.live
    }

    /// The server side of a stream accepted at `now`: admitted and counted,
    /// or refused (see the [type docs](ConnectionLimit)).
    pub fn accept(
        &mut self,
        config: Config,
        now: Instant,
    ) -> Result<(Connection, Admission), ConfigError> {
        let mut conn = Connection::server(config, now)?;
        if self.live >= self.max {
            conn.close(ErrorCode::CONNECTION_LIMIT, "connection limit reached", now);
            return Ok((conn, Admission::Refused));
        }
        self.live += 1;
        Ok((conn, Admission::Admitted))
    }

    /// An admitted connection ended.
    pub fn release(&mut self) {
        debug_assert!(self.live > 0, "released more connections than admitted");
        self.live = self.live.saturating_sub(1);
    }
}

impl Default for ConnectionLimit {
    fn default() -> Self {
        ConnectionLimit::new(Self::DEFAULT_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{self, Frame};
    use bytes::BytesMut;

    #[test]
    fn refused_connections_say_why_and_do_not_count() {
        let mut limit = ConnectionLimit::new(2);
        let now = Instant::ZERO;
        for _ in 0..2 {
            let (_, a) = limit.accept(Config::default(), now).unwrap();
            assert_eq!(a, Admission::Admitted);
        }
        for _ in 0..3 {
            let (mut conn, a) = limit.accept(Config::default(), now).unwrap();
            assert_eq!(a, Admission::Refused);
            assert!(conn.is_closed());
            let mut wire: BytesMut = conn.transmit().flatten().copied().collect();
            let goaway = frame::decode(&mut wire, 65_536).unwrap();
            assert!(matches!(
                goaway,
                Some(Frame::GoAway {
                    code: ErrorCode::CONNECTION_LIMIT,
                    ..
                })
            ));
            assert!(wire.is_empty(), "only the GOAWAY goes out");
        }
        assert_eq!(limit.live(), 2);
        limit.release();
        let (_, a) = limit.accept(Config::default(), now).unwrap();
        assert_eq!(a, Admission::Admitted);
    }

    #[test]
    fn an_invalid_config_is_refused_before_counting() {
        let mut limit = ConnectionLimit::new(1);
        let bad = Config {
            read_chunk: 0,
            ..Config::default()
        };
        assert!(limit.accept(bad, Instant::ZERO).is_err());
        assert_eq!(limit.live(), 0);
    }
}
