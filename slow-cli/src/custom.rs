//! The `custom` runtime: `slow-custom-example`'s mio event loop. It is not
//! an async runtime, so the commands that run a client on it come here and
//! use its own APIs: [`BlockingClient`] for calls and scenarios, the
//! completion-queue [`ClientLoop`] for load; over TLS with the rustls
//! config the `--tls-*` flags built (the loop's own TLS: rustls's sans-IO
//! API between the socket and the core).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustls::pki_types::ServerName;
use slow_custom_example::{
    BlockingClient, ClientError, ClientLoop, Completion, ConnError, ConnId, UnixSocketError,
};
use slow_driver::tls::ClientTls;
use slow_proto::{Config, ErrorCode, RequestError, RequestId};

use crate::bench::stats::error_kind;
use crate::bench::{BenchOptions, CONNECT_TIMEOUT, Live, LoadResult, Recorder, payload};
use crate::call::{CallOptions, CallOutcome, resolve};
use crate::demo::{
    BYTES, CONCURRENT, LARGE, SCENARIO_LIMIT, SCENARIOS, ScenarioResult, expect_body,
    expect_notification,
};
use crate::error::CliError;
use crate::options::ServeOptions;
use crate::runtime::RuntimeKind;
use crate::server::RunningServer;

/// How long a graceful close may take.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How often a bench with nothing moving looks at its stop trigger (the
/// loop cannot be woken from another thread).
const STOP_CHECK: Duration = Duration::from_millis(50);

/// A request error as the async clients report it (same words, same codes).
fn request_error(e: RequestError) -> CliError {
    CliError::Slow(e.into())
}

/// Where the custom client connects: a resolved TCP address or a Unix
/// socket's path (`unix:PATH`), over TLS or not.
#[derive(Debug, Clone)]
struct Target {
    place: Place,
    tls: Option<Secure>,
}

/// Which socket: TCP to a resolved address, or a Unix socket's path.
#[derive(Debug, Clone)]
enum Place {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// What the loop's TLS takes: rustls's config, built from the `--tls-*`
/// flags, and the name the server's certificate must be valid for.
#[derive(Debug, Clone)]
struct Secure {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl Target {
    /// `addr` (`HOST:PORT` or `unix:PATH`), over `tls` when given: the
    /// server's name is the one `tls` sets, else the address's host
    /// (`localhost` for a Unix socket), as the async clients choose it.
    fn of(addr: &str, tls: Option<&ClientTls>) -> Result<Target, CliError> {
        let (place, host) = match addr.strip_prefix("unix:") {
            Some(path) => (Place::Unix(path.into()), "localhost"),
            None => (
                Place::Tcp(resolve(addr)?),
                addr.rsplit_once(':').map_or(addr, |(host, _)| host),
            ),
        };
        // As the async clients report a name or config that will not do:
        // a connection that failed, exit status 1.
        let failed = |e: slow_driver::tls::TlsConfigError| CliError::Connect {
            addr: addr.into(),
            reason: e.to_string(),
        };
        let tls = match tls {
            Some(tls) => Some(Secure {
                config: tls.config().map_err(failed)?,
                name: tls.name_for(host).map_err(failed)?,
            }),
            None => None,
        };
        Ok(Target { place, tls })
    }

    /// A connection on `lp` (completing with `Completion::Connected`).
    fn connect(&self, lp: &mut ClientLoop, config: Config) -> Result<ConnId, ClientError> {
        match (&self.place, self.tls.clone()) {
            (Place::Tcp(addr), None) => lp.connect(*addr, config),
            (Place::Unix(path), None) => lp.connect_unix(path, config),
            (Place::Tcp(addr), Some(tls)) => lp.connect_tls(*addr, config, tls.config, tls.name),
            (Place::Unix(path), Some(tls)) => {
                lp.connect_unix_tls(path, config, tls.config, tls.name)
            }
        }
    }

    /// A blocking client, connected and past both handshakes (TLS's, then
    /// SLOW's).
    fn connect_blocking(&self, config: Config) -> Result<BlockingClient, ConnError> {
        match (&self.place, self.tls.clone()) {
            (Place::Tcp(addr), None) => BlockingClient::connect_with(*addr, config),
            (Place::Unix(path), None) => BlockingClient::connect_unix_with(path, config),
            (Place::Tcp(addr), Some(tls)) => {
                BlockingClient::connect_tls_with(*addr, config, tls.config, tls.name)
            }
            (Place::Unix(path), Some(tls)) => {
                BlockingClient::connect_unix_tls(path, config, tls.config, tls.name)
            }
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Place::Tcp(addr) => addr.fmt(f),
            Place::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Why connecting failed, without the socket path a Unix error names
/// already (the caller says it once). A TLS failure reads as the async
/// clients' does: `TLS: ` and rustls's reason.
fn connect_reason(e: &ConnError) -> String {
    match e {
        ConnError::Io(io) => {
            UnixSocketError::of(io).map_or_else(|| e.to_string(), |u| u.source.to_string())
        }
        _ => e.to_string(),
    }
}

fn connect(
    addr: &str,
    tls: Option<&ClientTls>,
    limit: Duration,
) -> Result<BlockingClient, CliError> {
    // The handshake timeout also bounds the TCP connect (and TLS's
    // handshake) on this loop.
    let config = Config {
        handshake_timeout: limit,
        ..Config::default()
    };
    Target::of(addr, tls)?
        .connect_blocking(config)
        .map_err(|e| CliError::Connect {
            addr: addr.into(),
            reason: connect_reason(&e),
        })
}

/// `slow call --runtime custom`.
pub(crate) fn call(o: &CallOptions) -> Result<CallOutcome, CliError> {
    let mut client = connect(&o.addr, o.tls.as_ref(), o.connect_timeout)?;
    let body = o
        .body
        .take(crate::call::body_limit(client.peer_settings(), o.notify))?;
    if o.notify {
        client.notify(body).map_err(|e| CliError::Slow(e.into()))?;
        client
            .close(CLOSE_WAIT)
            .map_err(|e| CliError::Custom(format!("closing: {e}")))?;
        return Ok(CallOutcome::default());
    }
    let body = client.request(body, o.timeout).map_err(request_error)?;
    let mut notifications = Vec::new();
    while let Ok(Some(n)) = client.next_notification(Duration::ZERO) {
        notifications.push(n);
    }
    let _ = client.close(CLOSE_WAIT);
    Ok(CallOutcome {
        body: Some(body),
        notifications,
    })
}

/// The demo's scenarios on the custom client, over TLS with `tls`.
pub(crate) fn scenarios(addr: &str, tls: Option<&ClientTls>) -> Vec<ScenarioResult> {
    let mut client = match connect(addr, tls, SCENARIO_LIMIT) {
        Ok(c) => c,
        Err(e) => return vec![("connect", Err(e.to_string()))],
    };
    let t = Some(SCENARIO_LIMIT);
    let mut results = Vec::new();
    for name in SCENARIOS {
        let outcome = match name {
            "echo" => expect_body(client.request("hello", t), b"hello"),
            "large-request" => {
                let body = Bytes::from(vec![b'y'; LARGE]);
                expect_body(client.request(body.clone(), t), &body)
            }
            "bytes" => expect_body(
                client.request(format!("!bytes {BYTES}"), t),
                &slow_interop::pattern(BYTES),
            ),
            "error" => match client.request("!error 300 boom", t) {
                Err(RequestError::Server {
                    code: ErrorCode(300),
                    message,
                }) if message == "boom" => Ok(()),
                other => Err(format!("expected server error 300 \"boom\", got {other:?}")),
            },
            "timeout" => {
                let start = Instant::now();
                match client.request("!sleep 2000", Some(Duration::from_millis(50))) {
                    Err(RequestError::TimedOut) if start.elapsed() < Duration::from_secs(1) => {
                        Ok(())
                    }
                    other => Err(format!(
                        "expected a timeout after 50 ms, got {other:?} after {:?}",
                        start.elapsed()
                    )),
                }
            }
            "notify" => expect_body(client.request("!notify hi", t), slow_interop::NOTIFIED)
                .and_then(|()| {
                    expect_notification(
                        client.next_notification(SCENARIO_LIMIT).ok().flatten(),
                        b"hi",
                    )
                }),
            "client-notify" => match client.notify("yo") {
                Ok(()) => expect_notification(
                    client.next_notification(SCENARIO_LIMIT).ok().flatten(),
                    b"yo",
                ),
                Err(e) => Err(e.to_string()),
            },
            "concurrent" => concurrent(addr, tls),
            "close" => close(addr, tls),
            _ => Err(format!("unknown scenario {name}")),
        };
        results.push((name, outcome));
    }
    let _ = client.close(CLOSE_WAIT);
    results
}

/// [`CONCURRENT`] requests at once on the completion-queue client.
fn concurrent(addr: &str, tls: Option<&ClientTls>) -> Result<(), String> {
    let mut lp = ClientLoop::new().map_err(|e| e.to_string())?;
    let conn = Target::of(addr, tls)
        .map_err(|e| e.to_string())?
        .connect(&mut lp, Config::default())
        .map_err(|e| e.to_string())?;
    let mut want = HashMap::new();
    for i in 0..CONCURRENT {
        let body = format!("concurrent {i}");
        let id = lp
            .request(conn, body.clone(), Some(SCENARIO_LIMIT))
            .map_err(|e| e.to_string())?;
        want.insert(id, body);
    }
    let deadline = Instant::now() + SCENARIO_LIMIT;
    let mut ok = 0;
    while !want.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match lp.next_completion(Some(left)).map_err(|e| e.to_string())? {
            Some(Completion::Response { id, body, .. }) => {
                ok += usize::from(want.remove(&id).is_some_and(|w| body[..] == *w.as_bytes()));
            }
            Some(Completion::Failed { id, .. }) => {
                want.remove(&id);
            }
            Some(Completion::Closed { error, .. }) => {
                return Err(format!("connection closed: {error:?}"));
            }
            Some(_) => {}
            None => break,
        }
    }
    let _ = lp.close(conn);
    match ok {
        CONCURRENT => Ok(()),
        n => Err(format!("{n} of {CONCURRENT} concurrent requests echoed")),
    }
}

fn close(addr: &str, tls: Option<&ClientTls>) -> Result<(), String> {
    let mut own = connect(addr, tls, SCENARIO_LIMIT).map_err(|e| e.to_string())?;
    expect_body(
        own.request("!close", Some(SCENARIO_LIMIT)),
        slow_interop::CLOSING,
    )?;
    match own.request("after close", Some(SCENARIO_LIMIT)) {
        Err(_) => Ok(()),
        Ok(_) => Err("a request after `!close` was answered".into()),
    }
}

/// `slow bench --runtime custom`: the load on one [`ClientLoop`] (the loop
/// is single-threaded by design). Without an address, a custom server runs
/// on a thread of its own.
pub(crate) fn bench(addr: Option<&str>, options: &BenchOptions, live: &Arc<Live>) -> LoadResult {
    let own = match addr {
        Some(_) => None,
        None => Some(RunningServer::start(
            RuntimeKind::Custom,
            "127.0.0.1:0",
            &ServeOptions::default(),
            None,
        )?),
    };
    // The in-process server has no certificate: TLS only to ADDR
    // (`bench::run` refuses the flags without it).
    let target = match (&own, addr) {
        (Some(server), _) => Target {
            place: Place::Tcp(
                server
                    .addr()
                    .tcp()
                    .expect("the custom server listens on TCP"),
            ),
            tls: None,
        },
        (None, Some(addr)) => Target::of(addr, options.tls.as_ref())?,
        (None, None) => unreachable!("an address or a server of our own"),
    };
    let io = |e: std::io::Error| CliError::Custom(format!("event loop: {e}"));
    let mut lp = ClientLoop::new().map_err(io)?;
    let mut conns = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        let conn = target
            .connect(&mut lp, Config::default())
            .map_err(|e| CliError::Connect {
                addr: target.to_string(),
                reason: e.to_string(),
            })?;
        conns.push(conn);
    }
    wait_connected(&mut lp, conns.len(), &target, live)?;

    let body = payload(options.payload);
    let started = live.start();
    let mut load = Load {
        lp,
        body,
        timeout: options.request_timeout,
        inflight: HashMap::new(),
        recorder: Recorder::default(),
    };
    for &conn in &conns {
        for _ in 0..options.concurrency {
            load.submit(conn, live);
        }
    }
    let mut moved = Instant::now();
    while !load.inflight.is_empty() && !live.stop().is_fired() {
        match load.lp.next_completion(Some(STOP_CHECK)).map_err(io)? {
            Some(completion) => {
                load.on_completion(completion, live);
                moved = Instant::now();
            }
            // Nothing moved for a whole request timeout.
            None if moved.elapsed() >= options.request_timeout => break,
            None if load.lp.connections() == 0 => break,
            None => {}
        }
    }
    let duration = started.elapsed();
    let mut lp = load.lp;
    // Stopped: what is in flight is cancelled, not waited for.
    for &(conn, id) in load.inflight.keys() {
        let _ = lp.cancel(conn, id);
    }
    // As the load left them (the async clients' are read at the same point).
    let stats = conns.iter().filter_map(|&conn| lp.stats(conn)).sum();
    for conn in conns {
        let _ = lp.close(conn);
    }
    let close_by = Instant::now() + CLOSE_WAIT;
    while lp.connections() > 0 && Instant::now() < close_by {
        let _ = lp.next_completion(Some(close_by.saturating_duration_since(Instant::now())));
    }
    if let Some(server) = own {
        server.stop()?;
    }
    let server = match addr {
        Some(a) => a.to_string(),
        None => format!("in-process {target}"),
    };
    Ok((server, duration, load.recorder, stats))
}

fn wait_connected(
    lp: &mut ClientLoop,
    n: usize,
    target: &Target,
    live: &Live,
) -> Result<(), CliError> {
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    let mut connected = 0;
    // Stopped while connecting: the load then claims nothing.
    while connected < n && !live.stop().is_fired() {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(STOP_CHECK);
        let failed = |reason: String| CliError::Connect {
            addr: target.to_string(),
            reason,
        };
        match lp
            .next_completion(Some(left))
            .map_err(|e| failed(e.to_string()))?
        {
            Some(Completion::Connected { .. }) => connected += 1,
            Some(Completion::Closed { error, .. }) => {
                return Err(failed(
                    error.map_or("closed during the handshake".into(), |e| e.to_string()),
                ));
            }
            Some(_) => {}
            None if Instant::now() < deadline => {}
            None => {
                return Err(failed(format!(
                    "timed out after {} ms",
                    CONNECT_TIMEOUT.as_millis()
                )));
            }
        }
    }
    Ok(())
}

/// The load's state on the one loop.
struct Load {
    lp: ClientLoop,
    body: Bytes,
    timeout: Duration,
    inflight: HashMap<(ConnId, RequestId), Instant>,
    recorder: Recorder,
}

impl Load {
    fn submit(&mut self, conn: ConnId, live: &Live) {
        if !live.claim() {
            return;
        }
        match self.lp.request(conn, self.body.clone(), Some(self.timeout)) {
            Ok(id) => {
                self.inflight.insert((conn, id), Instant::now());
            }
            Err(e) => {
                self.recorder.error(format!("refused: {e}"));
                live.finish(false);
            }
        }
    }

    fn on_completion(&mut self, completion: Completion, live: &Live) {
        match completion {
            Completion::Response { conn, id, body } => {
                let Some(start) = self.inflight.remove(&(conn, id)) else {
                    return;
                };
                let ok = body == self.body;
                if ok {
                    self.recorder.ok(start.elapsed());
                } else {
                    self.recorder.error("wrong echo".into());
                }
                live.finish(ok);
                self.submit(conn, live);
            }
            Completion::Failed { conn, id, error } => {
                if self.inflight.remove(&(conn, id)).is_none() {
                    return;
                }
                let closed = matches!(
                    error,
                    RequestError::Connection(_) | RequestError::NotProcessed
                );
                self.recorder.error(error_kind(&error.into()));
                live.finish(false);
                if !closed {
                    self.submit(conn, live);
                }
            }
            _ => {}
        }
    }
}
