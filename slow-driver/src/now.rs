//! The driver's reading of the runtime's clock during one wake-up.
//!
//! The clock is read when input arrives (after the read that brought it:
//! a request's deadline must not start before its client sent it, since
//! PROTOCOL.md has the server's budget never end before the client's),
//! when the timer fired (its deadline passed, which an earlier reading may
//! not have seen), and once otherwise if the wake-up needs the time at
//! all. A read that finds nothing reads no clock; a wake-up that brings
//! one read of input reads it once, as before.

use slow_proto::Instant;

/// One wake-up's clock. Public only to be named by the driver's sealed IO
/// trait; not an API.
pub struct Now {
    origin: std::time::Instant,
    clock: fn() -> std::time::Instant,
    /// The latest reading, if the clock was read in this wake-up.
    reading: Option<Instant>,
    /// Input arrived since the latest reading.
    stale: bool,
}

impl Now {
    /// No reading yet, on the timeline that starts at `origin`.
    pub(crate) fn new(origin: std::time::Instant, clock: fn() -> std::time::Instant) -> Now {
        Now {
            origin,
            clock,
            reading: None,
            stale: false,
        }
    }

    /// The latest reading (read now if there is none yet).
    pub(crate) fn latest(&mut self) -> Instant {
        match self.reading {
            Some(t) => t,
            None => self.refresh(),
        }
    }

    /// The time input that just arrived is handled at: a reading taken
    /// after it arrived.
    pub(crate) fn input(&mut self) -> Instant {
        if std::mem::take(&mut self.stale) || self.reading.is_none() {
            return self.refresh();
        }
        self.latest()
    }

    /// Reads the clock.
    pub(crate) fn refresh(&mut self) -> Instant {
        let t = Instant::from_std(self.origin, (self.clock)());
        let t = self.reading.map_or(t, |before| t.max(before));
        self.reading = Some(t);
        t
    }

    /// `t` on the runtime's clock.
    pub(crate) fn to_std(&self, t: Instant) -> std::time::Instant {
        t.to_std(self.origin)
    }

    /// A read is about to be attempted: input it returns may be newer than
    /// the latest reading.
    pub(crate) fn before_read(&mut self) {
        self.stale = true;
    }
}
