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
//!    processed: hand the socket to a [`Teardown`](crate::Teardown), which
//!    says when to write out what is left (the final GOAWAY), send FIN,
//!    linger, and drop the socket.
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
mod deadlines;
mod event;
mod handshake;
mod io;
mod lifecycle;
mod requests;
mod table;
mod timers;
mod transmit;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use bytes::{Bytes, BytesMut};
use core::time::Duration;

use crate::config::{Config, ConfigError};
use crate::error::{ErrorCode, RequestError, SendError};
use crate::frame::Frame;
use crate::id::RequestId;
use crate::settings::Settings;
use crate::stats::{Ended, Stats};
use crate::time::Instant;

pub use self::event::{AbandonReason, Event, Role};
use self::lifecycle::{Phase, Stage, Transition};
use self::table::IdTable;
use self::transmit::TxQueue;

/// One SLOW/1 connection as a push/poll state machine. See the
/// [module documentation](self) for the calling order.
pub struct Connection {
    role: Role,
    config: Config,
    phase: Phase,
    /// The peer's settings: the protocol's defaults until its HELLO or
    /// WELCOME is accepted (the limits in force before it, §1), then what
    /// it advertised.
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
    /// The stream's first bytes, until the handshake is over (to say what a
    /// peer that is not SLOW sent instead).
    first_bytes: handshake::FirstBytes,
    /// (server) Close gracefully once this request is answered or abandoned,
    /// so that the client reads the answer before the GOAWAY.
    close_after: Option<(RequestId, ErrorCode, String)>,
    requests: Requests,
    /// What [`stats`](Connection::stats) reports (but `frames_sent`, which
    /// the transmit queue counts, and `pings_sent`, the PING counter).
    stats: Stats,
}

/// Per-request bookkeeping for either role.
#[derive(Default)]
struct Requests {
    /// Client: queued or on the wire. Server: outstanding.
    active: IdTable<Active>,
    /// Per-request deadlines, earliest first.
    deadlines: self::deadlines::Deadlines,
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
            peer: Settings::DEFAULT,
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
            first_bytes: handshake::FirstBytes::default(),
            close_after: None,
            requests: Requests {
                next_id: Some(RequestId::FIRST),
                ..Requests::default()
            },
            stats: Stats::default(),
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

    /// The peer's settings: `None` until its HELLO (server) or WELCOME
    /// (client) has been accepted, then what it advertised, for good (also
    /// after the connection closed).
    #[must_use]
    pub fn peer_settings(&self) -> Option<&Settings> {
        self.phase.established().then_some(&self.peer)
    }

    /// The limits the peer holds us to: what it advertised, or the
    /// protocol's defaults before the handshake (§1).
    fn peer(&self) -> &Settings {
        &self.peer
    }

    /// Whether the handshake has completed (and the connection is not closed).
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Draining { .. })
    }

    /// The socket's [`Teardown`](crate::Teardown) once the connection
    /// [is closed](Connection::is_closed) at `now`: what it left is flushed
    /// for at most the drain timeout. A connection whose handshake never
    /// completed gets no longer than its handshake deadline (and at least
    /// [`Teardown::LINGER_QUIET`](crate::Teardown::LINGER_QUIET)): a peer
    /// refused at once still has time to read why (over TLS the refusal
    /// waits for the TLS handshake), and one that never spoke cannot hold
    /// the socket past the handshake timeout.
    ///
    /// ```
    /// use core::time::Duration;
    /// use slow_proto::{Config, Connection, ErrorCode, Instant, Teardown};
    ///
    /// let config = Config { handshake_timeout: Duration::from_secs(1), ..Config::default() };
    /// let at = |ms| Instant::ZERO + Duration::from_millis(ms);
    /// // Refused before any HELLO: until the handshake deadline.
    /// let mut server = Connection::server(config.clone(), at(0)).unwrap();
    /// server.close(ErrorCode::CONNECTION_LIMIT, "full", at(0));
    /// assert_eq!(server.teardown(at(0)).poll_timeout(), Some(at(1000)));
    /// // Closed at the handshake timeout: only a moment more.
    /// let mut server = Connection::server(config, at(0)).unwrap();
    /// server.handle_timeout(at(1000));
    /// assert!(server.is_closed());
    /// let quiet = at(1000) + Teardown::LINGER_QUIET;
    /// assert_eq!(server.teardown(at(1000)).poll_timeout(), Some(quiet));
    /// ```
    #[must_use]
    pub fn teardown(&self, now: Instant) -> crate::Teardown {
        let mut flush = self.config.drain_timeout;
        if self.peer_settings().is_none() {
            let deadline = self.established + self.config.handshake_timeout;
            let left = deadline.saturating_duration_since(now);
            flush = flush.min(left.max(crate::Teardown::LINGER_QUIET));
        }
        crate::Teardown::flushing_for(flush, &self.config, now)
    }

    /// Whether a graceful close is in progress.
    pub fn is_draining(&self) -> bool {
        matches!(self.phase, Phase::Draining { .. })
    }

    /// Whether the connection is over: write out what remains in
    /// [`transmit`](Connection::transmit), then close the socket.
    pub fn is_closed(&self) -> bool {
        self.phase.is_closed()
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

    /// (client) Whether a request sent now goes on the wire at once: the
    /// connection is open (not in its handshake, draining or closed), ids
    /// remain, and fewer than the server's MAX_CONCURRENT_REQUESTS are
    /// outstanding or queued (§4). When false while open,
    /// [`send_request`](Connection::send_request) still takes the request
    /// and holds it in the local queue; this asks first, for callers that
    /// would rather wait for a slot (back-pressure, as `tower`'s
    /// `poll_ready`). A server is never asked: false.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use slow_proto::{Config, Connection, Event, Instant, Settings};
    /// # let now = Instant::ZERO;
    /// let two = Settings { max_concurrent_requests: 2, ..Settings::default() };
    /// let mut client = Connection::client(Config::default(), now).unwrap();
    /// let mut server = Connection::server(Config { settings: two, ..Config::default() }, now).unwrap();
    /// # fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
    /// #     let bytes: Vec<u8> = from.transmit().flatten().copied().collect();
    /// #     from.advance_transmit(bytes.len());
    /// #     to.recv(&bytes, now);
    /// # }
    /// assert!(!client.can_send_request()); // the handshake is not done
    /// pump(&mut client, &mut server, now); // HELLO
    /// pump(&mut server, &mut client, now); // WELCOME: at most 2 at once
    /// assert!(client.can_send_request());
    /// let first = client.send_request(Bytes::from_static(b"a"), None, now).unwrap();
    /// client.send_request(Bytes::from_static(b"b"), None, now).unwrap();
    /// assert!(!client.can_send_request()); // a third would wait in the queue
    /// client.cancel(first, now).unwrap(); // a slot frees as CANCEL goes out
    /// assert!(client.can_send_request());
    /// ```
    #[must_use]
    pub fn can_send_request(&self) -> bool {
        self.role == Role::Client
            && self.phase == Phase::Open
            && self.requests.next_id.is_some()
            && self.requests.active.len() < self.peer().max_concurrent_requests as usize
    }

    /// What this connection has counted so far: frames and bytes each way,
    /// requests and how they ended, notifications, pings, and the codes of
    /// the ERROR and GOAWAY frames (see [`Stats`]). A copy, cheap to take
    /// at any time, also after the connection closed.
    ///
    /// ```
    /// use slow_proto::{Config, Connection, Instant};
    ///
    /// let client = Connection::client(Config::default(), Instant::ZERO).unwrap();
    /// let stats = client.stats();
    /// assert_eq!(stats.frames_sent, 1); // its HELLO, queued
    /// assert_eq!(stats.bytes_sent, 0); // not written yet
    /// assert_eq!(stats.requests, 0);
    /// ```
    #[must_use]
    pub fn stats(&self) -> Stats {
        Stats {
            frames_sent: self.tx.frames(),
            pings_sent: self.pings_sent,
            ..self.stats
        }
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
        self.requests.next_id = id.next();
        let deadline = timeout.map(|t| now + t);
        if self.requests.queue.is_empty()
            && self.may_start_request()
            && deadline.is_none_or(|d| d > now)
        {
            // Nothing waits before it: on the wire at once, past the queue.
            self.requests.track(id, Stage::Sent, deadline);
            self.transmit_request(id, deadline, body);
        } else {
            // `start_request` says why it may not go (a timeout of zero).
            self.requests.track(id, Stage::Queued, deadline);
            self.requests.queue.push_back((id, body));
            self.send_queued();
        }
        Ok(id)
    }

    /// (server) Whether request `id` still waits for this side's answer:
    /// delivered ([`Event::Request`]) and neither answered nor abandoned
    /// ([`Event::RequestAbandoned`]: cancelled, expired, or the connection
    /// closed). Request ids are never reused on a connection, so once this
    /// is false it stays false: an adapter can ask it rather than keep its
    /// own record of which requests its handlers may still answer.
    ///
    /// ```
    /// use slow_proto::{Config, Connection, Event, Instant};
    ///
    /// let t = Instant::ZERO;
    /// let mut client = Connection::client(Config::default(), t).unwrap();
    /// let mut server = Connection::server(Config::default(), t).unwrap();
    /// let mut pass = |from: &mut Connection, to: &mut Connection| {
    ///     let bytes: Vec<u8> = from.transmit().flatten().copied().collect();
    ///     from.advance_transmit(bytes.len());
    ///     to.recv(&bytes, t);
    /// };
    /// pass(&mut client, &mut server); // HELLO
    /// pass(&mut server, &mut client); // WELCOME
    /// client.send_request("hi".into(), None, t).unwrap();
    /// pass(&mut client, &mut server);
    /// let id = loop {
    ///     match server.poll_event() {
    ///         Some(Event::Request { id, .. }) => break id,
    ///         Some(_) => {}
    ///         None => panic!("no request"),
    ///     }
    /// };
    /// assert!(server.awaits_answer(id));
    /// server.respond(id, "hello".into(), t).unwrap();
    /// assert!(!server.awaits_answer(id));
    /// ```
    pub fn awaits_answer(&self, id: RequestId) -> bool {
        self.role == Role::Server
            && !self.phase.is_closed()
            && self.requests.stage(id) == Some(Stage::Delivered)
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
                self.stats.ended(Ended::Answered);
                Ok(())
            }
            Err(e) => {
                self.push_error(id, ErrorCode::MESSAGE_TOO_LARGE, "response too large");
                Err(e)
            }
        };
        self.ended(id);
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
        self.ended(id);
        Ok(())
    }

    /// Sends a notification. Its body must fit in one frame of the peer's
    /// MAX_FRAME_SIZE; notifications wait for the handshake to complete.
    pub fn notify(&mut self, body: Bytes, now: Instant) -> Result<(), SendError> {
        self.set_time(now);
        self.check_can_send()?;
        let limit = self.peer().max_frame_size;
        if body.len() > limit as usize {
            return Err(SendError::TooLarge {
                size: body.len() as u64,
                limit: limit.into(),
            });
        }
        self.last_activity = now;
        self.tx.push(&Frame::Notify { body });
        self.stats.notifications_sent += 1;
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

    /// (server) Closes gracefully with GOAWAY `code` as soon as request `id`
    /// is answered (or abandoned): the answer goes out first, then the
    /// GOAWAY, so a client reads the answer before it learns of the close.
    /// This is how a request can ask for the connection to end (INTEROP's
    /// `!close`). If `id` is not outstanding the close starts now. A later
    /// call replaces an earlier one.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use slow_proto::{Config, Connection, ErrorCode, Event, Instant};
    /// # let now = Instant::ZERO;
    /// # let mut client = Connection::client(Config::default(), now).unwrap();
    /// # let mut server = Connection::server(Config::default(), now).unwrap();
    /// # fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
    /// #     let bytes: Vec<u8> = from.transmit().flatten().copied().collect();
    /// #     from.advance_transmit(bytes.len());
    /// #     to.recv(&bytes, now);
    /// # }
    /// # pump(&mut client, &mut server, now);
    /// # pump(&mut server, &mut client, now);
    /// let id = client.send_request(Bytes::from_static(b"bye"), None, now).unwrap();
    /// pump(&mut client, &mut server, now);
    /// # while server.poll_event().is_some() {}
    /// server.close_after(id, ErrorCode::SHUTTING_DOWN, "closing", now);
    /// assert!(!server.is_draining()); // nothing goes out before the answer
    /// server.respond(id, Bytes::from_static(b"closing"), now).unwrap();
    /// assert!(server.is_draining() || server.is_closed());
    /// pump(&mut server, &mut client, now); // RESPONSE, then GOAWAY
    /// let events: Vec<Event> = std::iter::from_fn(|| client.poll_event()).collect();
    /// assert!(matches!(events[1], Event::Response { .. }));
    /// assert!(matches!(events[2], Event::GoAway { code: ErrorCode::SHUTTING_DOWN, .. }));
    /// ```
    pub fn close_after(&mut self, id: RequestId, code: ErrorCode, reason: &str, now: Instant) {
        self.set_time(now);
        if self.role == Role::Server && self.requests.stage(id).is_some() {
            self.close_after = Some((id, code, String::from(reason)));
        } else {
            self.close(code, reason, now);
        }
    }

    // ---- shared helpers ------------------------------------------------

    /// Request `id` (server) is answered or abandoned: a close waiting for
    /// it starts now.
    fn ended(&mut self, id: RequestId) {
        if self
            .close_after
            .as_ref()
            .is_some_and(|(after, ..)| *after == id)
        {
            if let Some((_, code, reason)) = self.close_after.take() {
                self.close(code, &reason, self.now);
            }
        }
        self.check_drained();
    }

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
            Phase::Closed { .. } => Err(SendError::Closed),
            Phase::Open | Phase::Draining { .. } => Ok(()),
        }
    }

    /// The peer's MAX_MESSAGE_SIZE, as a local refusal.
    fn check_message_size(&self, size: usize) -> Result<(), SendError> {
        let limit = u64::from(self.peer().max_message_size);
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
                self.stats.notifications_received += 1;
                self.last_activity = self.now;
                self.events.push_back(Event::Notify { body });
            }
            (_, Frame::Ping { data }) => {
                self.stats.pings_received += 1;
                self.tx.push_urgent(&Frame::Pong { data })
            }
            (_, Frame::Pong { data }) => {
                self.stats.pongs_received += 1;
                self.on_pong(data)
            }
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
