//! A deterministic simulation harness: a client and a server
//! [`Connection`] joined by two in-memory pipes, driven on a virtual clock.
//!
//! Everything random (fragmentation, jitter, which of several ready actions
//! goes first, which receive API is used) comes from one seeded [`Rng`], so a
//! run is reproduced exactly from its [`SimConfig`]. No clock is read and no
//! thread is started: time only moves when [`Sim::step`] jumps to the next
//! thing that can happen (a byte arriving, a connection timer, or a wake-up
//! the caller asked for).
//!
//! The harness drives each connection the way an adapter must (see the
//! calling order in [`crate::connection`]): it reads only while
//! [`wants_read`](Connection::wants_read) is true, writes what
//! [`transmit`](Connection::transmit) yields and reports it with
//! [`advance_transmit`](Connection::advance_transmit), fires
//! [`handle_timeout`](Connection::handle_timeout) at
//! [`poll_timeout`](Connection::poll_timeout), drains every event after every
//! call, and closes its end of the stream once a connection
//! [`is_closed`](Connection::is_closed) and has written out its last bytes.
//!
//! In short: build a [`Sim`] from a [`SimConfig`]; issue commands through
//! [`Sim::client`] and [`Sim::server`] at [`Sim::now`]; advance with
//! [`Sim::step`], [`Sim::run_until`], [`Sim::run_until_time`] or
//! [`Sim::run_until_idle`] (ask for a stop at a given time with
//! [`Sim::wake_at`]); read each side's events with [`Sim::take_events`].
//! [`Sim::disconnect`] cuts the network and [`Sim::inject`] plays a
//! misbehaving peer. A failing run is replayed from the same `SimConfig`
//! and the same commands at the same times; [`SimConfig::trace`] records
//! every step.

mod config;
mod harness;
mod pipe;
mod rng;
mod step;

pub use self::config::SimConfig;
pub use self::harness::{Side, Sim};
pub use self::pipe::Pipe;
pub use self::rng::Rng;
pub use self::step::{RunError, Step, TraceEntry};

#[cfg(doc)]
use crate::connection::Connection;
