//! The core's own clock types.
//!
//! The core never reads a clock: every entry point takes the current time as
//! an argument. [`Instant`] is a point on an arbitrary, monotonic timeline in
//! microseconds, so the crate works without `std` (as smoltcp does); adapters
//! convert from `std::time::Instant` at the edge (see [`Instant::from_std`]).

use core::ops::{Add, Sub};
use core::time::Duration;

/// A point in time, in microseconds since an origin the caller chooses.
///
/// Only differences between instants matter. A simulation can start at
/// [`Instant::ZERO`]; an adapter usually takes the moment it created the
/// connection as its origin.
///
/// ```
/// use core::time::Duration;
/// use slow_proto::Instant;
///
/// let t = Instant::from_millis(1_500);
/// assert_eq!(t + Duration::from_millis(500), Instant::from_secs(2));
/// assert_eq!(Instant::from_secs(2) - t, Duration::from_millis(500));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    micros: u64,
}

impl Instant {
    /// The origin of the timeline.
    pub const ZERO: Instant = Instant { micros: 0 };

    /// The instant `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        Instant { micros }
    }

    /// The instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant {
            micros: millis.saturating_mul(1_000),
        }
    }

    /// The instant `secs` seconds after the origin.
    pub const fn from_secs(secs: u64) -> Self {
        Instant {
            micros: secs.saturating_mul(1_000_000),
        }
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    /// Milliseconds since the origin, rounded down.
    pub const fn as_millis(self) -> u64 {
        self.micros / 1_000
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }

    /// `self + d`, saturating at the end of the timeline instead of overflowing.
    pub fn saturating_add(self, d: Duration) -> Instant {
        let d = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Instant {
            micros: self.micros.saturating_add(d),
        }
    }

    /// Converts a `std::time::Instant` into this timeline, where `origin` is
    /// the `std` instant chosen as [`Instant::ZERO`]. Instants before the
    /// origin map to the origin.
    ///
    /// ```
    /// /// An adapter picks its origin once, when the connection starts, and
    /// /// converts every reading of its own clock against it.
    /// fn core_time(origin: std::time::Instant, t: std::time::Instant) -> slow_proto::Instant {
    ///     slow_proto::Instant::from_std(origin, t)
    /// }
    ///
    /// fn check(origin: std::time::Instant) {
    ///     let later = origin + std::time::Duration::from_millis(7);
    ///     assert_eq!(core_time(origin, later).as_millis(), 7);
    ///     assert_eq!(core_time(later, origin), slow_proto::Instant::ZERO);
    /// }
    /// ```
    #[cfg(feature = "std")]
    pub fn from_std(origin: std::time::Instant, t: std::time::Instant) -> Instant {
        Instant::ZERO.saturating_add(t.saturating_duration_since(origin))
    }

    /// Converts back to a `std::time::Instant`, given the same `origin` as
    /// [`Instant::from_std`]. Saturates where `std` cannot represent the
    /// result (far in the future).
    #[cfg(feature = "std")]
    pub fn to_std(self, origin: std::time::Instant) -> std::time::Instant {
        let d = Duration::from_micros(self.micros);
        origin.checked_add(d).unwrap_or_else(|| {
            // A deadline beyond what the platform can represent: a year out is
            // as good as never for a network timer.
            origin + Duration::from_secs(365 * 24 * 3600)
        })
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl Sub for Instant {
    type Output = Duration;

    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let end = Instant::from_micros(u64::MAX);
        assert_eq!(end + Duration::from_secs(1), end);
        assert_eq!(Instant::ZERO - end, Duration::ZERO);
        assert_eq!(Instant::from_secs(3).as_millis(), 3_000);
    }
}
