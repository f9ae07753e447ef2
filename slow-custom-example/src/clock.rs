//! The loop's one clock.
//!
//! The core never reads a clock: every call takes `now` on its own
//! microsecond timeline. The loop keeps one `std::time::Instant` origin and
//! converts at the edge, so every connection, timer and deadline shares a
//! single, monotonic timeline.

use std::time::Duration;

use slow_proto::Instant;

/// A `std` origin and the conversions to and from the core's timeline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    /// A clock whose [`Instant::ZERO`] is now.
    pub(crate) fn start() -> Clock {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// The current time on the core's timeline. `std::time::Instant` is
    /// monotonic, so this never goes backwards (the core checks that).
    pub(crate) fn now(&self) -> Instant {
        Instant::from_std(self.origin, std::time::Instant::now())
    }

    /// How long from now until `at`; zero if it has passed.
    pub(crate) fn until(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.now())
    }
}
