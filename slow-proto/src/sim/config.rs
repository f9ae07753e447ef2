//! What determines a simulation run.

use core::time::Duration;

use crate::config::Config;

#[cfg(doc)]
use super::{Rng, Sim, TraceEntry};
#[cfg(doc)]
use crate::connection::Connection;

/// Everything that determines a simulation run.
///
/// ```
/// use core::time::Duration;
/// use slow_proto::sim::SimConfig;
///
/// let config = SimConfig {
///     seed: 42,
///     latency: Duration::from_millis(20),
///     max_fragment: 100,
///     echo: true,
///     ..SimConfig::default()
/// };
/// assert_eq!(config.max_write, usize::MAX);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Seeds the [`Rng`] behind every random choice of the run.
    pub seed: u64,
    /// One-way latency: how long a written byte takes to arrive.
    pub latency: Duration,
    /// Extra random delay of up to this much per write (order is kept).
    pub jitter: Duration,
    /// The most bytes one delivery hands to a receiver (at least 1 is
    /// always delivered); each delivery takes a random size up to this.
    pub max_fragment: usize,
    /// The most bytes one write takes from a sender's
    /// [`transmit`](Connection::transmit). `usize::MAX` (the default) takes
    /// all that fits in the pipe; any other value takes a random size
    /// between 1 and this, so writes end in the middle of frames.
    pub max_write: usize,
    /// How many bytes each direction holds written but unread before the
    /// writer has to wait (a socket's buffers); `usize::MAX`: unbounded.
    pub pipe_capacity: usize,
    /// The client's configuration.
    pub client: Config,
    /// The server's configuration.
    pub server: Config,
    /// The server answers every request with its own body, at once.
    pub echo: bool,
    /// Keep a [`TraceEntry`] for every step (see [`Sim::trace`]).
    pub trace: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            latency: Duration::from_millis(1),
            jitter: Duration::ZERO,
            max_fragment: 64 * 1024,
            max_write: usize::MAX,
            pipe_capacity: usize::MAX,
            client: Config::default(),
            server: Config::default(),
            echo: false,
            trace: false,
        }
    }
}
