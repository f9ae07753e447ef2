//! `slow demo`: every runtime's client against every runtime's server.
//!
//! One INTEROP server per runtime on loopback; then, for each client
//! runtime and each server, a few scenario requests (the cell passes if all
//! do) and a short throughput run. Prints the matrix and the throughput
//! table; succeeds only if every cell passed.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use slow_driver::runtime::Reactor;
use slow_driver::tls::ClientTls;
use slow_driver::{Client, Error, ErrorCode};

use crate::bench::{self, BenchOptions, Limit};
use crate::call::connect;
use crate::certs::DemoPki;
use crate::error::CliError;
use crate::options::ServeOptions;
use crate::runtime::{self, AsyncRuntime, Connects, Job, RuntimeKind, timeout_at};
use crate::server::RunningServer;
use crate::trigger::Countdown;

/// The scenarios every cell runs, by name, in order.
pub const SCENARIOS: [&str; 9] = [
    "echo",
    "large-request",
    "bytes",
    "error",
    "timeout",
    "notify",
    "client-notify",
    "concurrent",
    "close",
];

/// No scenario may take longer than this.
pub(crate) const SCENARIO_LIMIT: Duration = Duration::from_secs(5);
/// The body of the `large-request` scenario: several frames each way.
pub(crate) const LARGE: usize = 200_000;
/// The size of the `bytes` scenario's response.
pub(crate) const BYTES: usize = 70_000;
/// Requests at once in the `concurrent` scenario.
pub(crate) const CONCURRENT: usize = 50;

/// One scenario's result: its name and the failure, if any.
pub type ScenarioResult = (&'static str, Result<(), String>);

/// The throughput run of each cell.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// How long each pair runs.
    pub duration: Duration,
    /// Requests in flight (one connection).
    pub in_flight: usize,
}

impl Default for Throughput {
    fn default() -> Self {
        Throughput {
            duration: Duration::from_millis(300),
            in_flight: 64,
        }
    }
}

/// One client × server pair.
pub struct Cell {
    /// The client's runtime.
    pub client: RuntimeKind,
    /// The server's runtime.
    pub server: RuntimeKind,
    /// The scenarios' results.
    pub scenarios: Vec<ScenarioResult>,
    /// Echo requests per second, or why it could not be measured.
    pub rate: Result<f64, String>,
}

impl Cell {
    /// Whether every scenario passed and the throughput run worked.
    pub fn passed(&self) -> bool {
        self.rate.is_ok()
            && self.scenarios.len() == SCENARIOS.len()
            && self.scenarios.iter().all(|(_, r)| r.is_ok())
    }
}

/// Runs the whole matrix.
pub fn run(runtimes: &[RuntimeKind], throughput: Throughput) -> Result<Vec<Cell>, CliError> {
    run_matrix(runtimes, throughput, None)
}

/// The runtimes of `runtimes` the TLS round runs on: those `slow` runs TLS
/// on ([`RuntimeKind::tls_supported`]; every one but compio).
pub fn tls_runtimes(runtimes: &[RuntimeKind]) -> Vec<RuntimeKind> {
    runtimes
        .iter()
        .copied()
        .filter(|kind| kind.tls_supported().is_ok())
        .collect()
}

/// The matrix again over mutual TLS: every server requires a client
/// certificate of `pki`'s CA, every client presents one and trusts only
/// that CA. `runtimes` as [`tls_runtimes`] leaves them.
pub fn run_tls(
    runtimes: &[RuntimeKind],
    throughput: Throughput,
    pki: &DemoPki,
) -> Result<Vec<Cell>, CliError> {
    run_matrix(runtimes, throughput, Some(pki))
}

fn run_matrix(
    runtimes: &[RuntimeKind],
    throughput: Throughput,
    pki: Option<&DemoPki>,
) -> Result<Vec<Cell>, CliError> {
    let servers = runtimes
        .iter()
        .map(|&kind| {
            let tls = pki.map(|p| p.server.clone());
            RunningServer::start_tls(kind, "127.0.0.1:0", &ServeOptions::default(), None, tls)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tls = pki.map(|p| &p.client);
    let mut cells = Vec::new();
    for &client in runtimes {
        for server in &servers {
            let addr = server.addr().to_string();
            let scenarios = scenarios_tls(client, &addr, tls);
            let options = BenchOptions {
                connections: 1,
                concurrency: throughput.in_flight,
                payload: 64,
                limit: Limit::Duration(throughput.duration),
                tls: tls.cloned(),
                ..BenchOptions::default()
            };
            let rate = match bench::run(client, Some(&addr), &options) {
                Ok(r) if r.errors() == 0 => Ok(r.requests_per_sec()),
                Ok(r) => Err(format!("{} errors in the throughput run", r.errors())),
                Err(e) => Err(e.to_string()),
            };
            cells.push(Cell {
                client,
                server: server.runtime(),
                scenarios,
                rate,
            });
        }
    }
    for server in servers {
        server.stop()?;
    }
    Ok(cells)
}

/// Runs the scenarios with a client of `kind` against `addr`.
pub fn scenarios(kind: RuntimeKind, addr: &str) -> Vec<ScenarioResult> {
    scenarios_tls(kind, addr, None)
}

/// Runs the scenarios with a client of `kind` against `addr`, over TLS
/// with `tls`.
pub fn scenarios_tls(
    kind: RuntimeKind,
    addr: &str,
    tls: Option<&ClientTls>,
) -> Vec<ScenarioResult> {
    let gate = match tls {
        Some(_) => kind.tls_supported(),
        None => Ok(()),
    };
    let result = gate.and_then(|()| match kind {
        RuntimeKind::Custom => Ok(crate::custom::scenarios(addr, tls)),
        RuntimeKind::Compio => crate::compio_rt::scenarios(addr),
        _ => {
            let job = ScenarioJob {
                addr: addr.into(),
                tls: tls.cloned(),
            };
            runtime::block_on(kind, None, job)
        }
    });
    result.unwrap_or_else(|e| vec![("setup", Err(e.to_string()))])
}

/// The matrix and the throughput table, as printed.
pub fn render(runtimes: &[RuntimeKind], cells: &[Cell]) -> String {
    render_round("", runtimes, cells)
}

/// The TLS round's matrix and throughput table, titled so.
pub fn render_tls(runtimes: &[RuntimeKind], cells: &[Cell]) -> String {
    render_round(" over mutual TLS", runtimes, cells)
}

fn render_round(over: &str, runtimes: &[RuntimeKind], cells: &[Cell]) -> String {
    let mut out = String::new();
    let cell =
        |c: RuntimeKind, s: RuntimeKind| cells.iter().find(|x| x.client == c && x.server == s);
    let _ = writeln!(
        out,
        "interop matrix{over}: {} scenarios per cell (client ↓, server →)",
        SCENARIOS.len()
    );
    let _ = write!(out, "{:<12}", "");
    for s in runtimes {
        let _ = write!(out, "{:>12}", s.name());
    }
    out.push('\n');
    for &c in runtimes {
        let _ = write!(out, "{:<12}", c.name());
        for &s in runtimes {
            let mark = match cell(c, s) {
                Some(x) if x.passed() => "PASS".to_string(),
                Some(x) => format!(
                    "FAIL {}/{}",
                    x.scenarios.iter().filter(|(_, r)| r.is_ok()).count(),
                    SCENARIOS.len()
                ),
                None => "-".into(),
            };
            let _ = write!(out, "{mark:>12}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\nthroughput{over}: echo requests/s, 64-byte payload, one connection (client ↓, server →)"
    );
    let _ = write!(out, "{:<12}", "");
    for s in runtimes {
        let _ = write!(out, "{:>12}", s.name());
    }
    out.push('\n');
    for &c in runtimes {
        let _ = write!(out, "{:<12}", c.name());
        for &s in runtimes {
            let rate = match cell(c, s).map(|x| &x.rate) {
                Some(Ok(r)) => format!("{r:.0}"),
                Some(Err(_)) => "error".into(),
                None => "-".into(),
            };
            let _ = write!(out, "{rate:>12}");
        }
        out.push('\n');
    }
    let failures: Vec<String> = cells
        .iter()
        .flat_map(|x| {
            let scen = x.scenarios.iter().filter_map(move |(name, r)| {
                r.as_ref()
                    .err()
                    .map(|why| format!("FAIL {} → {}: {name}: {why}", x.client, x.server))
            });
            let rate = x
                .rate
                .as_ref()
                .err()
                .map(|why| format!("FAIL {} → {}: throughput: {why}", x.client, x.server));
            scen.chain(rate)
        })
        .collect();
    if !failures.is_empty() {
        out.push('\n');
        for f in failures {
            let _ = writeln!(out, "{f}");
        }
    }
    out
}

struct ScenarioJob {
    addr: String,
    tls: Option<ClientTls>,
}

impl Job for ScenarioJob {
    type Output = Vec<ScenarioResult>;

    async fn run<R: AsyncRuntime>(self, rt: R) -> Vec<ScenarioResult> {
        let spawner = rt.clone();
        let spawn = move |request: ConcurrentRequest<R>| spawner.spawn(request.run());
        scenarios_on(rt, &self.addr, self.tls.as_ref(), &spawn).await
    }
}

/// The scenarios with a client on `rt`, a runtime of either kind; `spawn`
/// runs each of the `concurrent` scenario's requests as a task of its own
/// (the runtime's own way: `Send` tasks or local ones).
pub(crate) async fn scenarios_on<R: Connects>(
    rt: R,
    addr: &str,
    tls: Option<&ClientTls>,
    spawn: &impl Fn(ConcurrentRequest<R>),
) -> Vec<ScenarioResult> {
    let client = match connect(&rt, addr, tls, SCENARIO_LIMIT).await {
        Ok(c) => c,
        Err(e) => return vec![("connect", Err(e.to_string()))],
    };
    let mut results = Vec::new();
    for name in SCENARIOS {
        let outcome = timeout_at(
            &rt,
            Instant::now() + SCENARIO_LIMIT,
            scenario(&rt, &client, (addr, tls), name, spawn),
        );
        let outcome = outcome
            .await
            .unwrap_or_else(|| Err(format!("not done within {SCENARIO_LIMIT:?}")));
        results.push((name, outcome));
    }
    let _ = timeout_at(&rt, Instant::now() + Duration::from_secs(2), client.close()).await;
    results
}

/// One request of the `concurrent` scenario, to run as a task of its own.
pub(crate) struct ConcurrentRequest<R: Reactor> {
    client: Client<R>,
    i: usize,
    done: Countdown,
    ok: Arc<AtomicUsize>,
}

impl<R: Reactor> ConcurrentRequest<R> {
    /// Sends it and counts a right echo.
    pub(crate) async fn run(self) {
        let body = format!("concurrent {}", self.i);
        if self
            .client
            .request(body.clone())
            .await
            .is_ok_and(|b| b[..] == *body.as_bytes())
        {
            self.ok.fetch_add(1, Ordering::Relaxed);
        }
        self.done.done();
    }
}

async fn scenario<R: Connects>(
    rt: &R,
    client: &Client<R>,
    (addr, tls): (&str, Option<&ClientTls>),
    name: &str,
    spawn: &impl Fn(ConcurrentRequest<R>),
) -> Result<(), String> {
    match name {
        "echo" => expect_body(client.request("hello").await, b"hello"),
        "large-request" => {
            let body = Bytes::from(vec![b'y'; LARGE]);
            expect_body(client.request(body.clone()).await, &body)
        }
        "bytes" => expect_body(
            client.request(format!("!bytes {BYTES}")).await,
            &slow_interop::pattern(BYTES),
        ),
        "error" => match client.request("!error 300 boom").await {
            Err(Error::Server {
                code: ErrorCode(300),
                message,
            }) if message == "boom" => Ok(()),
            other => Err(format!(
                "expected server error 300 \"boom\", got {}",
                show(&other)
            )),
        },
        "timeout" => {
            let start = Instant::now();
            match client
                .request_timeout("!sleep 2000", Duration::from_millis(50))
                .await
            {
                Err(Error::TimedOut) if start.elapsed() < Duration::from_secs(1) => Ok(()),
                other => Err(format!(
                    "expected a timeout after 50 ms, got {} after {:?}",
                    show(&other),
                    start.elapsed()
                )),
            }
        }
        "notify" => {
            let mut notes = client.notifications();
            expect_body(client.request("!notify hi").await, slow_interop::NOTIFIED)?;
            expect_notification(notes.recv().await, b"hi")
        }
        "client-notify" => {
            let mut notes = client.notifications();
            client.notify("yo").map_err(|e| e.to_string())?;
            expect_notification(notes.recv().await, b"yo")
        }
        "concurrent" => concurrent(client, spawn).await,
        "close" => {
            let own = connect(rt, addr, tls, SCENARIO_LIMIT)
                .await
                .map_err(|e| e.to_string())?;
            expect_body(own.request("!close").await, slow_interop::CLOSING)?;
            match own.request("after close").await {
                Err(_) => Ok(()),
                Ok(_) => Err("a request after `!close` was answered".into()),
            }
        }
        _ => Err(format!("unknown scenario {name}")),
    }
}

async fn concurrent<R: Reactor>(
    client: &Client<R>,
    spawn: &impl Fn(ConcurrentRequest<R>),
) -> Result<(), String> {
    let done = Countdown::new(CONCURRENT);
    let ok = Arc::new(AtomicUsize::new(0));
    for i in 0..CONCURRENT {
        spawn(ConcurrentRequest {
            client: client.clone(),
            i,
            done: done.clone(),
            ok: ok.clone(),
        });
    }
    done.wait().await;
    match ok.load(Ordering::Relaxed) {
        CONCURRENT => Ok(()),
        n => Err(format!("{n} of {CONCURRENT} concurrent requests echoed")),
    }
}

pub(crate) fn expect_body<E: std::fmt::Display>(
    got: Result<Bytes, E>,
    want: &[u8],
) -> Result<(), String> {
    match got {
        Ok(b) if b[..] == *want => Ok(()),
        Ok(b) => Err(format!(
            "expected {} bytes, got a different body of {} bytes",
            want.len(),
            b.len()
        )),
        Err(e) => Err(format!("expected a response, got error: {e}")),
    }
}

pub(crate) fn expect_notification(got: Option<Bytes>, want: &[u8]) -> Result<(), String> {
    match got {
        Some(b) if b[..] == *want => Ok(()),
        Some(b) => Err(format!(
            "notification {:?}, expected {:?}",
            String::from_utf8_lossy(&b),
            String::from_utf8_lossy(want)
        )),
        None => Err("no notification".into()),
    }
}

fn show<E: std::fmt::Display>(r: &Result<Bytes, E>) -> String {
    match r {
        Ok(b) => format!("a response of {} bytes", b.len()),
        Err(e) => format!("error: {e}"),
    }
}
