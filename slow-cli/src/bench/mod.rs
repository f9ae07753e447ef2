//! `slow bench`: a load generator. Echo requests of `payload` bytes,
//! `concurrency` in flight on each of `connections` connections, for a
//! time or a number of requests; latency in an HDR histogram. Firing
//! [`BenchOptions::stop`] (the binary does on Ctrl-C) ends the run early
//! with a report of what was measured until then.
//!
//! Without a server address it serves the INTEROP service itself, in the
//! same process and on the same runtime (same threads), so one command
//! measures one runtime end to end.

mod progress;
pub mod stats;

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use slow_driver::runtime::{Reactor, Runtime};
use slow_driver::tls::ClientTls;
use slow_driver::{Client, Config, Server, Stats};
use slow_interop::driver::InteropService;

use crate::error::CliError;
use crate::runtime::{self, AsyncRuntime, Connects, Job, RuntimeKind, timeout_at};
use crate::trigger::{Countdown, Trigger};

pub use progress::Progress;
pub use stats::{Bucket, Limit, Live, Recorder, Report};

/// How long connecting (TCP and handshake) may take, per connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the in-process server may take to drain after the run.
pub(crate) const SERVER_STOP_WAIT: Duration = Duration::from_secs(5);

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Connections to open.
    pub connections: usize,
    /// Requests in flight per connection.
    pub concurrency: usize,
    /// Request body size in bytes.
    pub payload: usize,
    /// When to stop.
    pub limit: Limit,
    /// Worker threads of the runtime (`None`: its default).
    pub threads: Option<usize>,
    /// Each request's timeout (sent as DEADLINE).
    pub request_timeout: Duration,
    /// Draw a progress bar (when stderr is a terminal).
    pub progress: bool,
    /// Fired from any thread to end the run before its limit: requests in
    /// flight are dropped (cancelled) and the report, marked interrupted,
    /// covers what was measured until then.
    pub stop: Trigger,
    /// Connect over TLS with this (`None`: plaintext); only to a server
    /// at an address (the in-process one has no certificate).
    pub tls: Option<ClientTls>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            connections: 1,
            concurrency: 16,
            payload: 64,
            limit: Limit::Duration(Duration::from_secs(5)),
            threads: None,
            request_timeout: Duration::from_secs(10),
            progress: false,
            stop: Trigger::new(),
            tls: None,
        }
    }
}

/// The echo body every request carries: never a command (`!`).
pub fn payload(size: usize) -> Bytes {
    Bytes::from(vec![b'x'; size])
}

/// Runs a load test with a client of runtime `kind` against `addr`, or
/// against a server of its own when `addr` is `None`.
pub fn run(
    kind: RuntimeKind,
    addr: Option<&str>,
    options: &BenchOptions,
) -> Result<Report, CliError> {
    if options.tls.is_some() {
        kind.tls_supported()?;
        if addr.is_none() {
            return Err(CliError::Usage(
                "--tls-ca needs the server's ADDR (the in-process server has no certificate)"
                    .into(),
            ));
        }
    }
    let live = Arc::new(Live::new(options.limit, options.stop.clone()));
    let bar = options
        .progress
        .then(|| Progress::start(live.clone()))
        .flatten();
    let result = match kind {
        RuntimeKind::Custom => crate::custom::bench(addr, options, &live),
        RuntimeKind::Compio => crate::compio_rt::bench(addr, options, &live),
        _ => {
            let job = LoadJob {
                addr: addr.map(str::to_owned),
                options: options.clone(),
                live,
            };
            runtime::block_on(kind, options.threads, job).and_then(|r| r)
        }
    };
    if let Some(bar) = bar {
        bar.finish();
    }
    let (server, duration, recorder, stats) = result?;
    Ok(Report {
        runtime: kind.name().into(),
        threads: match kind {
            RuntimeKind::Custom => Some(1),
            // One runtime per thread, at most one thread per connection.
            RuntimeKind::Compio => Some(crate::compio_rt::bench_threads(options)),
            _ => options.threads,
        },
        server,
        connections: options.connections,
        concurrency: options.concurrency,
        payload: options.payload,
        duration,
        interrupted: options.stop.is_fired(),
        recorder,
        stats,
    })
}

/// (server description, measured duration, measurements, the client
/// connections' stats added up)
pub(crate) type LoadResult = Result<(String, Duration, Recorder, Stats), CliError>;

struct LoadJob {
    addr: Option<String>,
    options: BenchOptions,
    live: Arc<Live>,
}

impl Job for LoadJob {
    type Output = LoadResult;

    async fn run<R: AsyncRuntime>(self, rt: R) -> LoadResult {
        let (addr, own_server) = match &self.addr {
            Some(addr) => (addr.clone(), None),
            None => {
                let (addr, stop, done) = serve_here(&rt).await?;
                (addr, Some((stop, done)))
            }
        };
        let spawner = rt.clone();
        let spawn = move |worker: Worker<R>| spawner.spawn(worker.run());
        let connections = self.options.connections;
        let result = load(
            &rt,
            &addr,
            connections,
            &self.options,
            &self.live,
            None,
            &spawn,
        )
        .await;
        if let Some((stop, done)) = own_server {
            stop.fire();
            let _ = timeout_at(&rt, Instant::now() + SERVER_STOP_WAIT, done.wait()).await;
        }
        let (duration, recorder, stats) = result?;
        let server = if self.addr.is_some() {
            addr
        } else {
            format!("in-process {addr}")
        };
        Ok((server, duration, recorder, stats))
    }
}

/// Starts an INTEROP server on `rt`, on a free loopback port. Returns its
/// address, the trigger that stops it and the one it fires when done.
async fn serve_here<R: Runtime>(rt: &R) -> Result<(String, Trigger, Trigger), CliError> {
    let server = Server::<R>::bind_on(rt.clone(), "127.0.0.1:0", Config::default()).await?;
    let addr = server.local_addr()?.to_string();
    let (stop, done) = (Trigger::new(), Trigger::new());
    let (stopped, finished) = (stop.clone(), done.clone());
    let service = InteropService::new(rt.clone());
    rt.spawn(async move {
        let _ = server.serve_with_shutdown(service, stopped.wait()).await;
        finished.fire();
    });
    Ok((addr, stop, done))
}

/// `work`, or `None` if `stop` completes first (the work is dropped, which
/// cancels a request).
async fn unless<T, S: Future<Output = ()>>(
    mut stop: Pin<&mut S>,
    work: impl Future<Output = T>,
) -> Option<T> {
    let mut work = pin!(work);
    poll_fn(|cx| {
        if let Poll::Ready(v) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        stop.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Connects `connections` connections, runs the workers until the limit
/// (or the stop), closes. Returns the measured time, the measurements, and
/// the connections' stats as the load left them (before closing).
///
/// Written once for a runtime of either kind: `spawn` runs each worker as
/// a task of its own, the runtime's own way. When several threads share
/// one run (compio's runtime per thread), `connected` is counted down once
/// this one's connections are up (or failed), and the load starts when
/// every thread's are.
pub(crate) async fn load<R: Connects>(
    rt: &R,
    addr: &str,
    connections: usize,
    options: &BenchOptions,
    live: &Arc<Live>,
    connected: Option<&Countdown>,
    spawn: &impl Fn(Worker<R>),
) -> Result<(Duration, Recorder, Stats), CliError> {
    let connecting = connect_all(rt, addr, options.tls.as_ref(), connections, live).await;
    if let Some(connected) = connected {
        connected.done();
        let mut stopped = pin!(live.stop().wait());
        let _ = unless(stopped.as_mut(), connected.wait()).await;
    }
    let clients = connecting?;
    let workers = clients.len() * options.concurrency;
    let finished = Countdown::new(workers);
    let total = Arc::new(Mutex::new(Recorder::default()));
    let body = payload(options.payload);
    let started = live.start();
    for client in &clients {
        for _ in 0..options.concurrency {
            spawn(Worker {
                client: client.clone(),
                body: body.clone(),
                timeout: options.request_timeout,
                live: live.clone(),
                total: total.clone(),
                finished: finished.clone(),
            });
        }
    }
    finished.wait().await;
    let duration = started.elapsed();
    let stats = clients.iter().map(Client::stats).sum();
    for client in clients {
        let _ = timeout_at(rt, Instant::now() + Duration::from_secs(2), client.close()).await;
    }
    let recorder = std::mem::take(&mut *total.lock().unwrap_or_else(|p| p.into_inner()));
    Ok((duration, recorder, stats))
}

/// Opens `n` connections to `addr`, one after the other; fewer if the run
/// is stopped meanwhile.
async fn connect_all<R: Connects>(
    rt: &R,
    addr: &str,
    tls: Option<&ClientTls>,
    n: usize,
    live: &Live,
) -> Result<Vec<Client<R>>, CliError> {
    let mut clients = Vec::with_capacity(n);
    let mut stopped = pin!(live.stop().wait());
    for _ in 0..n {
        let connecting = rt.dial(addr, tls, Config::default());
        let connecting = timeout_at(rt, Instant::now() + CONNECT_TIMEOUT, connecting);
        // Stopped while connecting: nothing to measure; the workers
        // claim nothing and the report shows zero requests.
        let Some(connected) = unless(stopped.as_mut(), connecting).await else {
            break;
        };
        let client = connected
            .ok_or_else(|| CliError::TimedOut(format!("connecting to {addr}")))?
            // Where to, as a call and the custom loop's bench say it (a
            // failed TLS handshake is rustls's reason after the address).
            .map_err(|e| CliError::Connect {
                addr: addr.into(),
                reason: match e {
                    // It names the socket already: say it once.
                    slow_driver::Error::Unix { source, .. } => source.to_string(),
                    e => e.to_string(),
                },
            })?;
        clients.push(client);
    }
    Ok(clients)
}

/// One request at a time, back to back, until the limit; then its
/// measurements go into the run's total and it counts itself finished.
pub(crate) struct Worker<R: Reactor> {
    client: Client<R>,
    body: Bytes,
    timeout: Duration,
    live: Arc<Live>,
    total: Arc<Mutex<Recorder>>,
    finished: Countdown,
}

impl<R: Reactor> Worker<R> {
    /// Runs it (as a task of its own).
    pub(crate) async fn run(self) {
        let mut recorder = Recorder::default();
        // One wait for the whole run: re-polling it is one atomic load.
        let mut stopped = pin!(self.live.stop().wait());
        while self.live.claim() {
            let start = Instant::now();
            let request = self.client.request_timeout(self.body.clone(), self.timeout);
            // Stopped: the request in flight is cancelled and not counted.
            let Some(outcome) = unless(stopped.as_mut(), request).await else {
                break;
            };
            let ok = match outcome {
                Ok(body) if body == self.body => {
                    recorder.ok(start.elapsed());
                    true
                }
                Ok(_) => {
                    recorder.error("wrong echo".into());
                    false
                }
                Err(e) => {
                    recorder.error(stats::error_kind(&e));
                    false
                }
            };
            self.live.finish(ok);
            // A dead connection fails every request at once: stop, rather
            // than count a million instant errors.
            if !ok && self.client.is_closed() {
                break;
            }
        }
        self.total
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .merge(recorder);
        self.finished.done();
    }
}
