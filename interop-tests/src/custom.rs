//! The fourth runtime: `slow-custom-example`'s hand-written mio event loop.
//!
//! It is not an async runtime, so it has its own half of the matrix code:
//! its server runs on its own thread ([`server`]), and its client — a
//! completion-queue [`ClientLoop`] that runs only while the calling thread
//! runs it — goes through the same scenario list ([`run_all`], the same
//! names as [`SCENARIOS`]) with [`LoopClient`], a small blocking wrapper
//! whose every wait is bounded; over TCP ([`run_all`]) or a Unix socket
//! ([`run_all_unix`]), plaintext or TLS ([`tls_server`], [`run_all_tls`]:
//! rustls's sans-IO API inside the same loop).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustls::pki_types::ServerName;
use slow_custom_example::{ClientError, ClientLoop, Completion, ConnError, ConnId};
use slow_driver::tls::ServerTls;
use slow_driver::{Config, ErrorCode};
use slow_proto::{RequestError, RequestId};

use crate::scenarios::{Outcome, SCENARIO_LIMIT, SCENARIOS, big_body};
use crate::servers::{CUSTOM, RunningServer, SHUTDOWN_LIMIT, server_config};
use crate::tls::TlsDial;
use crate::util::with_watchdog;

/// The INTEROP server on the custom event loop, on its own thread.
pub fn server() -> RunningServer {
    let server = slow_custom_example::Server::bind(([127, 0, 0, 1], 0).into(), server_config())
        .expect("bind");
    running(CUSTOM, server.spawn().expect("spawn the server thread"))
}

/// The INTEROP server on the custom event loop over TLS with `tls`'s
/// rustls config (with a client CA: mutual TLS), on its own thread, at
/// `at`: `HOST:PORT` or `unix:PATH`. Its service cannot see the client's
/// certificate (the loop's INTEROP service has no peer identity): rustls's
/// client verifier is the only check on it.
pub fn tls_server(name: &'static str, at: &str, tls: &ServerTls) -> RunningServer {
    let config = tls.config().clone();
    match at.strip_prefix("unix:") {
        Some(path) => {
            let server = slow_custom_example::Server::bind_unix(path, server_config())
                .expect("bind")
                .tls(config);
            running(name, server.spawn().expect("spawn the server thread"))
        }
        None => {
            let addr = at.parse().expect("a TCP address");
            let server = slow_custom_example::Server::bind(addr, server_config())
                .expect("bind")
                .tls(config);
            running(name, server.spawn().expect("spawn the server thread"))
        }
    }
}

/// A running custom server, its shutdown bounded by [`SHUTDOWN_LIMIT`].
fn running<T: slow_custom_example::Transport>(
    name: &'static str,
    server: slow_custom_example::ServerThread<T>,
) -> RunningServer {
    let addr = match server.listen_addr() {
        slow_custom_example::ListenAddr::Tcp(addr) => slow_driver::Addr::Tcp(addr),
        slow_custom_example::ListenAddr::Unix(path) => slow_driver::Addr::Unix(Some(path)),
    };
    RunningServer::new(
        name,
        addr,
        Box::new(move || {
            with_watchdog("custom-shutdown", SHUTDOWN_LIMIT, move || server.shutdown())?
                .map_err(|e| format!("custom server: {e}"))
        }),
    )
}

/// How a request ended, as the matrix compares it.
pub type RequestOutcome = Result<Bytes, RequestError>;

/// One connection on a [`ClientLoop`] of its own, with bounded waits.
pub struct LoopClient {
    lp: ClientLoop,
    conn: ConnId,
    done: HashMap<RequestId, RequestOutcome>,
    notifications: VecDeque<Bytes>,
    /// Set once the connection ended: `None` for a clean close.
    closed: Option<Option<ConnError>>,
}

impl LoopClient {
    /// Connects over TCP and waits (at most `limit`) for the handshake.
    pub fn connect(
        addr: SocketAddr,
        config: Config,
        limit: Duration,
    ) -> Result<LoopClient, String> {
        LoopClient::open(|lp| lp.connect(addr, config), limit)
    }

    /// Connects to the Unix socket at `path` and waits (at most `limit`)
    /// for the handshake.
    pub fn connect_unix(
        path: &Path,
        config: Config,
        limit: Duration,
    ) -> Result<LoopClient, String> {
        LoopClient::open(|lp| lp.connect_unix(path, config), limit)
    }

    /// Connects over TLS as `dial` says (TCP or `unix:PATH`; the server's
    /// name as the async clients take it, [`ClientTls::name_for`] the
    /// address's host, `localhost` for a Unix socket) and waits (at most
    /// `limit`) for the handshake. A connection whose server presented no
    /// certificate chain fails, as [`TlsDial`]'s does.
    ///
    /// [`ClientTls::name_for`]: slow_driver::tls::ClientTls::name_for
    pub fn connect_tls(
        dial: &TlsDial,
        config: Config,
        limit: Duration,
    ) -> Result<LoopClient, String> {
        let tls = dial.tls.config().map_err(|e| format!("TLS config: {e}"))?;
        let c = match dial.addr.strip_prefix("unix:") {
            Some(path) => {
                let name = server_name(dial, "localhost")?;
                LoopClient::open(|lp| lp.connect_unix_tls(path, config, tls, name), limit)?
            }
            None => {
                let addr: SocketAddr = dial
                    .addr
                    .parse()
                    .map_err(|e| format!("{}: {e}", dial.addr))?;
                let name = server_name(dial, &addr.ip().to_string())?;
                LoopClient::open(|lp| lp.connect_tls(addr, config, tls, name), limit)?
            }
        };
        if c.lp
            .peer_certificates(c.conn)
            .is_none_or(|chain| chain.is_empty())
        {
            return Err("connected over TLS, but the server's certificate is not known".into());
        }
        Ok(c)
    }

    fn open(
        connect: impl FnOnce(&mut ClientLoop) -> Result<ConnId, ClientError>,
        limit: Duration,
    ) -> Result<LoopClient, String> {
        let mut lp = ClientLoop::new().map_err(|e| format!("loop: {e}"))?;
        let conn = connect(&mut lp).map_err(|e| format!("connect: {e}"))?;
        let mut c = LoopClient {
            lp,
            conn,
            done: HashMap::new(),
            notifications: VecDeque::new(),
            closed: None,
        };
        let end = Instant::now() + limit;
        loop {
            match c
                .lp
                .next_completion(Some(end.saturating_duration_since(Instant::now())))
            {
                Ok(Some(Completion::Connected { .. })) => return Ok(c),
                Ok(Some(Completion::Closed { error, .. })) => {
                    return Err(format!("closed before connecting: {error:?}"));
                }
                Ok(Some(other)) => c.keep(other),
                Ok(None) => return Err("no handshake in time".to_string()),
                Err(e) => return Err(format!("loop: {e}")),
            }
        }
    }

    fn keep(&mut self, completion: Completion) {
        match completion {
            Completion::Response { id, body, .. } => {
                self.done.insert(id, Ok(body));
            }
            Completion::Failed { id, error, .. } => {
                self.done.insert(id, Err(error));
            }
            Completion::Notification { body, .. } => self.notifications.push_back(body),
            Completion::Closed { error, .. } => self.closed = Some(error),
            // Connected, and whatever a later version adds: nothing to keep.
            _ => {}
        }
    }

    /// Runs the loop until `ready` finds something or `limit` passes.
    fn wait<T>(
        &mut self,
        limit: Duration,
        mut ready: impl FnMut(&mut Self) -> Option<T>,
    ) -> Result<T, String> {
        let end = Instant::now() + limit;
        loop {
            if let Some(v) = ready(self) {
                return Ok(v);
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("nothing within {limit:?}"));
            }
            match self.lp.next_completion(Some(left)) {
                Ok(Some(c)) => self.keep(c),
                // Nothing in time, or the loop holds no connection any more.
                Ok(None) => return ready(self).ok_or_else(|| format!("nothing within {limit:?}")),
                Err(e) => return Err(format!("loop failed: {e}")),
            }
        }
    }

    /// Submits a request without waiting. A refusal (closing, closed) is
    /// what the other clients call not processed.
    pub fn submit(
        &mut self,
        body: impl Into<Bytes>,
        timeout: Option<Duration>,
    ) -> Result<RequestId, RequestError> {
        self.lp
            .request(self.conn, body, timeout)
            .map_err(|e| match e {
                ClientError::Send(slow_proto::SendError::TooLarge { size, limit }) => {
                    RequestError::TooLarge { size, limit }
                }
                // What the core calls retryable, and a connection that is
                // already over, were never sent.
                ClientError::Send(e) if e.is_retryable() => RequestError::NotProcessed,
                ClientError::UnknownConnection(_) => RequestError::NotProcessed,
                // Anything else is a bug in this test client: say so loudly.
                e => panic!("the custom client refused a request: {e}"),
            })
    }

    /// Waits (at most `limit`) for request `id`'s outcome.
    pub fn outcome(&mut self, id: RequestId, limit: Duration) -> Result<RequestOutcome, String> {
        self.wait(limit, |c| c.done.remove(&id))
    }

    /// Sends a request and waits for its outcome (bounded by
    /// [`SCENARIO_LIMIT`]); `Err` only when no outcome came.
    pub fn request(
        &mut self,
        body: impl Into<Bytes>,
        timeout: Option<Duration>,
    ) -> Result<RequestOutcome, String> {
        match self.submit(body, timeout) {
            Ok(id) => self.outcome(id, SCENARIO_LIMIT),
            Err(refused) => Ok(Err(refused)),
        }
    }

    /// The next notification, waiting at most `limit`.
    pub fn notification(&mut self, limit: Duration) -> Result<Bytes, String> {
        self.wait(limit, |c| c.notifications.pop_front())
    }

    /// Sends a notification.
    pub fn notify(&mut self, body: impl Into<Bytes>) -> Result<(), String> {
        self.lp
            .notify(self.conn, body)
            .map_err(|e| format!("notify: {e}"))
    }

    /// Closes gracefully and waits (at most `limit`) for the close.
    pub fn close(&mut self, limit: Duration) -> Result<(), String> {
        self.lp
            .close(self.conn)
            .map_err(|e| format!("close: {e}"))?;
        self.wait_closed(limit)
    }

    /// Waits (at most `limit`) for the connection to end; `Err` unless it
    /// ended cleanly.
    pub fn wait_closed(&mut self, limit: Duration) -> Result<(), String> {
        match self.wait(limit, |c| {
            c.closed.as_ref().map(|e| e.as_ref().map(|e| e.to_string()))
        })? {
            None => Ok(()),
            Some(e) => Err(format!("closed with an error: {e}")),
        }
    }
}

fn server_name(dial: &TlsDial, host: &str) -> Result<ServerName<'static>, String> {
    dial.tls
        .name_for(host)
        .map_err(|e| format!("server name: {e}"))
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn ok_body(got: RequestOutcome) -> Result<Bytes, String> {
    got.map_err(|e| format!("request failed: {e:?}"))
}

fn expect_server_error(got: RequestOutcome, code: u16, message: &str) -> Result<(), String> {
    match got {
        Err(RequestError::Server {
            code: c,
            message: m,
        }) if c == ErrorCode(code) && m == message => Ok(()),
        other => Err(format!(
            "expected Server error {code:#06x} {message:?}, got {other:?}"
        )),
    }
}

/// Where the scenarios connect (a scenario opens a second connection).
enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
    Tls(TlsDial),
}

impl Target {
    fn connect(&self, config: Config) -> Result<LoopClient, String> {
        match self {
            Target::Tcp(addr) => LoopClient::connect(*addr, config, SCENARIO_LIMIT),
            Target::Unix(path) => LoopClient::connect_unix(path, config, SCENARIO_LIMIT),
            Target::Tls(dial) => LoopClient::connect_tls(dial, config, SCENARIO_LIMIT),
        }
    }
}

/// Runs every scenario of [`SCENARIOS`] with the custom loop's client
/// against `addr`, on the calling thread.
pub fn run_all(addr: SocketAddr, config: Config) -> Vec<Outcome> {
    run_all_at(&Target::Tcp(addr), config)
}

/// Runs every scenario of [`SCENARIOS`] with the custom loop's client
/// against the Unix socket at `path`, on the calling thread.
pub fn run_all_unix(path: &Path, config: Config) -> Vec<Outcome> {
    run_all_at(&Target::Unix(path.to_owned()), config)
}

/// Runs every scenario of [`SCENARIOS`] with the custom loop's client
/// over TLS as `dial` says (TCP or a Unix socket), on the calling thread.
pub fn run_all_tls(dial: &TlsDial, config: Config) -> Vec<Outcome> {
    run_all_at(&Target::Tls(dial.clone()), config)
}

fn run_all_at(target: &Target, config: Config) -> Vec<Outcome> {
    let mut client = target.connect(config.clone());
    SCENARIOS
        .iter()
        .map(|&name| {
            let start = Instant::now();
            let result = match &mut client {
                Err(e) => Err(e.clone()),
                Ok(client) => run_one(name, client, target, &config).and_then(|()| {
                    let took = start.elapsed();
                    // The waits are bounded one by one; bound the whole too.
                    if took > SCENARIO_LIMIT {
                        Err(format!("took {took:?} (limit {SCENARIO_LIMIT:?})"))
                    } else {
                        Ok(())
                    }
                }),
            };
            Outcome {
                name,
                result,
                elapsed: start.elapsed(),
            }
        })
        .collect()
}

fn run_one(
    name: &str,
    client: &mut LoopClient,
    target: &Target,
    config: &Config,
) -> Result<(), String> {
    match name {
        "echo" => {
            let got = ok_body(client.request("hello, SLOW", None)?)?;
            ensure!(got == "hello, SLOW", "echo answered {got:?}");
        }
        "empty body" => {
            let got = ok_body(client.request(Bytes::new(), None)?)?;
            ensure!(got.is_empty(), "empty echo answered {} bytes", got.len());
        }
        "1 MiB echo (MORE both ways)" => {
            let body = big_body(1 << 20);
            let got = ok_body(client.request(body.clone(), None)?)?;
            ensure!(
                got.len() == body.len(),
                "echoed {} bytes of {}",
                got.len(),
                body.len()
            );
            ensure!(got == body, "echoed body differs");
        }
        "!bytes 200000 pattern" => {
            let got = ok_body(client.request("!bytes 200000", None)?)?;
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
            let ids = bodies
                .iter()
                .map(|b| {
                    client
                        .submit(b.clone(), None)
                        .map_err(|e| format!("submit: {e:?}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            for (i, (body, id)) in bodies.iter().zip(ids).enumerate() {
                let got = ok_body(client.outcome(id, SCENARIO_LIMIT)?)
                    .map_err(|e| format!("request {i}: {e}"))?;
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
            let elapsed = start.elapsed();
            ensure!(
                elapsed < Duration::from_secs(3),
                "64 pipelined requests took {elapsed:?}: not concurrent"
            );
        }
        "!sleep 50" => {
            let start = Instant::now();
            let got = ok_body(client.request("!sleep 50", None)?)?;
            let elapsed = start.elapsed();
            ensure!(got == "slept 50", "answered {got:?}");
            ensure!(
                elapsed >= Duration::from_millis(50),
                "answered after only {elapsed:?}"
            );
        }
        "request_timeout < !sleep -> TimedOut" => {
            let start = Instant::now();
            let got = client.request("!sleep 5000", Some(Duration::from_millis(100)))?;
            let elapsed = start.elapsed();
            ensure!(
                matches!(got, Err(RequestError::TimedOut)),
                "expected TimedOut, got {got:?}"
            );
            ensure!(
                elapsed >= Duration::from_millis(100) && elapsed < Duration::from_secs(2),
                "timed out after {elapsed:?} (timeout 100 ms)"
            );
            let got = ok_body(client.request("after timeout", None)?)?;
            ensure!(got == "after timeout", "answered {got:?}");
        }
        "!error 300 boom" => {
            expect_server_error(client.request("!error 300 boom", None)?, 300, "boom")?
        }
        "!notify hi -> notification" => {
            let got = ok_body(client.request("!notify hi", None)?)?;
            ensure!(got == "notified", "answered {got:?}");
            let note = client.notification(Duration::from_secs(5))?;
            ensure!(note == "hi", "expected notification \"hi\", got {note:?}");
        }
        "client notify -> echoed" => {
            client.notify("note from the client")?;
            let note = client.notification(Duration::from_secs(5))?;
            ensure!(
                note == "note from the client",
                "expected the echoed notification, got {note:?}"
            );
        }
        "unknown command" => {
            expect_server_error(client.request("!dance", None)?, 0x0100, "unknown command")?
        }
        "bad command" => {
            expect_server_error(client.request("!sleep abc", None)?, 0x0100, "bad command")?
        }
        "!close -> closing, then NotProcessed" => {
            let mut c = target.connect(config.clone())?;
            let got = ok_body(c.request("!close", None)?)?;
            ensure!(got == "closing", "answered {got:?}");
            for i in 0..2 {
                let after = c.request("after close", None)?;
                ensure!(
                    matches!(after, Err(RequestError::NotProcessed)),
                    "request {i} after !close: expected NotProcessed, got {after:?}"
                );
            }
            c.wait_closed(Duration::from_secs(5))
                .map_err(|e| format!("after !close: {e}"))?;
            let got = ok_body(client.request("still here", None)?)?;
            ensure!(got == "still here", "answered {got:?}");
        }
        "graceful client close" => {
            client.close(Duration::from_secs(5))?;
            let after = client.request("after close", None)?;
            ensure!(
                matches!(after, Err(RequestError::NotProcessed)),
                "request after close(): {after:?}"
            );
        }
        other => return Err(format!("no such scenario {other:?}")),
    }
    Ok(())
}
