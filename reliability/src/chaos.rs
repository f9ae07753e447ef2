//! Mixed traffic through the fault proxy, and the check that every request
//! ended in exactly one outcome consistent with what its connection went
//! through.
//!
//! Each proxied connection runs a seeded list of [`Op`]s (echo small and
//! large, `!bytes`, `!sleep`, a deadline that must pass, a cancel by drop,
//! `!notify`, `!error`, a client notification) from a few concurrent tasks;
//! one extra connection goes straight to the server and must see nothing
//! but correct answers throughout. [`verify`] then holds each outcome
//! against the proxy's record of the fault that connection suffered.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use slow_driver::runtime::Runtime;
use slow_driver::{Client, Config, Error, ErrorCode};
use slow_interop::Command;

use crate::proxy::{Direction, Fault, FaultKind, Plan, Proxy, Shaping};
use crate::rng::Rng;
use crate::tasks::Counted;
use crate::wait;

/// How much longer than its deadline a caller may wait for its outcome.
pub const SLACK: Duration = Duration::from_secs(2);
/// The deadline of every request that is not about deadlines: long enough
/// that a clean connection never misses it on a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(8);

/// The client config: short timers, so a stalled connection is noticed in
/// about 3 s (keepalive 1 s + 2 s) rather than waited out.
pub fn client_config() -> Config {
    Config {
        handshake_timeout: Duration::from_secs(2),
        keepalive_interval: Some(Duration::from_secs(1)),
        keepalive_timeout: Duration::from_secs(2),
        drain_timeout: Duration::from_secs(2),
        ..Config::default()
    }
}

/// The server config: the same short timers.
pub fn server_config() -> Config {
    client_config()
}

/// The proxy plan of the chaos runs: connection 0 is shaped but never
/// faulted (it must behave exactly like a clean one); every other gets
/// chaotic shaping and, three times in four, a stall, reset or half-close
/// in a random direction, after a random byte count (one time in eight
/// inside the handshake).
pub fn plan(index: usize, rng: &mut Rng) -> Plan {
    let kinds = [
        None,
        Some(FaultKind::Stall),
        Some(FaultKind::Reset),
        Some(FaultKind::HalfClose),
    ];
    let kind = *rng.pick(&kinds);
    let direction = *rng.pick(&[Direction::Up, Direction::Down]);
    let after = if rng.chance(125) {
        rng.range(0, 80)
    } else {
        rng.range(80, 200_000)
    };
    Plan {
        shaping: Shaping::CHAOTIC,
        fault: kind.filter(|_| index > 0).map(|kind| Fault {
            kind,
            direction,
            after,
        }),
    }
}

/// One request (or notification) of the mix.
#[derive(Debug, Clone)]
pub enum Op {
    /// Echo of this body.
    Echo(Bytes),
    /// `!bytes N`.
    Bytes(u64),
    /// `!sleep MS`, well within its deadline.
    Sleep(u64),
    /// `!sleep MS` with a deadline that passes first: TimedOut or
    /// DEADLINE_EXCEEDED is the right answer.
    PastDeadline {
        /// The sleep.
        ms: u64,
        /// The deadline.
        timeout: Duration,
    },
    /// `!sleep 3000`, the caller's future dropped after `after`.
    CancelByDrop {
        /// When the caller gives up.
        after: Duration,
    },
    /// `!notify TEXT`: the answer `notified`, and a notification.
    Notify(String),
    /// `!error CODE MESSAGE`: that ERROR.
    AppError {
        /// An application code.
        code: u16,
        /// Its message.
        message: String,
    },
    /// A client notification, echoed back by the service.
    ClientNotify(Bytes),
}

impl Op {
    /// A random op; bodies up to `max_body` bytes; `tag` makes texts unique.
    pub fn random(rng: &mut Rng, max_body: usize, tag: &str) -> Op {
        match rng.below(100) {
            0..25 => {
                let n = rng.range(1, 2048) as usize;
                Op::Echo(echo_body(rng, n))
            }
            25..35 => {
                let n = rng.range(2048, max_body as u64) as usize;
                Op::Echo(echo_body(rng, n))
            }
            35..50 => Op::Bytes(rng.range(1, max_body as u64)),
            50..60 => Op::Sleep(rng.range(1, 50)),
            60..70 => Op::PastDeadline {
                ms: 2_000,
                timeout: Duration::from_millis(rng.range(50, 300)),
            },
            70..80 => Op::CancelByDrop {
                after: Duration::from_millis(rng.range(10, 150)),
            },
            80..90 => Op::Notify(format!("n-{tag}")),
            90..95 => Op::AppError {
                code: rng.range(0x100, 0xFFFF) as u16,
                message: format!("e-{tag}"),
            },
            _ => Op::ClientNotify(Bytes::from(format!("c-{tag}"))),
        }
    }

    /// The op's kind, for counts.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Echo(b) if b.len() >= 2048 => "echo-large",
            Op::Echo(_) => "echo",
            Op::Bytes(_) => "bytes",
            Op::Sleep(_) => "sleep",
            Op::PastDeadline { .. } => "past-deadline",
            Op::CancelByDrop { .. } => "cancel-by-drop",
            Op::Notify(_) => "notify",
            Op::AppError { .. } => "error",
            Op::ClientNotify(_) => "client-notify",
        }
    }

    /// How long its caller may wait (before [`SLACK`]).
    pub fn limit(&self) -> Duration {
        match self {
            Op::PastDeadline { timeout, .. } => *timeout,
            Op::CancelByDrop { after } => *after,
            Op::ClientNotify(_) => Duration::ZERO,
            _ => DEADLINE,
        }
    }
}

/// `n` random bytes that do not start with `!`: an echo, never a command.
pub fn echo_body(rng: &mut Rng, n: usize) -> Bytes {
    let mut b = rng.bytes(n.max(1));
    b[0] = b'e';
    Bytes::from(b)
}

/// How one op ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The right answer (for [`Op::PastDeadline`] and [`Op::AppError`], the
    /// right error).
    Correct,
    /// The caller dropped it, as planned.
    Dropped,
    /// A connection-level failure (lost, closed, timed out, not
    /// processed): right only after a fault on its connection.
    Failed(String),
    /// A wrong body or an unexpected error: never right.
    Wrong(String),
    /// A protocol error: never right (the proxy never alters a byte).
    Protocol(String),
    /// No outcome at all in its limit plus slack plus 3 s: never right.
    Hung,
}

impl Outcome {
    /// The outcome's kind, for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Correct => "correct",
            Outcome::Dropped => "dropped",
            Outcome::Failed(_) => "failed",
            Outcome::Wrong(_) => "WRONG",
            Outcome::Protocol(_) => "PROTOCOL",
            Outcome::Hung => "HUNG",
        }
    }
}

/// One op's record.
#[derive(Debug, Clone)]
pub struct Record {
    /// The proxied connection's index, `None` for the direct one.
    pub conn: Option<usize>,
    /// The op's kind.
    pub op: &'static str,
    /// When it was issued.
    pub started: Instant,
    /// When its outcome came.
    pub ended: Instant,
    /// How long the caller could wait (before [`SLACK`]).
    pub limit: Duration,
    /// The outcome.
    pub outcome: Outcome,
}

/// One proxied connection's run.
#[derive(Debug, Clone)]
pub struct ConnReport {
    /// Its index at the proxy.
    pub index: usize,
    /// The handshake's result.
    pub connected: Result<(), String>,
    /// When the connect attempt ended.
    pub connect_ended: Instant,
    /// Its ops.
    pub records: Vec<Record>,
    /// Notifications the server should have sent it.
    pub expected_notes: Vec<Bytes>,
    /// Notifications it got.
    pub got_notes: Vec<Bytes>,
}

/// What a chaos run did.
#[derive(Debug, Clone)]
pub struct ChaosReport {
    /// The proxied connections.
    pub conns: Vec<ConnReport>,
    /// The direct connection's requests (`Err` if it could not connect).
    pub direct: Result<Vec<Record>, String>,
    /// Client tasks still alive once every client was dropped and given
    /// time to close.
    pub client_tasks_left: usize,
}

/// The size of one run.
#[derive(Debug, Clone, Copy)]
pub struct ChaosSize {
    /// The seed of the plans and ops.
    pub seed: u64,
    /// Proxied connections.
    pub connections: usize,
    /// Ops on each.
    pub ops: usize,
    /// Concurrent tasks per connection.
    pub concurrency: usize,
    /// Largest body.
    pub max_body: usize,
}

/// Runs the mix: `size.connections` clients through the proxy at
/// `proxy_addr`, one straight to `direct_addr`; drops every client at the
/// end and waits for their tasks to finish.
pub async fn run<R: Runtime>(
    rt: Counted<R>,
    proxy_addr: SocketAddr,
    direct_addr: SocketAddr,
    size: ChaosSize,
) -> ChaosReport {
    let root = Rng::new(size.seed);
    let stop = Arc::new(AtomicBool::new(false));
    let direct_client = Client::connect_on(rt.clone(), direct_addr, client_config()).await;
    let direct_loop = direct_client.as_ref().ok().map(|c| {
        let (c, rt2, stop) = (c.clone(), rt.clone(), stop.clone());
        wait::spawn(&rt, async move {
            let mut records = Vec::new();
            let mut k = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let op = Op::Echo(Bytes::from(format!("direct-{k}")));
                records.push(run_op(&rt2, &c, None, &op, &Mutex::default()).await);
                wait::sleep(&rt2, Duration::from_millis(50)).await;
                k += 1;
            }
            records
        })
    });

    // Connected one after another, so that client i is the proxy's
    // connection i.
    let mut clients = Vec::new();
    for index in 0..size.connections {
        let c = Client::connect_on(rt.clone(), proxy_addr, client_config()).await;
        clients.push((index, c.map_err(|e| e.to_string()), Instant::now()));
    }

    let mut handles = Vec::new();
    for (index, client, connect_ended) in &clients {
        let Ok(client) = client else { continue };
        let mut rng = root.fork(*index as u64);
        let ops: Vec<Op> = (0..size.ops)
            .map(|k| Op::random(&mut rng, size.max_body, &format!("{index}-{k}")))
            .collect();
        let notes = client.notifications();
        let expected = Arc::new(Mutex::new(Vec::new()));
        let mut workers = Vec::new();
        for w in 0..size.concurrency {
            let mine: Vec<Op> = ops
                .iter()
                .skip(w)
                .step_by(size.concurrency)
                .cloned()
                .collect();
            let (c, rt2, expected, index) = (client.clone(), rt.clone(), expected.clone(), *index);
            workers.push(wait::spawn(&rt, async move {
                let mut records = Vec::new();
                for op in &mine {
                    records.push(run_op(&rt2, &c, Some(index), op, &expected).await);
                }
                records
            }));
        }
        handles.push((*index, *connect_ended, workers, notes, expected));
    }

    let mut conns: Vec<ConnReport> = clients
        .iter()
        .filter(|(_, c, _)| c.is_err())
        .map(|(index, c, connect_ended)| ConnReport {
            index: *index,
            connected: c.as_ref().map(|_| ()).map_err(Clone::clone),
            connect_ended: *connect_ended,
            records: Vec::new(),
            expected_notes: Vec::new(),
            got_notes: Vec::new(),
        })
        .collect();
    for (index, connect_ended, workers, mut notes, expected) in handles {
        let mut records = Vec::new();
        for r in wait::join_all(workers).await {
            records.extend(r.unwrap_or_default());
        }
        let expected_notes = expected.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // Notifications still on their way: wait while some are missing
        // and the connection is open (recv ends once it is closed).
        let mut got_notes = Vec::new();
        let end = Instant::now() + SLACK;
        while got_notes.len() < expected_notes.len() {
            let left = end.saturating_duration_since(Instant::now());
            match wait::timeout(&rt, left, notes.recv()).await {
                Some(Some(n)) => got_notes.push(n),
                Some(None) | None => break,
            }
        }
        // Anything extra (a duplicate would be a bug) that is already here.
        while let Some(Some(n)) = wait::timeout(&rt, Duration::from_millis(20), notes.recv()).await
        {
            got_notes.push(n);
        }
        conns.push(ConnReport {
            index,
            connected: Ok(()),
            connect_ended,
            records,
            expected_notes,
            got_notes,
        });
    }
    conns.sort_by_key(|c| c.index);

    stop.store(true, Ordering::SeqCst);
    let direct = match (direct_client, direct_loop) {
        (Ok(_), Some(h)) => Ok(h.await.unwrap_or_default()),
        (Err(e), _) => Err(e.to_string()),
        (Ok(_), None) => Ok(Vec::new()),
    };
    drop(clients);
    // Every client is dropped: each connection closes (gracefully, or by
    // its drain timeout); none of their tasks may outlive that.
    let end = Instant::now() + Duration::from_secs(15);
    while rt.tasks.live() > 0 && Instant::now() < end {
        wait::sleep(&rt, Duration::from_millis(50)).await;
    }
    ChaosReport {
        conns,
        direct,
        client_tasks_left: rt.tasks.live(),
    }
}

async fn run_op<R: Runtime>(
    rt: &R,
    client: &Client<R>,
    conn: Option<usize>,
    op: &Op,
    expected: &Mutex<Vec<Bytes>>,
) -> Record {
    let started = Instant::now();
    let guard = op.limit() + SLACK + Duration::from_secs(3);
    let outcome = wait::timeout(rt, guard, exec(rt, client, op, expected))
        .await
        .unwrap_or(Outcome::Hung);
    Record {
        conn,
        op: op.name(),
        started,
        ended: Instant::now(),
        limit: op.limit(),
        outcome,
    }
}

async fn exec<R: Runtime>(
    rt: &R,
    client: &Client<R>,
    op: &Op,
    expected: &Mutex<Vec<Bytes>>,
) -> Outcome {
    let expect = |b: Bytes| expected.lock().unwrap_or_else(|p| p.into_inner()).push(b);
    match op {
        Op::Echo(body) => check(client.request_timeout(body.clone(), DEADLINE).await, body),
        Op::Bytes(n) => check(
            client
                .request_timeout(format!("!bytes {n}"), DEADLINE)
                .await,
            &slow_interop::pattern(*n as usize),
        ),
        Op::Sleep(ms) => check(
            client
                .request_timeout(format!("!sleep {ms}"), DEADLINE)
                .await,
            &Command::slept(*ms),
        ),
        Op::PastDeadline { ms, timeout } => {
            match client
                .request_timeout(format!("!sleep {ms}"), *timeout)
                .await
            {
                Err(Error::TimedOut) => Outcome::Correct,
                Err(Error::Server { code, .. }) if code == ErrorCode::DEADLINE_EXCEEDED => {
                    Outcome::Correct
                }
                Ok(b) => Outcome::Wrong(format!("answered {b:?} after its deadline")),
                Err(e) => classify(e),
            }
        }
        Op::CancelByDrop { after } => {
            match wait::timeout(rt, *after, client.request("!sleep 3000")).await {
                None => Outcome::Dropped,
                Some(Ok(b)) => Outcome::Wrong(format!("answered {b:?} before it could")),
                Some(Err(e)) => classify(e),
            }
        }
        Op::Notify(text) => {
            expect(Bytes::from(text.clone()));
            check(
                client
                    .request_timeout(format!("!notify {text}"), DEADLINE)
                    .await,
                &Bytes::from_static(b"notified"),
            )
        }
        Op::AppError { code, message } => {
            match client
                .request_timeout(format!("!error {code} {message}"), DEADLINE)
                .await
            {
                Err(Error::Server {
                    code: c,
                    message: m,
                }) if c.0 == *code && m == *message => Outcome::Correct,
                Ok(b) => Outcome::Wrong(format!("answered {b:?} instead of ERROR {code}")),
                Err(e) => classify(e),
            }
        }
        Op::ClientNotify(body) => match client.notify(body.clone()) {
            Ok(()) => {
                expect(body.clone());
                Outcome::Correct
            }
            Err(e) => classify(e),
        },
    }
}

fn check(result: Result<Bytes, Error>, expected: &Bytes) -> Outcome {
    match result {
        Ok(b) if b == *expected => Outcome::Correct,
        Ok(b) => Outcome::Wrong(format!(
            "a body of {} bytes where {} were expected, or different bytes",
            b.len(),
            expected.len()
        )),
        Err(e) => classify(e),
    }
}

fn classify(e: Error) -> Outcome {
    match e {
        Error::TimedOut
        | Error::ConnectionLost { .. }
        | Error::NotProcessed
        | Error::Closed { .. } => Outcome::Failed(e.to_string()),
        Error::Protocol { .. } => Outcome::Protocol(e.to_string()),
        e => Outcome::Wrong(e.to_string()),
    }
}

/// What [`verify`] found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Ops by outcome kind.
    pub outcomes: BTreeMap<&'static str, usize>,
    /// Ops by kind.
    pub ops: BTreeMap<&'static str, usize>,
    /// Faults that fired, by kind, and how many of them mid-frame.
    pub faults: BTreeMap<String, usize>,
    /// Requests on the direct connection (all must be correct).
    pub direct: usize,
    /// The longest wait beyond a caller's limit.
    pub worst_overrun: Duration,
    /// Everything that broke a rule.
    pub violations: Vec<String>,
}

/// Holds every outcome of `report` against the faults `proxy` recorded:
///
/// - every op ended (no [`Outcome::Hung`]), never with a wrong body, an
///   unexpected error or a protocol error;
/// - a connection-level failure (or a failed connect) only on a connection
///   whose fault fired before the failure was seen;
/// - no caller waited longer than its limit plus [`SLACK`];
/// - notifications: never one that was not sent, never twice; all of them
///   on a connection whose fault never fired;
/// - the direct connection answered everything correctly;
/// - no client task outlived its connection.
pub fn verify(report: &ChaosReport, proxy: &Proxy) -> Verdict {
    let mut v = Verdict::default();
    let fired_before = |index: usize, t: Instant| {
        proxy
            .connection(index)
            .and_then(|c| c.fired)
            .is_some_and(|f| f.at <= t)
    };
    for rec in proxy.connections() {
        if let (Some(f), Some(fired)) = (rec.plan.fault, rec.fired) {
            *v.faults
                .entry(format!("{:?} {:?}", f.kind, f.direction))
                .or_default() += 1;
            if fired.mid_frame {
                *v.faults.entry("(mid-frame)".into()).or_default() += 1;
            }
        }
    }
    for c in &report.conns {
        if let Err(e) = &c.connected {
            *v.outcomes.entry("connect-failed").or_default() += 1;
            if !fired_before(c.index, c.connect_ended) {
                v.violations.push(format!(
                    "conn {}: connect failed without a fault: {e}",
                    c.index
                ));
            }
        }
        for r in &c.records {
            check_record(&mut v, r, |t| fired_before(c.index, t));
        }
        check_notes(
            &mut v,
            c,
            proxy.connection(c.index).and_then(|r| r.fired).is_some(),
        );
    }
    match &report.direct {
        Ok(records) => {
            v.direct = records.len();
            for r in records {
                check_record(&mut v, r, |_| false);
            }
        }
        Err(e) => v
            .violations
            .push(format!("direct connection failed to connect: {e}")),
    }
    if report.client_tasks_left > 0 {
        v.violations.push(format!(
            "{} client tasks still alive after every client was dropped",
            report.client_tasks_left
        ));
    }
    v
}

fn check_record(v: &mut Verdict, r: &Record, fired_before: impl Fn(Instant) -> bool) {
    *v.outcomes.entry(r.outcome.kind()).or_default() += 1;
    *v.ops.entry(r.op).or_default() += 1;
    let who = r.conn.map_or("direct".to_string(), |i| format!("conn {i}"));
    let waited = r.ended - r.started;
    v.worst_overrun = v.worst_overrun.max(waited.saturating_sub(r.limit));
    if waited > r.limit + SLACK {
        v.violations.push(format!(
            "{who}: {} waited {waited:?}, limit {:?} + {SLACK:?}",
            r.op, r.limit
        ));
    }
    match &r.outcome {
        Outcome::Correct | Outcome::Dropped => {}
        Outcome::Failed(_) if fired_before(r.ended) => {}
        Outcome::Failed(e) => v
            .violations
            .push(format!("{who}: {} failed without a fault: {e}", r.op)),
        Outcome::Wrong(e) => v.violations.push(format!("{who}: {} wrong: {e}", r.op)),
        Outcome::Protocol(e) => v
            .violations
            .push(format!("{who}: {} protocol error: {e}", r.op)),
        Outcome::Hung => v.violations.push(format!("{who}: {} never ended", r.op)),
    }
}

fn check_notes(v: &mut Verdict, c: &ConnReport, faulted: bool) {
    let mut left: BTreeMap<&[u8], isize> = BTreeMap::new();
    for n in &c.expected_notes {
        *left.entry(&n[..]).or_default() += 1;
    }
    for n in &c.got_notes {
        let e = left.entry(&n[..]).or_default();
        *e -= 1;
        if *e < 0 {
            v.violations.push(format!(
                "conn {}: notification {n:?} not sent, or twice",
                c.index
            ));
        }
    }
    let missing: isize = left.values().filter(|&&n| n > 0).sum();
    if !faulted && missing > 0 {
        v.violations.push(format!(
            "conn {}: {missing} notifications lost without a fault",
            c.index
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(outcome: Outcome, waited: Duration) -> Record {
        let started = Instant::now();
        Record {
            conn: Some(0),
            op: "echo",
            started,
            ended: started + waited,
            limit: DEADLINE,
            outcome,
        }
    }

    #[test]
    fn verify_flags_every_kind_of_violation() {
        // A proxy that never saw a connection: no fault ever fired.
        let proxy = Proxy::start("127.0.0.1:9".parse().unwrap(), 1, plan).unwrap();
        let ok = Duration::from_millis(5);
        let report = ChaosReport {
            conns: vec![ConnReport {
                index: 0,
                connected: Ok(()),
                connect_ended: Instant::now(),
                records: vec![
                    record(Outcome::Correct, ok),
                    record(Outcome::Dropped, ok),
                    record(Outcome::Failed("connection lost".into()), ok),
                    record(Outcome::Wrong("bad body".into()), ok),
                    record(Outcome::Protocol("PROTOCOL_ERROR".into()), ok),
                    record(Outcome::Hung, ok),
                    record(
                        Outcome::Correct,
                        DEADLINE + SLACK + Duration::from_millis(1),
                    ),
                ],
                expected_notes: vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
                got_notes: vec![Bytes::from_static(b"a"), Bytes::from_static(b"a")],
            }],
            direct: Ok(vec![record(Outcome::Failed("timed out".into()), ok)]),
            client_tasks_left: 1,
        };
        let v = verify(&report, &proxy);
        let all = v.violations.join("\n");
        for expected in [
            "failed without a fault",
            "wrong",
            "protocol error",
            "never ended",
            "waited",
            "not sent, or twice",
            "lost without a fault",
            "client tasks still alive",
        ] {
            assert!(all.contains(expected), "no {expected:?} in:\n{all}");
        }
        assert_eq!(v.violations.len(), 9, "{all}");
    }
}
