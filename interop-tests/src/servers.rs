//! The INTEROP server on each runtime, each on a runtime instance of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use slow_driver::Config;

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
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<Box<dyn FnOnce() -> Result<(), String> + Send>>,
}

impl RunningServer {
    /// A server at `addr`; `stop` shuts it down.
    pub fn new(
        name: &'static str,
        addr: SocketAddr,
        stop: Box<dyn FnOnce() -> Result<(), String> + Send>,
    ) -> Self {
        RunningServer {
            name,
            addr,
            stop: Some(stop),
        }
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

/// The interop server on a tokio multi-thread runtime of its own
/// (`workers` threads named `thread_name`).
pub fn tokio(workers: usize, thread_name: &str) -> RunningServer {
    use slow_interop::driver::InteropService;
    use slow_tokio::{Server, Tokio};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(thread_name)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let on = Tokio(rt.handle().clone());
    let server = rt
        .block_on(Server::bind_on(on.clone(), "127.0.0.1:0", server_config()))
        .expect("bind");
    let addr = server
        .local_addr()
        .expect("local_addr")
        .tcp()
        .expect("a TCP address");
    let (stop, signal) = stop_signal();
    let (done_tx, done) = mpsc::channel();
    rt.spawn(async move {
        let r = server
            .serve_with_shutdown(InteropService::new(on), signal)
            .await;
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
    use slow_interop::driver::InteropService;
    use slow_smol::{Server, Smol};
    let pool = SmolPool::new(threads, prefix);
    let on = Smol::on(pool.ex.clone());
    let server =
        smol::block_on(Server::bind_on(on.clone(), "127.0.0.1:0", server_config())).expect("bind");
    let addr = server
        .local_addr()
        .expect("local_addr")
        .tcp()
        .expect("a TCP address");
    let (stop, signal) = stop_signal();
    let (done_tx, done) = mpsc::channel();
    pool.ex
        .spawn(async move {
            let r = server
                .serve_with_shutdown(InteropService::new(on), signal)
                .await;
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
    use slow_async_std::{AsyncStd, Server};
    use slow_interop::driver::InteropService;
    let server =
        async_std::task::block_on(Server::bind_on(AsyncStd, "127.0.0.1:0", server_config()))
            .expect("bind");
    let addr = server
        .local_addr()
        .expect("local_addr")
        .tcp()
        .expect("a TCP address");
    let (stop, signal) = stop_signal();
    let (done_tx, done) = mpsc::channel();
    drop(async_std::task::spawn(async move {
        let r = server
            .serve_with_shutdown(InteropService::new(AsyncStd), signal)
            .await;
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
    let server = slow_local_example::PerCoreServer::builder(([127, 0, 0, 1], 0).into())
        .threads(threads)
        .thread_name(prefix)
        .config(server_config())
        .serve(slow_interop::driver::InteropService::new)
        .expect("serve on every thread");
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
        .serve(|| slow_interop::driver::InteropService::new(slow_compio::Compio::new()))
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
