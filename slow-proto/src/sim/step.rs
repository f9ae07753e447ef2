//! What a step did, and why a run stopped short.

use super::Side;
use crate::time::Instant;

#[cfg(doc)]
use super::{Sim, SimConfig};
#[cfg(doc)]
use crate::connection::Connection;

/// What one [`Sim::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `from` wrote `len` bytes of its output into its pipe.
    Wrote {
        /// The writer.
        from: Side,
        /// How many bytes.
        len: usize,
    },
    /// `len` bytes were handed to `to`'s receive path.
    Delivered {
        /// The reader.
        to: Side,
        /// How many bytes.
        len: usize,
    },
    /// `to` was told that its peer closed the stream.
    Eof {
        /// The reader.
        to: Side,
    },
    /// `side`'s timer fired ([`Connection::handle_timeout`]).
    Timeout {
        /// Whose timer.
        side: Side,
    },
    /// Nothing was ready: the clock jumped to the next event.
    Advanced {
        /// The new time.
        to: Instant,
    },
    /// Nothing will ever happen again without a new command: no bytes on the
    /// way, no timer, no wake-up.
    Idle,
}

/// One step of a traced run (see [`SimConfig::trace`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceEntry {
    /// When it happened (for [`Step::Advanced`], the time before the jump).
    pub at: Instant,
    /// What happened.
    pub step: Step,
}

/// Why a run stopped short of its goal (see [`Sim::run_until`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// `max_steps` steps ran and the goal was still not reached (a run
    /// that never settles, e.g. keepalive with no idle timeout, ends here).
    #[error("goal not reached within {steps} steps")]
    StepLimit {
        /// The limit that was reached.
        steps: usize,
    },
    /// The run went [`Step::Idle`] without reaching the goal: nothing would
    /// change any more.
    #[error("went idle after {steps} steps without reaching the goal")]
    Idle {
        /// The steps that ran.
        steps: usize,
    },
}
