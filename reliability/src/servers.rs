//! The INTEROP service served by each runtime, each on a runtime instance of
//! its own, with its tasks and handlers counted where the runtime lets us.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use bytes::Bytes;
use interop_tests::servers::{Bound, Listen};
use slow_driver::runtime::{Local, Runtime, Stream};
use slow_driver::tls::ServerTls;
use slow_driver::{Config, Handler, LocalHandler, LocalRequest, Peer, Reply, Request};

use crate::tasks::{Counted, CountedLocal, TaskCount};

/// A runtime under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// slow-tokio.
    Tokio,
    /// slow-smol.
    Smol,
    /// slow-async-std.
    AsyncStd,
    /// slow-custom-example's mio loop (its server; its client, not an
    /// async one, is [`crate::clients::custom_round_trip`]).
    Custom,
    /// slow-compio: compio on io_uring, thread-per-core (server only here:
    /// its client is local, and the client code of these tests is written
    /// for `Send` runtimes). Needs io_uring: ask [`Kind::runs_here`].
    Compio,
    /// slow-local-example's thread-per-core runtime (`PerCore`, tasks not
    /// `Send`): a server on one thread here, and a client in the TLS
    /// tests (`clients::round_trip_as`); not in [`SERVERS`].
    Local,
}

/// Every server runtime (compio only where io_uring is available: see
/// [`Kind::runs_here`]).
pub const SERVERS: [Kind; 5] = [
    Kind::Tokio,
    Kind::Smol,
    Kind::AsyncStd,
    Kind::Custom,
    Kind::Compio,
];

impl Kind {
    /// The runtime's name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Tokio => "tokio",
            Kind::Smol => "smol",
            Kind::AsyncStd => "async-std",
            Kind::Custom => "custom",
            Kind::Compio => "compio",
            Kind::Local => "local",
        }
    }

    /// Whether this runtime can run on this machine: all can but compio
    /// where io_uring is unavailable, in which case `test` says why it
    /// skips (what needs compio first asks this, and returns if not).
    pub fn runs_here(self, test: &str) -> bool {
        self != Kind::Compio || interop_tests::util::io_uring(test)
    }
}

/// Every runtime with a TLS server (see [`TestServer::start_tls`]).
pub const TLS_SERVERS: [Kind; 5] = [
    Kind::Tokio,
    Kind::Smol,
    Kind::AsyncStd,
    Kind::Custom,
    Kind::Local,
];

/// What the handlers of a server did: a request counts as started when its
/// handler runs, completed when the handler returned its reply, dropped
/// when the handler was stopped first (cancel, deadline, connection gone).
#[derive(Debug, Default)]
pub struct HandlerStats {
    /// Handlers started.
    pub started: AtomicUsize,
    /// Handlers that produced a reply.
    pub completed: AtomicUsize,
    /// Handlers stopped before replying.
    pub dropped: AtomicUsize,
}

impl HandlerStats {
    /// Handlers running now.
    pub fn running(&self) -> usize {
        let s = self.started.load(Ordering::SeqCst);
        s - self.completed.load(Ordering::SeqCst) - self.dropped.load(Ordering::SeqCst)
    }
}

/// A [`Handler`] counting into [`HandlerStats`].
pub struct Counting<H> {
    inner: H,
    stats: Arc<HandlerStats>,
}

struct Running<'a> {
    stats: &'a HandlerStats,
    done: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let n = if self.done {
            &self.stats.completed
        } else {
            &self.stats.dropped
        };
        n.fetch_add(1, Ordering::SeqCst);
    }
}

impl HandlerStats {
    /// A handler starts: it ends as dropped unless marked done.
    fn start(&self) -> Running<'_> {
        self.started.fetch_add(1, Ordering::SeqCst);
        Running {
            stats: self,
            done: false,
        }
    }
}

impl<H: Handler> Handler for Counting<H> {
    async fn request(&self, request: Request) -> Reply {
        let mut running = self.stats.start();
        let reply = self.inner.request(request).await;
        running.done = true;
        reply
    }

    async fn notification(&self, body: Bytes, peer: Peer) {
        self.inner.notification(body, peer).await
    }
}

/// The same count on a local runtime (the compio server's handlers).
impl<H: LocalHandler> LocalHandler for Counting<H> {
    async fn request(&self, request: LocalRequest) -> Reply {
        let mut running = self.stats.start();
        let reply = self.inner.request(request).await;
        running.done = true;
        reply
    }

    async fn notification(&self, body: Bytes, peer: Peer<Local>) {
        self.inner.notification(body, peer).await
    }
}

/// The limit on waiting for a graceful shutdown, beyond the drain timeout.
const SHUTDOWN_SLACK: Duration = Duration::from_secs(10);

/// A server running the INTEROP service until [`shutdown`](Self::shutdown)
/// (or drop).
pub struct TestServer {
    /// Its runtime.
    pub kind: Kind,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its live tasks (`None` for the custom loop, which has no tasks; for
    /// compio, those of all its threads).
    pub tasks: Option<Arc<TaskCount>>,
    /// What its handlers did (`None` for the custom loop).
    pub handlers: Option<Arc<HandlerStats>>,
    stop: Option<Box<dyn FnOnce() -> Result<(), String> + Send>>,
}

impl TestServer {
    /// Starts the service on `kind` with `config` and the default
    /// connection limit.
    pub fn start(kind: Kind, config: Config) -> TestServer {
        TestServer::start_with(kind, config, slow_driver::DEFAULT_MAX_CONNECTIONS)
    }

    /// Starts the service on `kind` with `config`, refusing connections
    /// beyond `max_connections`.
    pub fn start_with(kind: Kind, config: Config, max_connections: usize) -> TestServer {
        match kind {
            Kind::Tokio => tokio_server(config, max_connections, None),
            Kind::Smol => smol_server(config, max_connections, None),
            Kind::AsyncStd => async_std_server(config, max_connections, None),
            Kind::Custom => custom_server(config, max_connections, None),
            Kind::Compio => compio_server(config, max_connections),
            Kind::Local => local_server(config, max_connections, None),
        }
    }

    /// Starts the service on `kind` over TLS with `tls` (with a client CA:
    /// mutual TLS), refusing connections beyond `max_connections`. The
    /// runtimes with a TLS server are [`TLS_SERVERS`]; a runtime's TLS
    /// server goes here (compio's once it has one).
    pub fn start_tls(
        kind: Kind,
        config: Config,
        max_connections: usize,
        tls: ServerTls,
    ) -> TestServer {
        match kind {
            Kind::Tokio => tokio_server(config, max_connections, Some(tls)),
            Kind::Smol => smol_server(config, max_connections, Some(tls)),
            Kind::AsyncStd => async_std_server(config, max_connections, Some(tls)),
            Kind::Local => local_server(config, max_connections, Some(tls)),
            Kind::Custom => custom_server(config, max_connections, Some(tls)),
            Kind::Compio => panic!("no TLS server on {} yet", kind.name()),
        }
    }

    /// Live server tasks (connection drivers, handlers, notification
    /// tasks); `None` for the custom loop.
    pub fn live_tasks(&self) -> Option<usize> {
        self.tasks.as_ref().map(|t| t.live())
    }

    /// Shuts down gracefully (GOAWAY SHUTTING_DOWN, drain) and stops the
    /// runtime; `Err` if that failed or did not finish within the drain
    /// timeout plus 10 s.
    pub fn shutdown(mut self) -> Result<(), String> {
        self.stop.take().map_or(Ok(()), |stop| stop())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop();
        }
    }
}

/// A stop signal for `serve_with_shutdown`: completes when the sender is
/// dropped. async-channel needs no reactor and works on every runtime.
fn stop_signal() -> (
    smol::channel::Sender<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = smol::channel::bounded::<()>(1);
    (tx, async move {
        let _ = rx.recv().await;
    })
}

type Served = mpsc::Receiver<Result<(), String>>;

fn wait_served(name: &str, done: &Served, limit: Duration) -> Result<(), String> {
    match done.recv_timeout(limit) {
        Ok(r) => r.map_err(|e| format!("{name} server: serve returned {e}")),
        Err(_) => Err(format!(
            "{name} server: no graceful shutdown within {limit:?}"
        )),
    }
}

/// Everything the driver-based servers share: bind on `rt` wrapped in a
/// task counter (TLS on its listener when asked), serve the counted
/// INTEROP service until the signal.
struct DriverServer<R: Runtime> {
    server: Bound<Counted<R>>,
    rt: Counted<R>,
    handlers: Arc<HandlerStats>,
}

/// Where every test server listens, with TLS or not.
fn loopback(tls: Option<ServerTls>) -> Listen {
    Listen {
        tls,
        ..Listen::tcp()
    }
}

impl<R: Runtime<Stream: Stream, UnixStream: Stream>> DriverServer<R> {
    async fn bind(rt: R, config: Config, max_connections: usize, tls: Option<ServerTls>) -> Self {
        let rt = Counted::new(rt);
        let server = Bound::bind(rt.clone(), &loopback(tls), config, max_connections)
            .await
            .expect("bind");
        DriverServer {
            server,
            rt,
            handlers: Arc::default(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr().tcp().expect("a TCP address")
    }

    /// The serving future, reporting on `done` when it returns.
    fn serve(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
        done: mpsc::Sender<Result<(), String>>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let service = Counting {
            inner: slow_interop::driver::InteropService::new(self.rt.clone()),
            stats: self.handlers,
        };
        let server = self.server;
        async move {
            let r = server.serve(service, signal).await;
            let _ = done.send(r.map_err(|e| e.to_string()));
        }
    }
}

fn tokio_server(config: Config, max_connections: usize, tls: Option<ServerTls>) -> TestServer {
    let drain = config.drain_timeout;
    let rt = crate::clients::tokio_runtime("server-tokio");
    let on = slow_tokio::Tokio(rt.handle().clone());
    let server = rt.block_on(DriverServer::bind(on, config, max_connections, tls));
    let (addr, tasks, handlers) = (
        server.addr(),
        server.rt.tasks.clone(),
        server.handlers.clone(),
    );
    let (stop, signal) = stop_signal();
    let (done_tx, done) = mpsc::channel();
    rt.spawn(server.serve(signal, done_tx));
    TestServer {
        kind: Kind::Tokio,
        addr,
        tasks: Some(tasks),
        handlers: Some(handlers),
        stop: Some(Box::new(move || {
            drop(stop);
            let r = wait_served("tokio", &done, drain + SHUTDOWN_SLACK);
            rt.shutdown_timeout(Duration::from_secs(1));
            r
        })),
    }
}

/// A smol executor run by threads of our own, so the server can be stopped
/// with everything it spawned.
struct SmolPool {
    ex: Arc<smol::Executor<'static>>,
    stop: Option<smol::channel::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl SmolPool {
    fn new(threads: usize) -> SmolPool {
        let ex = Arc::new(smol::Executor::new());
        let (stop, rx) = smol::channel::bounded::<()>(1);
        let threads = (0..threads)
            .map(|i| {
                let (ex, rx) = (ex.clone(), rx.clone());
                thread::Builder::new()
                    .name(format!("server-smol-{i}"))
                    .spawn(move || {
                        smol::block_on(ex.run(async move {
                            let _ = rx.recv().await;
                        }))
                    })
                    .expect("spawn executor thread")
            })
            .collect();
        SmolPool {
            ex,
            stop: Some(stop),
            threads,
        }
    }

    fn stop(mut self) {
        drop(self.stop.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn smol_server(config: Config, max_connections: usize, tls: Option<ServerTls>) -> TestServer {
    let drain = config.drain_timeout;
    let pool = SmolPool::new(2);
    let on = slow_smol::Smol::on(pool.ex.clone());
    let server = smol::block_on(DriverServer::bind(on, config, max_connections, tls));
    let (addr, tasks, handlers) = (
        server.addr(),
        server.rt.tasks.clone(),
        server.handlers.clone(),
    );
    let (stop, signal) = stop_signal();
    let (done_tx, done) = mpsc::channel();
    pool.ex.spawn(server.serve(signal, done_tx)).detach();
    TestServer {
        kind: Kind::Smol,
        addr,
        tasks: Some(tasks),
        handlers: Some(handlers),
        stop: Some(Box::new(move || {
            drop(stop);
            let r = wait_served("smol", &done, drain + SHUTDOWN_SLACK);
            pool.stop();
            r
        })),
    }
}

fn async_std_server(config: Config, max_connections: usize, tls: Option<ServerTls>) -> TestServer {
    let drain = config.drain_timeout;
    let on = slow_async_std::AsyncStd;
    let server = async_std::task::block_on(DriverServer::bind(on, config, max_connections, tls));
    let (addr, tasks, handlers) = (
        server.addr(),
        server.rt.tasks.clone(),
        server.handlers.clone(),
    );
    let (stop, signal) = stop_signal();
    let (done_tx, done) = mpsc::channel();
    drop(async_std::task::spawn(server.serve(signal, done_tx)));
    TestServer {
        kind: Kind::AsyncStd,
        addr,
        tasks: Some(tasks),
        handlers: Some(handlers),
        stop: Some(Box::new(move || {
            drop(stop);
            wait_served("async-std", &done, drain + SHUTDOWN_SLACK)
        })),
    }
}

/// The custom loop's server, TLS on (rustls's config from `tls`) when
/// asked.
fn custom_server(config: Config, max_connections: usize, tls: Option<ServerTls>) -> TestServer {
    let drain = config.drain_timeout;
    let mut server =
        slow_custom_example::Server::bind("127.0.0.1:0".parse().expect("addr"), config)
            .expect("bind");
    if let Some(tls) = tls {
        server = server.tls(tls.config().clone());
    }
    server.set_max_connections(max_connections);
    let addr = server.local_addr();
    let thread = server.spawn().expect("spawn server thread");
    TestServer {
        kind: Kind::Custom,
        addr,
        tasks: None,
        handlers: None,
        stop: Some(Box::new(move || {
            // `shutdown` blocks until drained; bound the wait from outside.
            let (tx, done) = mpsc::channel();
            thread::spawn(move || {
                let _ = tx.send(thread.shutdown().map_err(|e| e.to_string()));
            });
            wait_served("custom", &done, drain + SHUTDOWN_SLACK)
        })),
    }
}

/// How many threads the compio server runs on, each its own runtime.
const COMPIO_THREADS: usize = 2;

/// The compio server: as slow-compio's `ThreadPerCore`, on
/// [`COMPIO_THREADS`] threads (`server-compio-N`) that share nothing, each
/// with its own compio runtime and io_uring, its own listener on the one
/// port (`SO_REUSEPORT`; the kernel spreads connections over them) and its
/// own driver `Server`; built here rather than with `ThreadPerCore` so that
/// each thread's runtime is wrapped in a task counter ([`CountedLocal`],
/// one count for all) and its handler in [`Counting`] (one
/// [`HandlerStats`] for all). `max_connections` is each thread's limit, as
/// `ThreadPerCore`'s config is each thread's. Shut down together: every
/// thread sends GOAWAY to its connections and drains. Needs io_uring
/// ([`Kind::runs_here`]).
fn compio_server(config: Config, max_connections: usize) -> TestServer {
    let drain = config.drain_timeout;
    let tasks = Arc::<TaskCount>::default();
    let handlers = Arc::<HandlerStats>::default();
    let first = reuse_port_listener("127.0.0.1:0".parse().expect("addr"));
    let addr = first.local_addr().expect("local_addr");
    let mut listeners = vec![first];
    listeners.extend((1..COMPIO_THREADS).map(|_| reuse_port_listener(addr)));
    // Dropping the sender stops every thread.
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let (done_tx, done) = mpsc::channel();
    let mut threads = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let (tasks, handlers, config) = (tasks.clone(), handlers.clone(), config.clone());
        let (stopped, done_tx) = (stopped.clone(), done_tx.clone());
        let (ready_tx, ready) = mpsc::channel();
        let thread = thread::Builder::new()
            .name(format!("server-compio-{i}"))
            .spawn(move || {
                let runtime = slow_compio::runtime().expect("a compio runtime (io_uring)");
                runtime.block_on(async move {
                    let rt = CountedLocal::with_count(slow_compio::Compio::new(), tasks);
                    let listener = compio::net::TcpListener::from_std(listener).expect("listener");
                    let server = slow_driver::Server::from_listener_on(
                        rt.clone(),
                        slow_compio::CompioListener::new(listener),
                        config,
                    )
                    .expect("server")
                    .max_connections(max_connections);
                    let _ = ready_tx.send(());
                    let service = Counting {
                        inner: slow_interop::driver::InteropService::new(rt),
                        stats: handlers,
                    };
                    let signal = async move {
                        let _ = stopped.recv().await;
                    };
                    let r = server.serve_with_shutdown(service, signal).await;
                    let _ = done_tx.send(r.map_err(|e| e.to_string()));
                })
            })
            .expect("spawn a compio server thread");
        ready
            .recv_timeout(Duration::from_secs(10))
            .expect("the compio server thread started serving");
        threads.push(thread);
    }
    TestServer {
        kind: Kind::Compio,
        addr,
        tasks: Some(tasks),
        handlers: Some(handlers),
        stop: Some(Box::new(move || {
            drop(stop);
            // The threads drain at once: each has the whole limit.
            let limit = drain + SHUTDOWN_SLACK;
            let results: Vec<_> = (0..COMPIO_THREADS)
                .map(|_| wait_served("compio", &done, limit))
                .collect();
            for thread in threads {
                if thread.join().is_err() {
                    return Err("compio server: a thread panicked".into());
                }
            }
            results.into_iter().collect()
        })),
    }
}

/// The thread-per-core runtime's server (`slow_local_example::PerCore`):
/// one thread (`server-local`) with its executor, listener and driver
/// `Server`, TLS on when asked. Built here rather than with
/// `PerCoreServer` (whose TLS the interop matrix covers) so that its tasks
/// are counted ([`CountedLocal`]) and it takes `max_connections`; one
/// thread, so that the limit is the server's, not one of several.
fn local_server(config: Config, max_connections: usize, tls: Option<ServerTls>) -> TestServer {
    let drain = config.drain_timeout;
    let tasks = Arc::<TaskCount>::default();
    let handlers = Arc::<HandlerStats>::default();
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let (done_tx, done) = mpsc::channel();
    let (ready_tx, ready) = mpsc::channel();
    let (count, stats) = (tasks.clone(), handlers.clone());
    let thread = thread::Builder::new()
        .name("server-local".into())
        .spawn(move || {
            let runtime = slow_local_example::PerCore::new();
            runtime.block_on(async {
                let rt = CountedLocal::with_count(runtime.clone(), count);
                let server = Bound::bind(rt.clone(), &loopback(tls), config, max_connections)
                    .await
                    .expect("bind");
                let _ = ready_tx.send(server.local_addr().tcp().expect("a TCP address"));
                let service = Counting {
                    inner: slow_interop::driver::InteropService::new(rt),
                    stats,
                };
                let signal = async move {
                    let _ = stopped.recv().await;
                };
                let r = server.serve(service, signal).await;
                let _ = done_tx.send(r.map_err(|e| e.to_string()));
            })
        })
        .expect("spawn the local server thread");
    let addr = ready
        .recv_timeout(Duration::from_secs(10))
        .expect("the local server listening");
    TestServer {
        kind: Kind::Local,
        addr,
        tasks: Some(tasks),
        handlers: Some(handlers),
        stop: Some(Box::new(move || {
            drop(stop);
            let r = wait_served("local", &done, drain + SHUTDOWN_SLACK);
            if thread.join().is_err() {
                return Err("local server: its thread panicked".into());
            }
            r
        })),
    }
}

/// A listening socket on `addr` that other sockets may share
/// (`SO_REUSEPORT`), as `ThreadPerCore` binds each thread's.
fn reuse_port_listener(addr: SocketAddr) -> std::net::TcpListener {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    socket.set_reuse_port(true).expect("SO_REUSEPORT");
    socket.bind(&addr.into()).expect("bind");
    socket.listen(1024).expect("listen");
    socket.into()
}
