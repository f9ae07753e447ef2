//! The loop's one clock.
//!
//! The core never reads a clock: every call takes `now` on its own
//! microsecond timeline. The loop keeps one `std::time::Instant` origin and
//! converts at the edge, so every connection, timer and deadline shares a
//! single, monotonic timeline.
//!
//! It also remembers its latest reading ([`Clock::last`]), for the places
//! where a reading a little old will do and a fresh one would be one more
//! `clock_gettime` per round trip: the links given commands are driven at
//! the time of the latest command, and the wait for the next deadline is
//! measured from the latest reading (so a timer can fire late by the work
//! done since it, as it can by the turn's own work anyway).

use std::cell::Cell;
use std::time::Duration;

use slow_proto::Instant;

/// A `std` origin, the conversions to and from the core's timeline, and
/// the latest reading.
#[derive(Debug)]
pub(crate) struct Clock {
    origin: std::time::Instant,
    last: Cell<Instant>,
}

impl Clock {
    /// A clock whose [`Instant::ZERO`] is now.
    pub(crate) fn start() -> Clock {
        Clock {
            origin: std::time::Instant::now(),
            last: Cell::new(Instant::ZERO),
        }
    }

    /// The current time on the core's timeline. `std::time::Instant` is
    /// monotonic, so this never goes backwards (the core checks that).
    pub(crate) fn now(&self) -> Instant {
        let now = Instant::from_std(self.origin, std::time::Instant::now());
        self.last.set(now);
        now
    }

    /// The latest reading [`now`](Clock::now) returned: never later than
    /// any time the loop has given a core, and never earlier either, as
    /// every one of those came from this clock.
    pub(crate) fn last(&self) -> Instant {
        self.last.get()
    }

    /// How long from the latest reading until `at`; zero if it has passed.
    pub(crate) fn until(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.last())
    }
}
