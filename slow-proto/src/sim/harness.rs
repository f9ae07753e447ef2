//! The harness itself: two connections, two pipes, one clock.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::{Pipe, Rng, RunError, SimConfig, Step, TraceEntry};
use crate::config::ConfigError;
use crate::connection::{Connection, Event};
use crate::time::Instant;

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
