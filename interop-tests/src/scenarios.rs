//! The INTEROP scenario list (`shared/INTEROP.md`), as one client sees it.
//!
//! [`run_all`] runs every scenario with a [`slow_driver::Client`] on any
//! adapter's runtime against a server at `addr`, each bounded by
//! [`SCENARIO_LIMIT`] on the client runtime's own timer; [`run_all_over`]
//! runs the same list over any [`Dial`] (TLS: `crate::tls::TlsDial`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use slow_driver::net::NetStream;
use slow_driver::runtime::{Reactor, RunsClient};
use slow_driver::{Client, Config, Error, ErrorCode};

use crate::util::{join_all, timeout};

/// How long one scenario may take before it counts as failed (hung).
pub const SCENARIO_LIMIT: Duration = Duration::from_secs(10);

/// The scenarios, in the order they run. Every cell of the matrix runs all
/// of them; [`Cell`] reports them by these names.
pub const SCENARIOS: &[&str] = &[
    "echo",
    "empty body",
    "1 MiB echo (MORE both ways)",
    "!bytes 200000 pattern",
    "pipelining 64 concurrent",
    "!sleep 50",
    "request_timeout < !sleep -> TimedOut",
    "!error 300 boom",
    "!notify hi -> notification",
    "client notify -> echoed",
    "unknown command",
    "bad command",
    "!close -> closing, then NotProcessed",
    "graceful client close",
];

/// One scenario's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Its name in [`SCENARIOS`].
    pub name: &'static str,
    /// `Err` says what went wrong.
    pub result: Result<(), String>,
    /// How long it took.
    pub elapsed: Duration,
}

/// One cell of the matrix: a client runtime against a server runtime.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Client runtime.
    pub client: String,
    /// Server runtime.
    pub server: String,
    /// Every scenario's outcome (empty when the cell itself failed).
    pub outcomes: Vec<Outcome>,
    /// A failure of the cell as a whole (a hang, a panic).
    pub error: Option<String>,
    /// How long the cell took.
    pub elapsed: Duration,
}

impl Cell {
    /// Whether everything passed.
    pub fn passed(&self) -> bool {
        self.error.is_none()
            && self.outcomes.len() == SCENARIOS.len()
            && self.outcomes.iter().all(|o| o.result.is_ok())
    }

    /// The failures, one line each.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(e) = &self.error {
            out.push(format!("cell: {e}"));
        }
        for o in &self.outcomes {
            if let Err(e) = &o.result {
                out.push(format!("{}: {e}", o.name));
            }
        }
        out
    }
}

/// Renders the matrix: one row per client runtime, one column per server.
pub fn table(clients: &[&str], servers: &[&str], cells: &[Cell]) -> String {
    let width = servers.iter().map(|s| s.len()).max().unwrap_or(4).max(4) + 2;
    let mut out = String::new();
    let _ = write!(out, "{:<16}", "client \\ server");
    for s in servers {
        let _ = write!(out, "{s:^width$}");
    }
    out.push('\n');
    for c in clients {
        let _ = write!(out, "{c:<16}");
        for s in servers {
            let verdict = match cells.iter().find(|x| x.client == *c && x.server == *s) {
                Some(cell) if cell.passed() => format!("PASS {:.1}s", cell.elapsed.as_secs_f64()),
                Some(_) => "FAIL".to_string(),
                None => "-".to_string(),
            };
            let _ = write!(out, "{verdict:^width$}");
        }
        out.push('\n');
    }
    out
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// How a cell's client reaches the server: every connection the
/// scenarios make (the shared one and `!close`'s own) goes through it, so
/// one scenario list runs over plaintext TCP, TLS, or any other transport.
pub trait Dial<R: Reactor> {
    /// A new connection on `rt` with `config`.
    fn dial(&self, rt: R, config: Config) -> impl Future<Output = Result<Client<R>, Error>>;
}

/// Plaintext TCP to the address.
impl<R> Dial<R> for SocketAddr
where
    R: Reactor
        + RunsClient<
            NetStream<<R as Reactor>::Stream, <R as Reactor>::UnixStream>,
            <R as Reactor>::Mode,
        >,
{
    fn dial(&self, rt: R, config: Config) -> impl Future<Output = Result<Client<R>, Error>> {
        Client::connect_on(rt, *self, config)
    }
}

/// Every scenario reported failed with `why` (a client runtime that cannot
/// make the cell's kind of connection).
pub fn all_failed(why: &str) -> Vec<Outcome> {
    SCENARIOS
        .iter()
        .map(|&name| Outcome {
            name,
            result: Err(why.to_string()),
            elapsed: Duration::ZERO,
        })
        .collect()
}

/// Runs every scenario with a client on `rt` against the server at `addr`.
pub async fn run_all<R>(rt: R, addr: SocketAddr, config: Config) -> Vec<Outcome>
where
    R: Reactor
        + RunsClient<
            NetStream<<R as Reactor>::Stream, <R as Reactor>::UnixStream>,
            <R as Reactor>::Mode,
        >,
{
    run_all_over(rt, &addr, config).await
}

/// Runs every scenario with a client on `rt` connecting through `dial`.
pub async fn run_all_over<R: Reactor, D: Dial<R>>(rt: R, dial: &D, config: Config) -> Vec<Outcome> {
    let client = match timeout(&rt, SCENARIO_LIMIT, dial.dial(rt.clone(), config.clone())).await {
        Some(Ok(c)) => Ok(c),
        Some(Err(e)) => Err(format!("connect: {e}")),
        None => Err("connect: timed out".to_string()),
    };
    let mut outcomes = Vec::new();
    for &name in SCENARIOS {
        let start = Instant::now();
        let result = match &client {
            Err(e) => Err(e.clone()),
            Ok(client) => timeout(
                &rt,
                SCENARIO_LIMIT,
                run_one(name, client, &rt, dial, &config),
            )
            .await
            .unwrap_or_else(|| Err(format!("no outcome within {SCENARIO_LIMIT:?} (hang)"))),
        };
        outcomes.push(Outcome {
            name,
            result,
            elapsed: start.elapsed(),
        });
    }
    outcomes
}

/// The body of the 1 MiB echo: not a command, not the `!bytes` pattern.
pub fn big_body(n: usize) -> Bytes {
    (0..n)
        .map(|i| b'a' + ((i * 7 + i / 1000) % 26) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn expect_server_error(got: Result<Bytes, Error>, code: u16, message: &str) -> Result<(), String> {
    match got {
        Err(Error::Server {
            code: c,
            message: m,
        }) if c == ErrorCode(code) && m == message => Ok(()),
        other => Err(format!(
            "expected Server error {code:#06x} {message:?}, got {other:?}"
        )),
    }
}

async fn run_one<R: Reactor, D: Dial<R>>(
    name: &str,
    client: &Client<R>,
    rt: &R,
    dial: &D,
    config: &Config,
) -> Result<(), String> {
    let req = |body: &'static str| client.request(Bytes::from_static(body.as_bytes()));
    match name {
        "echo" => {
            let got = req("hello, SLOW").await.map_err(|e| e.to_string())?;
            ensure!(got == "hello, SLOW", "echo answered {got:?}");
        }
        "empty body" => {
            let got = client
                .request(Bytes::new())
                .await
                .map_err(|e| e.to_string())?;
            ensure!(got.is_empty(), "empty echo answered {} bytes", got.len());
        }
        "1 MiB echo (MORE both ways)" => {
            // 1 MiB over the default 64 KiB MAX_FRAME_SIZE: at least 16
            // REQUEST frames with MORE one way, 16 RESPONSE frames the other.
            let body = big_body(1 << 20);
            let got = client
                .request(body.clone())
                .await
                .map_err(|e| e.to_string())?;
            ensure!(
                got.len() == body.len(),
                "echoed {} bytes of {}",
                got.len(),
                body.len()
            );
            ensure!(got == body, "echoed body differs");
        }
        "!bytes 200000 pattern" => {
            let got = req("!bytes 200000").await.map_err(|e| e.to_string())?;
            ensure!(got.len() == 200_000, "got {} bytes", got.len());
            if let Some(i) = got
                .iter()
                .enumerate()
                .position(|(i, &b)| b != (i % 251) as u8)
            {
                return Err(format!("byte {i} is {} (expected {})", got[i], i % 251));
            }
        }
        "pipelining 64 concurrent" => {
            // All 64 are sent before any answer is awaited; the 32 sleeps of
            // 200 ms would take 6.4 s one after another.
            let start = Instant::now();
            let bodies: Vec<Bytes> = (0..64)
                .map(|i| {
                    if i % 2 == 0 {
                        Bytes::from(format!("pipelined {i}"))
                    } else {
                        Bytes::from_static(b"!sleep 200")
                    }
                })
                .collect();
            let results = join_all(bodies.iter().map(|b| client.request(b.clone()))).await;
            let elapsed = start.elapsed();
            for (i, (body, got)) in bodies.iter().zip(results).enumerate() {
                let got = got.map_err(|e| format!("request {i}: {e}"))?;
                let want = if i % 2 == 0 {
                    body.clone()
                } else {
                    Bytes::from_static(b"slept 200")
                };
                ensure!(
                    got == want,
                    "request {i} answered {got:?}, expected {want:?}"
                );
            }
            ensure!(
                elapsed < Duration::from_secs(3),
                "64 pipelined requests took {elapsed:?}: not concurrent"
            );
        }
        "!sleep 50" => {
            let start = Instant::now();
            let got = req("!sleep 50").await.map_err(|e| e.to_string())?;
            let elapsed = start.elapsed();
            ensure!(got == "slept 50", "answered {got:?}");
            ensure!(
                elapsed >= Duration::from_millis(50),
                "answered after only {elapsed:?}"
            );
        }
        "request_timeout < !sleep -> TimedOut" => {
            let start = Instant::now();
            let got = client
                .request_timeout(
                    Bytes::from_static(b"!sleep 5000"),
                    Duration::from_millis(100),
                )
                .await;
            let elapsed = start.elapsed();
            ensure!(
                matches!(got, Err(Error::TimedOut)),
                "expected TimedOut, got {got:?}"
            );
            ensure!(
                elapsed >= Duration::from_millis(100) && elapsed < Duration::from_secs(2),
                "timed out after {elapsed:?} (timeout 100 ms)"
            );
            // The connection is still fine afterwards.
            let got = req("after timeout")
                .await
                .map_err(|e| format!("request after the timeout: {e}"))?;
            ensure!(got == "after timeout", "answered {got:?}");
        }
        "!error 300 boom" => expect_server_error(req("!error 300 boom").await, 300, "boom")?,
        "!notify hi -> notification" => {
            let mut notes = client.notifications();
            let got = req("!notify hi").await.map_err(|e| e.to_string())?;
            ensure!(got == "notified", "answered {got:?}");
            let note = timeout(rt, Duration::from_secs(5), notes.recv()).await;
            ensure!(
                matches!(&note, Some(Some(b)) if b == "hi"),
                "expected notification \"hi\", got {note:?}"
            );
        }
        "client notify -> echoed" => {
            let mut notes = client.notifications();
            client
                .notify(Bytes::from_static(b"note from the client"))
                .map_err(|e| e.to_string())?;
            let note = timeout(rt, Duration::from_secs(5), notes.recv()).await;
            ensure!(
                matches!(&note, Some(Some(b)) if b == "note from the client"),
                "expected the echoed notification, got {note:?}"
            );
        }
        "unknown command" => expect_server_error(req("!dance").await, 0x0100, "unknown command")?,
        "bad command" => expect_server_error(req("!sleep abc").await, 0x0100, "bad command")?,
        "!close -> closing, then NotProcessed" => {
            // On a connection of its own: the server closes it.
            let c = dial
                .dial(rt.clone(), config.clone())
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let got = c
                .request(Bytes::from_static(b"!close"))
                .await
                .map_err(|e| e.to_string())?;
            ensure!(got == "closing", "answered {got:?}");
            for i in 0..2 {
                let after = c.request(Bytes::from_static(b"after close")).await;
                ensure!(
                    matches!(&after, Err(e) if matches!(e, Error::NotProcessed) && e.is_retryable()),
                    "request {i} after !close: expected NotProcessed, got {after:?}"
                );
            }
            ensure!(
                c.is_closed(),
                "client does not report the connection closed"
            );
            // The first connection was not affected.
            let got = req("still here")
                .await
                .map_err(|e| format!("other connection: {e}"))?;
            ensure!(got == "still here", "answered {got:?}");
        }
        "graceful client close" => {
            client.close().await.map_err(|e| format!("close: {e}"))?;
            ensure!(client.is_closed(), "not closed after close()");
            let after = req("after close").await;
            ensure!(
                matches!(after, Err(Error::NotProcessed)),
                "request after close(): {after:?}"
            );
        }
        other => return Err(format!("no such scenario {other:?}")),
    }
    Ok(())
}
