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

use alloc::collections::{BTreeSet, VecDeque};
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};
use core::fmt;
use core::time::Duration;

use crate::config::{Config, ConfigError};
use crate::connection::{Connection, Event};
use crate::time::Instant;

// ---- Rng ---------------------------------------------------------------

/// A small seeded pseudo-random generator (splitmix64), so that a simulation
/// is reproducible from one `u64`.
///
/// Not for cryptography: it only has to be fast, well mixed and identical on
/// every platform.
///
/// ```
/// use slow_proto::sim::Rng;
///
/// let mut a = Rng::new(7);
/// let mut b = Rng::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let roll = a.range(1, 6);
/// assert!((1..=6).contains(&roll));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole sequence is determined by `seed`.
    pub const fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        // splitmix64 (Steele, Lea, Flood 2014): a Weyl sequence, then a mix.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A uniform value in `0..n`; `0` when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Rejection sampling keeps the result exactly uniform.
        let zone = u64::MAX - (u64::MAX - n + 1) % n;
        loop {
            let x = self.next_u64();
            if x <= zone {
                return x % n;
            }
        }
    }

    /// A uniform value in `lo..=hi`; `lo` when `hi < lo`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// A uniform `usize` in `lo..=hi`; `lo` when `hi < lo`.
    pub fn range_usize(&mut self, lo: usize, hi: usize) -> usize {
        // usize is at most 64 bits on every target Rust supports.
        self.range(lo as u64, hi as u64) as usize
    }

    /// True with probability `num / den` (always false when `den` is 0).
    pub fn ratio(&mut self, num: u64, den: u64) -> bool {
        den != 0 && self.below(den) < num
    }

    /// A uniform duration in `lo..=hi`, at microsecond resolution.
    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        let lo = u64::try_from(lo.as_micros()).unwrap_or(u64::MAX);
        let hi = u64::try_from(hi.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(self.range(lo, hi))
    }

    /// One element of `items` chosen uniformly, or `None` when it is empty.
    pub fn choose<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// A new generator whose sequence is independent of this one's, for a
    /// sub-task that must not disturb this one's sequence.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

// ---- Pipe --------------------------------------------------------------

/// One direction of an in-memory byte stream, like one half of a TCP
/// connection: ordered and lossless, with latency, optional jitter, a
/// bounded capacity and random fragmentation on the reading side.
///
/// Bytes written at `now` arrive at `now + latency (+ jitter)`, never before
/// bytes written earlier. Each [`read`](Pipe::read) hands out between 1 and
/// `max_fragment` of the bytes that have arrived, chosen by the [`Rng`].
///
/// ```
/// use core::time::Duration;
/// use slow_proto::Instant;
/// use slow_proto::sim::{Pipe, Rng};
///
/// let mut rng = Rng::new(1);
/// let mut pipe = Pipe::new(Duration::from_millis(5), Duration::ZERO, 4, usize::MAX);
/// assert_eq!(pipe.write(b"hello", Instant::ZERO, &mut rng), 5);
/// assert_eq!(pipe.readable(Instant::from_millis(4)), 0); // still on the way
/// let now = Instant::from_millis(5);
/// let mut got = Vec::new();
/// while pipe.readable(now) > 0 {
///     let part = pipe.read(now, usize::MAX, &mut rng);
///     assert!((1..=4).contains(&part.len()));
///     got.extend_from_slice(&part);
/// }
/// assert_eq!(got, b"hello");
/// ```
#[derive(Debug, Clone)]
pub struct Pipe {
    latency: Duration,
    jitter: Duration,
    max_fragment: usize,
    capacity: usize,
    /// Written, not yet arrived: (arrival time, bytes), in arrival order.
    in_flight: VecDeque<(Instant, Bytes)>,
    in_flight_len: usize,
    /// Arrived, not yet read.
    arrived: BytesMut,
    /// Arrival of the last write, so that jitter never reorders the stream.
    last_arrival: Instant,
    /// When the writer's end-of-stream arrives, once it shut down.
    fin_at: Option<Instant>,
    /// The reader is gone: writes are accepted and dropped.
    broken: bool,
    written: u64,
    read: u64,
}

impl Pipe {
    /// A pipe whose bytes take `latency` plus up to `jitter` to arrive, whose
    /// reads hand out at most `max_fragment` bytes, and which holds at most
    /// `capacity` bytes written but not yet read (`usize::MAX`: unbounded).
    /// `max_fragment` and `capacity` are raised to at least 1.
    pub fn new(latency: Duration, jitter: Duration, max_fragment: usize, capacity: usize) -> Pipe {
        Pipe {
            latency,
            jitter,
            max_fragment: max_fragment.max(1),
            capacity: capacity.max(1),
            in_flight: VecDeque::new(),
            in_flight_len: 0,
            arrived: BytesMut::new(),
            last_arrival: Instant::ZERO,
            fin_at: None,
            broken: false,
            written: 0,
            read: 0,
        }
    }

    /// How many more bytes a write can take now (back-pressure on the writer).
    pub fn room(&self) -> usize {
        if self.broken {
            return usize::MAX;
        }
        self.capacity.saturating_sub(self.buffered())
    }

    /// Bytes written and not yet read, in flight or arrived.
    pub fn buffered(&self) -> usize {
        self.in_flight_len + self.arrived.len()
    }

    /// Total bytes accepted by [`write`](Pipe::write) and handed out by
    /// [`read`](Pipe::read) so far.
    pub fn totals(&self) -> (u64, u64) {
        (self.written, self.read)
    }

    /// Writes as much of `data` as there is [`room`](Pipe::room) for, at
    /// `now`; returns how many bytes were taken. Nothing is taken after
    /// [`shutdown`](Pipe::shutdown); everything is taken (and dropped) once
    /// the pipe is [`broken`](Pipe::break_pipe).
    pub fn write(&mut self, data: &[u8], now: Instant, rng: &mut Rng) -> usize {
        if self.broken {
            return data.len();
        }
        if self.fin_at.is_some() {
            return 0;
        }
        let n = data.len().min(self.room());
        if n == 0 {
            return 0;
        }
        let at = self.arrival(now, rng);
        self.in_flight
            .push_back((at, Bytes::copy_from_slice(&data[..n])));
        self.in_flight_len += n;
        self.written += n as u64;
        n
    }

    /// The writer closes its end: after the bytes already written, the
    /// reader sees end of stream. Idempotent.
    pub fn shutdown(&mut self, now: Instant, rng: &mut Rng) {
        if self.fin_at.is_none() {
            self.fin_at = Some(self.arrival(now, rng));
        }
    }

    /// Whether the writer has shut down its end.
    pub fn is_shut_down(&self) -> bool {
        self.fin_at.is_some()
    }

    /// The reader went away: drop everything buffered, and drop whatever is
    /// written from now on (a real socket would answer with a reset).
    pub fn break_pipe(&mut self) {
        self.broken = true;
        self.in_flight.clear();
        self.in_flight_len = 0;
        self.arrived.clear();
    }

    /// Whether the reader went away ([`break_pipe`](Pipe::break_pipe)).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// How many bytes have arrived by `now` and wait to be read.
    pub fn readable(&mut self, now: Instant) -> usize {
        self.settle(now);
        self.arrived.len()
    }

    /// Reads between 1 and `min(limit, max_fragment)` of the bytes that have
    /// arrived by `now`, as chosen by `rng`; empty when none has arrived or
    /// `limit` is 0.
    pub fn read(&mut self, now: Instant, limit: usize, rng: &mut Rng) -> Bytes {
        self.settle(now);
        let most = self.arrived.len().min(limit).min(self.max_fragment);
        if most == 0 {
            return Bytes::new();
        }
        let n = rng.range_usize(1, most);
        self.read += n as u64;
        self.arrived.split_to(n).freeze()
    }

    /// Whether the reader has reached end of stream at `now`: the writer shut
    /// down, its end-of-stream has arrived and every byte has been read.
    pub fn at_eof(&mut self, now: Instant) -> bool {
        self.settle(now);
        !self.broken
            && self.fin_at.is_some_and(|fin| fin <= now)
            && self.in_flight.is_empty()
            && self.arrived.is_empty()
    }

    /// The next moment after `now` at which bytes or the end of stream
    /// arrive, if any are on the way.
    pub fn next_arrival(&self, now: Instant) -> Option<Instant> {
        if self.broken {
            return None;
        }
        let data = self
            .in_flight
            .iter()
            .map(|&(at, _)| at)
            .find(|&at| at > now);
        let fin = self.fin_at.filter(|&at| at > now);
        data.into_iter().chain(fin).min()
    }

    /// When bytes written at `now` arrive: latency plus jitter, but never
    /// before earlier bytes (the stream stays ordered).
    fn arrival(&mut self, now: Instant, rng: &mut Rng) -> Instant {
        let jitter = if self.jitter.is_zero() {
            Duration::ZERO
        } else {
            rng.duration(Duration::ZERO, self.jitter)
        };
        let at = (now + self.latency + jitter).max(self.last_arrival);
        self.last_arrival = at;
        at
    }

    /// Moves everything that has arrived by `now` to the readable buffer.
    fn settle(&mut self, now: Instant) {
        while let Some((at, _)) = self.in_flight.front() {
            if *at > now {
                break;
            }
            if let Some((_, bytes)) = self.in_flight.pop_front() {
                self.in_flight_len -= bytes.len();
                self.arrived.extend_from_slice(&bytes);
            }
        }
    }
}

// ---- Sim ---------------------------------------------------------------

/// Which end of the simulated connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The client [`Connection`].
    Client,
    /// The server [`Connection`].
    Server,
}

impl Side {
    /// The other end.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    fn index(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }
}

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

/// The ready actions of one step; at most two of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Write(Side),
    Deliver(Side),
    Eof(Side),
    Timeout(Side),
}

/// A client and a server [`Connection`] joined by two [`Pipe`]s on a virtual
/// clock, advanced one event at a time.
///
/// Issue commands between steps through [`client`](Sim::client) and
/// [`server`](Sim::server) (at [`now`](Sim::now)); read what each side
/// reported with [`take_events`](Sim::take_events).
///
/// ```
/// use bytes::Bytes;
/// use slow_proto::Event;
/// use slow_proto::sim::{Side, Sim, SimConfig};
///
/// let mut sim = Sim::new(SimConfig { seed: 3, echo: true, max_fragment: 7, ..SimConfig::default() })
///     .unwrap();
/// let now = sim.now();
/// let id = sim.client().send_request(Bytes::from_static(b"hello, server"), None, now).unwrap();
///
/// // Step until the response is in (at most 10,000 steps).
/// sim.run_until(10_000, |sim| {
///     sim.events(Side::Client).iter().any(|e| matches!(e, Event::Response { .. }))
/// })
/// .unwrap();
/// let events = sim.take_events(Side::Client);
/// assert!(events.contains(&Event::Response { id, body: Bytes::from_static(b"hello, server") }));
///
/// // Nobody talks any more: the idle timeout closes the connection.
/// sim.run_until_idle(10_000).unwrap();
/// assert!(sim.client().is_closed() && sim.server().is_closed());
/// ```
pub struct Sim {
    conns: [Connection; 2],
    /// `pipes[i]` carries what side `i` writes to its peer.
    pipes: [Pipe; 2],
    events: [Vec<Event>; 2],
    eof_told: [bool; 2],
    now: Instant,
    rng: Rng,
    wakeups: BTreeSet<Instant>,
    max_write: usize,
    echo: bool,
    trace: Option<Vec<TraceEntry>>,
    steps: u64,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now)
            .field("steps", &self.steps)
            .field("client_closed", &self.conns[0].is_closed())
            .field("server_closed", &self.conns[1].is_closed())
            .field("pipes", &self.pipes)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// A new simulation at [`Instant::ZERO`]: the client has queued its
    /// HELLO, nothing has moved yet.
    pub fn new(config: SimConfig) -> Result<Sim, ConfigError> {
        let now = Instant::ZERO;
        let client = Connection::client(config.client, now)?;
        let server = Connection::server(config.server, now)?;
        let pipe = || {
            Pipe::new(
                config.latency,
                config.jitter,
                config.max_fragment,
                config.pipe_capacity,
            )
        };
        Ok(Sim {
            conns: [client, server],
            pipes: [pipe(), pipe()],
            events: [Vec::new(), Vec::new()],
            eof_told: [false; 2],
            now,
            rng: Rng::new(config.seed),
            wakeups: BTreeSet::new(),
            max_write: config.max_write.max(1),
            echo: config.echo,
            trace: config.trace.then(Vec::new),
            steps: 0,
        })
    }

    /// The virtual time. Pass it to every command issued between steps.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// How many steps have run.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The client connection, to issue commands
    /// ([`send_request`](Connection::send_request), [`cancel`](Connection::cancel), ...).
    pub fn client(&mut self) -> &mut Connection {
        &mut self.conns[0]
    }

    /// The server connection, to issue commands
    /// ([`respond`](Connection::respond), [`notify`](Connection::notify), ...).
    pub fn server(&mut self) -> &mut Connection {
        &mut self.conns[1]
    }

    /// One side's connection, read-only.
    pub fn connection(&self, side: Side) -> &Connection {
        &self.conns[side.index()]
    }

    /// One side's connection.
    pub fn connection_mut(&mut self, side: Side) -> &mut Connection {
        &mut self.conns[side.index()]
    }

    /// The pipe carrying what `from` writes to its peer.
    pub fn pipe(&self, from: Side) -> &Pipe {
        &self.pipes[from.index()]
    }

    /// The run's random generator, for callers that want their own choices
    /// to be reproduced from the same seed.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Turns the built-in echo server on or off (see [`SimConfig::echo`]).
    pub fn set_echo(&mut self, echo: bool) {
        self.echo = echo;
    }

    /// Makes sure the clock stops at `at` (if it is in the future), so the
    /// caller can act then: [`step`](Sim::step) returns
    /// [`Step::Advanced`] with that time instead of jumping past it.
    pub fn wake_at(&mut self, at: Instant) {
        if at > self.now {
            self.wakeups.insert(at);
        }
    }

    /// Events collected so far from `side`, oldest first, not yet taken.
    /// Events raised by a command show up after the next step or
    /// [`take_events`](Sim::take_events).
    pub fn events(&self, side: Side) -> &[Event] {
        &self.events[side.index()]
    }

    /// Takes every event `side` has reported so far, oldest first.
    pub fn take_events(&mut self, side: Side) -> Vec<Event> {
        self.collect_events();
        core::mem::take(&mut self.events[side.index()])
    }

    /// The steps taken so far, when [`SimConfig::trace`] is on.
    pub fn trace(&self) -> &[TraceEntry] {
        self.trace.as_deref().unwrap_or(&[])
    }

    /// Whether both connections are closed and have nothing left to write.
    pub fn is_finished(&self) -> bool {
        self.conns
            .iter()
            .all(|c| c.is_closed() && c.transmit_len() == 0)
    }

    /// Cuts the network at once, like a reset: whatever is on the way is
    /// lost, later writes are dropped, and each side still open is told
    /// end of stream.
    pub fn disconnect(&mut self) {
        for pipe in &mut self.pipes {
            pipe.break_pipe();
        }
        for side in [Side::Client, Side::Server] {
            let i = side.index();
            if !self.conns[i].is_closed() {
                self.conns[i].recv_eof(self.now);
            }
            self.eof_told[i] = true;
        }
        self.collect_events();
    }

    /// Writes raw `data` into the pipe from `from` to its peer, as if `from`
    /// had sent it (e.g. to play a misbehaving peer). It lands after what
    /// `from` has written so far, possibly in the middle of a frame, and is
    /// subject to the pipe's room; returns how many bytes were taken.
    pub fn inject(&mut self, from: Side, data: &[u8]) -> usize {
        self.pipes[from.index()].write(data, self.now, &mut self.rng)
    }

    /// Runs one action that is ready now, chosen at random among those that
    /// are; when none is, moves the clock to the next event. Returns what it
    /// did; [`Step::Idle`] means nothing will happen without a new command.
    pub fn step(&mut self) -> Step {
        self.steps += 1;
        let at = self.now;
        self.collect_events();
        self.housekeeping();
        let step = match self.pick_action() {
            Some(action) => self.perform(action),
            None => self.advance(),
        };
        self.collect_events();
        self.housekeeping();
        if let Some(trace) = &mut self.trace {
            trace.push(TraceEntry { at, step });
        }
        step
    }

    /// Steps until `done` returns true (checked before every step, after
    /// collecting events), for at most `max_steps` steps; returns how many
    /// ran. Fails with [`RunError::Idle`] when the run goes idle before
    /// `done` holds, and with [`RunError::StepLimit`] when the steps run out.
    pub fn run_until(
        &mut self,
        max_steps: usize,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> Result<usize, RunError> {
        for n in 0..max_steps {
            self.collect_events();
            if done(self) {
                return Ok(n);
            }
            if self.step() == Step::Idle {
                self.collect_events();
                return if done(self) {
                    Ok(n + 1)
                } else {
                    Err(RunError::Idle { steps: n + 1 })
                };
            }
        }
        self.collect_events();
        if done(self) {
            Ok(max_steps)
        } else {
            Err(RunError::StepLimit { steps: max_steps })
        }
    }

    /// Steps until the run is [`Step::Idle`], for at most `max_steps` steps;
    /// returns how many ran (the last one being the idle step).
    pub fn run_until_idle(&mut self, max_steps: usize) -> Result<usize, RunError> {
        for n in 0..max_steps {
            if self.step() == Step::Idle {
                return Ok(n + 1);
            }
        }
        Err(RunError::StepLimit { steps: max_steps })
    }

    /// Runs everything that happens up to and including `until`, leaving
    /// the clock at `until` (if it was later than now), for at most
    /// `max_steps` steps; returns how many ran.
    pub fn run_until_time(&mut self, until: Instant, max_steps: usize) -> Result<usize, RunError> {
        self.wake_at(until);
        for n in 0..max_steps {
            if self.now >= until && self.pick_action_peek().is_none() {
                self.wakeups.remove(&until);
                return Ok(n);
            }
            if self.step() == Step::Idle {
                // Only possible when `until` is not in the future.
                return Ok(n + 1);
            }
        }
        Err(RunError::StepLimit { steps: max_steps })
    }

    /// [`run_until_time`](Sim::run_until_time) `now + duration`.
    pub fn run_for(&mut self, duration: Duration, max_steps: usize) -> Result<usize, RunError> {
        self.run_until_time(self.now + duration, max_steps)
    }

    // ---- internals -----------------------------------------------------

    /// Drains both connections' events into the logs; the echo server
    /// answers requests as they show up (which may raise more events).
    fn collect_events(&mut self) {
        loop {
            let mut any = false;
            for i in 0..2 {
                while let Some(event) = self.conns[i].poll_event() {
                    any = true;
                    if i == 1 && self.echo {
                        if let Event::Request { id, body, .. } = &event {
                            // Refusals (too large, closed) are the core's to
                            // report; the echo server has nothing to add.
                            let _ = self.conns[1].respond(*id, body.clone(), self.now);
                        }
                    }
                    self.events[i].push(event);
                }
            }
            if !any {
                return;
            }
        }
    }

    /// What a socket layer does on its own: a closed connection that has
    /// written everything closes its end of the stream, and stops reading.
    fn housekeeping(&mut self) {
        for side in [Side::Client, Side::Server] {
            let i = side.index();
            let conn = &self.conns[i];
            if conn.is_closed() {
                if conn.transmit_len() == 0 && !self.pipes[i].is_shut_down() {
                    self.pipes[i].shutdown(self.now, &mut self.rng);
                }
                let incoming = &mut self.pipes[side.peer().index()];
                if !incoming.is_broken() {
                    incoming.break_pipe();
                }
            }
        }
    }

    fn ready(&mut self) -> ([Option<Action>; 8], usize) {
        let mut ready = [None; 8];
        let mut n = 0;
        for side in [Side::Client, Side::Server] {
            let i = side.index();
            let incoming = side.peer().index();
            let conn = &self.conns[i];
            let mut push = |a| {
                ready[n] = Some(a);
                n += 1;
            };
            if conn.transmit_len() > 0 && self.pipes[i].room() > 0 {
                push(Action::Write(side));
            }
            let reading = conn.wants_read() && !self.eof_told[i];
            if reading && self.pipes[incoming].readable(self.now) > 0 {
                push(Action::Deliver(side));
            } else if reading && !conn.is_closed() && self.pipes[incoming].at_eof(self.now) {
                push(Action::Eof(side));
            }
            if conn.poll_timeout().is_some_and(|t| t <= self.now) {
                push(Action::Timeout(side));
            }
        }
        (ready, n)
    }

    fn pick_action(&mut self) -> Option<Action> {
        let (ready, n) = self.ready();
        let i = self.rng.below(n as u64) as usize;
        ready[..n].get(i).copied().flatten()
    }

    /// Whether an action is ready now, without using the Rng.
    fn pick_action_peek(&mut self) -> Option<Action> {
        self.housekeeping();
        let (ready, _) = self.ready();
        ready[0]
    }

    fn perform(&mut self, action: Action) -> Step {
        let now = self.now;
        match action {
            Action::Write(side) => Step::Wrote {
                from: side,
                len: self.write(side),
            },
            Action::Deliver(side) => Step::Delivered {
                to: side,
                len: self.deliver(side),
            },
            Action::Eof(side) => {
                self.eof_told[side.index()] = true;
                self.conns[side.index()].recv_eof(now);
                Step::Eof { to: side }
            }
            Action::Timeout(side) => {
                self.conns[side.index()].handle_timeout(now);
                Step::Timeout { side }
            }
        }
    }

    /// Moves a prefix of `side`'s output into its pipe.
    fn write(&mut self, side: Side) -> usize {
        let i = side.index();
        let conn = &mut self.conns[i];
        let pipe = &mut self.pipes[i];
        let mut n = conn.transmit_len().min(pipe.room());
        if self.max_write != usize::MAX {
            n = self.rng.range_usize(1, n.min(self.max_write));
        }
        let mut buf = Vec::with_capacity(n);
        for slice in conn.transmit() {
            let take = slice.len().min(n - buf.len());
            buf.extend_from_slice(&slice[..take]);
            if buf.len() == n {
                break;
            }
        }
        let taken = pipe.write(&buf, self.now, &mut self.rng);
        conn.advance_transmit(taken);
        taken
    }

    /// Hands `side` one fragment of what has arrived for it, through one of
    /// the three receive paths, chosen at random.
    fn deliver(&mut self, side: Side) -> usize {
        let conn = &mut self.conns[side.index()];
        let pipe = &mut self.pipes[side.peer().index()];
        let rng = &mut self.rng;
        let now = self.now;
        match rng.below(3) {
            0 => {
                let data = pipe.read(now, usize::MAX, rng);
                conn.recv(&data, now);
                data.len()
            }
            1 => {
                let space = conn.recv_space();
                let data = pipe.read(now, space.len(), rng);
                space[..data.len()].copy_from_slice(&data);
                conn.recv_commit(data.len(), now);
                data.len()
            }
            _ => {
                let data = pipe.read(now, usize::MAX, rng);
                conn.recv_buffer().extend_from_slice(&data);
                conn.handle_input(now);
                data.len()
            }
        }
    }

    /// Nothing is ready: jump to the next arrival, timer or wake-up.
    fn advance(&mut self) -> Step {
        let now = self.now;
        let arrivals = self.pipes.iter().filter_map(|p| p.next_arrival(now));
        let timers = self
            .conns
            .iter()
            .filter_map(|c| c.poll_timeout())
            .filter(|&t| t > now);
        let wakeup = self.wakeups.range(now..).copied().find(|&t| t > now);
        let next = arrivals.chain(timers).chain(wakeup).min();
        match next {
            Some(t) => {
                self.now = t;
                self.wakeups.retain(|&w| w > t);
                Step::Advanced { to: t }
            }
            None => Step::Idle,
        }
    }
}
