//! An INTEROP server of any runtime, running in this process on its own
//! thread: what `slow serve` runs, and what `demo` and the tests start.

use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use slow_driver::tls::ServerTls;
use slow_driver::{Addr, Config, Server, ServerStats, Stats};
use slow_interop::driver::InteropService;

use crate::error::CliError;
use crate::options::ServeOptions;
use crate::runtime::{self, AsyncRuntime, Job, RuntimeKind};
use crate::trigger::Trigger;

/// How long [`RunningServer::start`] waits for the server to bind.
const BIND_WAIT: Duration = Duration::from_secs(10);

/// A server serving the INTEROP service until [`stop`](RunningServer::stop).
pub struct RunningServer {
    addr: Addr,
    runtime: RuntimeKind,
    stop: Stop,
    stats: Served,
    /// The threads it serves on: one (compio: one per runtime).
    threads: Vec<JoinHandle<Result<(), CliError>>>,
}

/// Where the server's totals are kept.
enum Served {
    Async(ServerStats),
    Custom(slow_custom_example::ServerStats),
    /// Each compio thread's, added in as the thread ends.
    Summed(Arc<Mutex<(u64, Stats)>>),
}

/// How to ask the server's thread to shut down gracefully.
enum Stop {
    Async(Trigger),
    Custom(slow_custom_example::ShutdownHandle),
}

impl RunningServer {
    /// Binds `addr` on runtime `kind` (with `threads` worker threads, `None`
    /// for the runtime's default) and serves on a new thread. Returns once
    /// the listener is bound, so [`addr`](RunningServer::addr) is ready to
    /// connect to.
    ///
    /// compio serves on `threads` threads of its own (default 1), each its
    /// own runtime and listener on one port (`SO_REUSEPORT` when there are
    /// several), under one connection limit; a `unix:` address on one (more is
    /// [`CliError::Usage`]). Without io_uring it fails at once with
    /// [`CliError::Unavailable`], which names why.
    pub fn start(
        kind: RuntimeKind,
        addr: &str,
        options: &ServeOptions,
        threads: Option<usize>,
    ) -> Result<RunningServer, CliError> {
        Self::start_tls(kind, addr, options, threads, None)
    }

    /// As [`start`](RunningServer::start), serving over `tls` when it is
    /// given (every connection, TCP or Unix). A runtime `slow` runs no TLS
    /// on is [`CliError::Usage`] ([`RuntimeKind::tls_supported`]).
    pub fn start_tls(
        kind: RuntimeKind,
        addr: &str,
        options: &ServeOptions,
        threads: Option<usize>,
        tls: Option<ServerTls>,
    ) -> Result<RunningServer, CliError> {
        if tls.is_some() {
            kind.tls_supported()?;
        }
        match kind {
            RuntimeKind::Custom => start_custom(addr, options, tls),
            RuntimeKind::Compio => {
                let serving = crate::compio_rt::serve(addr, options, threads)?;
                Ok(RunningServer {
                    addr: serving.addr,
                    runtime: kind,
                    stop: Stop::Async(serving.stop),
                    stats: Served::Summed(serving.served),
                    threads: serving.threads,
                })
            }
            _ => start_async(kind, addr, options, threads, tls),
        }
    }

    /// The address the server listens on: `HOST:PORT`, or `unix:PATH`.
    pub fn addr(&self) -> &Addr {
        &self.addr
    }

    /// The runtime it runs on.
    pub fn runtime(&self) -> RuntimeKind {
        self.runtime
    }

    /// The connections served so far and their stats, added up (the
    /// custom loop's: those that have finished; compio's: those of the
    /// threads that have ended; all of them once the server has stopped).
    pub fn totals(&self) -> (u64, Stats) {
        match &self.stats {
            Served::Async(stats) => (stats.connections(), stats.totals()),
            Served::Custom(stats) => (stats.connections(), stats.totals()),
            Served::Summed(sum) => *sum.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// A handle that starts the graceful shutdown from any thread.
    pub fn stopper(&self) -> impl Fn() + Send + 'static {
        let stop = match &self.stop {
            Stop::Async(t) => Stop::Async(t.clone()),
            Stop::Custom(h) => Stop::Custom(h.clone()),
        };
        move || match &stop {
            Stop::Async(t) => t.fire(),
            // An error means the loop could not be woken; it still sees the
            // request at its next wake-up (its drain timers bound that).
            Stop::Custom(h) => drop(h.shutdown()),
        }
    }

    /// Shuts down gracefully (GOAWAY SHUTTING_DOWN to every connection,
    /// drain) and waits for the server thread to finish.
    pub fn stop(mut self) -> Result<(), CliError> {
        (self.stopper())();
        self.join()
    }

    /// Waits for the server's threads (after a stop from elsewhere); the
    /// first error, if any.
    pub fn join(&mut self) -> Result<(), CliError> {
        let mut result = Ok(());
        for thread in self.threads.drain(..) {
            let ended = thread.join().unwrap_or_else(|_| {
                Err(CliError::Setup(format!(
                    "the {} server thread panicked",
                    self.runtime
                )))
            });
            if result.is_ok() {
                result = ended;
            }
        }
        result
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            (self.stopper())();
            let _ = self.join();
        }
    }
}

fn start_async(
    kind: RuntimeKind,
    addr: &str,
    options: &ServeOptions,
    threads: Option<usize>,
    tls: Option<ServerTls>,
) -> Result<RunningServer, CliError> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let stop = Trigger::new();
    let job = ServeJob {
        addr: addr.to_owned(),
        config: options.config(),
        max_connections: options.max_connections,
        tls,
        stop: stop.clone(),
        ready: ready_tx,
    };
    let thread = std::thread::Builder::new()
        .name(format!("slow-{kind}-server"))
        .spawn(move || runtime::block_on(kind, threads, job)?)
        .map_err(CliError::io("starting the server thread"))?;
    match ready_rx.recv_timeout(BIND_WAIT) {
        Ok(Ok((addr, stats))) => Ok(RunningServer {
            addr,
            runtime: kind,
            stop: Stop::Async(stop),
            stats: Served::Async(stats),
            threads: vec![thread],
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        // The thread ended without a word: its result says why.
        Err(mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Ok(Err(e)) => Err(e),
            _ => Err(CliError::Setup(format!("the {kind} server did not start"))),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            stop.fire();
            Err(CliError::Setup(format!(
                "the {kind} server did not bind within {BIND_WAIT:?}"
            )))
        }
    }
}

/// Binds, reports the address (or the failure), then serves until `stop`.
struct ServeJob {
    addr: String,
    config: Config,
    max_connections: usize,
    tls: Option<ServerTls>,
    stop: Trigger,
    ready: mpsc::Sender<Result<(Addr, ServerStats), CliError>>,
}

impl Job for ServeJob {
    type Output = Result<(), CliError>;

    async fn run<R: AsyncRuntime>(self, runtime: R) -> Result<(), CliError> {
        let bound = Server::<R>::bind_on(runtime.clone(), &self.addr, self.config).await;
        let server = match bound.and_then(|s| Ok((s.local_addr()?, s))) {
            Ok((addr, server)) => {
                let _ = self.ready.send(Ok((addr, server.stats_handle())));
                server.max_connections(self.max_connections)
            }
            Err(e) => {
                let e = match e {
                    // It names the socket already: say it once.
                    slow_driver::Error::Unix { source, .. } => bind_error(&self.addr, source),
                    e => bind_error(&self.addr, e),
                };
                let _ = self.ready.send(Err(e));
                return Ok(());
            }
        };
        match self.tls {
            Some(tls) => R::serve_tls(runtime, server, tls, self.stop).await?,
            None => {
                let service = InteropService::new(runtime);
                server
                    .serve_with_shutdown(service, self.stop.wait())
                    .await?;
            }
        }
        Ok(())
    }
}

pub(crate) fn bind_error(addr: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Setup(format!("cannot listen on {addr}: {e}"))
}

/// The custom loop's server, over TLS with `tls`: rustls's own config,
/// the same one the async servers' TLS streams use.
fn start_custom(
    addr: &str,
    options: &ServeOptions,
    tls: Option<ServerTls>,
) -> Result<RunningServer, CliError> {
    if let Some(path) = addr.strip_prefix("unix:") {
        let server = slow_custom_example::Server::bind_unix(path, options.config())
            .map_err(|e| bind_error(addr, custom_unix_reason(e)))?;
        return run_custom(with_tls(server, tls), options);
    }
    let resolved = addr
        .to_socket_addrs()
        .map_err(|e| bind_error(addr, e))?
        .next()
        .ok_or_else(|| bind_error(addr, "no address"))?;
    let server = slow_custom_example::Server::bind(resolved, options.config())
        .map_err(|e| bind_error(addr, e))?;
    run_custom(with_tls(server, tls), options)
}

fn with_tls<T: slow_custom_example::Transport>(
    server: slow_custom_example::Server<T>,
    tls: Option<ServerTls>,
) -> slow_custom_example::Server<T> {
    match tls {
        Some(tls) => server.tls(tls.config().clone()),
        None => server,
    }
}

/// What the system said about a Unix socket, without the path the error
/// names already (the caller says it once).
fn custom_unix_reason(e: std::io::Error) -> String {
    match slow_custom_example::UnixSocketError::of(&e) {
        Some(unix) => unix.source.to_string(),
        None => e.to_string(),
    }
}

/// Runs a bound custom server, of either transport, on a thread of its own.
fn run_custom<T: slow_custom_example::Transport>(
    mut server: slow_custom_example::Server<T>,
    options: &ServeOptions,
) -> Result<RunningServer, CliError> {
    use slow_custom_example::ListenAddr;

    server.set_max_connections(options.max_connections);
    let addr = match server.listen_addr() {
        ListenAddr::Tcp(addr) => Addr::Tcp(addr),
        ListenAddr::Unix(path) => Addr::Unix(Some(path)),
    };
    let handle = server.shutdown_handle();
    let stats = server.stats_handle();
    let thread = std::thread::Builder::new()
        .name("slow-custom-server".into())
        .spawn(move || {
            server
                .run()
                .map_err(|e| CliError::Custom(format!("custom server: {e}")))
        })
        .map_err(CliError::io("starting the server thread"))?;
    Ok(RunningServer {
        addr,
        runtime: RuntimeKind::Custom,
        stop: Stop::Custom(handle),
        stats: Served::Custom(stats),
        threads: vec![thread],
    })
}

/// What `slow serve` says when it stops: the connections it served and
/// their totals, on one line.
///
/// ```
/// use slow_cli::server::summary;
///
/// let line = summary(1, &slow_driver::Stats::default());
/// assert!(line.starts_with("served 1 connection: 0 requests (0 failed,"), "{line}");
/// ```
pub fn summary(connections: u64, totals: &Stats) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "served {}: {} ({} failed, {} cancelled, {} expired, {} interrupted), \
         {} frames / {} bytes in, {} frames / {} bytes out",
        plural(connections, "connection", "connections"),
        plural(totals.requests, "request", "requests"),
        totals.failed,
        totals.cancelled,
        totals.expired,
        totals.interrupted,
        totals.frames_received,
        totals.bytes_received,
        totals.frames_sent,
        totals.bytes_sent,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_reads_as_a_sentence() {
        use slow_proto::{Config, Connection, Instant};
        // A client core that queued its HELLO (1 frame out).
        let conn = Connection::client(Config::default(), Instant::ZERO).unwrap();
        let mut totals = conn.stats();
        totals += conn.stats();
        assert_eq!(
            summary(2, &totals),
            "served 2 connections: 0 requests (0 failed, 0 cancelled, 0 expired, \
             0 interrupted), 0 frames / 0 bytes in, 2 frames / 0 bytes out"
        );
        assert!(summary(1, &Stats::default()).starts_with("served 1 connection: 0 requests"));
    }
}
