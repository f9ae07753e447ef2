//! Target `server_connection`: one [`Connection`] (server, or client when
//! the input says so) facing arbitrary input, driven as an adapter would.
//!
//! Steps interleave received byte chunks (raw, or a frame header with the
//! right length around an arbitrary payload), time steps, end of stream,
//! changes of the socket's write budget and application commands. After
//! every step the driver drains [`Connection::poll_event`] (the server
//! answers each request as the input says, at once or later), writes what
//! [`Connection::transmit`] yields within the write budget and reports it
//! with [`Connection::advance_transmit`], and stops reading while
//! [`Connection::wants_read`] is false (the bytes wait in the "socket").
//!
//! Checked, besides "no panic":
//!
//! - right after `handle_timeout(now)`, `poll_timeout()` is `None` or later
//!   than `now`;
//! - once closed, nothing produces events or output any more, and
//!   [`Event::Closed`] is the last event and comes exactly when
//!   `is_closed()` becomes true;
//! - the transmit queue stays bounded: `transmit()` adds up to
//!   `transmit_len()`, and all output ever queued is at most 3× the bytes
//!   read plus what the application itself sent plus a constant per step
//!   (no amplification a peer could use to grow our queue);
//! - the output is a stream of well-formed frames that this role may send,
//!   none above the peer's MAX_FRAME_SIZE, nothing after a GOAWAY with an
//!   error code, and it opens with HELLO (client) or WELCOME/GOAWAY (server);
//! - events fit the role and the bookkeeping: each request delivered once,
//!   each client request gets at most one outcome and has one when the
//!   connection closes, answered requests are never reported abandoned,
//!   `cancel` succeeds exactly for requests without an outcome.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use core::time::Duration;
use slow_proto::frame::{self, Frame, FrameType, HEADER_LEN, Handshake, Header, VERSION};
use slow_proto::{Connection, ErrorCode, Event, Instant, RequestId, Role, SendError, Settings};

use crate::knobs::{ConfigKnobs, SettingsKnobs, body};

/// One fuzz case.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Input {
    /// Drive a client instead of a server.
    pub client: bool,
    /// This side's configuration.
    pub config: ConfigKnobs,
    /// When set, the input opens with a valid HELLO (or WELCOME for a
    /// client) advertising these settings.
    pub handshake: Option<SettingsKnobs>,
    /// How the server answers each request as it arrives, in turn
    /// (cycled; `Echo` when empty).
    pub answers: Vec<Answer>,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

/// A server application's answer to one request.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Answer {
    /// `respond` with the request's own body.
    Echo,
    /// `respond` with a body of this many bytes.
    Respond(u16),
    /// `respond_error` with this code and a message of this many two-byte
    /// characters.
    Error {
        /// The code.
        code: u16,
        /// Message length in characters.
        message_len: u16,
    },
    /// Answer later (or never).
    Defer,
}

/// One step of the driver.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Step {
    /// Bytes arrive from the peer.
    Bytes {
        /// The bytes.
        data: Vec<u8>,
        /// Which input API the adapter uses.
        via: Via,
    },
    /// A frame arrives: a header with the payload's length. The type is
    /// `ty` when `ty >= 0xC0`, else `ty % 11`; the id is `id` when
    /// `id >= 0xFFFF_0000`, else `id % 64`.
    Frame {
        /// Type selector.
        ty: u8,
        /// Flags as sent.
        flags: u8,
        /// Id selector.
        id: u32,
        /// Payload.
        payload: Vec<u8>,
    },
    /// Time passes; `handle_timeout` is called.
    Advance {
        /// How long, in microseconds.
        micros: u32,
        /// Wake at every `poll_timeout` on the way (a punctual timer)
        /// instead of once at the end (a late one).
        timely: bool,
    },
    /// How many bytes the socket takes per write from now on (`None`: all).
    WriteBudget(Option<u16>),
    /// The peer closed its side of the stream.
    Eof,
    /// The application does something.
    Command(Command),
}

/// How received bytes are handed to the connection.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Via {
    /// [`Connection::recv`].
    Recv,
    /// [`Connection::recv_buffer`] and [`Connection::handle_input`].
    Buffer,
    /// [`Connection::recv_space`] and [`Connection::recv_commit`], one
    /// window at a time; with `abandon`, a last window is filled and never
    /// committed.
    Space {
        /// Leave an uncommitted window behind.
        abandon: bool,
    },
}

/// An application command (some are for the other role and must be refused).
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Command {
    /// `send_request` with a body of `len` bytes.
    Request {
        /// Body length.
        len: u16,
        /// Timeout in milliseconds.
        timeout_ms: Option<u16>,
    },
    /// `cancel` the k-th request id returned so far (modulo their number).
    Cancel(u8),
    /// `notify` with a body of this many bytes.
    Notify(u16),
    /// `ping`.
    Ping,
    /// `close` with this code and a reason of `reason_len` two-byte characters.
    Close {
        /// The GOAWAY code.
        code: u16,
        /// Reason length in characters.
        reason_len: u16,
    },
    /// Answer the k-th deferred request (modulo their number).
    Answer {
        /// Which one.
        k: u8,
        /// How.
        answer: Answer,
    },
}

/// What happened in one case, for tests of the harness itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Frames written.
    pub frames_out: u64,
    /// Requests delivered (server) or with an outcome (client).
    pub requests: usize,
    /// `Event::Closed` came.
    pub closed: bool,
}

/// Runs one case; panics when an invariant breaks.
pub fn run(input: &Input) -> Summary {
    let role = if input.client {
        Role::Client
    } else {
        Role::Server
    };
    let mut d = Driver::new(role, input.config, &input.answers);
    if let Some(peer) = input.handshake {
        let handshake = Handshake::new(VERSION, &peer.settings());
        let frame = match role {
            Role::Server => Frame::Hello(handshake),
            Role::Client => Frame::Welcome(handshake),
        };
        let mut wire = BytesMut::new();
        frame.encode(&mut wire);
        d.receive(&wire, Via::Recv);
        d.settle();
    }
    for step in &input.steps {
        d.step(step);
        d.settle();
    }
    Summary {
        frames_out: d.out_frames,
        requests: d.delivered.len() + d.outcomes.len(),
        closed: d.closed.is_some(),
    }
}

/// Output allowed per step or timer call beyond the proportional bound.
const SLACK_PER_STEP: u64 = 256;
/// Wake-ups of a punctual timer within one `Advance` step.
const MAX_WAKEUPS: usize = 64;

struct Driver<'a> {
    conn: Connection,
    role: Role,
    now: Instant,
    answers: &'a [Answer],
    next_answer: usize,
    /// Received bytes not read yet (back-pressure).
    backlog: Vec<u8>,
    budget: Option<usize>,
    /// Bytes read, bytes the application caused, steps and timer calls, and
    /// bytes written: the terms of the amplification bound.
    read: u64,
    app: u64,
    ticks: u64,
    written: u64,
    /// The written stream, decoded as the peer would.
    out: BytesMut,
    out_frames: u64,
    out_ended: bool,
    /// `Event::Closed` was seen; output queued in all at that point.
    closed: Option<u64>,
    /// Client: ids returned by `send_request`, and those with an outcome.
    ids: Vec<RequestId>,
    outcomes: BTreeSet<RequestId>,
    /// Server: delivered requests not answered yet, with their bodies.
    pending: BTreeMap<RequestId, Bytes>,
    delivered: BTreeSet<RequestId>,
    answered: BTreeSet<RequestId>,
    abandoned: BTreeSet<RequestId>,
}

impl<'a> Driver<'a> {
    fn new(role: Role, knobs: ConfigKnobs, answers: &'a [Answer]) -> Self {
        let now = Instant::ZERO;
        let conn = Connection::new(role, knobs.config(), now).expect("knobs give a valid config");
        Driver {
            conn,
            role,
            now,
            answers,
            next_answer: 0,
            backlog: Vec::new(),
            budget: None,
            read: 0,
            app: 0,
            ticks: 1,
            written: 0,
            out: BytesMut::new(),
            out_frames: 0,
            out_ended: false,
            closed: None,
            ids: Vec::new(),
            outcomes: BTreeSet::new(),
            pending: BTreeMap::new(),
            delivered: BTreeSet::new(),
            answered: BTreeSet::new(),
            abandoned: BTreeSet::new(),
        }
    }

    fn step(&mut self, step: &Step) {
        self.ticks += 1;
        match step {
            Step::Bytes { data, via } => self.receive(data, *via),
            Step::Frame {
                ty,
                flags,
                id,
                payload,
            } => {
                let ty = if *ty >= 0xC0 { *ty } else { ty % 11 };
                let id = if *id >= 0xFFFF_0000 { *id } else { id % 64 };
                let header = Header {
                    length: payload.len() as u32,
                    ty: FrameType(ty),
                    flags: *flags,
                    id,
                };
                let mut wire = BytesMut::with_capacity(HEADER_LEN + payload.len());
                header.encode(&mut wire);
                wire.extend_from_slice(payload);
                self.receive(&wire, Via::Recv);
            }
            Step::Advance { micros, timely } => {
                let target = self.now + Duration::from_micros(u64::from(*micros));
                if *timely {
                    for _ in 0..MAX_WAKEUPS {
                        match self.conn.poll_timeout() {
                            Some(t) if t <= target => {
                                self.now = self.now.max(t);
                                self.timeout();
                                self.drain_events();
                                self.write();
                            }
                            _ => break,
                        }
                    }
                }
                self.now = target;
                self.timeout();
            }
            Step::WriteBudget(budget) => self.budget = budget.map(usize::from),
            Step::Eof => {
                self.conn.recv_eof(self.now);
            }
            Step::Command(command) => self.command(*command),
        }
    }

    /// Bytes arrive; they are read now unless back-pressure holds them.
    fn receive(&mut self, data: &[u8], via: Via) {
        if self.conn.wants_read() && self.backlog.is_empty() {
            self.read_now(data, via);
        } else {
            self.backlog.extend_from_slice(data);
        }
    }

    fn read_now(&mut self, data: &[u8], via: Via) {
        self.read += data.len() as u64;
        let now = self.now;
        match via {
            Via::Recv => self.conn.recv(data, now),
            Via::Buffer => {
                // The documented room: at least half a read_chunk.
                let room = self.conn.config().read_chunk.div_ceil(2);
                let buf = self.conn.recv_buffer();
                assert!(
                    buf.capacity() - buf.len() >= room,
                    "recv_buffer without room"
                );
                buf.extend_from_slice(data);
                self.conn.handle_input(now);
            }
            Via::Space { abandon } => {
                let mut rest = data;
                while !rest.is_empty() {
                    let n = self.fill_space(rest);
                    self.conn.recv_commit(n, now);
                    rest = &rest[n..];
                }
                if abandon {
                    let space = self.conn.recv_space();
                    space.fill(0xA5);
                }
            }
        }
    }

    /// Copies what fits of `data` into a fresh `recv_space` window.
    fn fill_space(&mut self, data: &[u8]) -> usize {
        let read_chunk = self.conn.config().read_chunk;
        let space = self.conn.recv_space();
        assert!(
            (read_chunk.div_ceil(2)..=read_chunk).contains(&space.len()),
            "recv_space is {} long, not half a read_chunk ({read_chunk}) to a whole",
            space.len()
        );
        assert!(space.iter().all(|&b| b == 0), "recv_space is not zeroed");
        let n = space.len().min(data.len());
        space[..n].copy_from_slice(&data[..n]);
        n
    }

    fn timeout(&mut self) {
        self.ticks += 1;
        let now = self.now;
        self.conn.handle_timeout(now);
        if let Some(next) = self.conn.poll_timeout() {
            assert!(
                next > now,
                "possible core bug: poll_timeout() = {next:?} is not after now = {now:?} \
                 right after handle_timeout(now)"
            );
        }
    }

    fn command(&mut self, command: Command) {
        let now = self.now;
        self.app += SLACK_PER_STEP;
        match command {
            Command::Request { len, timeout_ms } => {
                let seed = self.ids.len() as u32;
                let timeout = timeout_ms.map(|ms| Duration::from_millis(u64::from(ms)));
                self.app += app_cost(usize::from(len));
                match self
                    .conn
                    .send_request(body(seed, usize::from(len)), timeout, now)
                {
                    Ok(id) => {
                        assert_eq!(self.role, Role::Client, "a server sent a request");
                        if let Some(&last) = self.ids.last() {
                            assert!(id > last, "request id {id} not above {last}");
                        }
                        self.ids.push(id);
                    }
                    Err(SendError::WrongRole) => assert_eq!(self.role, Role::Server),
                    Err(
                        SendError::Closed | SendError::TooLarge { .. } | SendError::IdsExhausted,
                    ) => {}
                    Err(e) => panic!("send_request: unexpected {e:?}"),
                }
            }
            Command::Cancel(k) => {
                if self.role == Role::Server {
                    assert_eq!(
                        self.conn.cancel(RequestId::new(1), now),
                        Err(SendError::WrongRole)
                    );
                    return;
                }
                let Some(&id) = self.ids.get(usize::from(k) % self.ids.len().max(1)) else {
                    return;
                };
                let result = self.conn.cancel(id, now);
                match result {
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
            Command::Notify(len) => {
                self.app += app_cost(usize::from(len));
                let _ = self.conn.notify(body(0xFFFF, usize::from(len)), now);
            }
            Command::Ping => {
                let _ = self.conn.ping(now);
            }
            Command::Close { code, reason_len } => {
                let reason = "é".repeat(usize::from(reason_len));
                self.app += app_cost(reason.len());
                self.conn.close(ErrorCode(code), &reason, now);
            }
            Command::Answer { k, answer } => {
                let Some(&id) = self
                    .pending
                    .keys()
                    .nth(usize::from(k) % self.pending.len().max(1))
                else {
                    return;
                };
                self.answer(id, answer);
            }
        }
    }

    fn answer(&mut self, id: RequestId, answer: Answer) {
        let now = self.now;
        self.app += SLACK_PER_STEP;
        let result = match answer {
            Answer::Defer => return,
            Answer::Echo => {
                let body = self.pending[&id].clone();
                self.app += app_cost(body.len());
                self.conn.respond(id, body, now)
            }
            Answer::Respond(len) => {
                self.app += app_cost(usize::from(len));
                self.conn.respond(id, body(id.get(), usize::from(len)), now)
            }
            Answer::Error { code, message_len } => {
                let message = "é".repeat(usize::from(message_len));
                self.app += app_cost(message.len());
                self.conn.respond_error(id, ErrorCode(code), &message, now)
            }
        };
        match result {
            // A response too large for the client goes out as ERROR instead.
            Ok(()) | Err(SendError::TooLarge { .. }) => {
                assert!(self.answered.insert(id), "request {id} answered twice");
                assert!(
                    !self.abandoned.contains(&id),
                    "answered abandoned request {id}"
                );
                self.pending.remove(&id);
            }
            // Abandoned or closed, and the event is not drained yet.
            Err(SendError::UnknownRequest(_)) => {}
            Err(SendError::Closed) => assert!(self.conn.is_closed(), "Closed while open"),
            Err(e) => panic!("respond: unexpected {e:?}"),
        }
    }

    /// Drains events, writes, and reads what back-pressure held back.
    fn settle(&mut self) {
        for round in 0..4 {
            self.drain_events();
            self.write();
            if round == 3 || self.backlog.is_empty() || !self.conn.wants_read() {
                break;
            }
            let backlog = core::mem::take(&mut self.backlog);
            self.read_now(&backlog, Via::Recv);
        }
        self.check_bounds();
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.conn.poll_event() {
            assert!(self.closed.is_none(), "{event:?} after Event::Closed");
            let server = self.role == Role::Server;
            match event {
                Event::Connected { .. }
                | Event::Notify { .. }
                | Event::Pong { .. }
                | Event::GoAway { .. } => {}
                Event::Request { id, body, .. } => {
                    assert!(server, "a client got a request");
                    assert!(self.delivered.insert(id), "request {id} delivered twice");
                    self.pending.insert(id, body);
                    let answer = match self.answers {
                        [] => Answer::Echo,
                        answers => answers[self.next_answer % answers.len()],
                    };
                    self.next_answer += 1;
                    self.answer(id, answer);
                }
                Event::RequestAbandoned { id, .. } => {
                    assert!(server, "a client got RequestAbandoned");
                    assert!(
                        !self.answered.contains(&id),
                        "answered request {id} abandoned"
                    );
                    assert!(self.abandoned.insert(id), "request {id} abandoned twice");
                    self.pending.remove(&id);
                }
                Event::Response { id, .. } | Event::RequestFailed { id, .. } => {
                    assert!(!server, "a server got a response");
                    assert!(self.ids.contains(&id), "outcome for {id}, never sent");
                    assert!(self.outcomes.insert(id), "second outcome for {id}");
                }
                Event::Closed { .. } => {
                    assert!(self.conn.is_closed(), "Event::Closed while not closed");
                    if server {
                        let unsettled: Vec<_> = (self.delivered.iter())
                            .filter(|id| {
                                !self.answered.contains(id) && !self.abandoned.contains(id)
                            })
                            .collect();
                        assert!(
                            unsettled.is_empty(),
                            "closed; requests {unsettled:?} not abandoned"
                        );
                    } else {
                        let open: Vec<_> = self
                            .ids
                            .iter()
                            .filter(|id| !self.outcomes.contains(id))
                            .collect();
                        assert!(
                            open.is_empty(),
                            "closed; requests {open:?} without an outcome"
                        );
                    }
                    self.closed = Some(self.written + self.conn.transmit_len() as u64);
                }
                other => panic!("{other:?}, an event this harness does not know"),
            }
        }
        assert_eq!(
            self.closed.is_some(),
            self.conn.is_closed(),
            "is_closed() without Event::Closed"
        );
    }

    /// One write of at most the budget, as a socket would take it.
    fn write(&mut self) {
        let len = self.conn.transmit_len();
        let listed: usize = self.conn.transmit().map(<[u8]>::len).sum();
        assert_eq!(listed, len, "transmit() and transmit_len() disagree");
        let take = self.budget.map_or(len, |b| b.min(len));
        let bytes: Vec<u8> = self.conn.transmit().flatten().copied().take(take).collect();
        self.conn.advance_transmit(take);
        assert_eq!(
            self.conn.transmit_len(),
            len - take,
            "advance_transmit miscounted"
        );
        self.written += take as u64;
        self.check_output(&bytes);
    }

    /// Decodes the written stream as the peer would.
    fn check_output(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
        let peer_max = self
            .conn
            .peer_settings()
            .map_or(Settings::DEFAULT_MAX_FRAME_SIZE, |s| s.max_frame_size);
        loop {
            let frame = match frame::decode(&mut self.out, Settings::MAX_MAX_FRAME_SIZE) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => panic!("sent an invalid frame: {e}"),
            };
            assert!(
                !self.out_ended,
                "sent {frame:?} after a connection-error GOAWAY"
            );
            assert!(
                frame.payload_len() <= peer_max as usize,
                "sent a frame above the peer's limit"
            );
            let ty = frame.header().ty;
            if self.out_frames == 0 {
                let first = match self.role {
                    Role::Client => ty == FrameType::HELLO,
                    Role::Server => ty == FrameType::WELCOME || ty == FrameType::GOAWAY,
                };
                assert!(first, "first frame sent is {frame:?}");
            }
            self.out_frames += 1;
            let allowed = match self.role {
                Role::Client => [FrameType::HELLO, FrameType::REQUEST, FrameType::CANCEL],
                Role::Server => [FrameType::WELCOME, FrameType::RESPONSE, FrameType::ERROR],
            };
            let shared = [
                FrameType::NOTIFY,
                FrameType::PING,
                FrameType::PONG,
                FrameType::GOAWAY,
            ];
            assert!(
                allowed.contains(&ty) || shared.contains(&ty),
                "{:?} sent {frame:?}",
                self.role
            );
            if ty == FrameType::HELLO || ty == FrameType::WELCOME {
                assert_eq!(self.out_frames, 1, "a second HELLO/WELCOME");
            }
            if let Frame::GoAway { code, .. } = frame {
                self.out_ended |= !code.is_graceful();
            }
        }
    }

    fn check_bounds(&mut self) {
        let queued = self.written + self.conn.transmit_len() as u64;
        let bound = 3 * self.read + self.app + SLACK_PER_STEP * self.ticks;
        assert!(
            queued <= bound,
            "queued {queued} bytes in all for {} read, {} from the application, {} ticks",
            self.read,
            self.app,
            self.ticks
        );
        if let Some(at_close) = self.closed {
            assert_eq!(
                queued, at_close,
                "output queued after the connection closed"
            );
        }
        if self.budget.is_none() {
            assert_eq!(
                self.conn.transmit_len(),
                0,
                "a full write left bytes queued"
            );
        }
    }
}

/// Output one application call may cause for a body of `len` bytes:
/// the body and a header per frame of at least 1,024 bytes.
fn app_cost(len: usize) -> u64 {
    (len + HEADER_LEN * (len / 1024 + 1) + 4) as u64
}
