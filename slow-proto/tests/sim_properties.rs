//! Scenario-level properties of the connection state machine, run on the
//! deterministic simulation harness (`slow_proto::sim`).
//!
//! Every scenario is a plain value (printed by proptest on failure) whose
//! `seed` drives all the harness's random choices, so a failure replays
//! exactly: paste the printed scenario into `replay_*` below, or rerun with
//! the `proptest-regressions` file proptest writes.
//!
//! The case counts are fixed (see `CASES_*`) so that the whole file runs
//! more than 10,000 scenarios in well under a minute in a debug build.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestCaseError};
use slow_proto::sim::{Rng, Side, Sim, SimConfig, Step};
use slow_proto::{
    AbandonReason, Config, Connection, ConnectionError, ErrorCode, Event, Instant, RequestError,
    RequestId, SendError, Settings,
};

const CASES_OUTCOMES: u32 = 3_500;
const CASES_BODIES: u32 = 1_500;
const CASES_CHUNKING: u32 = 4_000;
const CASES_CHAOS: u32 = 3_000;

/// Far more steps than any scenario here needs; reaching it means the run
/// does not settle (a livelock), which is a failure.
const STEP_LIMIT: u64 = 400_000;

/// The generator's seed when `PROPTEST_RNG_SEED` is not set: every run (and
/// CI) checks the same scenarios. Set `PROPTEST_RNG_SEED=<u64>` to explore
/// others; a failure prints the whole scenario, whose own `seed` replays it.
const DEFAULT_RNG_SEED: u64 = 0x51_0E_5E_ED;

fn proptest_config(cases: u32) -> ProptestConfig {
    let defaults = ProptestConfig::default();
    let rng_seed = match defaults.rng_seed {
        RngSeed::Random => RngSeed::Fixed(DEFAULT_RNG_SEED),
        fixed => fixed,
    };
    ProptestConfig {
        cases,
        rng_seed,
        // The failing scenario is printed in full; no regression files in
        // the source tree.
        failure_persistence: None,
        // Shrinking a failing scenario can take long; a bounded effort is
        // enough to get a readable one.
        max_shrink_iters: 2_000,
        ..defaults
    }
}

// ---- scenarios -----------------------------------------------------------

/// How the simulated network behaves.
#[derive(Debug, Clone)]
struct Net {
    latency_us: u64,
    jitter_us: u64,
    max_fragment: usize,
    max_write: usize,
    pipe_capacity: usize,
}

/// What the server does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// Answers with the request's body after `delay_ms`.
    Echo { delay_ms: u64 },
    /// Answers ERROR `code` after `delay_ms`.
    Error { code: u16, delay_ms: u64 },
    /// Never answers.
    Ignore,
}

/// One command, issued `after_ms` after the previous one.
#[derive(Debug, Clone)]
enum Op {
    Request {
        size: usize,
        timeout_ms: Option<u64>,
        reply: Reply,
    },
    Cancel {
        pick: usize,
    },
    Notify {
        from: Side,
        size: usize,
    },
    Ping {
        from: Side,
    },
    /// Graceful (NO_ERROR, SHUTTING_DOWN, IDLE_TIMEOUT) or not.
    Close {
        from: Side,
        code: u16,
    },
    Disconnect,
    /// Raw bytes injected into `from`'s stream (a misbehaving peer).
    Garbage {
        from: Side,
        bytes: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
struct Scenario {
    seed: u64,
    net: Net,
    client: Config,
    server: Config,
    ops: Vec<(u64, Op)>,
    /// The client closes gracefully this long after the last op, so that
    /// requests the server ignores end too (at the latest when the drain
    /// timeout forces the close); `None` leaves closing to the timers.
    final_close_ms: Option<u64>,
    /// Whether the scenario's own commands are the only ones: the checks of
    /// bodies and error codes are exact only without injected garbage.
    strict: bool,
}

/// The body the client sends for request `id`: recognisable and checkable.
fn body_for(id: RequestId, size: usize) -> Bytes {
    let mut body = vec![0; size];
    Rng::new(u64::from(id.get()) << 32 | size as u64).fill(&mut body);
    Bytes::from(body)
}

fn notify_body(n: usize, size: usize) -> Bytes {
    body_for(RequestId::new(0x8000_0000 | n as u32), size)
}

// ---- strategies ----------------------------------------------------------

fn net_strategy() -> impl Strategy<Value = Net> {
    (
        prop_oneof![Just(0u64), 0..2_000u64, 0..200_000u64],
        prop_oneof![3 => Just(0u64), 1 => 0..50_000u64],
        prop_oneof![Just(64 * 1024), 1..64usize, 64..70_000usize],
        prop_oneof![3 => Just(usize::MAX), 1 => 1..10_000usize],
        prop_oneof![3 => Just(usize::MAX), 1 => 1_024..300_000usize],
    )
        .prop_map(
            |(latency_us, jitter_us, max_fragment, max_write, pipe_capacity)| Net {
                latency_us,
                jitter_us,
                max_fragment,
                max_write,
                pipe_capacity,
            },
        )
}

/// A valid configuration, often with small limits and short timers.
fn config_strategy() -> impl Strategy<Value = Config> {
    let settings = (
        prop_oneof![Just(65_536u32), 1_024..=4_096u32, 1_024..=100_000u32],
        prop_oneof![Just(16_777_216u32), 1_024..=300_000u32],
        prop_oneof![Just(128u32), 1..=4u32],
        prop_oneof![Just(60_000u32), Just(0u32), 1..=5_000u32],
    )
        .prop_map(|(f, m, c, i)| Settings {
            max_frame_size: f,
            max_message_size: m,
            max_concurrent_requests: c,
            idle_timeout_ms: i,
        });
    (
        settings,
        prop_oneof![Just(10_000u64), 1..3_000u64],
        prop_oneof![
            Just(Some(15_000u64)),
            Just(None),
            (50..20_000u64).prop_map(Some)
        ],
        prop_oneof![Just(10_000u64), 50..10_000u64],
        prop_oneof![Just(30_000u64), 50..30_000u64],
        prop_oneof![Just(256 * 1024usize), 1..100_000usize],
        prop_oneof![Just(8 * 1024usize), 1..100_000usize],
    )
        .prop_map(|(settings, hs, ka, kat, drain, hw, chunk)| Config {
            settings,
            handshake_timeout: Duration::from_millis(hs),
            keepalive_interval: ka.map(Duration::from_millis),
            keepalive_timeout: Duration::from_millis(kat),
            drain_timeout: Duration::from_millis(drain),
            // Only `Teardown` reads it, and the harness drives none.
            linger: Config::default().linger,
            send_high_water: hw,
            read_chunk: chunk,
        })
}

fn reply_strategy() -> impl Strategy<Value = Reply> {
    prop_oneof![
        6 => (0..3_000u64).prop_map(|delay_ms| Reply::Echo { delay_ms }),
        2 => (prop_oneof![Just(0x0100u16), 0x0100..=0xFFFFu16, 0..0x0010u16], 0..3_000u64)
            .prop_map(|(code, delay_ms)| Reply::Error { code, delay_ms }),
        1 => Just(Reply::Ignore),
    ]
}

fn side_strategy() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Client), Just(Side::Server)]
}

fn op_strategy(max_body: usize, chaos: bool) -> impl Strategy<Value = Op> {
    let garbage_weight = if chaos { 1 } else { 0 };
    let disconnect_weight = if chaos { 1 } else { 0 };
    prop_oneof![
        12 => (0..=max_body, prop::option::weighted(0.4, 0..5_000u64), reply_strategy())
            .prop_map(|(size, timeout_ms, reply)| Op::Request { size, timeout_ms, reply }),
        2 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        2 => (side_strategy(), prop_oneof![0..100usize, 0..70_000usize])
            .prop_map(|(from, size)| Op::Notify { from, size }),
        1 => side_strategy().prop_map(|from| Op::Ping { from }),
        1 => (side_strategy(), prop_oneof![Just(0u16), Just(0x0006), Just(0x000B), 0..0x0010u16])
            .prop_map(|(from, code)| Op::Close { from, code }),
        disconnect_weight => Just(Op::Disconnect),
        garbage_weight => (side_strategy(), garbage_strategy())
            .prop_map(|(from, bytes)| Op::Garbage { from, bytes }),
    ]
}

/// Bytes a misbehaving peer might send: mostly one well-formed frame of
/// any type, flags and id, sometimes noise.
fn garbage_strategy() -> impl Strategy<Value = Vec<u8>> {
    let frame = (
        1..=0x0Cu8,
        prop_oneof![Just(0u8), Just(1u8), Just(2u8), any::<u8>()],
        prop_oneof![Just(0u32), 1..8u32, any::<u32>()],
        prop_oneof![
            Just(vec![0u8; 8]),
            (0..0x10u16).prop_map(|code| code.to_be_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..40),
        ],
    )
        .prop_map(|(ty, flags, id, payload)| {
            let mut raw = BytesMut::new();
            raw.put_u32(payload.len() as u32);
            raw.put_u8(ty);
            raw.put_u8(flags);
            raw.put_u32(id);
            raw.put_slice(&payload);
            raw.to_vec()
        });
    prop_oneof![3 => frame, 1 => prop::collection::vec(any::<u8>(), 1..40)]
}

fn scenario_strategy(
    max_body: usize,
    max_ops: usize,
    chaos: bool,
) -> impl Strategy<Value = Scenario> {
    (
        any::<u64>(),
        net_strategy(),
        config_strategy(),
        config_strategy(),
        prop::collection::vec(
            (
                prop_oneof![Just(0u64), 0..50u64, 0..5_000u64],
                op_strategy(max_body, chaos),
            ),
            0..max_ops,
        ),
        prop_oneof![Just(1u64), 0..10_000u64],
    )
        .prop_map(move |(seed, net, client, server, ops, final_close_ms)| {
            let strict = !ops.iter().any(|(_, op)| matches!(op, Op::Garbage { .. }));
            Scenario {
                seed,
                net,
                client,
                server,
                ops,
                final_close_ms: Some(final_close_ms),
                strict,
            }
        })
}

// ---- running a scenario and checking it -----------------------------------

/// What the harness knows about one client request.
#[derive(Debug)]
struct Sent {
    size: usize,
    timeout: Option<Duration>,
    sent_at: Instant,
    reply: Reply,
    cancelled: bool,
    outcome: Option<Result<(), RequestError>>,
}

/// What the harness knows about one request at the server.
#[derive(Debug, Default)]
struct Served {
    delivered: bool,
    answered: bool,
    abandoned: bool,
}

enum Due {
    Op(Op),
    Answer(RequestId),
    FinalClose,
}

struct Run<'a> {
    sc: &'a Scenario,
    sim: Sim,
    sent: BTreeMap<RequestId, Sent>,
    served: BTreeMap<RequestId, Served>,
    /// Notification bodies sent successfully by each side, in order.
    notified: [Vec<Bytes>; 2],
    received_notifies: [Vec<Bytes>; 2],
    closed: [bool; 2],
    /// How each side closed.
    close_errors: [Option<ConnectionError>; 2],
    /// Which sides closed before the handshake completed.
    closed_unconnected: [bool; 2],
    disconnected: bool,
    connected: [bool; 2],
    goaways: [Vec<ErrorCode>; 2],
    /// Error codes each side was told to close with.
    close_codes: [Vec<ErrorCode>; 2],
    due: BTreeMap<(Instant, u64), Due>,
    seq: u64,
}

macro_rules! check {
    ($run:expr, $cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(TestCaseError::fail(format!(
                "seed {:#x} at {:?} (step {}): {}",
                $run.sc.seed,
                $run.sim.now(),
                $run.sim.steps(),
                format!($($fmt)+)
            )));
        }
    };
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

impl<'a> Run<'a> {
    fn new(sc: &'a Scenario) -> Run<'a> {
        let sim = Sim::new(SimConfig {
            seed: sc.seed,
            latency: Duration::from_micros(sc.net.latency_us),
            jitter: Duration::from_micros(sc.net.jitter_us),
            max_fragment: sc.net.max_fragment,
            max_write: sc.net.max_write,
            pipe_capacity: sc.net.pipe_capacity,
            client: sc.client.clone(),
            server: sc.server.clone(),
            echo: false,
            trace: false,
        })
        .expect("strategies only make valid configurations");
        Run {
            sc,
            sim,
            sent: BTreeMap::new(),
            served: BTreeMap::new(),
            notified: [Vec::new(), Vec::new()],
            received_notifies: [Vec::new(), Vec::new()],
            closed: [false; 2],
            close_errors: [None, None],
            closed_unconnected: [false; 2],
            disconnected: false,
            connected: [false; 2],
            goaways: [Vec::new(), Vec::new()],
            close_codes: [Vec::new(), Vec::new()],
            due: BTreeMap::new(),
            seq: 0,
        }
    }

    fn schedule(&mut self, at: Instant, due: Due) {
        self.seq += 1;
        self.due.insert((at, self.seq), due);
        self.sim.wake_at(at);
    }

    /// Runs the scenario to quiescence, checking every event on the way.
    fn run(mut self) -> Result<Self, TestCaseError> {
        let mut at = Instant::ZERO;
        for (after_ms, op) in &self.sc.ops {
            at = at + Duration::from_millis(*after_ms);
            self.schedule(at, Due::Op(op.clone()));
        }
        if let Some(ms) = self.sc.final_close_ms {
            self.schedule(at + Duration::from_millis(ms), Due::FinalClose);
        }
        loop {
            while let Some(entry) = self.due.first_entry() {
                if entry.key().0 > self.sim.now() {
                    break;
                }
                let due = entry.remove();
                self.perform(due)?;
                self.handle_events()?;
            }
            let step = self.sim.step();
            check!(
                self,
                self.sim.steps() < STEP_LIMIT,
                "no quiescence after {STEP_LIMIT} steps"
            );
            self.handle_events()?;
            if step == Step::Idle && self.due.is_empty() {
                break;
            }
        }
        self.check_end()?;
        Ok(self)
    }

    fn perform(&mut self, due: Due) -> Result<(), TestCaseError> {
        let now = self.sim.now();
        match due {
            Due::Op(op) => self.perform_op(op)?,
            Due::Answer(id) => self.answer(id)?,
            Due::FinalClose => self.sim.client().close(ErrorCode::NO_ERROR, "done", now),
        }
        Ok(())
    }

    fn perform_op(&mut self, op: Op) -> Result<(), TestCaseError> {
        let now = self.sim.now();
        match op {
            Op::Request {
                size,
                timeout_ms,
                reply,
            } => {
                let next = self
                    .sent
                    .keys()
                    .next_back()
                    .map_or(RequestId::FIRST, |id| id.next().unwrap());
                let timeout = timeout_ms.map(Duration::from_millis);
                match self
                    .sim
                    .client()
                    .send_request(body_for(next, size), timeout, now)
                {
                    Ok(id) => {
                        check!(
                            self,
                            id == next,
                            "request ids not consecutive: {id} after {}",
                            next.get() - 1
                        );
                        let sent = Sent {
                            size,
                            timeout,
                            sent_at: now,
                            reply,
                            cancelled: false,
                            outcome: None,
                        };
                        self.sent.insert(id, sent);
                    }
                    Err(SendError::Closed | SendError::TooLarge { .. }) => {}
                    Err(e) => check!(self, false, "send_request refused with {e:?}"),
                }
            }
            Op::Cancel { pick } => {
                if self.sent.is_empty() {
                    return Ok(());
                }
                let id = *self.sent.keys().nth(pick % self.sent.len()).unwrap();
                let result = self.sim.client().cancel(id, now);
                let had_outcome = self.sent[&id].outcome.is_some();
                match result {
                    Ok(()) => {
                        check!(
                            self,
                            !had_outcome,
                            "cancel({id}) accepted after its outcome"
                        );
                        self.sent.get_mut(&id).unwrap().cancelled = true;
                    }
                    // It may also have ended with an event not taken yet.
                    Err(SendError::UnknownRequest(_)) => {}
                    Err(e) => check!(self, false, "cancel({id}) refused with {e:?}"),
                }
            }
            Op::Notify { from, size } => {
                let i = side_index(from);
                let body = notify_body(self.notified[i].len(), size);
                if self
                    .sim
                    .connection_mut(from)
                    .notify(body.clone(), now)
                    .is_ok()
                {
                    self.notified[i].push(body);
                }
            }
            Op::Ping { from } => {
                let _ = self.sim.connection_mut(from).ping(now);
            }
            Op::Close { from, code } => {
                self.close_codes[side_index(from)].push(ErrorCode(code));
                self.sim
                    .connection_mut(from)
                    .close(ErrorCode(code), "scenario close", now);
            }
            Op::Disconnect => {
                self.disconnected = true;
                self.sim.disconnect();
            }
            Op::Garbage { from, bytes } => {
                self.sim.inject(from, &bytes);
            }
        }
        Ok(())
    }

    /// The server answers request `id` as the scenario says.
    fn answer(&mut self, id: RequestId) -> Result<(), TestCaseError> {
        let now = self.sim.now();
        let reply = self.sent.get(&id).map(|s| (s.reply, s.size));
        let result = match reply {
            Some((Reply::Echo { .. }, size)) => {
                self.sim.server().respond(id, body_for(id, size), now)
            }
            Some((Reply::Error { code, .. }, _)) => {
                self.sim
                    .server()
                    .respond_error(id, ErrorCode(code), "scenario error", now)
            }
            _ => return Ok(()),
        };
        let served = self.served.entry(id).or_default();
        match result {
            // A response too large for the client goes out as ERROR.
            Ok(()) | Err(SendError::TooLarge { .. }) => {
                check!(
                    self,
                    !served.abandoned,
                    "respond({id}) accepted after RequestAbandoned"
                );
                served.answered = true;
            }
            Err(SendError::UnknownRequest(_) | SendError::Closed) => {
                check!(
                    self,
                    served.abandoned || self.closed[1],
                    "respond({id}) refused though neither abandoned nor closed: {result:?}"
                );
            }
            Err(e) => check!(self, false, "respond({id}) refused with {e:?}"),
        }
        Ok(())
    }

    fn handle_events(&mut self) -> Result<(), TestCaseError> {
        for side in [Side::Client, Side::Server] {
            for event in self.sim.take_events(side) {
                self.on_event(side, event)?;
            }
        }
        Ok(())
    }

    fn on_event(&mut self, side: Side, event: Event) -> Result<(), TestCaseError> {
        let i = side_index(side);
        let now = self.sim.now();
        check!(
            self,
            !self.closed[i],
            "{side:?} reported {event:?} after Closed"
        );
        match event {
            Event::Connected { .. } => {
                check!(self, !self.connected[i], "{side:?} connected twice");
                self.connected[i] = true;
            }
            Event::Closed { error } => {
                self.closed[i] = true;
                self.close_errors[i].clone_from(&error);
                self.closed_unconnected[i] = !self.connected[i];
                // Between two correct sides, a connection error is one a
                // side was told to close with, or one of its timers.
                let (who, code) = match &error {
                    Some(ConnectionError::Local { code, .. }) => (side, *code),
                    Some(ConnectionError::Remote { code, .. }) => (side.peer(), *code),
                    _ => return Ok(()),
                };
                let expected = self.close_codes[side_index(who)].contains(&code)
                    || self.timer_may_fire(who, code);
                check!(
                    self,
                    expected || !self.sc.strict,
                    "{side:?} closed with {error:?}, which {who:?} had no reason to send"
                );
            }
            Event::GoAway { code, .. } => {
                // A graceful GOAWAY may be followed by one with an error code
                // (a connection error while draining), nothing else.
                let earlier = &self.goaways[i];
                let fine = match earlier[..] {
                    [] => true,
                    [first] => first.is_graceful() && !code.is_graceful(),
                    _ => false,
                };
                check!(
                    self,
                    fine || !self.sc.strict,
                    "{side:?} reported GOAWAY {code:?} after {earlier:?}"
                );
                self.goaways[i].push(code);
            }
            Event::Notify { body } => {
                check!(
                    self,
                    self.connected[i],
                    "{side:?} got NOTIFY before Connected"
                );
                let k = self.received_notifies[i].len();
                if self.sc.strict {
                    let expected = self.notified[1 - i].get(k);
                    check!(
                        self,
                        expected == Some(&body),
                        "{side:?}'s notification #{k} ({} bytes) is not what was sent",
                        body.len()
                    );
                }
                self.received_notifies[i].push(body);
            }
            Event::Pong { .. } => {}
            Event::Request { id, body, deadline } => {
                check!(self, side == Side::Server, "client got Request {id}");
                check!(self, self.connected[i], "Request {id} before Connected");
                let served = self.served.entry(id).or_default();
                check!(self, !served.delivered, "Request {id} delivered twice");
                served.delivered = true;
                if self.sc.strict {
                    let Some(sent) = self.sent.get(&id) else {
                        check!(self, false, "Request {id} was never sent");
                        unreachable!()
                    };
                    check!(
                        self,
                        body == body_for(id, sent.size),
                        "Request {id} body differs: got {} bytes, sent {}",
                        body.len(),
                        sent.size
                    );
                    check!(
                        self,
                        deadline.is_some() == sent.timeout.is_some(),
                        "Request {id} deadline {deadline:?} for timeout {:?}",
                        sent.timeout
                    );
                }
                let delay = match self.sent.get(&id).map(|s| s.reply) {
                    Some(Reply::Echo { delay_ms } | Reply::Error { delay_ms, .. }) => delay_ms,
                    _ => return Ok(()),
                };
                self.schedule(now + Duration::from_millis(delay), Due::Answer(id));
            }
            Event::RequestAbandoned { id, reason } => {
                check!(
                    self,
                    side == Side::Server,
                    "client got RequestAbandoned {id}"
                );
                let served = self.served.entry(id).or_default();
                check!(self, !served.abandoned, "Request {id} abandoned twice");
                check!(
                    self,
                    !served.answered,
                    "Request {id} abandoned after it was answered"
                );
                served.abandoned = true;
                if self.sc.strict {
                    let sent = self.sent.get(&id);
                    let fits = match reason {
                        // Only a cancel or a client-side timeout sends CANCEL.
                        AbandonReason::Cancelled => sent.is_some_and(|s| {
                            matches!(
                                s.outcome,
                                Some(Err(RequestError::Cancelled | RequestError::TimedOut))
                            )
                        }),
                        AbandonReason::DeadlineExceeded => {
                            sent.is_some_and(|s| s.timeout.is_some())
                        }
                        AbandonReason::ConnectionClosed => self.sim.connection(side).is_closed(),
                        // A reason these properties do not know fits nothing.
                        _ => false,
                    };
                    check!(
                        self,
                        fits,
                        "Request {id} abandoned ({reason:?}) for no reason: {sent:?}"
                    );
                }
            }
            Event::Response { id, body } => {
                check!(self, side == Side::Client, "server got Response {id}");
                let strict = self.sc.strict;
                let Some(sent) = self.sent.get_mut(&id) else {
                    check!(self, false, "Response for unknown request {id}");
                    unreachable!()
                };
                let size = sent.size;
                let first = sent.outcome.replace(Ok(())).is_none();
                let reply = sent.reply;
                let cancelled = sent.cancelled;
                check!(self, first, "request {id} got a second outcome: Response");
                check!(
                    self,
                    !cancelled,
                    "request {id} answered after cancel() was accepted"
                );
                let answered = self.served.get(&id).is_some_and(|s| s.answered);
                check!(
                    self,
                    answered || !strict,
                    "Response to {id}, which the server never answered"
                );
                if strict {
                    check!(
                        self,
                        matches!(reply, Reply::Echo { .. }),
                        "Response to {id} whose reply is {reply:?}"
                    );
                    check!(
                        self,
                        body == body_for(id, size),
                        "Response {id} body differs: got {} bytes, sent {size}",
                        body.len()
                    );
                }
            }
            Event::RequestFailed { id, error } => {
                check!(self, side == Side::Client, "server got RequestFailed {id}");
                let strict = self.sc.strict;
                let server_limit = self.sc.server.settings.max_message_size as usize;
                let client_limit = self.sc.client.settings.max_message_size as usize;
                let Some(sent) = self.sent.get_mut(&id) else {
                    check!(
                        self,
                        false,
                        "RequestFailed for unknown request {id}: {error:?}"
                    );
                    unreachable!()
                };
                let first = sent.outcome.replace(Err(error.clone())).is_none();
                let (size, reply, cancelled, timeout, sent_at) = (
                    sent.size,
                    sent.reply,
                    sent.cancelled,
                    sent.timeout,
                    sent.sent_at,
                );
                check!(self, first, "request {id} got a second outcome: {error:?}");
                let plausible = match &error {
                    RequestError::Cancelled => cancelled,
                    RequestError::TimedOut => timeout.is_some_and(|t| now >= sent_at + t),
                    RequestError::TooLarge { .. } => size > server_limit,
                    RequestError::Server { code, .. } => {
                        !strict
                            || matches!(reply, Reply::Error { code: c, .. } if ErrorCode(c) == *code)
                            || (*code == ErrorCode::DEADLINE_EXCEEDED && timeout.is_some())
                            || (*code == ErrorCode::MESSAGE_TOO_LARGE && size > client_limit)
                    }
                    RequestError::NotProcessed | RequestError::Connection(_) => true,
                    // A failure these properties do not know cannot be judged.
                    _ => false,
                };
                check!(
                    self,
                    !cancelled || error == RequestError::Cancelled,
                    "cancelled {id} failed with {error:?}"
                );
                check!(
                    self,
                    plausible,
                    "request {id} failed with {error:?} (size {size}, reply {reply:?}, timeout {timeout:?})"
                );
            }
            other => check!(
                self,
                false,
                "{side:?} reported {other:?}, an event these properties do not know"
            ),
        }
        Ok(())
    }

    /// Whether `side` may close with `code` by one of its own timers: only
    /// when the timer is shorter than a round trip, or when the network can
    /// hold data back (a bounded pipe: back-pressure can stall the peer).
    fn timer_may_fire(&self, side: Side, code: ErrorCode) -> bool {
        let config = if side == Side::Client {
            &self.sc.client
        } else {
            &self.sc.server
        };
        let net = &self.sc.net;
        let round_trip = Duration::from_micros(2 * (net.latency_us + net.jitter_us) + 1_000);
        let timer = match code {
            ErrorCode::HANDSHAKE_TIMEOUT => config.handshake_timeout,
            ErrorCode::KEEPALIVE_TIMEOUT => config.keepalive_timeout,
            _ => return false,
        };
        net.pipe_capacity != usize::MAX || timer <= round_trip
    }

    fn check_end(&self) -> Result<(), TestCaseError> {
        // Every request ends in exactly one outcome.
        let open: Vec<&RequestId> = self
            .sent
            .iter()
            .filter(|(_, s)| s.outcome.is_none())
            .map(|(id, _)| id)
            .collect();
        check!(
            self,
            open.is_empty(),
            "requests without an outcome at quiescence: {open:?}"
        );
        // Closing always completes (gracefully, by the drain timeout, or by
        // the idle timeout when the scenario leaves it to the timers).
        let timers_close = self.sc.final_close_ms.is_some()
            || [&self.sc.client, &self.sc.server]
                .iter()
                .any(|c| c.settings.idle_timeout_ms != 0);
        if timers_close {
            check!(
                self,
                self.closed == [true, true],
                "not both closed at quiescence: {:?}",
                self.closed
            );
            check!(
                self,
                self.sim.is_finished(),
                "output left unwritten at quiescence"
            );
        }
        // Every way of closing sends GOAWAY first, except a client's graceful
        // close before WELCOME (it sends nothing but HELLO then); a forced
        // drain leaves requests behind. Between two correct sides, only
        // those lose the connection.
        let lost = self.close_errors.contains(&Some(ConnectionError::Lost));
        let forced = self
            .close_errors
            .contains(&Some(ConnectionError::DrainTimeout));
        let early = self.closed_unconnected[0] && self.close_errors[0].is_none();
        check!(
            self,
            !lost || forced || early || self.disconnected || !self.sc.strict,
            "connection lost without a forced or early close: {:?}",
            self.close_errors
        );
        // "Not processed" means safe to retry: the server's application
        // never saw the request (unless it answered SHUTTING_DOWN itself).
        for (id, s) in &self.sent {
            let not_processed = matches!(s.outcome, Some(Err(RequestError::NotProcessed)));
            let app_refused = matches!(s.reply, Reply::Error { code: 0x000B, .. });
            let delivered = self.served.get(id).is_some_and(|s| s.delivered);
            check!(
                self,
                !(self.sc.strict && not_processed && delivered && !app_refused),
                "request {id} reported not processed, but the server's application got it"
            );
        }
        // Every request the server saw is answered or abandoned.
        for (id, s) in &self.served {
            check!(
                self,
                !s.delivered || s.answered || s.abandoned,
                "request {id} delivered to the server but neither answered nor abandoned"
            );
        }
        for i in 0..2 {
            let k = self.received_notifies[i].len();
            check!(
                self,
                k <= self.notified[1 - i].len() || !self.sc.strict,
                "extra notifications"
            );
        }
        self.check_stats()
    }

    /// The core's own counters agree with the run: with the pipes' byte
    /// counts, with the outcomes the harness saw, and with each other.
    fn check_stats(&self) -> Result<(), TestCaseError> {
        for side in [Side::Client, Side::Server] {
            let i = side_index(side);
            let conn = self.sim.connection(side);
            let st = conn.stats();
            let peer = self.sim.connection(side.peer()).stats();
            // Every request on the wire is outstanding or ended one way.
            let ended = st.responses + st.failed + st.cancelled + st.expired + st.interrupted;
            check!(
                self,
                st.requests == ended + conn.outstanding() as u64,
                "{side:?}: {} requests, {ended} ended, {} outstanding: {st:?}",
                st.requests,
                conn.outstanding()
            );
            // Bytes in are what was read from the peer's pipe (injected
            // garbage included).
            let (_, read) = self.sim.pipe(side.peer()).totals();
            check!(
                self,
                st.bytes_received == read,
                "{side:?} counted {} bytes in, its pipe handed it {read}",
                st.bytes_received
            );
            // A server's ERROR answers are its failed and expired requests.
            if side == Side::Server {
                check!(
                    self,
                    st.errors_sent.total() == st.failed + st.expired,
                    "server: {} ERRORs sent for {} failed and {} expired",
                    st.errors_sent.total(),
                    st.failed,
                    st.expired
                );
            } else {
                check!(
                    self,
                    st.failed <= st.errors_received.total(),
                    "client: {} failed for {} ERRORs received",
                    st.failed,
                    st.errors_received.total()
                );
                let ok = self
                    .sent
                    .values()
                    .filter(|s| s.outcome == Some(Ok(())))
                    .count() as u64;
                check!(
                    self,
                    st.responses == ok,
                    "client counted {} responses, {ok} requests succeeded",
                    st.responses
                );
            }
            if !self.sc.strict {
                continue;
            }
            // Bytes out are at least what this side's pipe took (a broken
            // one drops them).
            let (written, _) = self.sim.pipe(side).totals();
            check!(
                self,
                st.bytes_sent >= written,
                "{side:?} counted {} bytes out, its pipe took {written}",
                st.bytes_sent
            );
            // Nothing arrives that the peer did not send.
            check!(
                self,
                st.frames_received <= peer.frames_sent
                    && st.bytes_received <= peer.bytes_sent
                    && st.pings_received <= peer.pings_sent
                    && st.notifications_received <= peer.notifications_sent
                    && st.goaways_received.total() <= peer.goaways_sent.total()
                    && st.errors_received.total() <= peer.errors_sent.total(),
                "{side:?} received more than its peer sent: {st:?} from {peer:?}"
            );
            check!(
                self,
                st.notifications_received == self.received_notifies[i].len() as u64
                    && st.notifications_sent == self.notified[i].len() as u64,
                "{side:?}: notifications {}/{} counted, {}/{} seen",
                st.notifications_sent,
                st.notifications_received,
                self.notified[i].len(),
                self.received_notifies[i].len()
            );
            check!(
                self,
                st.goaways_received.total() == self.goaways[i].len() as u64,
                "{side:?}: GOAWAYs {:?} counted, {:?} reported",
                st.goaways_received,
                self.goaways[i]
            );
            check!(
                self,
                st.goaways_sent.total() <= 2,
                "{side:?} sent GOAWAYs {:?}",
                st.goaways_sent
            );
        }
        let (client, server) = (
            self.sim.connection(Side::Client).stats(),
            self.sim.connection(Side::Server).stats(),
        );
        check!(
            self,
            server.requests <= client.requests || !self.sc.strict,
            "the server counted {} requests, the client sent {}",
            server.requests,
            client.requests
        );
        Ok(())
    }
}

fn run_scenario(sc: &Scenario) -> Result<(), TestCaseError> {
    Run::new(sc).run().map(|_| ())
}

// ---- chunking invariance -------------------------------------------------

/// What a client does, to produce the byte stream a server is fed.
#[derive(Debug, Clone)]
enum ClientOp {
    Request {
        size: usize,
        timeout_ms: Option<u32>,
    },
    Cancel {
        pick: usize,
    },
    Notify {
        size: usize,
    },
    Ping,
    Close {
        code: u16,
    },
    /// A raw frame of any type, flags and id.
    RawFrame {
        ty: u8,
        flags: u8,
        id: u32,
        payload: Vec<u8>,
    },
    /// Random bytes.
    Junk(Vec<u8>),
}

#[derive(Debug, Clone)]
struct ChunkCase {
    seed: u64,
    client: Config,
    server: Config,
    ops: Vec<ClientOp>,
    /// Flip one byte of the stream at this position (modulo its length).
    flip: Option<(usize, u8)>,
    /// Chunk sizes: the stream is cut into pieces of these sizes, cycling.
    cuts: Vec<usize>,
}

fn client_op_strategy() -> impl Strategy<Value = ClientOp> {
    prop_oneof![
        10 => (0..20_000usize, prop::option::weighted(0.3, 0..10_000u32))
            .prop_map(|(size, timeout_ms)| ClientOp::Request { size, timeout_ms }),
        2 => any::<usize>().prop_map(|pick| ClientOp::Cancel { pick }),
        2 => (0..2_000usize).prop_map(|size| ClientOp::Notify { size }),
        1 => Just(ClientOp::Ping),
        1 => prop_oneof![Just(0u16), 0..0x0010u16].prop_map(|code| ClientOp::Close { code }),
        1 => (1..=0x0Bu8, any::<u8>(), prop_oneof![Just(0u32), 0..20u32, any::<u32>()],
              prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(ty, flags, id, payload)| ClientOp::RawFrame { ty, flags, id, payload }),
        1 => prop::collection::vec(any::<u8>(), 1..30).prop_map(ClientOp::Junk),
    ]
}

fn chunk_case_strategy() -> impl Strategy<Value = ChunkCase> {
    (
        any::<u64>(),
        config_strategy(),
        config_strategy(),
        prop::collection::vec(client_op_strategy(), 0..12),
        prop::option::weighted(0.2, (any::<usize>(), 1..=255u8)),
        prop::collection::vec(prop_oneof![1..4usize, 1..64usize, 1..20_000usize], 1..8),
    )
        .prop_map(|(seed, client, server, ops, flip, cuts)| ChunkCase {
            seed,
            client,
            server,
            ops,
            flip,
            cuts,
        })
}

fn drain_output(conn: &mut Connection) -> Vec<u8> {
    let out: Vec<u8> = conn.transmit().flatten().copied().collect();
    conn.advance_transmit(out.len());
    out
}

fn drain_events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// The bytes a real client sends for `case.ops`, after a real handshake.
fn client_stream(case: &ChunkCase, now: Instant) -> Vec<u8> {
    let mut client = Connection::client(case.client.clone(), now).unwrap();
    let mut helper = Connection::server(case.server.clone(), now).unwrap();
    let mut stream = drain_output(&mut client);
    helper.recv(&stream, now);
    client.recv(&drain_output(&mut helper), now);
    let mut ids: Vec<RequestId> = Vec::new();
    for op in &case.ops {
        match op {
            ClientOp::Request { size, timeout_ms } => {
                let next = ids.last().map_or(RequestId::FIRST, |id| id.next().unwrap());
                let timeout = timeout_ms.map(|ms| Duration::from_millis(ms.into()));
                if let Ok(id) = client.send_request(body_for(next, *size), timeout, now) {
                    ids.push(id);
                }
            }
            ClientOp::Cancel { pick } => {
                if !ids.is_empty() {
                    let _ = client.cancel(ids[pick % ids.len()], now);
                }
            }
            ClientOp::Notify { size } => {
                let _ = client.notify(notify_body(0, *size), now);
            }
            ClientOp::Ping => {
                let _ = client.ping(now);
            }
            ClientOp::Close { code } => client.close(ErrorCode(*code), "bye", now),
            ClientOp::RawFrame {
                ty,
                flags,
                id,
                payload,
            } => {
                stream.extend(drain_output(&mut client));
                let mut raw = BytesMut::new();
                raw.put_u32(payload.len() as u32);
                raw.put_u8(*ty);
                raw.put_u8(*flags);
                raw.put_u32(*id);
                raw.put_slice(payload);
                stream.extend_from_slice(&raw);
            }
            ClientOp::Junk(bytes) => {
                stream.extend(drain_output(&mut client));
                stream.extend_from_slice(bytes);
            }
        }
        stream.extend(drain_output(&mut client));
    }
    if let Some((at, xor)) = case.flip {
        let len = stream.len();
        stream[at % len] ^= xor;
    }
    stream
}

/// Feeds `stream` to a fresh server in the pieces `cuts` gives (`None`: all
/// at once), through the three receive paths; then answers every request,
/// lets every timer run out and ends the stream. Returns the events and the
/// output of each of those phases.
fn feed_server(
    case: &ChunkCase,
    stream: &[u8],
    cuts: Option<&[usize]>,
) -> Vec<(Vec<Event>, Vec<u8>)> {
    let now = Instant::from_millis(7);
    let mut server = Connection::server(case.server.clone(), now).unwrap();
    let mut phases = Vec::new();
    match cuts {
        None => server.recv(stream, now),
        Some(cuts) => {
            let mut rng = Rng::new(case.seed);
            let mut rest = stream;
            let mut k = 0;
            while !rest.is_empty() {
                let n = cuts[k % cuts.len()].clamp(1, rest.len());
                k += 1;
                let (piece, tail) = rest.split_at(n);
                rest = tail;
                match rng.below(3) {
                    0 => server.recv(piece, now),
                    1 => {
                        let mut piece = piece;
                        while !piece.is_empty() {
                            let space = server.recv_space();
                            let m = space.len().min(piece.len());
                            space[..m].copy_from_slice(&piece[..m]);
                            server.recv_commit(m, now);
                            piece = &piece[m..];
                        }
                    }
                    _ => {
                        server.recv_buffer().extend_from_slice(piece);
                        server.handle_input(now);
                    }
                }
                if rng.ratio(1, 8) {
                    server.handle_input(now); // harmless without new bytes
                }
            }
        }
    }
    let events = drain_events(&mut server);
    phases.push((events.clone(), drain_output(&mut server)));
    for event in &events {
        if let Event::Request { id, body, .. } = event {
            let _ = server.respond(*id, body.clone(), now);
        }
    }
    phases.push((drain_events(&mut server), drain_output(&mut server)));
    let later = now + Duration::from_secs(3_600);
    server.handle_timeout(later);
    phases.push((drain_events(&mut server), drain_output(&mut server)));
    server.recv_eof(later);
    phases.push((drain_events(&mut server), drain_output(&mut server)));
    phases
}

fn check_chunking(case: &ChunkCase) -> Result<(), TestCaseError> {
    let stream = client_stream(case, Instant::from_millis(7));
    let whole = feed_server(case, &stream, None);
    let pieces = feed_server(case, &stream, Some(&case.cuts));
    for (phase, (a, b)) in whole.iter().zip(&pieces).enumerate() {
        prop_assert_eq!(
            &a.0,
            &b.0,
            "seed {:#x}: events differ in phase {}",
            case.seed,
            phase
        );
        prop_assert!(
            a.1 == b.1,
            "seed {:#x}: output bytes differ in phase {}",
            case.seed,
            phase
        );
    }
    Ok(())
}

// ---- the properties --------------------------------------------------------

proptest! {
    #![proptest_config(proptest_config(CASES_OUTCOMES))]

    /// Every request ends in exactly one outcome, of a kind that fits what
    /// happened to it (cancelled, timed out, server error, not processed,
    /// connection), and the run always reaches quiescence with both sides
    /// closed.
    #[test]
    fn every_request_has_exactly_one_outcome(sc in scenario_strategy(4_096, 16, false)) {
        run_scenario(&sc)?;
    }
}

proptest! {
    #![proptest_config(proptest_config(CASES_BODIES))]

    /// Bodies up to ~200 KiB arrive intact both ways, whatever the frame
    /// size, fragmentation and write sizes.
    #[test]
    fn bodies_arrive_intact(
        seed in any::<u64>(),
        net in net_strategy(),
        frames in [prop_oneof![1_024..=2_048u32, 1_024..=70_000u32], prop_oneof![1_024..=2_048u32, 1_024..=70_000u32]],
        read_chunks in [prop_oneof![Just(8_192usize), 256..70_000usize], prop_oneof![Just(8_192usize), 256..70_000usize]],
        sizes in prop::collection::vec(prop_oneof![0..100usize, 0..200 * 1024usize], 1..4),
    ) {
        // Enough fragmentation to split bodies many times, without making a
        // 200 KiB body take hundreds of thousands of steps.
        let net = Net { max_fragment: net.max_fragment.max(256), max_write: net.max_write.max(256), ..net };
        let config = |i: usize| Config {
            settings: Settings { max_frame_size: frames[i], ..Settings::default() },
            read_chunk: read_chunks[i],
            ..Config::default()
        };
        let ops = sizes
            .iter()
            .map(|&size| (0, Op::Request { size, timeout_ms: None, reply: Reply::Echo { delay_ms: 0 } }))
            .collect();
        let sc = Scenario {
            seed,
            net,
            client: config(0),
            server: config(1),
            ops,
            final_close_ms: None,
            strict: true,
        };
        let run = Run::new(&sc).run()?;
        for (id, sent) in &run.sent {
            prop_assert!(
                sent.outcome == Some(Ok(())),
                "seed {:#x}: request {} of {} bytes ended with {:?}", seed, id, sent.size, sent.outcome
            );
        }
    }
}

proptest! {
    #![proptest_config(proptest_config(CASES_CHUNKING))]

    /// Feeding a server the same bytes cut at arbitrary points, through any
    /// of the receive paths, gives the same events and the same output.
    #[test]
    fn server_is_chunking_invariant(case in chunk_case_strategy()) {
        check_chunking(&case)?;
    }
}

proptest! {
    #![proptest_config(proptest_config(CASES_CHAOS))]

    /// Random scenarios with deadlines, cancels, notifications, server
    /// errors, closes of every kind, disconnects, garbage on the wire, tiny
    /// limits and hostile network settings: nothing panics, and every
    /// request still ends in exactly one outcome.
    #[test]
    fn chaos_never_panics(sc in scenario_strategy(20_000, 24, true)) {
        run_scenario(&sc)?;
    }
}

// ---- the harness itself ----------------------------------------------------

/// The same configuration gives the same run, step for step.
#[test]
fn runs_are_reproducible_from_the_seed() {
    let trace = |seed| {
        let mut sim = Sim::new(SimConfig {
            seed,
            echo: true,
            trace: true,
            max_fragment: 100,
            jitter: Duration::from_millis(3),
            ..SimConfig::default()
        })
        .unwrap();
        let now = sim.now();
        for size in [0, 10, 5_000, 70_000] {
            sim.client()
                .send_request(body_for(RequestId::new(1), size), None, now)
                .unwrap();
        }
        sim.run_until_idle(100_000).unwrap();
        (sim.trace().to_vec(), sim.take_events(Side::Client))
    };
    assert_eq!(trace(5), trace(5));
    assert_ne!(trace(5).0, trace(6).0);
}

/// A pipe that holds 4 KiB per millisecond of latency: the client's output
/// backs up in the pipe, then in the client — which keeps reading all the
/// while, since it owes the server nothing — and drains as the server reads.
#[test]
fn back_pressure_holds_the_writer() {
    let mut sim = Sim::new(SimConfig {
        pipe_capacity: 4_096,
        client: Config {
            send_high_water: 8_192,
            ..Config::default()
        },
        ..SimConfig::default()
    })
    .unwrap();
    sim.run_for(Duration::from_millis(10), 1_000).unwrap();
    let now = sim.now();
    for _ in 0..10 {
        sim.client()
            .send_request(body_for(RequestId::new(1), 10_000), None, now)
            .unwrap();
    }
    sim.run_for(Duration::from_millis(5), 10_000).unwrap();
    assert_eq!(sim.pipe(Side::Client).buffered(), 4_096);
    assert!(sim.connection(Side::Client).transmit_len() > 8_192);
    assert!(sim.connection(Side::Client).wants_read());
    let requests = |sim: &Sim| {
        sim.events(Side::Server)
            .iter()
            .filter(|e| matches!(e, Event::Request { .. }))
            .count()
    };
    sim.run_until(10_000, |sim| requests(sim) == 10).unwrap();
    // About 100 KB at 4 KiB a millisecond.
    assert!(sim.now() > Instant::from_millis(30));
    assert!(sim.connection(Side::Client).wants_read());
}

/// Two correct peers must not deadlock on back-pressure: a client with more
/// than `send_high_water` of its own request bodies still to send keeps
/// reading responses (it owes the server nothing but PONGs), so the echo
/// server, whose responses pile up past its own high-water mark, drains.
/// Before that rule both sides stopped reading once the 64 KiB socket
/// buffers filled, until keepalive killed the connection 25 s later.
#[test]
fn back_pressure_does_not_deadlock_two_correct_peers() {
    let mut sim = Sim::new(SimConfig {
        seed: 0,
        echo: true,
        pipe_capacity: 64 * 1024,
        ..SimConfig::default()
    })
    .unwrap();
    let now = sim.now();
    for id in 1..=2 {
        sim.client()
            .send_request(body_for(RequestId::new(id), 400_000), None, now)
            .unwrap();
    }
    let outcomes = |sim: &Sim| {
        let events = sim.events(Side::Client).iter();
        events
            .filter_map(|e| match e {
                Event::Response { id, .. } => Some((*id, None)),
                Event::RequestFailed { id, error } => Some((*id, Some(error.clone()))),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    sim.run_until(100_000, |sim| outcomes(sim).len() == 2)
        .unwrap();
    assert_eq!(
        outcomes(&sim),
        [(RequestId::new(1), None), (RequestId::new(2), None)],
        "at {:?}",
        sim.now()
    );
}

/// `run_until_time` stops exactly there, and time never runs backwards.
#[test]
fn the_clock_stops_where_asked() {
    let mut sim = Sim::new(SimConfig {
        latency: Duration::from_millis(50),
        ..SimConfig::default()
    })
    .unwrap();
    sim.run_until_time(Instant::from_millis(75), 1_000).unwrap();
    assert_eq!(sim.now(), Instant::from_millis(75));
    assert!(sim.connection(Side::Server).is_established());
    assert!(!sim.connection(Side::Client).is_established());
    sim.run_for(Duration::from_millis(25), 1_000).unwrap();
    assert!(sim.connection(Side::Client).is_established());
    let mut last = sim.now();
    while sim.step() != Step::Idle {
        assert!(sim.now() >= last);
        last = sim.now();
    }
    assert!(sim.is_finished());
}

/// A reset ends every outstanding request with a connection error.
#[test]
fn disconnect_fails_outstanding_requests() {
    let mut sim = Sim::new(SimConfig::default()).unwrap();
    let now = sim.now();
    let id = sim
        .client()
        .send_request(Bytes::from_static(b"x"), None, now)
        .unwrap();
    sim.run_for(Duration::from_millis(5), 1_000).unwrap();
    sim.disconnect();
    let events = sim.take_events(Side::Client);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::RequestFailed { id: i, error: RequestError::Connection(_) } if *i == id
    )));
    assert_eq!(sim.run_until_idle(100).unwrap(), 1);
}

// ---- replays -----------------------------------------------------------------

/// Replays one scenario, e.g. a failure printed by proptest: paste it here.
#[test]
fn replay_a_scenario() {
    let sc = Scenario {
        seed: 1,
        net: Net {
            latency_us: 500,
            jitter_us: 0,
            max_fragment: 3,
            max_write: 7,
            pipe_capacity: 2_048,
        },
        client: Config::default(),
        server: Config {
            settings: Settings {
                max_concurrent_requests: 1,
                ..Settings::default()
            },
            ..Config::default()
        },
        ops: vec![
            (
                0,
                Op::Request {
                    size: 3_000,
                    timeout_ms: Some(50),
                    reply: Reply::Echo { delay_ms: 10 },
                },
            ),
            (
                0,
                Op::Request {
                    size: 10,
                    timeout_ms: None,
                    reply: Reply::Echo { delay_ms: 0 },
                },
            ),
            (1, Op::Cancel { pick: 1 }),
            (
                2,
                Op::Notify {
                    from: Side::Server,
                    size: 5,
                },
            ),
        ],
        final_close_ms: Some(100),
        strict: true,
    };
    run_scenario(&sc).unwrap();
}
