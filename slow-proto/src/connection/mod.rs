//! The connection state machine: one SLOW/1 connection, client or server,
//! with no IO, no clock and no tasks.
//!
//! # Calling order for an adapter
//!
//! A [`Connection`] is driven by one task (or one event-loop slot) that owns
//! the socket. Every call that changes state takes the current time; time
//! must never go backwards (checked in debug builds).
//!
//! 1. **Create** it with [`Connection::client`] or [`Connection::server`]
//!    once the TCP connection is established. A client queues its HELLO at
//!    once.
//! 2. **Read** when [`wants_read`](Connection::wants_read) is true: read into
//!    [`recv_buffer`](Connection::recv_buffer) (a `BytesMut`, e.g. an async runtime's
//!    `read_buf`) and call [`handle_input`](Connection::handle_input), or read
//!    into [`recv_space`](Connection::recv_space) (a `&mut [u8]`) and call
//!    [`recv_commit`](Connection::recv_commit). At end of stream call
//!    [`recv_eof`](Connection::recv_eof). When `wants_read` is false, stop
//!    reading until the peer has taken some of our output: that is the
//!    back-pressure that bounds memory against a peer that never reads.
//! 3. **Handle events**: after every call, drain
//!    [`poll_event`](Connection::poll_event) and act on each (deliver a
//!    response to its caller, start a handler, ...). Commands issued while
//!    handling events ([`respond`](Connection::respond),
//!    [`send_request`](Connection::send_request), ...) may queue more output
//!    and more events.
//! 4. **Write** whatever [`transmit`](Connection::transmit) (or
//!    `transmit_io_slices` with the `std` feature) yields, vectored, and
//!    report what the socket took with
//!    [`advance_transmit`](Connection::advance_transmit).
//! 5. **Arm one timer** for [`poll_timeout`](Connection::poll_timeout) and
//!    call [`handle_timeout`](Connection::handle_timeout) when it fires (or
//!    whenever woken: calling it early is harmless). Re-read `poll_timeout`
//!    after every call: any call can move it.
//! 6. Once [`is_closed`](Connection::is_closed) is true, no more input is
//!    processed: write out what is left to transmit (the final GOAWAY), then
//!    close the socket.
//!
//! ```
//! use bytes::Bytes;
//! use slow_proto::{Config, Connection, Event, Instant};
//!
//! let now = Instant::ZERO;
//! let mut client = Connection::client(Config::default(), now).unwrap();
//! let mut server = Connection::server(Config::default(), now).unwrap();
//! let id = client.send_request(Bytes::from_static(b"ping?"), None, now).unwrap();
//!
//! // A tiny in-memory "network": move bytes until both sides are quiet.
//! fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
//!     let bytes: Vec<u8> = from.transmit().flatten().copied().collect();
//!     from.advance_transmit(bytes.len());
//!     to.recv(&bytes, now);
//! }
//! pump(&mut client, &mut server, now); // HELLO (the request waits for WELCOME)
//! pump(&mut server, &mut client, now); // WELCOME
//! pump(&mut client, &mut server, now); // REQUEST
//! while let Some(event) = server.poll_event() {
//!     if let Event::Request { id, body, .. } = event {
//!         server.respond(id, body, now).unwrap();
//!     }
//! }
//! pump(&mut server, &mut client, now); // RESPONSE
//! let mut got = None;
//! while let Some(event) = client.poll_event() {
//!     if let Event::Response { id: rid, body } = event {
//!         assert_eq!(rid, id);
//!         got = Some(body);
//!     }
//! }
//! assert_eq!(got.as_deref(), Some(&b"ping?"[..]));
//! ```

mod close;
mod handshake;
mod requests;
mod table;
mod timers;
mod transmit;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use bytes::{Bytes, BytesMut};
use core::time::Duration;

use crate::config::{Config, ConfigError};
use crate::error::{ConnectionError, ErrorCode, RequestError, SendError};
use crate::frame::{self, Frame};
use crate::settings::Settings;
use crate::time::Instant;

use self::table::IdTable;
use self::transmit::TxQueue;

/// A request id: the number on the wire, assigned by the client, from 1.
pub type RequestId = u32;

/// Which end of the connection this side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Opened the connection; sends HELLO and requests.
    Client,
    /// Accepted the connection; sends WELCOME and responses.
    Server,
}

/// What the core reports to the code driving it. Drain with
/// [`Connection::poll_event`] after every call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed; the peer's settings are known.
    Connected {
        /// What the peer advertised.
        peer: Settings,
    },
    /// (server) A whole request arrived. Answer it with
    /// [`Connection::respond`] or [`Connection::respond_error`].
    Request {
        /// Its id.
        id: RequestId,
        /// The reassembled body.
        body: Bytes,
        /// When its DEADLINE runs out, if it has one; the core answers
        /// DEADLINE_EXCEEDED by itself then.
        deadline: Option<Instant>,
    },
    /// (server) Stop working on a request: it will not be answered.
    RequestAbandoned {
        /// Its id.
        id: RequestId,
        /// Why.
        reason: AbandonReason,
    },
    /// (client) A request's whole response arrived.
    Response {
        /// The request's id.
        id: RequestId,
        /// The reassembled body.
        body: Bytes,
    },
    /// (client) A request ended without a response.
    RequestFailed {
        /// The request's id.
        id: RequestId,
        /// How it ended.
        error: RequestError,
    },
    /// The peer sent a notification.
    Notify {
        /// Its body.
        body: Bytes,
    },
    /// A PING we sent (ours or a keepalive) was answered.
    Pong {
        /// The 8 bytes echoed.
        data: [u8; 8],
    },
    /// The peer sent GOAWAY. For a graceful code the connection drains.
    GoAway {
        /// The peer's code.
        code: ErrorCode,
        /// The last request id the peer will handle (server) or sent (client).
        last_id: RequestId,
        /// The peer's reason text.
        reason: String,
    },
    /// The connection is over; always the last event. `None` for a clean,
    /// graceful close.
    Closed {
        /// Why, when it was not clean.
        error: Option<ConnectionError>,
    },
}

/// Why a server-side request was abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbandonReason {
    /// The client sent CANCEL.
    Cancelled,
    /// Its DEADLINE passed; the core has sent ERROR DEADLINE_EXCEEDED.
    DeadlineExceeded,
    /// The connection closed.
    ConnectionClosed,
}

/// The connection's lifecycle (see docs/PROTOCOL.md for the transitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Client: HELLO sent, waiting for WELCOME. Server: waiting for HELLO.
    Handshake,
    /// Requests flow.
    Open,
    /// A graceful GOAWAY was sent or received; finishing what is outstanding.
    Draining { since: Instant },
    /// Over: no input is processed, only the remaining output is written.
    Closed,
}

/// One SLOW/1 connection as a push/poll state machine. See the
/// [module documentation](self) for the calling order.
pub struct Connection {
    role: Role,
    config: Config,
    phase: Phase,
    /// The peer's settings (defaults until the handshake completes).
    peer: Settings,
    rx: BytesMut,
    /// Zeroed bytes at the end of `rx` handed out by `recv_space`, not data.
    rx_scratch: usize,
    /// `rx.len()` when input was last processed, to tell when bytes arrived.
    rx_seen: usize,
    tx: TxQueue,
    events: VecDeque<Event>,
    now: Instant,
    established: Instant,
    last_rx: Instant,
    last_activity: Instant,
    /// The last PING counter sent and the last one answered.
    pings_sent: u64,
    pings_acked: u64,
    /// When the keepalive PING went out, if it is unanswered.
    keepalive_ping_at: Option<Instant>,
    /// The peer's HELLO or WELCOME was accepted.
    handshake_done: bool,
    goaway_sent: bool,
    goaway_received: bool,
    requests: Requests,
}

/// Per-request bookkeeping for either role.
#[derive(Default)]
struct Requests {
    /// Client: queued or on the wire. Server: outstanding.
    active: IdTable<Active>,
    /// Per-request deadlines, earliest first.
    deadlines: BTreeSet<(Instant, RequestId)>,
    /// Messages whose last frame has not arrived yet.
    incoming: BTreeMap<RequestId, Incoming>,
    /// Client: requests waiting for the handshake or a concurrency slot.
    /// Entries whose id is no longer queued in `active` are skipped.
    queue: VecDeque<(RequestId, Bytes)>,
    /// Client: the highest id sent. Server: the highest id seen.
    highest: RequestId,
    /// Client: the next id to hand out; `None` once all are used.
    next_id: Option<RequestId>,
    /// How many of `active` are [`Stage::Queued`] (kept, not counted: the
    /// client asks on every send and every answer).
    queued: usize,
}

#[derive(Debug, Clone, Copy)]
struct Active {
    stage: Stage,
    deadline: Option<Instant>,
}

/// Where one request is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Client: waiting in the queue, not on the wire.
    Queued,
    /// Client: on the wire, outstanding.
    Sent,
    /// Server: its message is still arriving.
    Receiving,
    /// Server: handed to the application, waiting for its answer.
    Delivered,
}

/// A message being reassembled. `body` stays empty when the request it
/// belongs to is no longer wanted (its frames are only counted).
struct Incoming {
    body: BytesMut,
    size: u64,
}

/// Unfinished messages that are only being discarded are bounded by this
/// many beyond the concurrency limit, so a peer cannot grow the table.
const MAX_DISCARDED_UNFINISHED: usize = 1024;

impl Connection {
    /// A client connection, established at `now`. Its HELLO is queued.
    pub fn client(config: Config, now: Instant) -> Result<Connection, ConfigError> {
        Connection::new(Role::Client, config, now)
    }

    /// A server connection, established at `now`, waiting for HELLO.
    pub fn server(config: Config, now: Instant) -> Result<Connection, ConfigError> {
        Connection::new(Role::Server, config, now)
    }

    /// A connection in `role`, established at `now`.
    pub fn new(role: Role, config: Config, now: Instant) -> Result<Connection, ConfigError> {
        config.validate()?;
        let mut conn = Connection {
            role,
            config,
            phase: Phase::Handshake,
            peer: Settings::default(),
            rx: BytesMut::new(),
            rx_scratch: 0,
            rx_seen: 0,
            tx: TxQueue::default(),
            events: VecDeque::new(),
            now,
            established: now,
            last_rx: now,
            last_activity: now,
            pings_sent: 0,
            pings_acked: 0,
            keepalive_ping_at: None,
            handshake_done: false,
            goaway_sent: false,
            goaway_received: false,
            requests: Requests {
                next_id: Some(1),
                ..Requests::default()
            },
        };
        if role == Role::Client {
            conn.send_hello();
        }
        Ok(conn)
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration this connection was created with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The peer's settings, once the handshake is complete.
    pub fn peer_settings(&self) -> Option<&Settings> {
        self.handshake_done.then_some(&self.peer)
    }

    /// Whether the handshake has completed (and the connection is not closed).
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Draining { .. })
    }

    /// Whether a graceful close is in progress.
    pub fn is_draining(&self) -> bool {
        matches!(self.phase, Phase::Draining { .. })
    }

    /// Whether the connection is over: write out what remains in
    /// [`transmit`](Connection::transmit), then close the socket.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Requests outstanding on the wire (client: sent and unanswered;
    /// server: received and unanswered).
    pub fn outstanding(&self) -> usize {
        self.requests.active.len() - self.requests.queued
    }

    /// Client requests waiting for the handshake or a concurrency slot.
    pub fn queued(&self) -> usize {
        self.requests.queued
    }

    // ---- input ---------------------------------------------------------

    /// The receive buffer, with at least `read_chunk` bytes of spare
    /// capacity. Append received bytes to it (e.g. with a `read_buf`-style call), then
    /// call [`handle_input`](Connection::handle_input). Frame payloads are
    /// handed out as slices of this buffer, without copying.
    pub fn recv_buffer(&mut self) -> &mut BytesMut {
        self.drop_scratch();
        self.rx.reserve(self.config.read_chunk);
        &mut self.rx
    }

    /// A zeroed window of `read_chunk` bytes at the end of the receive
    /// buffer, for readers that need a `&mut [u8]`. Read into it, then call
    /// [`recv_commit`](Connection::recv_commit) with the count read. A window
    /// that is never committed is discarded by the next call.
    pub fn recv_space(&mut self) -> &mut [u8] {
        self.drop_scratch();
        let len = self.rx.len();
        self.rx.resize(len + self.config.read_chunk, 0);
        self.rx_scratch = self.config.read_chunk;
        &mut self.rx[len..]
    }

    /// Accepts `n` bytes read into [`recv_space`](Connection::recv_space)
    /// and processes the input.
    pub fn recv_commit(&mut self, n: usize, now: Instant) {
        let n = n.min(self.rx_scratch);
        self.rx_scratch -= n;
        self.handle_input(now);
    }

    /// Copies `data` into the receive buffer and processes it. Convenient,
    /// but [`recv_buffer`](Connection::recv_buffer) avoids the copy.
    pub fn recv(&mut self, data: &[u8], now: Instant) {
        self.drop_scratch();
        self.rx.extend_from_slice(data);
        self.handle_input(now);
    }

    /// Processes every whole frame in the receive buffer. Request deadlines
    /// due at `now` expire first, as if the timer had fired in time.
    pub fn handle_input(&mut self, now: Instant) {
        self.set_time(now);
        self.drop_scratch();
        if self.phase == Phase::Closed {
            // After a connection error, received bytes are ignored.
            self.rx.clear();
            self.rx_seen = 0;
            return;
        }
        // A deadline that passed before this input was handled has passed:
        // the caller gets its timeout, and late answers are dropped.
        self.expire_requests(now);
        if self.rx.len() > self.rx_seen {
            self.last_rx = now;
            self.keepalive_ping_at = None;
        }
        while self.phase != Phase::Closed {
            let limit = self.local_frame_limit();
            match frame::decode(&mut self.rx, limit) {
                Ok(Some(frame)) => self.on_frame(frame),
                Ok(None) => break,
                Err(e) => self.fail(e.code, e.reason),
            }
        }
        if self.phase == Phase::Closed {
            self.rx.clear();
        }
        self.rx_seen = self.rx.len();
    }

    /// The peer closed its side of the stream. Unless the connection was
    /// already closed (a graceful close closes before the peer's end of
    /// stream arrives), whatever is outstanding fails as connection lost.
    pub fn recv_eof(&mut self, now: Instant) {
        self.set_time(now);
        self.close_with(Some(ConnectionError::Lost));
    }

    // ---- output --------------------------------------------------------

    /// The bytes to send, in order, as slices for a vectored write. Report
    /// what was written with [`advance_transmit`](Connection::advance_transmit).
    pub fn transmit(&mut self) -> impl Iterator<Item = &[u8]> {
        self.tx.slices()
    }

    /// Fills `dst` with [`transmit`](Connection::transmit)'s slices, for
    /// `write_vectored`; returns how many it filled.
    #[cfg(feature = "std")]
    pub fn transmit_io_slices<'a>(&'a mut self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, chunk) in dst.iter_mut().zip(self.tx.slices()) {
            *slot = std::io::IoSlice::new(chunk);
            n += 1;
        }
        n
    }

    /// Marks `n` bytes of [`transmit`](Connection::transmit) as written.
    pub fn advance_transmit(&mut self, n: usize) {
        self.tx.advance(n);
    }

    /// How many bytes wait to be written.
    pub fn transmit_len(&self) -> usize {
        self.tx.len()
    }

    /// Whether the adapter should read from the socket now (back-pressure).
    ///
    /// Reading stops once the unsent bytes *owed to the peer* pass
    /// `send_high_water`, so a peer that sends but never reads cannot grow
    /// our memory: a server owes everything it sends (answers to what it
    /// read); a client owes only PONGs, since its requests are its own
    /// application's and it must keep reading responses while it sends them
    /// — else two correct peers with large bodies would each wait for the
    /// other to read. False once the connection is closed.
    pub fn wants_read(&self) -> bool {
        let owed = match self.role {
            Role::Server => self.tx.len(),
            Role::Client => self.tx.urgent_len(),
        };
        self.phase != Phase::Closed && owed < self.config.send_high_water
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---- commands ------------------------------------------------------

    /// (client) Sends `body` as a new request and returns its id. With a
    /// `timeout`, the request carries DEADLINE and fails locally with
    /// [`RequestError::TimedOut`] when it passes. Waits in a local queue
    /// while the handshake is incomplete or the server's
    /// MAX_CONCURRENT_REQUESTS are outstanding.
    pub fn send_request(
        &mut self,
        body: Bytes,
        timeout: Option<Duration>,
        now: Instant,
    ) -> Result<RequestId, SendError> {
        self.set_time(now);
        if self.role != Role::Client {
            return Err(SendError::WrongRole);
        }
        if !self.may_open_requests() {
            return Err(SendError::Closed);
        }
        if self.is_established() {
            self.check_message_size(body.len())?;
        }
        let id = self.requests.next_id.ok_or(SendError::IdsExhausted)?;
        self.requests.next_id = id.checked_add(1);
        let deadline = timeout.map(|t| now + t);
        self.requests.track(id, Stage::Queued, deadline);
        self.requests.queue.push_back((id, body));
        self.send_queued();
        Ok(id)
    }

    /// (server) Answers request `id` with `body`, split into frames as the
    /// client's MAX_FRAME_SIZE requires. A body over the client's
    /// MAX_MESSAGE_SIZE is answered with ERROR MESSAGE_TOO_LARGE instead, and
    /// reported as [`SendError::TooLarge`].
    pub fn respond(&mut self, id: RequestId, body: Bytes, now: Instant) -> Result<(), SendError> {
        self.set_time(now);
        self.take_delivered(id)?;
        let sent = match self.check_message_size(body.len()) {
            Ok(()) => {
                self.push_message(id, None, body);
                Ok(())
            }
            Err(e) => {
                self.push_error(id, ErrorCode::MESSAGE_TOO_LARGE, "response too large");
                Err(e)
            }
        };
        self.check_drained();
        sent
    }

    /// (server) Answers request `id` with ERROR `code` and `message` (cut
    /// to fit one frame).
    pub fn respond_error(
        &mut self,
        id: RequestId,
        code: ErrorCode,
        message: &str,
        now: Instant,
    ) -> Result<(), SendError> {
        self.set_time(now);
        self.take_delivered(id)?;
        self.push_error(id, code, message);
        self.check_drained();
        Ok(())
    }

    /// Sends a notification. Its body must fit in one frame of the peer's
    /// MAX_FRAME_SIZE; notifications wait for the handshake to complete.
    pub fn notify(&mut self, body: Bytes, now: Instant) -> Result<(), SendError> {
        self.set_time(now);
        self.check_can_send()?;
        let limit = self.peer.max_frame_size;
        if body.len() > limit as usize {
            return Err(SendError::TooLarge {
                size: body.len() as u64,
                limit: limit.into(),
            });
        }
        self.last_activity = now;
        self.tx.push(&Frame::Notify { body });
        Ok(())
    }

    /// (client) Cancels request `id`: it fails with
    /// [`RequestError::Cancelled`] and, if it was sent, CANCEL goes out.
    pub fn cancel(&mut self, id: RequestId, now: Instant) -> Result<(), SendError> {
        self.set_time(now);
        if self.role != Role::Client {
            return Err(SendError::WrongRole);
        }
        let stage = self.requests.active.get(id).map(|a| a.stage);
        match stage {
            None => return Err(SendError::UnknownRequest(id)),
            Some(Stage::Sent) => self.tx.push(&Frame::Cancel { id }),
            Some(_) => {}
        }
        self.finish(id, Err(RequestError::Cancelled));
        Ok(())
    }

    /// Sends a PING; [`Event::Pong`] reports the answer.
    pub fn ping(&mut self, now: Instant) -> Result<(), SendError> {
        self.set_time(now);
        self.check_can_send()?;
        self.send_ping();
        Ok(())
    }

    /// Closes the connection with GOAWAY `code`. A graceful code (NO_ERROR,
    /// IDLE_TIMEOUT, SHUTTING_DOWN) drains first: outstanding requests are
    /// finished, queued ones fail as not processed, and the connection
    /// closes when nothing is outstanding or the drain timeout passes. Any
    /// other code closes at once, failing what is outstanding.
    pub fn close(&mut self, code: ErrorCode, reason: &str, now: Instant) {
        self.set_time(now);
        if code.is_graceful() {
            self.begin_close(code, reason);
        } else {
            self.fail(code, reason);
        }
    }

    // ---- shared helpers ------------------------------------------------

    fn set_time(&mut self, now: Instant) {
        debug_assert!(
            now >= self.now,
            "time went backwards: {now:?} < {:?}",
            self.now
        );
        self.now = self.now.max(now);
    }

    fn drop_scratch(&mut self) {
        if self.rx_scratch > 0 {
            let len = self.rx.len() - self.rx_scratch;
            self.rx.truncate(len);
            self.rx_scratch = 0;
        }
    }

    /// Until the handshake completes, frames are checked against the default
    /// MAX_FRAME_SIZE; after it, against what we advertised (§1).
    fn local_frame_limit(&self) -> u32 {
        match self.phase {
            Phase::Handshake => Settings::DEFAULT_MAX_FRAME_SIZE,
            _ => self.config.settings.max_frame_size,
        }
    }

    fn check_can_send(&self) -> Result<(), SendError> {
        match self.phase {
            Phase::Handshake => Err(SendError::NotReady),
            Phase::Closed => Err(SendError::Closed),
            Phase::Open | Phase::Draining { .. } => Ok(()),
        }
    }

    /// The peer's MAX_MESSAGE_SIZE, as a local refusal.
    fn check_message_size(&self, size: usize) -> Result<(), SendError> {
        let limit = u64::from(self.peer.max_message_size);
        if size as u64 > limit {
            return Err(SendError::TooLarge {
                size: size as u64,
                limit,
            });
        }
        Ok(())
    }

    fn on_frame(&mut self, frame: Frame) {
        if self.phase == Phase::Handshake {
            return self.on_handshake_frame(frame);
        }
        match (self.role, frame) {
            (_, Frame::Hello(_) | Frame::Welcome(_)) => self.fail(
                ErrorCode::PROTOCOL_ERROR,
                "HELLO or WELCOME after the handshake",
            ),
            (
                Role::Server,
                Frame::Request {
                    id,
                    more,
                    timeout_ms,
                    body,
                },
            ) => self.on_request(id, more, timeout_ms, body),
            (Role::Server, Frame::Cancel { id }) => self.on_cancel(id),
            (Role::Client, Frame::Response { id, more, body }) => self.on_response(id, more, body),
            (Role::Client, Frame::Error { id, code, message }) => self.on_error(id, code, message),
            (_, Frame::Notify { body }) => {
                self.last_activity = self.now;
                self.events.push_back(Event::Notify { body });
            }
            (_, Frame::Ping { data }) => self.tx.push_urgent(&Frame::Pong { data }),
            (_, Frame::Pong { data }) => self.on_pong(data),
            (
                _,
                Frame::GoAway {
                    last_id,
                    code,
                    reason,
                },
            ) => self.on_goaway(last_id, code, reason),
            // Unknown types are skipped so that later versions can add them.
            (_, Frame::Unknown { .. }) => {}
            _ => self.fail(ErrorCode::PROTOCOL_ERROR, "frame sent by the wrong role"),
        }
    }

    fn send_ping(&mut self) {
        self.pings_sent += 1;
        self.tx.push(&Frame::Ping {
            data: self.pings_sent.to_be_bytes(),
        });
    }

    /// Only PONGs answering one of our PINGs are reported; others are ignored.
    fn on_pong(&mut self, data: [u8; 8]) {
        let n = u64::from_be_bytes(data);
        if n > self.pings_acked && n <= self.pings_sent {
            self.pings_acked = n;
            self.events.push_back(Event::Pong { data });
        }
    }
}

impl Requests {
    fn track(&mut self, id: RequestId, stage: Stage, deadline: Option<Instant>) {
        self.queued += usize::from(stage == Stage::Queued);
        self.active.insert(id, Active { stage, deadline });
        if let Some(d) = deadline {
            self.deadlines.insert((d, id));
        }
    }

    fn untrack(&mut self, id: RequestId) -> Option<Active> {
        let active = self.active.remove(id)?;
        self.queued -= usize::from(active.stage == Stage::Queued);
        if let Some(d) = active.deadline {
            self.deadlines.remove(&(d, id));
        }
        Some(active)
    }

    /// Moves request `id` to `stage`, keeping the queued count.
    fn set_stage(&mut self, id: RequestId, stage: Stage) {
        if let Some(active) = self.active.get_mut(id) {
            self.queued -= usize::from(active.stage == Stage::Queued);
            self.queued += usize::from(stage == Stage::Queued);
            active.stage = stage;
        }
    }

    fn stage(&self, id: RequestId) -> Option<Stage> {
        self.active.get(id).map(|a| a.stage)
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests;
