//! Every deadline a connection can have, named, in one place.

use super::{Connection, Phase, RequestId, Role, Stage};
use crate::connection::AbandonReason;
use crate::error::{ErrorCode, RequestError};
use crate::frame::Frame;
use crate::settings::Settings;
use crate::time::Instant;
use core::time::Duration;

/// The connection-wide timers. Per-request deadlines live in their own
/// ordered structure beside them (`deadlines.rs`); [`Connection::poll_timeout`] is the minimum of both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// The handshake must finish within the local handshake timeout (§3).
    Handshake,
    /// Send a PING when nothing was received for the keepalive interval (§5).
    KeepAlive,
    /// Give up when nothing arrives within the timeout after that PING.
    KeepAliveTimeout,
    /// Close when idle for the negotiated idle timeout (§5).
    Idle,
    /// Force a graceful close that takes longer than the drain timeout (§6).
    Drain,
}

impl Timer {
    const ALL: [Timer; 5] = [
        Timer::Handshake,
        Timer::KeepAlive,
        Timer::KeepAliveTimeout,
        Timer::Idle,
        Timer::Drain,
    ];
}

impl Connection {
    /// The next moment [`handle_timeout`](Connection::handle_timeout) must be
    /// called, or `None` when no timer is running.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let requests = self.requests.deadlines.first().map(|(d, _)| d);
        Timer::ALL
            .iter()
            .filter_map(|&t| self.deadline(t))
            .chain(requests)
            .min()
    }

    /// Fires every timer whose deadline is at or before `now`. Calling it
    /// early, or more than once, is harmless. Afterwards
    /// [`poll_timeout`](Connection::poll_timeout) is later than `now` (or
    /// `None`): firing one timer can make another due (the last request
    /// expiring starts the idle clock), so this repeats until none is.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.set_time(now);
        // Each firing moves its timer on (or closes), so this ends quickly.
        for _ in 0..2 * Timer::ALL.len() {
            self.expire_requests(now);
            let due = Timer::ALL
                .into_iter()
                .find(|&t| self.deadline(t).is_some_and(|d| d <= now));
            match due {
                Some(timer) => self.fire(timer),
                None => break,
            }
        }
    }

    /// Ends every request whose deadline is at or before `now`.
    pub(super) fn expire_requests(&mut self, now: Instant) {
        while let Some((deadline, id)) = self.requests.deadlines.first() {
            if deadline > now || self.phase.is_closed() {
                break;
            }
            self.expire_request(id);
        }
    }

    /// When `timer` fires, derived from the state (nothing to keep in sync).
    fn deadline(&self, timer: Timer) -> Option<Instant> {
        let open = matches!(self.phase, Phase::Open | Phase::Draining { .. });
        match timer {
            Timer::Handshake => (self.phase == Phase::Handshake)
                .then(|| self.established + self.config.handshake_timeout),
            Timer::KeepAlive => {
                match (open, self.keepalive_ping_at, self.config.keepalive_interval) {
                    (true, None, Some(interval)) => Some(self.last_rx + interval),
                    _ => None,
                }
            }
            Timer::KeepAliveTimeout => match (open, self.keepalive_ping_at) {
                (true, Some(sent)) => Some(sent + self.config.keepalive_timeout),
                _ => None,
            },
            Timer::Idle => {
                let idle = Settings::effective_idle_timeout_ms(
                    self.config.settings.idle_timeout_ms,
                    self.peer().idle_timeout_ms,
                )?;
                (self.phase == Phase::Open && self.requests.active.is_empty())
                    .then(|| self.last_activity + Duration::from_millis(idle.into()))
            }
            Timer::Drain => match self.phase {
                Phase::Draining { since, .. } => Some(since + self.config.drain_timeout),
                _ => None,
            },
        }
    }

    fn fire(&mut self, timer: Timer) {
        match timer {
            Timer::Handshake => {
                // Say what did not come: the stream is open, the peer silent.
                let reason = alloc::format!(
                    "connected, but no {} within {} ms",
                    match self.role {
                        Role::Client => "WELCOME",
                        Role::Server => "HELLO",
                    },
                    self.config.handshake_timeout.as_millis()
                );
                self.fail(ErrorCode::HANDSHAKE_TIMEOUT, &reason)
            }
            Timer::KeepAlive => {
                self.keepalive_ping_at = Some(self.now);
                self.send_ping();
            }
            Timer::KeepAliveTimeout => {
                self.fail(ErrorCode::KEEPALIVE_TIMEOUT, "no answer to keepalive PING")
            }
            Timer::Idle => self.begin_close(ErrorCode::IDLE_TIMEOUT, "idle timeout"),
            Timer::Drain => self.force_close(),
        }
    }

    /// A per-request deadline passed.
    fn expire_request(&mut self, id: RequestId) {
        match (self.role, self.requests.stage(id)) {
            (_, None) => {
                // Stale entry; cannot happen as entries leave with their request.
                self.requests.deadlines.forget(id);
            }
            (Role::Client, Some(stage)) => {
                if stage == Stage::Sent {
                    self.tx.push(&Frame::Cancel { id });
                }
                self.finish(id, Err(RequestError::TimedOut));
            }
            (Role::Server, Some(_)) => {
                self.requests.untrack(id);
                self.push_error(id, ErrorCode::DEADLINE_EXCEEDED, "deadline exceeded");
                self.events.push_back(super::Event::RequestAbandoned {
                    id,
                    reason: AbandonReason::DeadlineExceeded,
                });
                self.ended(id);
            }
        }
    }
}
