//! Client and server over loopback, for each runtime, and the load patterns
//! of the end-to-end benchmarks.
//!
//! Threads and runtime flavours, the same on both sides of each comparison:
//!
//! - **tokio** (SLOW and baseline): the server on a current-thread runtime
//!   in its own thread, the client on another current-thread runtime on the
//!   bench thread. Two threads, one runtime each.
//! - **smol** (SLOW and baseline): one `smol::Executor` per side, each run by
//!   `smol::block_on` on its own thread (server thread, bench thread); the
//!   async-io reactor is driven by whichever of them is blocked on it.
//! - **async-std** (SLOW only): client and server tasks on async-std's
//!   global executor (its default: one worker per core, two here); the bench
//!   thread only waits.
//! - **custom** (SLOW only): the mio event loop of `slow-custom-example`, its
//!   server on its own thread, its client loop on the bench thread.
//!
//! Every server answers a request with its own body (an echo).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use slow_proto::Config;

use crate::baseline;

/// A boxed, sendable future with no output.
pub type BoxFut = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// One load pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// Its name: the criterion group is `e2e_<name>`.
    pub name: &'static str,
    /// What it shows, for the report.
    pub what: &'static str,
    /// Request and response body size.
    pub body: usize,
    /// Connections.
    pub conns: usize,
    /// Requests in flight on each connection (one task each, each waiting
    /// for its response before sending the next).
    pub per_conn: usize,
}

impl Scenario {
    /// Requests in flight in all.
    pub fn in_flight(&self) -> usize {
        self.conns * self.per_conn
    }
}

/// The end-to-end scenarios.
pub const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "latency_1",
        what: "64 B, 1 request in flight, 1 connection",
        body: crate::SMALL,
        conns: 1,
        per_conn: 1,
    },
    Scenario {
        name: "inflight_64",
        what: "64 B, 64 in flight on 1 connection",
        body: crate::SMALL,
        conns: 1,
        per_conn: 64,
    },
    Scenario {
        name: "conns_64",
        what: "64 B, 64 connections, 1 in flight each",
        body: crate::SMALL,
        conns: 64,
        per_conn: 1,
    },
    Scenario {
        name: "body_64k",
        what: "64 KiB bodies, 16 in flight on 1 connection",
        body: crate::LARGE,
        conns: 1,
        per_conn: 16,
    },
];

/// The implementations benchmarked end to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imp {
    /// `slow-tokio`.
    SlowTokio,
    /// The hand-written tokio baseline.
    BaselineTokio,
    /// `slow-smol`.
    SlowSmol,
    /// The hand-written smol baseline.
    BaselineSmol,
    /// `slow-async-std`.
    SlowAsyncStd,
    /// `slow-custom-example`'s mio loop.
    Custom,
}

impl Imp {
    /// Every implementation, each SLOW adapter followed by its baseline.
    pub const ALL: [Imp; 6] = [
        Imp::SlowTokio,
        Imp::BaselineTokio,
        Imp::SlowSmol,
        Imp::BaselineSmol,
        Imp::SlowAsyncStd,
        Imp::Custom,
    ];

    /// The criterion function name.
    pub fn name(self) -> &'static str {
        match self {
            Imp::SlowTokio => "slow_tokio",
            Imp::BaselineTokio => "baseline_tokio",
            Imp::SlowSmol => "slow_smol",
            Imp::BaselineSmol => "baseline_smol",
            Imp::SlowAsyncStd => "slow_async_std",
            Imp::Custom => "slow_custom",
        }
    }

    /// The baseline this SLOW adapter is compared with, if it has one.
    pub fn baseline(self) -> Option<Imp> {
        match self {
            Imp::SlowTokio => Some(Imp::BaselineTokio),
            Imp::SlowSmol => Some(Imp::BaselineSmol),
            _ => None,
        }
    }

    /// Whether this is a hand-written baseline.
    pub fn is_baseline(self) -> bool {
        matches!(self, Imp::BaselineTokio | Imp::BaselineSmol)
    }
}

/// A running client and server for one scenario.
pub trait Bench {
    /// Performs `iters` round trips in the scenario's pattern and returns
    /// the wall time they took. With one request in flight, the latency of
    /// each round trip (ns) is pushed onto `latencies`.
    fn run(&mut self, iters: u64, latencies: &mut Vec<u64>) -> Duration;
}

/// Sets up `imp` for `scenario`: server started, clients connected.
pub fn start(imp: Imp, scenario: Scenario) -> Box<dyn Bench> {
    match imp {
        Imp::SlowTokio => tokio_rig(true, scenario),
        Imp::BaselineTokio => tokio_rig(false, scenario),
        Imp::SlowSmol => smol_rig(true, scenario),
        Imp::BaselineSmol => smol_rig(false, scenario),
        Imp::SlowAsyncStd => async_std_rig(scenario),
        Imp::Custom => custom::start(scenario),
    }
}

/// How many of `iters` requests worker `w` of `workers` makes.
pub fn share(iters: u64, workers: usize, w: usize) -> u64 {
    let workers = workers as u64;
    iters / workers + u64::from((w as u64) < iters % workers)
}

// ---- the async side, written once ---------------------------------------

/// A client of any of the async implementations.
pub trait Requester: Clone + Send + Sync + 'static {
    /// One round trip; returns the response body's length.
    fn call(&self, body: Bytes) -> impl Future<Output = usize> + Send;
}

macro_rules! slow_requester {
    ($($t:ty),*) => {$(
        impl Requester for $t {
            async fn call(&self, body: Bytes) -> usize {
                self.request(body).await.expect("SLOW request").len()
            }
        }
    )*};
}
slow_requester!(
    slow_tokio::Client,
    slow_smol::Client,
    slow_async_std::Client
);

impl Requester for baseline::tokio::Client {
    async fn call(&self, body: Bytes) -> usize {
        self.request(body).await.expect("baseline request").len()
    }
}

impl Requester for baseline::smol::Client {
    async fn call(&self, body: Bytes) -> usize {
        self.request(body).await.expect("baseline request").len()
    }
}

/// Where the client side's tasks run.
pub trait Exec {
    /// Runs `f` to completion on the bench thread.
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T;
    /// Spawns `f`; the returned future completes with it.
    fn spawn(&self, f: BoxFut) -> BoxFut;
}

/// A client-side runtime, the clients on it and the server they talk to.
pub struct AsyncRig<E: Exec, C: Requester> {
    clients: Vec<C>,
    exec: E,
    scenario: Scenario,
    _server: ServerThread,
}

impl<E: Exec, C: Requester> Bench for AsyncRig<E, C> {
    fn run(&mut self, iters: u64, latencies: &mut Vec<u64>) -> Duration {
        let body = crate::body(self.scenario.body);
        let len = body.len();
        let workers = self.scenario.in_flight();
        if workers == 1 {
            let client = &self.clients[0];
            latencies.reserve(iters as usize);
            return self.exec.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let t = Instant::now();
                    assert_eq!(client.call(body.clone()).await, len);
                    latencies.push(t.elapsed().as_nanos() as u64);
                }
                start.elapsed()
            });
        }
        let exec = &self.exec;
        let clients = &self.clients;
        exec.block_on(async {
            let start = Instant::now();
            let tasks: Vec<BoxFut> = (0..workers)
                .map(|w| {
                    let n = share(iters, workers, w);
                    let client = clients[w % clients.len()].clone();
                    let body = body.clone();
                    exec.spawn(Box::pin(async move {
                        for _ in 0..n {
                            assert_eq!(client.call(body.clone()).await, len);
                        }
                    }))
                })
                .collect();
            for task in tasks {
                task.await;
            }
            start.elapsed()
        })
    }
}

/// A server running on its own thread until dropped.
pub struct ServerThread {
    stop: Option<Box<dyn FnOnce() + Send>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// No thread: the server lives on a shared runtime (async-std).
    pub fn none(stop: impl FnOnce() + Send + 'static) -> ServerThread {
        ServerThread {
            stop: Some(Box::new(stop)),
            thread: None,
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts a server thread: `run` gets a sender for its address and a
/// receiver that yields once the server must stop.
fn server_thread(
    name: &str,
    run: impl FnOnce(std::sync::mpsc::Sender<SocketAddr>, StopSignal) + Send + 'static,
) -> (SocketAddr, ServerThread) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || run(addr_tx, StopSignal(stop_rx)))
        .expect("spawn server thread");
    let addr = addr_rx.recv().expect("server address");
    let server = ServerThread {
        // Dropping the sender closes the channel: the signal completes.
        stop: Some(Box::new(move || drop(stop_tx))),
        thread: Some(thread),
    };
    (addr, server)
}

/// Completes once the server must stop (works on any runtime).
pub struct StopSignal(smol::channel::Receiver<()>);

impl StopSignal {
    /// Waits for the stop.
    pub async fn wait(self) {
        let _ = self.0.recv().await;
    }
}

/// The configuration every SLOW side uses: the defaults.
pub fn config() -> Config {
    Config::default()
}

// ---- tokio ---------------------------------------------------------------

/// The tokio client side: a current-thread runtime on the bench thread.
pub struct TokioExec(tokio::runtime::Runtime);

impl TokioExec {
    fn new() -> TokioExec {
        TokioExec(current_thread_runtime())
    }
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

impl Exec for TokioExec {
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        self.0.block_on(f)
    }

    fn spawn(&self, f: BoxFut) -> BoxFut {
        let handle = self.0.spawn(f);
        Box::pin(async move { handle.await.expect("worker task") })
    }
}

async fn echo_slow_tokio(req: slow_tokio::Request) -> slow_tokio::Reply {
    Ok(req.body)
}

async fn echo_slow_smol(req: slow_smol::Request) -> slow_smol::Reply {
    Ok(req.body)
}

async fn echo_slow_async_std(req: slow_async_std::Request) -> slow_async_std::Reply {
    Ok(req.body)
}

/// Starts the tokio server (SLOW or baseline) on its own thread.
pub fn tokio_server(slow: bool) -> (SocketAddr, ServerThread) {
    server_thread("tokio-server", move |addr_tx, stop| {
        let rt = current_thread_runtime();
        rt.block_on(async move {
            let addr = if slow {
                let runtime = slow_tokio::Tokio(tokio::runtime::Handle::current());
                let server = slow_tokio::Server::bind_on(runtime, "127.0.0.1:0", config())
                    .await
                    .expect("bind");
                let addr = server.local_addr().expect("addr");
                tokio::spawn(server.serve(echo_slow_tokio));
                addr
            } else {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr");
                tokio::spawn(baseline::tokio::serve(listener));
                addr
            };
            addr_tx.send(addr).expect("send address");
            stop.wait().await;
        });
        // Dropping the runtime drops every task and closes every socket.
    })
}

fn tokio_rig(slow: bool, scenario: Scenario) -> Box<dyn Bench> {
    let (addr, server) = tokio_server(slow);
    let exec = TokioExec::new();
    if slow {
        let clients = exec.block_on(async {
            let mut clients = Vec::new();
            for _ in 0..scenario.conns {
                let runtime = slow_tokio::Tokio(tokio::runtime::Handle::current());
                clients.push(
                    slow_tokio::Client::connect_on(runtime, addr, config())
                        .await
                        .expect("connect"),
                );
            }
            clients
        });
        Box::new(AsyncRig {
            clients,
            exec,
            scenario,
            _server: server,
        })
    } else {
        let clients = exec.block_on(async {
            let mut clients = Vec::new();
            for _ in 0..scenario.conns {
                clients.push(
                    baseline::tokio::Client::connect(addr)
                        .await
                        .expect("connect"),
                );
            }
            clients
        });
        Box::new(AsyncRig {
            clients,
            exec,
            scenario,
            _server: server,
        })
    }
}

// ---- smol ----------------------------------------------------------------

/// The smol client side: an executor run by `smol::block_on` on the bench
/// thread.
///
/// Tasks hold the executor (`Smol::on`, the baseline's spawner), so an
/// executor and its sockets are not freed when a rig is dropped; they are
/// simply never polled again. A bench process makes a handful of rigs.
pub struct SmolExec(Arc<smol::Executor<'static>>);

impl Exec for SmolExec {
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        smol::block_on(self.0.run(f))
    }

    fn spawn(&self, f: BoxFut) -> BoxFut {
        Box::pin(self.0.spawn(f))
    }
}

/// Starts the smol server (SLOW or baseline) on its own thread.
pub fn smol_server(slow: bool) -> (SocketAddr, ServerThread) {
    server_thread("smol-server", move |addr_tx, stop| {
        let ex = Arc::new(smol::Executor::new());
        smol::block_on(ex.run(async {
            let addr = if slow {
                let runtime = slow_smol::Smol::on(ex.clone());
                let server = slow_smol::Server::bind_on(runtime, "127.0.0.1:0", config())
                    .await
                    .expect("bind");
                let addr = server.local_addr().expect("addr");
                ex.spawn(server.serve(echo_slow_smol)).detach();
                addr
            } else {
                let listener = smol::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr");
                ex.spawn(baseline::smol::serve(listener, ex.clone()))
                    .detach();
                addr
            };
            addr_tx.send(addr).expect("send address");
            stop.wait().await;
        }));
    })
}

fn smol_rig(slow: bool, scenario: Scenario) -> Box<dyn Bench> {
    let (addr, server) = smol_server(slow);
    let exec = SmolExec(Arc::new(smol::Executor::new()));
    let ex = exec.0.clone();
    if slow {
        let clients = exec.block_on(async {
            let mut clients = Vec::new();
            for _ in 0..scenario.conns {
                let runtime = slow_smol::Smol::on(ex.clone());
                clients.push(
                    slow_smol::Client::connect_on(runtime, addr, config())
                        .await
                        .expect("connect"),
                );
            }
            clients
        });
        Box::new(AsyncRig {
            clients,
            exec,
            scenario,
            _server: server,
        })
    } else {
        let clients = exec.block_on(async {
            let mut clients = Vec::new();
            for _ in 0..scenario.conns {
                clients.push(
                    baseline::smol::Client::connect(addr, &ex)
                        .await
                        .expect("connect"),
                );
            }
            clients
        });
        Box::new(AsyncRig {
            clients,
            exec,
            scenario,
            _server: server,
        })
    }
}

// ---- async-std -----------------------------------------------------------

/// The async-std side: its global runtime.
pub struct AsyncStdExec;

impl Exec for AsyncStdExec {
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        async_std::task::block_on(f)
    }

    fn spawn(&self, f: BoxFut) -> BoxFut {
        Box::pin(async_std::task::spawn(f))
    }
}

/// Starts the async-std SLOW server on the global runtime; dropping the
/// guard stops accepting (connections end when their clients close).
pub fn async_std_server() -> (SocketAddr, ServerThread) {
    async_std::task::block_on(async {
        let server =
            slow_async_std::Server::bind_on(slow_async_std::AsyncStd, "127.0.0.1:0", config())
                .await
                .expect("bind");
        let addr = server.local_addr().expect("addr");
        let task = async_std::task::spawn(server.serve(echo_slow_async_std));
        let stop = move || {
            async_std::task::block_on(task.cancel());
        };
        (addr, ServerThread::none(stop))
    })
}

fn async_std_rig(scenario: Scenario) -> Box<dyn Bench> {
    let (addr, server) = async_std_server();
    let clients = async_std::task::block_on(async {
        let mut clients = Vec::new();
        for _ in 0..scenario.conns {
            clients.push(
                slow_async_std::Client::connect_on(slow_async_std::AsyncStd, addr, config())
                    .await
                    .expect("connect"),
            );
        }
        clients
    });
    Box::new(AsyncRig {
        clients,
        exec: AsyncStdExec,
        scenario,
        _server: server,
    })
}

// ---- the custom event loop ------------------------------------------------

pub mod custom {
    //! `slow-custom-example`: a hand-written mio loop, no async runtime. Its
    //! server (the INTEROP service, which echoes bodies that are not
    //! commands) runs on its own thread; its completion-queue client runs
    //! on the bench thread, only while a benchmark runs it.

    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use slow_custom_example::{ClientLoop, Completion, ConnId, Server, ServerThread};

    use super::{Bench, Scenario, config, share};

    /// The custom loop's server on its own thread; stops (gracefully) when
    /// dropped.
    pub fn server() -> (SocketAddr, ServerThread) {
        let server = Server::bind("127.0.0.1:0".parse().expect("addr"), config())
            .expect("bind")
            .spawn()
            .expect("server thread");
        (server.local_addr(), server)
    }

    /// Connects once more and runs the loop until the handshake is done.
    pub fn connect(client: &mut ClientLoop, addr: SocketAddr) -> ConnId {
        let conn = client.connect(addr, config()).expect("connect");
        loop {
            match client.next_completion(Some(Duration::from_secs(10))) {
                Ok(Some(Completion::Connected { conn: c, .. })) if c == conn => return conn,
                Ok(Some(Completion::Closed { error, .. })) => panic!("closed: {error:?}"),
                Ok(Some(_)) => {}
                other => panic!("no handshake: {other:?}"),
            }
        }
    }

    struct Rig {
        // Dropped first: the sockets close, so the server has nothing to drain.
        client: ClientLoop,
        conns: Vec<ConnId>,
        scenario: Scenario,
        _server: ServerThread,
    }

    /// Sets up the custom loop for `scenario`.
    pub fn start(scenario: Scenario) -> Box<dyn Bench> {
        let (addr, server) = server();
        let mut client = ClientLoop::new().expect("client loop");
        let conns = (0..scenario.conns)
            .map(|_| connect(&mut client, addr))
            .collect();
        Box::new(Rig {
            client,
            conns,
            scenario,
            _server: server,
        })
    }

    impl Rig {
        fn next_response(&mut self) -> (ConnId, usize) {
            match self.client.next_completion(None).expect("loop") {
                Some(Completion::Response { conn, body, .. }) => (conn, body.len()),
                Some(other) => panic!("unexpected completion {other:?}"),
                None => panic!("loop ended"),
            }
        }
    }

    impl Bench for Rig {
        fn run(&mut self, iters: u64, latencies: &mut Vec<u64>) -> Duration {
            let body = crate::body(self.scenario.body);
            let len = body.len();
            let workers = self.scenario.in_flight();
            let start = Instant::now();
            if workers == 1 {
                latencies.reserve(iters as usize);
                for _ in 0..iters {
                    let t = Instant::now();
                    self.client
                        .request(self.conns[0], body.clone(), None)
                        .expect("request");
                    assert_eq!(self.next_response().1, len);
                    latencies.push(t.elapsed().as_nanos() as u64);
                }
                return start.elapsed();
            }
            // Each "worker" is a slot on a connection that sends its next
            // request when its response arrives, like the async workers.
            let mut sent = 0;
            for w in 0..workers {
                if share(iters, workers, w) > 0 {
                    let conn = self.conns[w % self.conns.len()];
                    self.client
                        .request(conn, body.clone(), None)
                        .expect("request");
                    sent += 1;
                }
            }
            let mut done = 0;
            while done < sent {
                let (conn, n) = self.next_response();
                assert_eq!(n, len);
                done += 1;
                if sent < iters {
                    self.client
                        .request(conn, body.clone(), None)
                        .expect("request");
                    sent += 1;
                }
            }
            start.elapsed()
        }
    }
}

// ---- idle clients, for memory per connection ------------------------------

/// Clients of one implementation that connect and then stay idle, with
/// their runtime created up front (so that it is not counted).
pub enum IdleClients {
    /// `slow-tokio` clients on a current-thread runtime.
    SlowTokio(TokioExec, Vec<slow_tokio::Client>),
    /// Baseline tokio clients.
    BaselineTokio(TokioExec, Vec<baseline::tokio::Client>),
    /// `slow-smol` clients on an executor of their own.
    SlowSmol(SmolExec, Vec<slow_smol::Client>),
    /// Baseline smol clients.
    BaselineSmol(SmolExec, Vec<baseline::smol::Client>),
    /// `slow-async-std` clients.
    SlowAsyncStd(Vec<slow_async_std::Client>),
    /// Connections of one custom-loop `ClientLoop`.
    Custom(
        slow_custom_example::ClientLoop,
        Vec<slow_custom_example::ConnId>,
    ),
}

impl IdleClients {
    /// The runtime (or loop) for `imp`, with room for `n` clients.
    pub fn new(imp: Imp, n: usize) -> IdleClients {
        let smol = || SmolExec(Arc::new(smol::Executor::new()));
        match imp {
            Imp::SlowTokio => IdleClients::SlowTokio(TokioExec::new(), Vec::with_capacity(n)),
            Imp::BaselineTokio => {
                IdleClients::BaselineTokio(TokioExec::new(), Vec::with_capacity(n))
            }
            Imp::SlowSmol => IdleClients::SlowSmol(smol(), Vec::with_capacity(n)),
            Imp::BaselineSmol => IdleClients::BaselineSmol(smol(), Vec::with_capacity(n)),
            Imp::SlowAsyncStd => IdleClients::SlowAsyncStd(Vec::with_capacity(n)),
            Imp::Custom => IdleClients::Custom(
                slow_custom_example::ClientLoop::new().expect("client loop"),
                Vec::with_capacity(n),
            ),
        }
    }

    /// Connects one more client to `addr` (handshake complete).
    pub fn connect(&mut self, addr: SocketAddr) {
        match self {
            IdleClients::SlowTokio(exec, v) => v.push(exec.block_on(async {
                let runtime = slow_tokio::Tokio(tokio::runtime::Handle::current());
                slow_tokio::Client::connect_on(runtime, addr, config())
                    .await
                    .expect("connect")
            })),
            IdleClients::BaselineTokio(exec, v) => v.push(exec.block_on(async {
                baseline::tokio::Client::connect(addr)
                    .await
                    .expect("connect")
            })),
            IdleClients::SlowSmol(exec, v) => {
                let runtime = slow_smol::Smol::on(exec.0.clone());
                v.push(exec.block_on(async {
                    slow_smol::Client::connect_on(runtime, addr, config())
                        .await
                        .expect("connect")
                }))
            }
            IdleClients::BaselineSmol(exec, v) => {
                let ex = exec.0.clone();
                v.push(exec.block_on(async {
                    baseline::smol::Client::connect(addr, &ex)
                        .await
                        .expect("connect")
                }))
            }
            IdleClients::SlowAsyncStd(v) => v.push(async_std::task::block_on(async {
                slow_async_std::Client::connect_on(slow_async_std::AsyncStd, addr, config())
                    .await
                    .expect("connect")
            })),
            IdleClients::Custom(client, v) => v.push(custom::connect(client, addr)),
        }
    }

    /// Lets every client task run for `d`, so that all are idle after.
    pub fn settle(&mut self, d: Duration) {
        match self {
            IdleClients::SlowTokio(exec, _) | IdleClients::BaselineTokio(exec, _) => {
                exec.block_on(async move { tokio::time::sleep(d).await })
            }
            IdleClients::SlowSmol(exec, _) | IdleClients::BaselineSmol(exec, _) => {
                exec.block_on(async {
                    smol::Timer::after(d).await;
                })
            }
            IdleClients::SlowAsyncStd(_) => std::thread::sleep(d),
            IdleClients::Custom(client, _) => {
                let end = Instant::now() + d;
                while let Some(left) = end.checked_duration_since(Instant::now()) {
                    client.run_once(Some(left)).expect("loop");
                }
            }
        }
    }
}

/// A running server of any implementation; stops when dropped.
pub enum AnyServer {
    /// One of the async servers.
    Async(ServerThread),
    /// The custom loop's.
    Custom(slow_custom_example::ServerThread),
}

/// Starts `imp`'s server (SLOW or baseline).
pub fn start_server(imp: Imp) -> (SocketAddr, AnyServer) {
    if imp == Imp::Custom {
        let (addr, server) = custom::server();
        return (addr, AnyServer::Custom(server));
    }
    let (addr, server) = match imp {
        Imp::SlowTokio => tokio_server(true),
        Imp::BaselineTokio => tokio_server(false),
        Imp::SlowSmol => smol_server(true),
        Imp::BaselineSmol => smol_server(false),
        Imp::SlowAsyncStd => async_std_server(),
        Imp::Custom => unreachable!(),
    };
    (addr, AnyServer::Async(server))
}
