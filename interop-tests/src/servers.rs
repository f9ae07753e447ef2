//! The INTEROP server on each runtime, each on a runtime instance of its own:
//! plaintext or TLS, on TCP or a Unix socket, as a [`Listen`] says.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use slow_driver::net::{NetListener, NetStream};
use slow_driver::runtime::{Reactor, RunsServer, Stream};
use slow_driver::tls::{ServerTls, TlsListener, TlsNetStream};
use slow_driver::{Addr, Config, Error, Handler, LocalHandler, Server};
use slow_interop::driver::InteropService;

/// Server runtime names, in matrix order.
pub const TOKIO: &str = "tokio";
/// smol, on an executor of its own.
pub const SMOL: &str = "smol";
/// async-std's global runtime.
pub const ASYNC_STD: &str = "async-std";
/// The hand-written mio event loop of `slow-custom-example`.
pub const CUSTOM: &str = "custom";
/// `slow-local-example`'s thread-per-core runtime (tasks not `Send`).
pub const LOCAL: &str = "local";
/// slow-compio: compio's thread-per-core runtime on io_uring (tasks not
/// `Send`, completion-based IO).
pub const COMPIO: &str = "compio";

/// Connections a matrix server takes at once: the driver's default.
const MAX: usize = slow_driver::DEFAULT_MAX_CONNECTIONS;

/// How long [`RunningServer::shutdown`] waits for the graceful shutdown.
pub const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);

/// The config every matrix server uses: the defaults (the interop service's
/// defaults), with a short drain timeout so shutdown stays bounded.
pub fn server_config() -> Config {
    Config {
        drain_timeout: Duration::from_secs(2),
        ..Config::default()
    }
}

/// A server serving the interop service until [`shutdown`](Self::shutdown).
pub struct RunningServer {
    /// Runtime name.
    pub name: &'static str,
    /// Where it listens: a TCP address or a Unix socket.
    pub addr: Addr,
    stop: Option<Box<dyn FnOnce() -> Result<(), String> + Send>>,
}

impl RunningServer {
    /// A server at `addr`; `stop` shuts it down.
    pub fn new(
        name: &'static str,
        addr: impl Into<Addr>,
        stop: Box<dyn FnOnce() -> Result<(), String> + Send>,
    ) -> Self {
        RunningServer {
            name,
            addr: addr.into(),
            stop: Some(stop),
        }
    }

    /// Its TCP address (every server of the plaintext matrix has one).
    pub fn tcp(&self) -> std::net::SocketAddr {
        self.addr.tcp().expect("a TCP server")
    }

    /// Shuts the server down gracefully (GOAWAY SHUTTING_DOWN, drain) and
    /// stops its runtime; `Err` if that failed or took over
    /// [`SHUTDOWN_LIMIT`].
    pub fn shutdown(mut self) -> Result<(), String> {
        self.stop.take().map_or(Ok(()), |stop| stop())
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop();
        }
    }
}

type Done = mpsc::Receiver<Result<(), String>>;

/// Stop signal for `serve_with_shutdown`: completes when the sender is
/// dropped. async-channel is runtime-agnostic (no reactor, no thread).
fn stop_signal() -> (
    smol::channel::Sender<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = smol::channel::bounded::<()>(1);
    (tx, async move {
        let _ = rx.recv().await;
    })
}

fn wait_done(name: &str, done: &Done) -> Result<(), String> {
    match done.recv_timeout(SHUTDOWN_LIMIT) {
        Ok(r) => r.map_err(|e| format!("{name} server: serve returned {e}")),
        Err(_) => Err(format!(
            "{name} server: no graceful shutdown within {SHUTDOWN_LIMIT:?}"
        )),
    }
}

/// Where a matrix server listens and whether it speaks TLS.
#[derive(Debug, Clone)]
pub struct Listen {
    /// The address to bind: `HOST:PORT` (port 0 picks one) or `unix:PATH`.
    pub at: String,
    /// TLS on every accepted stream (with a client CA: mutual TLS).
    pub tls: Option<ServerTls>,
}

impl Listen {
    /// Plaintext TCP on a free loopback port (the plaintext matrix).
    pub fn tcp() -> Listen {
        Listen {
            at: "127.0.0.1:0".into(),
            tls: None,
        }
    }

    /// TLS with `tls` at `at`.
    pub fn tls(at: impl Into<String>, tls: ServerTls) -> Listen {
        Listen {
            at: at.into(),
            tls: Some(tls),
        }
    }
}

/// A driver server bound as a [`Listen`] says: TLS on its listener or not
/// (two types, one way to serve them).
pub enum Bound<R: Reactor> {
    /// Plaintext.
    Plain(Server<R>),
    /// TLS on what the listener accepts.
    Tls(Server<R, TlsListener<NetListener<R>>>),
}

impl<R: Reactor<Stream: Stream, UnixStream: Stream>> Bound<R> {
    /// Binds on `rt` at `listen.at` with `config`, refusing connections
    /// beyond `max_connections`.
    pub async fn bind(
        rt: R,
        listen: &Listen,
        config: Config,
        max_connections: usize,
    ) -> Result<Bound<R>, Error> {
        let server = Server::bind_on(rt, &listen.at, config)
            .await?
            .max_connections(max_connections);
        Ok(match &listen.tls {
            Some(tls) => Bound::Tls(server.tls(tls.clone())),
            None => Bound::Plain(server),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> Addr {
        match self {
            Bound::Plain(s) => s.local_addr(),
            Bound::Tls(s) => s.local_addr(),
        }
        .expect("local_addr")
    }

    /// Serves `handler` until `signal` completes, then shuts down
    /// gracefully.
    pub async fn serve<H: 'static>(
        self,
        handler: H,
        signal: impl Future<Output = ()>,
    ) -> Result<(), Error>
    where
        R: RunsServer<
                NetStream<<R as Reactor>::Stream, <R as Reactor>::UnixStream>,
                H,
                <R as Reactor>::Mode,
            > + RunsServer<TlsNetStream<R>, H, <R as Reactor>::Mode>,
    {
        match self {
            Bound::Plain(s) => s.serve_with_shutdown(handler, signal).await,
            Bound::Tls(s) => s.serve_with_shutdown(handler, signal).await,
        }
    }
}

/// The interop server on a tokio multi-thread runtime of its own
/// (`workers` threads named `thread_name`).
pub fn tokio(workers: usize, thread_name: &str) -> RunningServer {
    tokio_with(workers, thread_name, &Listen::tcp(), InteropService::new)
}

/// A tokio server as `listen` says, serving what `make` makes.
pub fn tokio_with<H: Handler>(
    workers: usize,
    thread_name: &str,
    listen: &Listen,
    make: impl FnOnce(slow_tokio::Tokio) -> H,
) -> RunningServer {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(thread_name)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let on = slow_tokio::Tokio(rt.handle().clone());
    let server = rt
        .block_on(Bound::bind(on.clone(), listen, server_config(), MAX))
        .expect("bind");
    let addr = server.local_addr();
    let (stop, signal) = stop_signal();
    let (done_tx, done) = mpsc::channel();
    let handler = make(on);
    rt.spawn(async move {
        let r = server.serve(handler, signal).await;
        let _ = done_tx.send(r.map_err(|e| e.to_string()));
    });
    RunningServer {
        name: TOKIO,
        addr,
        stop: Some(Box::new(move || {
            drop(stop);
            let r = wait_done(TOKIO, &done);
            rt.shutdown_timeout(Duration::from_secs(1));
            r
        })),
    }
}

/// A smol executor run by `threads` threads of our own, named
/// `{prefix}-{i}`; stopped (threads joined) by [`SmolPool::stop`].
pub struct SmolPool {
    /// The executor.
    pub ex: Arc<smol::Executor<'static>>,
    stop: Option<smol::channel::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl SmolPool {
    /// Starts the executor threads.
    pub fn new(threads: usize, prefix: &str) -> SmolPool {
        let ex = Arc::new(smol::Executor::new());
        let (stop, rx) = smol::channel::bounded::<()>(1);
        let threads = (0..threads)
            .map(|i| {
                let ex = ex.clone();
                let rx = rx.clone();
                thread::Builder::new()
                    .name(format!("{prefix}-{i}"))
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

    /// Stops and joins the executor threads.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        drop(self.stop.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for SmolPool {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// The interop server on a smol executor of its own (`threads` threads
/// named `{prefix}-{i}`), through `Smol::on`.
pub fn smol(threads: usize, prefix: &str) -> RunningServer {
    smol_with(threads, prefix, &Listen::tcp(), InteropService::new)
}

/// A smol server as `listen` says, serving what `make` makes.
pub fn smol_with<H: Handler>(
    threads: usize,
    prefix: &str,
    listen: &Listen,
    make: impl FnOnce(slow_smol::Smol) -> H,
) -> RunningServer {
    let pool = SmolPool::new(threads, prefix);
    let on = slow_smol::Smol::on(pool.ex.clone());
    let server =
        smol::block_on(Bound::bind(on.clone(), listen, server_config(), MAX)).expect("bind");
    let addr = server.local_addr();
    let (stop, signal) = stop_signal();
    let (done_tx, done) = mpsc::channel();
    let handler = make(on);
    pool.ex
        .spawn(async move {
            let r = server.serve(handler, signal).await;
            let _ = done_tx.send(r.map_err(|e| e.to_string()));
        })
        .detach();
    RunningServer {
        name: SMOL,
        addr,
        stop: Some(Box::new(move || {
            drop(stop);
            let r = wait_done(SMOL, &done);
            pool.stop();
            r
        })),
    }
}

/// The interop server on async-std's global runtime (the only one it has).
pub fn async_std() -> RunningServer {
    async_std_with(&Listen::tcp(), InteropService::new)
}

/// An async-std server as `listen` says, serving what `make` makes.
pub fn async_std_with<H: Handler>(
    listen: &Listen,
    make: impl FnOnce(slow_async_std::AsyncStd) -> H,
) -> RunningServer {
    use slow_async_std::AsyncStd;
    let server = async_std::task::block_on(Bound::bind(AsyncStd, listen, server_config(), MAX))
        .expect("bind");
    let addr = server.local_addr();
    let (stop, signal) = stop_signal();
    let (done_tx, done) = mpsc::channel();
    let handler = make(AsyncStd);
    drop(async_std::task::spawn(async move {
        let r = server.serve(handler, signal).await;
        let _ = done_tx.send(r.map_err(|e| e.to_string()));
    }));
    RunningServer {
        name: ASYNC_STD,
        addr,
        stop: Some(Box::new(move || {
            drop(stop);
            wait_done(ASYNC_STD, &done)
        })),
    }
}

/// The custom event loop's interop server, on its own thread (the loop
/// is single-threaded; its thread is its whole runtime).
pub fn custom() -> RunningServer {
    crate::custom::server()
}

/// The thread-per-core runtime's interop server: `threads` threads named
/// `{prefix}-N`, each with its own executor, listener (one port,
/// `SO_REUSEPORT`) and `LocalHandler`.
pub fn local(threads: usize, prefix: &str) -> RunningServer {
    local_with(threads, prefix, None, InteropService::new)
}

/// A `PerCoreServer` on TCP loopback, with TLS when `tls` is given
/// (`Builder::tls`; it binds TCP only), each thread serving what `make`
/// makes on it.
pub fn local_with<H: LocalHandler>(
    threads: usize,
    prefix: &str,
    tls: Option<ServerTls>,
    make: impl Fn(slow_local_example::PerCore) -> H + Clone + Send + 'static,
) -> RunningServer {
    let mut builder = slow_local_example::PerCoreServer::builder(([127, 0, 0, 1], 0).into())
        .threads(threads)
        .thread_name(prefix)
        .config(server_config());
    if let Some(tls) = tls {
        builder = builder.tls(tls);
    }
    let server = builder.serve(make).expect("serve on every thread");
    let addr = server.local_addr();
    RunningServer::new(
        LOCAL,
        addr,
        Box::new(move || {
            crate::util::with_watchdog("local-shutdown", SHUTDOWN_LIMIT, move || server.shutdown())?
                .map_err(|e| format!("local server: {e}"))
        }),
    )
}

/// slow-compio's interop server: a `ThreadPerCore` on `threads` threads
/// named `{prefix}-N`, each with its own compio runtime (its own
/// io_uring), listener (one port, `SO_REUSEPORT`) and `LocalHandler`.
/// Needs io_uring: ask [`crate::util::io_uring`] first.
pub fn compio(threads: usize, prefix: &str) -> RunningServer {
    let server = slow_compio::ThreadPerCore::builder(([127, 0, 0, 1], 0).into())
        .threads(threads)
        .thread_name(prefix)
        .config(server_config())
        .serve(|| InteropService::new(slow_compio::Compio::new()))
        .expect("serve on every thread");
    let addr = server.local_addr();
    RunningServer::new(
        COMPIO,
        addr,
        Box::new(move || {
            crate::util::with_watchdog("compio-shutdown", SHUTDOWN_LIMIT, move || {
                server.shutdown()
            })?
            .map(drop)
            .map_err(|e| format!("compio server: {e}"))
        }),
    )
}
