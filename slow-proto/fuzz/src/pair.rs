//! Target `client_server_pair`: a client and a server [`Connection`] wired
//! together in memory, driven by a list of operations.
//!
//! Each side's socket takes everything it is given: after every operation
//! both transmit queues are emptied into two in-memory pipes, and the bytes
//! only reach the other side when a `Deliver` operation says so, in the
//! fragments it says. A side that has closed and whose last bytes were
//! delivered closes its socket: the other side gets `recv_eof`.
//!
//! After the operations the pair is run to quiescence: every request still
//! waiting at the server is answered as `finish` says, all bytes are
//! delivered, and virtual time jumps to each `poll_timeout`. Should the pair
//! still be open after [`GRACEFUL_AFTER`] rounds, the client closes
//! gracefully; after [`ABORT_AFTER`], it aborts; after [`GIVE_UP_AFTER`]
//! both must be closed.
//!
//! Checked, besides "no panic":
//!
//! - every id returned by `send_request` gets exactly one outcome
//!   (`Response` or `RequestFailed`) by the end, and no outcome comes for
//!   any other id;
//! - a response body is exactly what the server responded for that id, and a
//!   request body delivered to the server is exactly what the client sent;
//! - an ERROR outcome carries the code the server application chose, or one
//!   the server core sends by itself (TOO_MANY_REQUESTS, DEADLINE_EXCEEDED,
//!   MESSAGE_TOO_LARGE);
//! - a request reported `NotProcessed` (safe to retry) was never delivered
//!   to the server application (unless that application itself answered
//!   SHUTTING_DOWN, which the client reads the same way);
//! - two honest peers never accuse each other: a connection ends only by
//!   a timeout, a code an application chose, the drain timeout, a clean
//!   close or end of stream, never PROTOCOL_ERROR, FRAME_TOO_LARGE or the
//!   like;
//! - `cancel` succeeds exactly for requests without an outcome; `respond`
//!   succeeds only for delivered, unanswered, unabandoned requests;
//! - right after `handle_timeout(now)`, `poll_timeout()` is `None` or later
//!   than `now`; nothing happens on a side after its `Event::Closed`.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use core::time::Duration;
use slow_proto::{
    Connection, ConnectionError, ErrorCode, Event, Instant, RequestError, RequestId, SendError,
};

use crate::knobs::{ConfigKnobs, body};

/// One fuzz case.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Input {
    /// The client's configuration.
    pub client: ConfigKnobs,
    /// The server's configuration.
    pub server: ConfigKnobs,
    /// What the server application does, at the end, with each request
    /// still waiting for it and each one arriving then.
    pub finish: Answer,
    /// What happens, in order.
    pub ops: Vec<Op>,
}

/// One operation.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Op {
    /// The client sends a request.
    Request {
        /// Body length.
        len: u16,
        /// Timeout in milliseconds.
        timeout_ms: Option<u16>,
    },
    /// The client cancels the k-th request id it got (modulo their number).
    Cancel(u8),
    /// One side sends a notification.
    Notify {
        /// From the client (else from the server).
        from_client: bool,
        /// Body length.
        len: u16,
    },
    /// One side sends a PING.
    Ping {
        /// From the client (else from the server).
        from_client: bool,
    },
    /// The server application deals with the k-th request waiting for it.
    Answer {
        /// Which one (modulo their number).
        k: u8,
        /// How.
        answer: Answer,
    },
    /// Virtual time passes; each side's timer fires at its `poll_timeout`.
    Advance {
        /// Microseconds.
        micros: u32,
    },
    /// Bytes travel from one side to the other.
    Deliver {
        /// Towards the server (else towards the client).
        to_server: bool,
        /// At most this many bytes (0: all that are in flight).
        len: u16,
        /// In fragments of this many bytes (0: one piece).
        fragment: u8,
    },
    /// One side closes gracefully (GOAWAY NO_ERROR).
    Close {
        /// The client (else the server).
        client: bool,
    },
    /// One side closes with this code (graceful codes drain, others abort).
    Abort {
        /// The client (else the server).
        client: bool,
        /// The GOAWAY code.
        code: u16,
    },
}

/// What the server application does with one request.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Answer {
    /// `respond` with a body of this many bytes.
    Respond(u16),
    /// `respond_error` with this code.
    Error(u16),
    /// Forget it: never answer.
    Drop,
}

/// Finishing rounds before the client closes gracefully.
pub const GRACEFUL_AFTER: usize = 100;
/// Finishing rounds before the client aborts.
pub const ABORT_AFTER: usize = 200;
/// Finishing rounds after which both sides must be closed.
pub const GIVE_UP_AFTER: usize = 260;
/// Timer wake-ups per `Advance` operation.
const MAX_WAKEUPS: usize = 256;

/// What happened in one case, for tests of the harness itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Requests the client sent.
    pub sent: usize,
    /// Requests delivered to the server application.
    pub delivered: usize,
    /// Responses the client got.
    pub responses: usize,
    /// Requests that failed at the client.
    pub failed: usize,
}

/// Runs one case; panics when an invariant breaks.
pub fn run(input: &Input) -> Summary {
    let mut pair = Pair::new(input);
    for op in &input.ops {
        pair.apply(*op);
        pair.settle();
    }
    pair.finish(input.finish);
    Summary {
        sent: pair.sent.len(),
        delivered: pair.delivered.len(),
        responses: pair.responses,
        failed: pair.outcomes.len() - pair.responses,
    }
}

/// One end: the connection, its outgoing pipe and what was seen of it.
struct Side {
    conn: Connection,
    name: &'static str,
    /// Written by this side, not yet delivered to the other.
    pipe: Vec<u8>,
    /// The other side got `recv_eof` from this one.
    eof_sent: bool,
    closed: bool,
    /// The output queued up to the close was written.
    flushed_after_close: bool,
    /// Codes this side's application closed with.
    abort_codes: BTreeSet<ErrorCode>,
}

impl Side {
    fn new(conn: Connection, name: &'static str) -> Self {
        Side {
            conn,
            name,
            pipe: Vec::new(),
            eof_sent: false,
            closed: false,
            flushed_after_close: false,
            abort_codes: BTreeSet::new(),
        }
    }

    /// Moves the whole transmit queue into the pipe.
    fn write(&mut self) {
        let len = self.conn.transmit_len();
        if self.closed {
            assert!(
                len == 0 || !self.flushed_after_close,
                "{}: output after Event::Closed",
                self.name
            );
            self.flushed_after_close = true;
        }
        let before = self.pipe.len();
        self.pipe.extend(self.conn.transmit().flatten());
        assert_eq!(
            self.pipe.len() - before,
            len,
            "{}: transmit() and transmit_len() disagree",
            self.name
        );
        self.conn.advance_transmit(len);
        assert_eq!(
            self.conn.transmit_len(),
            0,
            "{}: advance_transmit left bytes",
            self.name
        );
    }

    fn timeout(&mut self, now: Instant) {
        self.conn.handle_timeout(now);
        if let Some(next) = self.conn.poll_timeout() {
            assert!(
                next > now,
                "possible core bug: {}: poll_timeout() = {next:?} is not after now = {now:?} \
                 right after handle_timeout(now)",
                self.name
            );
        }
    }

    /// Whether the way this side closed is one two honest peers allow, where
    /// `peer_codes` are the codes the other side's application chose.
    fn check_close(&self, error: &Option<ConnectionError>, peer_codes: &BTreeSet<ErrorCode>) {
        // Graceful codes accuse nobody (a GOAWAY before WELCOME ends the
        // client's connection with the server's code, graceful or not).
        let fine = |code: &ErrorCode| {
            code.is_graceful()
                || *code == ErrorCode::HANDSHAKE_TIMEOUT
                || *code == ErrorCode::KEEPALIVE_TIMEOUT
        };
        let ok = match error {
            None | Some(ConnectionError::Lost | ConnectionError::DrainTimeout) => true,
            Some(ConnectionError::Local { code, .. }) => {
                fine(code) || self.abort_codes.contains(code)
            }
            Some(ConnectionError::Remote { code, .. }) => fine(code) || peer_codes.contains(code),
            // A kind of close this harness does not know yet: look at it.
            Some(_) => false,
        };
        assert!(ok, "{}: honest peers, yet closed with {error:?}", self.name);
    }
}

struct Pair {
    client: Side,
    server: Side,
    now: Instant,
    /// Ids returned by `send_request`, with their bodies.
    sent: BTreeMap<RequestId, Bytes>,
    outcomes: BTreeSet<RequestId>,
    responses: usize,
    /// Server application: requests waiting for an answer, and what it did.
    waiting: Vec<RequestId>,
    delivered: BTreeSet<RequestId>,
    abandoned: BTreeSet<RequestId>,
    responded: BTreeMap<RequestId, Bytes>,
    /// Codes of ERRORs the server sent (by `respond_error`, or
    /// MESSAGE_TOO_LARGE by `respond`).
    errored: BTreeMap<RequestId, ErrorCode>,
    /// Set during the finishing phase: how to answer what arrives.
    auto_answer: Option<Answer>,
}

impl Pair {
    fn new(input: &Input) -> Self {
        let now = Instant::ZERO;
        let client = Connection::client(input.client.config(), now).expect("valid config");
        let server = Connection::server(input.server.config(), now).expect("valid config");
        Pair {
            client: Side::new(client, "client"),
            server: Side::new(server, "server"),
            now,
            sent: BTreeMap::new(),
            outcomes: BTreeSet::new(),
            responses: 0,
            waiting: Vec::new(),
            delivered: BTreeSet::new(),
            abandoned: BTreeSet::new(),
            responded: BTreeMap::new(),
            errored: BTreeMap::new(),
            auto_answer: None,
        }
    }

    fn side(&mut self, client: bool) -> &mut Side {
        if client {
            &mut self.client
        } else {
            &mut self.server
        }
    }

    fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Request { len, timeout_ms } => {
                let body = body(self.sent.len() as u32 + 1, usize::from(len));
                let timeout = timeout_ms.map(|ms| Duration::from_millis(u64::from(ms)));
                match self.client.conn.send_request(body.clone(), timeout, now) {
                    Ok(id) => {
                        if let Some((&last, _)) = self.sent.last_key_value() {
                            assert!(id > last, "request id {id} not above {last}");
                        }
                        self.sent.insert(id, body);
                    }
                    Err(
                        SendError::Closed | SendError::TooLarge { .. } | SendError::IdsExhausted,
                    ) => {}
                    Err(e) => panic!("send_request: unexpected {e:?}"),
                }
            }
            Op::Cancel(k) => {
                let Some(&id) = self
                    .sent
                    .keys()
                    .nth(usize::from(k) % self.sent.len().max(1))
                else {
                    return;
                };
                match self.client.conn.cancel(id, now) {
                    Ok(()) => assert!(
                        !self.outcomes.contains(&id),
                        "cancelled {id} after its outcome"
                    ),
                    Err(SendError::UnknownRequest(_)) => {
                        assert!(
                            self.outcomes.contains(&id),
                            "cancel({id}) refused, yet no outcome"
                        )
                    }
                    Err(e) => panic!("cancel: unexpected {e:?}"),
                }
            }
            Op::Notify { from_client, len } => {
                let _ = self
                    .side(from_client)
                    .conn
                    .notify(body(0, usize::from(len)), now);
            }
            Op::Ping { from_client } => {
                let _ = self.side(from_client).conn.ping(now);
            }
            Op::Answer { k, answer } => {
                if !self.waiting.is_empty() {
                    let id = self.waiting[usize::from(k) % self.waiting.len()];
                    self.answer(id, answer);
                }
            }
            Op::Advance { micros } => {
                let target = now + Duration::from_micros(u64::from(micros));
                for _ in 0..MAX_WAKEUPS {
                    let next = [
                        self.client.conn.poll_timeout(),
                        self.server.conn.poll_timeout(),
                    ]
                    .into_iter()
                    .flatten()
                    .min();
                    match next {
                        Some(t) if t <= target => {
                            self.now = self.now.max(t);
                            self.timers();
                            self.settle();
                        }
                        _ => break,
                    }
                }
                self.now = target;
                self.timers();
            }
            Op::Deliver {
                to_server,
                len,
                fragment,
            } => self.deliver(to_server, len, fragment),
            Op::Close { client } => self
                .side(client)
                .conn
                .close(ErrorCode::NO_ERROR, "bye", now),
            Op::Abort { client, code } => {
                let side = self.side(client);
                side.abort_codes.insert(ErrorCode(code));
                side.conn.close(ErrorCode(code), "abort", now);
            }
        }
    }

    fn timers(&mut self) {
        let now = self.now;
        self.client.timeout(now);
        self.server.timeout(now);
    }

    /// Delivers up to `len` bytes (0: all) in fragments of `fragment` bytes.
    fn deliver(&mut self, to_server: bool, len: u16, fragment: u8) {
        let now = self.now;
        let (from, to) = if to_server {
            (&mut self.client, &mut self.server)
        } else {
            (&mut self.server, &mut self.client)
        };
        let n = match len {
            0 => from.pipe.len(),
            len => from.pipe.len().min(usize::from(len)),
        };
        let bytes: Vec<u8> = from.pipe.drain(..n).collect();
        let fragment = match fragment {
            0 => bytes.len().max(1),
            f => usize::from(f),
        };
        for piece in bytes.chunks(fragment) {
            to.conn.recv(piece, now);
        }
        if from.closed && from.pipe.is_empty() && !from.eof_sent {
            // Everything written: the closed side closes its socket.
            from.eof_sent = true;
            to.conn.recv_eof(now);
        }
    }

    /// Drains both sides' events and writes their output, until quiet.
    fn settle(&mut self) {
        for _ in 0..8 {
            let client_events = self.client_events();
            let server_events = self.server_events();
            self.client.write();
            self.server.write();
            if !client_events && !server_events {
                break;
            }
        }
    }

    fn client_events(&mut self) -> bool {
        let mut any = false;
        while let Some(event) = self.client.conn.poll_event() {
            any = true;
            assert!(!self.client.closed, "client: {event:?} after Event::Closed");
            match event {
                Event::Connected { .. }
                | Event::Notify { .. }
                | Event::Pong { .. }
                | Event::GoAway { .. } => {}
                Event::Request { .. } | Event::RequestAbandoned { .. } => {
                    panic!("client got {event:?}")
                }
                Event::Response { id, body } => {
                    self.outcome(id);
                    self.responses += 1;
                    let expected = self.responded.get(&id);
                    assert_eq!(
                        expected,
                        Some(&body),
                        "response {id} is not what the server sent"
                    );
                }
                Event::RequestFailed { id, error } => {
                    self.outcome(id);
                    self.check_failure(id, &error);
                }
                Event::Closed { error } => {
                    assert!(
                        self.client.conn.is_closed(),
                        "client: Event::Closed while open"
                    );
                    let open: Vec<_> = self
                        .sent
                        .keys()
                        .filter(|id| !self.outcomes.contains(id))
                        .collect();
                    assert!(
                        open.is_empty(),
                        "client closed; requests {open:?} without an outcome"
                    );
                    self.client.check_close(&error, &self.server.abort_codes);
                    self.client.closed = true;
                }
                other => panic!("client: {other:?}, an event this harness does not know"),
            }
        }
        assert_eq!(
            self.client.closed,
            self.client.conn.is_closed(),
            "client: closed without Event::Closed"
        );
        any
    }

    fn outcome(&mut self, id: RequestId) {
        assert!(
            self.sent.contains_key(&id),
            "outcome for {id}, never returned by send_request"
        );
        assert!(self.outcomes.insert(id), "second outcome for request {id}");
    }

    fn check_failure(&self, id: RequestId, error: &RequestError) {
        match error {
            RequestError::Server { code, .. } => {
                let automatic = [
                    ErrorCode::TOO_MANY_REQUESTS,
                    ErrorCode::DEADLINE_EXCEEDED,
                    ErrorCode::MESSAGE_TOO_LARGE,
                ];
                assert!(
                    self.errored.get(&id) == Some(code) || automatic.contains(code),
                    "request {id} failed with {code:?}, which the server did not send"
                );
            }
            RequestError::NotProcessed => {
                let app_said_so = self.errored.get(&id) == Some(&ErrorCode::SHUTTING_DOWN);
                assert!(
                    !self.delivered.contains(&id) || app_said_so,
                    "request {id} reported not processed, yet the server application got it"
                );
            }
            RequestError::Connection(e) => {
                self.client
                    .check_close(&Some(e.clone()), &self.server.abort_codes);
            }
            RequestError::TimedOut | RequestError::Cancelled | RequestError::TooLarge { .. } => {}
            other => panic!("request {id} failed with {other:?}, which this harness does not know"),
        }
    }

    fn server_events(&mut self) -> bool {
        let mut any = false;
        while let Some(event) = self.server.conn.poll_event() {
            any = true;
            assert!(!self.server.closed, "server: {event:?} after Event::Closed");
            match event {
                Event::Connected { .. }
                | Event::Notify { .. }
                | Event::Pong { .. }
                | Event::GoAway { .. } => {}
                Event::Response { .. } | Event::RequestFailed { .. } => {
                    panic!("server got {event:?}")
                }
                Event::Request { id, body, .. } => {
                    assert_eq!(
                        self.sent.get(&id),
                        Some(&body),
                        "request {id} is not what the client sent"
                    );
                    assert!(self.delivered.insert(id), "request {id} delivered twice");
                    self.waiting.push(id);
                    if let Some(answer) = self.auto_answer {
                        self.answer(id, answer);
                    }
                }
                Event::RequestAbandoned { id, .. } => {
                    assert!(
                        !self.responded.contains_key(&id),
                        "responded request {id} abandoned"
                    );
                    assert!(
                        !self.errored.contains_key(&id),
                        "answered request {id} abandoned"
                    );
                    assert!(self.abandoned.insert(id), "request {id} abandoned twice");
                    self.waiting.retain(|&w| w != id);
                }
                Event::Closed { error } => {
                    assert!(
                        self.server.conn.is_closed(),
                        "server: Event::Closed while open"
                    );
                    self.server.check_close(&error, &self.client.abort_codes);
                    self.server.closed = true;
                }
                other => panic!("server: {other:?}, an event this harness does not know"),
            }
        }
        assert_eq!(
            self.server.closed,
            self.server.conn.is_closed(),
            "server: closed without Event::Closed"
        );
        any
    }

    /// The server application answers (or drops) waiting request `id`.
    fn answer(&mut self, id: RequestId, answer: Answer) {
        let now = self.now;
        let conn = &mut self.server.conn;
        let (result, sent) = match answer {
            Answer::Drop => {
                self.waiting.retain(|&w| w != id);
                return;
            }
            Answer::Respond(len) => {
                let body = body(id.get(), usize::from(len));
                (conn.respond(id, body.clone(), now), Some(body))
            }
            Answer::Error(code) => (
                conn.respond_error(id, ErrorCode(code), "app error", now),
                None,
            ),
        };
        let known = self.abandoned.contains(&id)
            || self.responded.contains_key(&id)
            || self.errored.contains_key(&id);
        match (result, sent) {
            (Ok(()), Some(body)) => {
                assert!(
                    !known,
                    "responded to request {id} twice or after it was abandoned"
                );
                self.responded.insert(id, body);
            }
            (Ok(()), None) => {
                assert!(
                    !known,
                    "answered request {id} twice or after it was abandoned"
                );
                self.errored.insert(
                    id,
                    ErrorCode(match answer {
                        Answer::Error(code) => code,
                        _ => unreachable!(),
                    }),
                );
            }
            (Err(SendError::TooLarge { .. }), Some(_)) => {
                assert!(
                    !known,
                    "answered request {id} twice or after it was abandoned"
                );
                self.errored.insert(id, ErrorCode::MESSAGE_TOO_LARGE);
            }
            // Abandoned, and the event is still queued.
            (Err(SendError::UnknownRequest(_)), _) => {}
            (Err(SendError::Closed), _) => assert!(conn.is_closed(), "respond: Closed while open"),
            (Err(e), _) => panic!("respond: unexpected {e:?}"),
        }
        self.waiting.retain(|&w| w != id);
    }

    /// Runs the pair to quiescence (see the module documentation).
    fn finish(&mut self, answer: Answer) {
        self.auto_answer = Some(answer);
        for round in 0..GIVE_UP_AFTER {
            for id in self.waiting.clone() {
                self.answer(id, answer);
            }
            self.settle();
            // Deliver until no byte is in flight.
            for _ in 0..64 {
                if self.client.pipe.is_empty() && self.server.pipe.is_empty() {
                    break;
                }
                self.deliver(true, 0, 0);
                self.deliver(false, 0, 0);
                self.settle();
            }
            self.deliver(true, 0, 0);
            self.deliver(false, 0, 0);
            self.settle();
            if self.client.closed && self.server.closed {
                break;
            }
            let now = self.now;
            if round == GRACEFUL_AFTER {
                self.client
                    .conn
                    .close(ErrorCode::NO_ERROR, "finishing", now);
            } else if round == ABORT_AFTER {
                self.client.abort_codes.insert(ErrorCode::INTERNAL_ERROR);
                self.client
                    .conn
                    .close(ErrorCode::INTERNAL_ERROR, "finishing", now);
            }
            let next = [
                self.client.conn.poll_timeout(),
                self.server.conn.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) => {
                    self.now = self.now.max(t);
                    self.timers();
                }
                // Nothing will ever happen by itself: close.
                None if !self.client.closed => {
                    self.client.conn.close(ErrorCode::NO_ERROR, "quiet", now);
                }
                None => {}
            }
            self.settle();
        }
        assert!(
            self.client.closed && self.server.closed,
            "the pair did not quiesce (client closed: {}, server closed: {})",
            self.client.closed,
            self.server.closed
        );
        let open: Vec<_> = self
            .sent
            .keys()
            .filter(|id| !self.outcomes.contains(id))
            .collect();
        assert!(open.is_empty(), "requests {open:?} never got an outcome");
    }
}
