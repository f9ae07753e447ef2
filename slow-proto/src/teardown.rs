//! What happens to the socket after the connection closed: write out what
//! the core left (the final GOAWAY, answers), send FIN, then read and
//! discard until the peer's FIN — as a sans-IO piece (time in, actions out)
//! that every driver runs the same way.
//!
//! Why linger at all: closing a socket that still has unread input makes
//! the kernel send RST, and a reset can destroy answers and the GOAWAY the
//! peer has not read yet. Why bound it: a peer that never reads must not
//! hold our output (flushing is bounded by the drain timeout from the
//! close), and a peer that keeps its socket open without a word must not
//! hold the socket (lingering is bounded by [`Config::linger`] and ends
//! early after [`Teardown::LINGER_QUIET`] of silence).

use core::time::Duration;

use crate::config::Config;
use crate::time::Instant;

/// The socket's life after [`Connection::is_closed`](crate::Connection::is_closed)
/// became true.
///
/// Create it when the connection closes, then on every wake-up ask
/// [`poll`](Teardown::poll) what to do and report what the socket did; arm
/// the connection's one timer for [`poll_timeout`](Teardown::poll_timeout).
///
/// ```
/// use core::time::Duration;
/// use slow_proto::{Config, Instant, SocketAction, Teardown};
///
/// let t0 = Instant::ZERO;
/// let mut teardown = Teardown::new(&Config::default(), t0);
/// // Output is still waiting: write it.
/// assert_eq!(teardown.poll(12, t0), SocketAction::Write);
/// // All out: send FIN.
/// assert_eq!(teardown.poll(0, t0), SocketAction::Shutdown);
/// teardown.shutdown_sent(t0);
/// // Read and discard until the peer's FIN, or until it falls silent.
/// assert_eq!(teardown.poll(0, t0), SocketAction::Discard);
/// let later = t0 + Teardown::LINGER_QUIET;
/// assert_eq!(teardown.poll_timeout(), Some(later));
/// assert_eq!(teardown.poll(0, later), SocketAction::Close);
/// assert!(teardown.is_done());
/// ```
#[derive(Debug, Clone)]
pub struct Teardown {
    state: State,
    /// Output still unwritten then is given up (the drain timeout from the
    /// close): a peer that never reads.
    flush_until: Instant,
    linger: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Writing out what the connection left. `peer_done`: its FIN (or an
    /// error) came meanwhile, so there is nothing to linger for.
    Flushing { peer_done: bool },
    /// Our FIN is out: discarding input until the peer's, at most `until`,
    /// and no longer than `quiet_until` after the last input.
    Lingering {
        until: Instant,
        quiet_until: Instant,
    },
    /// Drop the socket.
    Done,
}

/// What the socket should do next, from [`Teardown::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub enum SocketAction {
    /// Write what the connection still has to
    /// [`transmit`](crate::Connection::transmit), then poll again.
    Write,
    /// Everything is written: shut down the write side (send FIN), then
    /// call [`Teardown::shutdown_sent`].
    Shutdown,
    /// Read and discard input, calling [`Teardown::on_input`] for each read
    /// that returned bytes and [`Teardown::on_eof`] at end of stream; wait
    /// on the timer for [`Teardown::poll_timeout`].
    Discard,
    /// Nothing more to do: close (drop) the socket.
    Close,
}

impl Teardown {
    /// Lingering ends early once the peer has sent nothing for this long: a
    /// peer that has our GOAWAY and nothing in flight goes quiet at once.
    pub const LINGER_QUIET: Duration = Duration::from_millis(250);

    /// The socket's teardown for a connection that closed at `now`, its
    /// output flushed for at most the drain timeout. A connection's own
    /// [`Connection::teardown`](crate::Connection::teardown) also bounds
    /// the flush of a connection that never completed its handshake.
    pub fn new(config: &Config, now: Instant) -> Teardown {
        Self::flushing_for(config.drain_timeout, config, now)
    }

    /// As [`new`](Teardown::new), the output given up `flush` after `now`.
    pub(crate) fn flushing_for(flush: Duration, config: &Config, now: Instant) -> Teardown {
        Teardown {
            state: State::Flushing { peer_done: false },
            flush_until: now + flush,
            linger: config.linger,
        }
    }

    /// What to do now, given how many bytes the connection still has to
    /// transmit ([`Connection::transmit_len`](crate::Connection::transmit_len)).
    pub fn poll(&mut self, unsent: usize, now: Instant) -> SocketAction {
        match self.state {
            State::Flushing { .. } if now >= self.flush_until => self.state = State::Done,
            State::Lingering { until, quiet_until } if now >= until.min(quiet_until) => {
                self.state = State::Done
            }
            _ => {}
        }
        match self.state {
            State::Flushing { .. } if unsent > 0 => SocketAction::Write,
            State::Flushing { .. } => SocketAction::Shutdown,
            State::Lingering { .. } => SocketAction::Discard,
            State::Done => SocketAction::Close,
        }
    }

    /// The FIN went out at `now`: linger, unless the peer is gone already.
    pub fn shutdown_sent(&mut self, now: Instant) {
        self.state = match self.state {
            State::Flushing { peer_done: false } => State::Lingering {
                until: (now + self.linger).min(self.flush_until),
                quiet_until: now + Self::LINGER_QUIET,
            },
            _ => State::Done,
        };
    }

    /// Bytes arrived (and were discarded) at `now`: the peer is still
    /// talking, so lingering goes on a little.
    pub fn on_input(&mut self, now: Instant) {
        if let State::Lingering { quiet_until, .. } = &mut self.state {
            *quiet_until = now + Self::LINGER_QUIET;
        }
    }

    /// The peer's FIN arrived, or reading failed: nothing more will come.
    /// While flushing, writing goes on (the peer may still read); after our
    /// FIN, the socket is done.
    pub fn on_eof(&mut self) {
        self.state = match self.state {
            State::Flushing { .. } => State::Flushing { peer_done: true },
            _ => State::Done,
        };
    }

    /// Writing failed: the peer is gone, and with it what was left to say.
    pub fn on_write_error(&mut self) {
        self.state = State::Done;
    }

    /// When [`poll`](Teardown::poll) must be called again at the latest.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Flushing { .. } => Some(self.flush_until),
            State::Lingering { until, quiet_until } => Some(until.min(quiet_until)),
            State::Done => None,
        }
    }

    /// Whether the final output is written (or given up): the connection is
    /// over for the application, only the socket may still linger.
    pub fn is_flushed(&self) -> bool {
        !matches!(self.state, State::Flushing { .. })
    }

    /// Whether the socket can be dropped.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            drain_timeout: Duration::from_secs(30),
            linger: Duration::from_secs(2),
            ..Config::default()
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn flush_then_fin_then_linger_until_the_peers_fin() {
        let mut t = Teardown::new(&config(), at(0));
        assert_eq!(t.poll(100, at(0)), SocketAction::Write);
        assert!(!t.is_flushed());
        assert_eq!(t.poll(0, at(5)), SocketAction::Shutdown);
        t.shutdown_sent(at(5));
        assert!(t.is_flushed());
        assert_eq!(t.poll(0, at(100)), SocketAction::Discard);
        t.on_input(at(200)); // the peer still talks: quiet moves on
        assert_eq!(t.poll_timeout(), Some(at(450)));
        assert_eq!(t.poll(0, at(300)), SocketAction::Discard);
        t.on_eof();
        assert_eq!(t.poll(0, at(301)), SocketAction::Close);
        assert_eq!(t.poll_timeout(), None);
    }

    #[test]
    fn a_peer_that_never_reads_is_given_up_at_the_drain_timeout() {
        let mut t = Teardown::new(&config(), at(0));
        assert_eq!(t.poll(1, at(29_999)), SocketAction::Write);
        assert_eq!(t.poll_timeout(), Some(at(30_000)));
        assert_eq!(t.poll(1, at(30_000)), SocketAction::Close);
        assert!(t.is_done());
    }

    #[test]
    fn a_talkative_peer_is_lingered_on_at_most_linger() {
        let mut t = Teardown::new(&config(), at(0));
        t.shutdown_sent(at(0));
        for ms in (100..2_000).step_by(100) {
            t.on_input(at(ms));
            assert_eq!(t.poll(0, at(ms)), SocketAction::Discard);
        }
        assert_eq!(t.poll(0, at(2_000)), SocketAction::Close);
    }

    #[test]
    fn lingering_never_outlasts_the_drain_timeout() {
        let mut t = Teardown::new(
            &Config {
                drain_timeout: Duration::from_millis(100),
                ..config()
            },
            at(0),
        );
        t.shutdown_sent(at(90));
        t.on_input(at(95));
        assert_eq!(t.poll_timeout(), Some(at(100)));
        assert_eq!(t.poll(0, at(100)), SocketAction::Close);
    }

    #[test]
    fn the_peers_fin_while_flushing_skips_lingering() {
        let mut t = Teardown::new(&config(), at(0));
        t.on_eof();
        assert_eq!(t.poll(10, at(1)), SocketAction::Write);
        assert_eq!(t.poll(0, at(2)), SocketAction::Shutdown);
        t.shutdown_sent(at(2));
        assert_eq!(t.poll(0, at(2)), SocketAction::Close);
    }

    #[test]
    fn a_write_error_ends_it_at_once() {
        let mut t = Teardown::new(&config(), at(0));
        t.on_write_error();
        assert_eq!(t.poll(10, at(1)), SocketAction::Close);
    }
}
