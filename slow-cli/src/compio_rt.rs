//! The `compio` runtime: slow-compio's, on io_uring. compio is
//! thread-per-core: one runtime (and one io_uring) per thread, whose tasks
//! stay there and need not be `Send`. So it is not a [`Job`] runtime; the
//! commands come here, run the same work (`call_on`, `scenarios_on`,
//! `load`, written over [`Connects`]) on each thread's runtime, and spawn
//! its tasks as local ones.
//!
//! Serving over TCP takes `--threads N` threads (default 1), each with its
//! own runtime and its own listener on the one port (`SO_REUSEPORT` when
//! N > 1, as slow-compio's `ThreadPerCore`), so the kernel spreads the
//! connections. `--max-connections` is one limit for the whole server, not
//! one per thread: a connection over it is handed to a second server on its
//! thread whose limit is 0, which answers GOAWAY CONNECTION_LIMIT the
//! driver's own way and does not count it. A Unix socket is served on one
//! thread (`SO_REUSEPORT` has no meaning there): `--threads` above 1 with a
//! `unix:` address is a usage error.
//!
//! io_uring may be missing (a kernel older than 5.1, `kernel.io_uring_disabled`,
//! a container's seccomp profile); every command says which, with exit
//! status 2 ([`CliError::Unavailable`]), before it starts. There is no
//! epoll fallback.
//!
//! [`Job`]: crate::runtime::Job
//! [`Connects`]: crate::runtime::Connects

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker, ready};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use compio::net::{TcpListener, TcpStream};
use slow_compio::{Compio, CompioListener, CompioStream};
use slow_driver::runtime::{Completion, CompletionStream, Listener};
use slow_driver::{Addr, Config, Server, Stats};
use slow_interop::driver::InteropService;

use crate::bench::{BenchOptions, Live, LoadResult, Recorder, SERVER_STOP_WAIT, Worker, load};
use crate::call::{CallOptions, CallOutcome, call_on};
use crate::demo::{ConcurrentRequest, ScenarioResult, scenarios_on};
use crate::error::CliError;
use crate::options::ServeOptions;
use crate::runtime::timeout_at;
use crate::trigger::{Countdown, Trigger};

/// How long starting the server threads may take.
const START_WAIT: Duration = Duration::from_secs(10);

/// A compio runtime for this thread, or why io_uring is unavailable.
fn runtime() -> Result<compio::runtime::Runtime, CliError> {
    slow_compio::runtime().map_err(CliError::from)
}

/// Runs `task` on this thread's runtime, detached.
fn spawn(task: impl Future<Output = ()> + 'static) {
    compio::runtime::spawn(task).detach();
}

/// `slow call --runtime compio`.
pub(crate) fn call(options: &CallOptions) -> Result<CallOutcome, CliError> {
    runtime()?.block_on(call_on(Compio::new(), options.clone()))
}

/// The demo's scenarios with a compio client.
pub(crate) fn scenarios(addr: &str) -> Result<Vec<ScenarioResult>, CliError> {
    let spawn = |request: ConcurrentRequest<Compio>| spawn(request.run());
    Ok(runtime()?.block_on(scenarios_on(Compio::new(), addr, None, &spawn)))
}

/// The threads a compio bench runs on: `--threads` (default 1), at most
/// one per connection.
pub(crate) fn bench_threads(options: &BenchOptions) -> usize {
    options
        .threads
        .unwrap_or(1)
        .clamp(1, options.connections.max(1))
}

/// `slow bench --runtime compio`: the connections dealt out over
/// [`bench_threads`] threads, each with its own runtime; they start
/// sending together, and their measurements are added up. Without an
/// address, each thread also serves the INTEROP service on a listener of
/// its own on one loopback port (thread-per-core: the same threads, as the
/// other runtimes' in-process server), until every thread's load is done.
pub(crate) fn bench(addr: Option<&str>, options: &BenchOptions, live: &Arc<Live>) -> LoadResult {
    slow_compio::available()?;
    let threads = bench_threads(options);
    let (target, mut listeners) = match addr {
        Some(addr) => (addr.to_owned(), Vec::new()),
        None => {
            let (addr, listeners) = tcp_listeners("127.0.0.1:0", threads)?;
            (addr.to_string(), listeners)
        }
    };
    listeners.reverse(); // popped in thread order
    let connected = Countdown::new(threads);
    let loaded = Countdown::new(threads);
    let mut handles = Vec::with_capacity(threads);
    let mut failed = None;
    for i in 0..threads {
        let share = options.connections / threads + usize::from(i < options.connections % threads);
        let thread = BenchThread {
            listener: listeners.pop(),
            addr: target.clone(),
            connections: share,
            options: options.clone(),
            live: live.clone(),
            connected: connected.clone(),
            loaded: loaded.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("slow-compio-{i}"))
            .spawn(move || thread.run());
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                // The others must not wait for it.
                connected.done();
                loaded.done();
                failed.get_or_insert(CliError::Io {
                    what: "starting a bench thread",
                    source: e,
                });
            }
        }
    }
    let mut duration = Duration::ZERO;
    let mut recorder = Recorder::default();
    let mut stats = Stats::default();
    for handle in handles {
        match handle.join() {
            Ok(Ok((took, measured, counted))) => {
                duration = duration.max(took);
                recorder.merge(measured);
                stats += counted;
            }
            Ok(Err(e)) => {
                failed.get_or_insert(e);
            }
            Err(_) => {
                failed.get_or_insert(CliError::Setup("a compio bench thread panicked".into()));
            }
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let server = match addr {
        Some(addr) => addr.to_owned(),
        None => format!("in-process {target}"),
    };
    Ok((server, duration, recorder, stats))
}

/// One thread of a compio bench.
struct BenchThread {
    /// Its share of the in-process server (without an address).
    listener: Option<std::net::TcpListener>,
    addr: String,
    connections: usize,
    options: BenchOptions,
    live: Arc<Live>,
    /// Counted down when this thread's connections are up.
    connected: Countdown,
    /// Counted down when this thread's load is done.
    loaded: Countdown,
}

impl BenchThread {
    fn run(self) -> Result<(Duration, Recorder, Stats), CliError> {
        let BenchThread {
            listener,
            addr,
            connections,
            options,
            live,
            connected,
            loaded,
        } = self;
        // Whatever becomes of this thread, the others must not wait for it.
        let give_up = |e: CliError| {
            connected.done();
            loaded.done();
            Err(e)
        };
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(e) => return give_up(e),
        };
        rt.block_on(async {
            let rt = Compio::new();
            let server = match listener.map(serve_here).transpose() {
                Ok(server) => server,
                Err(e) => return give_up(e),
            };
            let spawn = |worker: Worker<Compio>| spawn(worker.run());
            let result = load(
                &rt,
                &addr,
                connections,
                &options,
                &live,
                Some(&connected),
                &spawn,
            )
            .await;
            // Every thread's clients may be connected to this thread's
            // server: it serves until all of them are done.
            loaded.done();
            loaded.wait().await;
            if let Some((stop, done)) = server {
                stop.fire();
                let _ = timeout_at(&rt, Instant::now() + SERVER_STOP_WAIT, done.wait()).await;
            }
            result
        })
    }
}

/// Serves the INTEROP service on `listener` on this thread's runtime
/// until the first trigger fires; the second fires when it is done.
fn serve_here(listener: std::net::TcpListener) -> Result<(Trigger, Trigger), CliError> {
    let listener =
        TcpListener::from_std(listener).map_err(CliError::io("serving on the compio runtime"))?;
    let server = Server::<Compio, CompioListener>::from_listener_on(
        Compio::new(),
        CompioListener::new(listener),
        Config::default(),
    )?;
    let (stop, done) = (Trigger::new(), Trigger::new());
    let (stopped, finished) = (stop.clone(), done.clone());
    spawn(async move {
        let service = InteropService::new(Compio::new());
        let _ = server.serve_with_shutdown(service, stopped.wait()).await;
        finished.fire();
    });
    Ok((stop, done))
}

/// `n` listening sockets on `addr` (its first address that binds; port 0
/// picks one, and the others take the same), sharing the port with
/// `SO_REUSEPORT` when there are several. One alone does not set it, so a
/// second server on a port in use fails as on every other runtime.
fn tcp_listeners(
    addr: &str,
    n: usize,
) -> Result<(SocketAddr, Vec<std::net::TcpListener>), CliError> {
    let failed = |e: &dyn std::fmt::Display| crate::server::bind_error(addr, e);
    let share = n > 1;
    let mut last = None;
    let mut first = None;
    for candidate in addr.to_socket_addrs().map_err(|e| failed(&e))? {
        match listener(candidate, share) {
            Ok(l) => {
                first = Some(l);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let first = match (first, last) {
        (Some(first), _) => first,
        (None, Some(e)) => return Err(failed(&e)),
        (None, None) => return Err(failed(&"no address")),
    };
    let bound = first.local_addr().map_err(|e| failed(&e))?;
    let mut listeners = vec![first];
    for _ in 1..n {
        listeners.push(listener(bound, share).map_err(|e| failed(&e))?);
    }
    Ok((bound, listeners))
}

/// One listening socket on `addr`, sharing it (`SO_REUSEPORT`) if `share`.
fn listener(addr: SocketAddr, share: bool) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // As std's TcpListener::bind: a restarted server rebinds at once.
    socket.set_reuse_address(true)?;
    if share {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// A compio server running on its threads: what `RunningServer` holds.
pub(crate) struct Serving {
    /// Where it listens.
    pub(crate) addr: Addr,
    /// Fired to shut every thread down gracefully.
    pub(crate) stop: Trigger,
    /// The connections the finished threads served, and their stats,
    /// added up (all of them once every thread has ended).
    pub(crate) served: Arc<Mutex<(u64, Stats)>>,
    /// The serving threads.
    pub(crate) threads: Vec<JoinHandle<Result<(), CliError>>>,
}

/// `slow serve --runtime compio`: the INTEROP service on `threads` threads
/// (default 1; a Unix socket takes one), each with its own runtime.
/// Returns once every thread serves.
pub(crate) fn serve(
    addr: &str,
    options: &ServeOptions,
    threads: Option<usize>,
) -> Result<Serving, CliError> {
    let threads = threads.unwrap_or(1).max(1);
    let unix = addr.starts_with("unix:");
    if unix && threads > 1 {
        return Err(CliError::Usage(format!(
            "--threads {threads} with {addr}: compio serves many threads with a listener \
             per thread on one port (SO_REUSEPORT), which does not apply to a Unix socket; \
             a unix: address is served on one thread (leave out --threads)"
        )));
    }
    slow_compio::available()?;
    let config = options.config();
    config
        .validate()
        .map_err(|e| crate::server::bind_error(addr, e))?;
    let stop = Trigger::new();
    let served = Arc::new(Mutex::new((0, Stats::default())));
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut serving = Serving {
        addr: Addr::Unknown,
        stop: stop.clone(),
        served: served.clone(),
        threads: Vec::new(),
    };
    let mut spawn_thread = |i: usize, work: ServeThread| {
        std::thread::Builder::new()
            .name(format!("slow-compio-server-{i}"))
            .spawn(move || work.run())
            .map(|handle| serving.threads.push(handle))
            .map_err(CliError::io("starting a server thread"))
    };
    let slots = Arc::new(Slots::new(options.max_connections));
    let work = |at: At| ServeThread {
        at,
        config: config.clone(),
        max_connections: options.max_connections,
        slots: slots.clone(),
        stop: stop.clone(),
        ready: ready_tx.clone(),
        served: served.clone(),
    };
    let started = if unix {
        spawn_thread(0, work(At::Unix(addr.to_owned())))
    } else {
        tcp_listeners(addr, threads).and_then(|(_, listeners)| {
            (0..)
                .zip(listeners)
                .try_for_each(|(i, l)| spawn_thread(i, work(At::Tcp(l))))
        })
    };
    drop(ready_tx);
    let result = started.and_then(|()| {
        let deadline = Instant::now() + START_WAIT;
        let mut addr = Addr::Unknown;
        for _ in 0..serving.threads.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match ready_rx.recv_timeout(left) {
                Ok(Ok(bound)) => addr = bound,
                Ok(Err(e)) => return Err(e),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(CliError::Setup(format!(
                        "the compio server did not start within {START_WAIT:?}"
                    )));
                }
                // A thread ended without a word: its result says why.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(CliError::Setup(
                        "a compio server thread did not start".into(),
                    ));
                }
            }
        }
        Ok(addr)
    });
    match result {
        Ok(addr) => {
            serving.addr = addr;
            Ok(serving)
        }
        Err(e) => {
            stop.fire();
            let mut e = e;
            for thread in serving.threads.drain(..) {
                if let Ok(Err(why)) = thread.join() {
                    if matches!(e, CliError::Setup(_)) {
                        e = why;
                    }
                }
            }
            Err(e)
        }
    }
}

/// What a server thread serves on.
enum At {
    /// Its own listener on the server's port.
    Tcp(std::net::TcpListener),
    /// The Unix socket at this `unix:PATH` (bound on the thread).
    Unix(String),
}

/// One server thread.
struct ServeThread {
    at: At,
    config: Config,
    max_connections: usize,
    /// The whole server's connection limit, shared by its threads.
    slots: Arc<Slots>,
    stop: Trigger,
    /// Where it says it serves (or why it cannot).
    ready: mpsc::Sender<Result<Addr, CliError>>,
    served: Arc<Mutex<(u64, Stats)>>,
}

impl ServeThread {
    fn run(self) -> Result<(), CliError> {
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = self.ready.send(Err(e));
                return Ok(());
            }
        };
        rt.block_on(async move {
            match self.at {
                At::Tcp(listener) => {
                    serve_tcp(
                        listener,
                        self.config,
                        self.slots,
                        self.stop,
                        self.ready,
                        &self.served,
                    )
                    .await
                }
                At::Unix(addr) => {
                    serve_unix(
                        &addr,
                        self.config,
                        self.max_connections,
                        self.stop,
                        self.ready,
                        &self.served,
                    )
                    .await
                }
            }
        })
    }
}

/// Adds what a thread's server served to the whole server's totals.
fn add_up(
    served: &Mutex<(u64, Stats)>,
    stats: &slow_driver::ServerStats<slow_driver::runtime::Local>,
) {
    let mut sum = served.lock().unwrap_or_else(|p| p.into_inner());
    sum.0 += stats.connections();
    sum.1 += stats.totals();
}

/// One thread's share of a TCP server: its listener, behind a gate that
/// keeps the whole server's connection limit.
async fn serve_tcp(
    listener: std::net::TcpListener,
    config: Config,
    slots: Arc<Slots>,
    stop: Trigger,
    ready: mpsc::Sender<Result<Addr, CliError>>,
    served: &Mutex<(u64, Stats)>,
) -> Result<(), CliError> {
    let servers = TcpListener::from_std(listener)
        .map_err(slow_driver::Error::Io)
        .and_then(|listener| {
            let gate = Gate::new(listener, slots);
            let addr = Addr::Tcp(gate.local_addr()?);
            // The gate is the limit; the server's own would be a second,
            // per thread, freed a moment apart from the gate's.
            let admitted =
                Server::from_listener_on(Compio::new(), gate.admitted(), config.clone())?
                    .max_connections(usize::MAX);
            // Every stream it gets is over the limit: it answers GOAWAY
            // CONNECTION_LIMIT, and closes, as a server at its limit does.
            let refused =
                Server::from_listener_on(Compio::new(), gate.refused(), config)?.max_connections(0);
            Ok((addr, admitted, refused))
        });
    let (addr, admitted, refused) = match servers {
        Ok(servers) => servers,
        Err(e) => {
            let _ = ready.send(Err(CliError::from(e)));
            return Ok(());
        }
    };
    let stats = admitted.stats_handle();
    let _ = ready.send(Ok(addr));
    let stopped = stop.clone();
    spawn(async move {
        let service = InteropService::new(Compio::new());
        let _ = refused.serve_with_shutdown(service, stopped.wait()).await;
    });
    let service = InteropService::new(Compio::new());
    let result = admitted.serve_with_shutdown(service, stop.wait()).await;
    add_up(served, &stats);
    Ok(result?)
}

/// A Unix socket server, on this one thread.
async fn serve_unix(
    addr: &str,
    config: Config,
    max_connections: usize,
    stop: Trigger,
    ready: mpsc::Sender<Result<Addr, CliError>>,
    served: &Mutex<(u64, Stats)>,
) -> Result<(), CliError> {
    let bound = Server::<Compio>::bind_on(Compio::new(), addr, config).await;
    let server = match bound.and_then(|s| Ok((s.local_addr()?, s))) {
        Ok((bound, server)) => {
            let _ = ready.send(Ok(bound));
            server.max_connections(max_connections)
        }
        Err(e) => {
            let e = match e {
                // It names the socket already: say it once.
                slow_driver::Error::Unix { source, .. } => crate::server::bind_error(addr, source),
                e => crate::server::bind_error(addr, e),
            };
            let _ = ready.send(Err(e));
            return Ok(());
        }
    };
    let stats = server.stats_handle();
    let service = InteropService::new(Compio::new());
    let result = server.serve_with_shutdown(service, stop.wait()).await;
    add_up(served, &stats);
    Ok(result?)
}

/// A server's connection limit across its threads: the live connections
/// it admitted, each holding a [`Slot`] until its stream is dropped (when
/// its driver is done, draining included).
#[derive(Debug)]
struct Slots {
    max: usize,
    live: AtomicUsize,
}

impl Slots {
    fn new(max: usize) -> Slots {
        Slots {
            max,
            live: AtomicUsize::new(0),
        }
    }

    /// A slot, if the server is under its limit.
    fn take(self: &Arc<Self>) -> Option<Slot> {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| {
                (live < self.max).then_some(live + 1)
            })
            .ok()
            .map(|_| Slot(self.clone()))
    }
}

/// One admitted connection's place under the limit.
#[derive(Debug)]
struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An admitted connection's stream: compio's, holding its [`Slot`].
struct Counted {
    stream: CompioStream,
    _slot: Slot,
}

impl CompletionStream for Counted {
    type Read = <CompioStream as CompletionStream>::Read;
    type Write = <CompioStream as CompletionStream>::Write;
    type Shutdown = <CompioStream as CompletionStream>::Shutdown;

    fn read(&mut self, buf: bytes::BytesMut) -> Self::Read {
        self.stream.read(buf)
    }

    fn write(&mut self, bufs: Vec<bytes::Bytes>) -> Self::Write {
        self.stream.write(bufs)
    }

    fn shutdown(&mut self) -> Self::Shutdown {
        self.stream.shutdown()
    }
}

type Accept = Pin<Box<dyn Future<Output = io::Result<(TcpStream, SocketAddr)>>>>;

/// One thread's listener, split in two: what the limit admits (with a
/// slot) and what it does not (for the refusing server). Both halves are
/// on the thread, so an `Rc<RefCell>` is all they share.
#[derive(Clone)]
struct Gate(Rc<RefCell<GateInner>>);

struct GateInner {
    listener: TcpListener,
    accept: Option<Accept>,
    slots: Arc<Slots>,
    /// Accepted over the limit, for the refusing server.
    over: VecDeque<(TcpStream, SocketAddr)>,
    /// The refusing server's accept, waiting for one.
    waiting: Option<Waker>,
}

impl Gate {
    fn new(listener: TcpListener, slots: Arc<Slots>) -> Gate {
        Gate(Rc::new(RefCell::new(GateInner {
            listener,
            accept: None,
            slots,
            over: VecDeque::new(),
            waiting: None,
        })))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.borrow().listener.local_addr()
    }

    fn admitted(&self) -> Admitted {
        Admitted(self.clone())
    }

    fn refused(&self) -> Refused {
        Refused(self.clone())
    }
}

/// The connections the limit admits: what the serving server accepts.
/// Accepting is done here; those over the limit go to [`Refused`].
struct Admitted(Gate);

impl Listener for Admitted {
    type Stream = Completion<Counted>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Addr)>> {
        let mut gate = self.0.0.borrow_mut();
        let gate = &mut *gate;
        loop {
            let accept = gate.accept.get_or_insert_with(|| {
                let listener = gate.listener.clone();
                Box::pin(async move { listener.accept().await })
            });
            let result = ready!(accept.as_mut().poll(cx));
            gate.accept = None;
            let (stream, peer) = result?;
            // A socket that cannot take it is one that died already: its
            // connection fails on its own.
            let _ = stream.set_nodelay(true);
            match gate.slots.take() {
                Some(slot) => {
                    let stream = Counted {
                        stream: CompioStream(stream),
                        _slot: slot,
                    };
                    return Poll::Ready(Ok((Completion::new(stream), Addr::Tcp(peer))));
                }
                None => {
                    gate.over.push_back((stream, peer));
                    if let Some(waker) = gate.waiting.take() {
                        waker.wake();
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Addr> {
        self.0.local_addr().map(Addr::Tcp)
    }
}

/// The connections over the limit: what the refusing server accepts.
struct Refused(Gate);

impl Listener for Refused {
    type Stream = Completion<CompioStream>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Addr)>> {
        let mut gate = self.0.0.borrow_mut();
        match gate.over.pop_front() {
            Some((stream, peer)) => {
                Poll::Ready(Ok((Completion::new(CompioStream(stream)), Addr::Tcp(peer))))
            }
            None => {
                gate.waiting = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn local_addr(&self) -> io::Result<Addr> {
        self.0.local_addr().map(Addr::Tcp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_keep_the_limit_and_free_on_drop() {
        let slots = Arc::new(Slots::new(2));
        let a = slots.take().expect("first");
        let b = slots.take().expect("second");
        assert!(slots.take().is_none(), "over the limit");
        drop(a);
        let c = slots.take().expect("room again");
        assert_eq!(slots.live.load(Ordering::Acquire), 2);
        drop((b, c));
        assert_eq!(slots.live.load(Ordering::Acquire), 0);
        assert!(Arc::new(Slots::new(0)).take().is_none());
    }

    #[test]
    fn one_listener_does_not_share_its_port() {
        let (addr, listeners) = tcp_listeners("127.0.0.1:0", 1).expect("binds");
        assert_eq!(listeners.len(), 1);
        // Without SO_REUSEPORT on the first, a second cannot join it.
        assert!(listener(addr, true).is_err());
        let (addr, listeners) = tcp_listeners("127.0.0.1:0", 3).expect("binds");
        assert_eq!(listeners.len(), 3);
        assert!(listeners.iter().all(|l| l.local_addr().ok() == Some(addr)));
    }
}
