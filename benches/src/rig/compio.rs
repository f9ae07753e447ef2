//! compio, SLOW and the pipelined baseline: the server on a compio
//! runtime (its own io_uring) on its own thread, the client on another on
//! the bench thread. compio's tasks are not `Send`, so it has a rig of its
//! own rather than [`AsyncRig`](super::AsyncRig); the load is the same.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use slow_compio::{Client, Compio, LocalRequest, Server};

use super::server_thread::server_thread;
use super::{Bench, Imp, Scenario, ServerThread, config, share};
use crate::baseline;

/// The bench thread's compio runtime.
pub struct CompioExec(pub compio::runtime::Runtime);

impl CompioExec {
    /// A runtime for this thread; panics (saying why) without io_uring.
    pub fn new() -> CompioExec {
        CompioExec(slow_compio::runtime().unwrap_or_else(|e| panic!("compio: {e}")))
    }
}

impl Default for CompioExec {
    fn default() -> Self {
        CompioExec::new()
    }
}

/// Starts `imp`'s compio server (SLOW or the pipelined baseline) on its
/// own thread.
pub fn compio_server(imp: Imp) -> (SocketAddr, ServerThread) {
    server_thread("compio-server", move |addr_tx, stop| {
        CompioExec::new().0.block_on(async {
            let addr = match imp {
                Imp::SlowCompio => {
                    let server = Server::bind_on(Compio::new(), "127.0.0.1:0", config())
                        .await
                        .expect("bind");
                    let addr = server.local_addr().expect("addr").tcp().expect("TCP");
                    let echo = |req: LocalRequest| async move { Ok(req.body) };
                    compio::runtime::spawn(server.serve(echo)).detach();
                    addr
                }
                Imp::PipelinedCompio => {
                    let listener = compio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind");
                    let addr = listener.local_addr().expect("addr");
                    compio::runtime::spawn(baseline::compio::serve_pipelined(listener)).detach();
                    addr
                }
                other => panic!("{} is not served on compio", other.name()),
            };
            addr_tx.send(addr).expect("send address");
            stop.wait().await;
        })
    })
}

/// Connects `n` SLOW clients to `addr` on `exec`.
pub fn compio_clients(exec: &CompioExec, addr: SocketAddr, n: usize) -> Vec<Client> {
    connect_all(exec, n, || {
        Client::connect_on(Compio::new(), addr, config())
    })
}

/// Connects `n` pipelined baseline clients to `addr` on `exec`.
pub fn pipelined_compio_clients(
    exec: &CompioExec,
    addr: SocketAddr,
    n: usize,
) -> Vec<baseline::compio::Client> {
    connect_all(exec, n, || baseline::compio::Client::connect(addr))
}

/// Connects `n` clients one after another, each with `connect`.
fn connect_all<C, E: std::fmt::Debug, F: Future<Output = Result<C, E>>>(
    exec: &CompioExec,
    n: usize,
    connect: impl Fn() -> F,
) -> Vec<C> {
    exec.0.block_on(async {
        let mut clients = Vec::with_capacity(n);
        for _ in 0..n {
            clients.push(connect().await.expect("connect"));
        }
        clients
    })
}

/// A client on the bench thread's compio runtime: like
/// [`Requester`](super::Requester), without `Send`.
trait LocalRequester: Clone + 'static {
    /// One round trip; returns the response body's length.
    fn call(&self, body: Bytes) -> impl Future<Output = usize>;
}

impl LocalRequester for Client {
    async fn call(&self, body: Bytes) -> usize {
        self.request(body).await.expect("SLOW request").len()
    }
}

impl LocalRequester for baseline::compio::Client {
    async fn call(&self, body: Bytes) -> usize {
        self.request(body).await.expect("baseline request").len()
    }
}

struct CompioRig<C> {
    clients: Vec<C>,
    exec: CompioExec,
    scenario: Scenario,
    _server: ServerThread,
}

impl<C: LocalRequester> CompioRig<C> {
    fn boxed(
        clients: Vec<C>,
        exec: CompioExec,
        scenario: Scenario,
        server: ServerThread,
    ) -> Box<dyn Bench> {
        Box::new(CompioRig {
            clients,
            exec,
            scenario,
            _server: server,
        })
    }
}

pub(super) fn compio_rig(imp: Imp, scenario: Scenario) -> Box<dyn Bench> {
    let (addr, server) = compio_server(imp);
    let exec = CompioExec::new();
    let n = scenario.conns;
    if imp == Imp::SlowCompio {
        let clients = compio_clients(&exec, addr, n);
        CompioRig::boxed(clients, exec, scenario, server)
    } else {
        let clients = pipelined_compio_clients(&exec, addr, n);
        CompioRig::boxed(clients, exec, scenario, server)
    }
}

impl<C: LocalRequester> Bench for CompioRig<C> {
    fn run(&mut self, iters: u64, latencies: &mut Vec<u64>) -> Duration {
        let body = crate::body(self.scenario.body);
        let len = body.len();
        let workers = self.scenario.in_flight();
        let clients = &self.clients;
        // Every loop runs in a spawned task: compio wakes a `block_on`
        // future through an eventfd (a write and a read per wake-up), its
        // tasks through a queue.
        self.exec.0.block_on(async {
            if workers == 1 {
                let client = clients[0].clone();
                let mut times = std::mem::take(latencies);
                times.reserve(iters as usize);
                let (elapsed, times) = compio::runtime::spawn(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let t = Instant::now();
                        assert_eq!(client.call(body.clone()).await, len);
                        times.push(t.elapsed().as_nanos() as u64);
                    }
                    (start.elapsed(), times)
                })
                .await
                .expect("the request loop");
                *latencies = times;
                return elapsed;
            }
            let start = Instant::now();
            let tasks: Vec<_> = (0..workers)
                .map(|w| {
                    let n = share(iters, workers, w);
                    let client = clients[w % clients.len()].clone();
                    let body = body.clone();
                    compio::runtime::spawn(async move {
                        for _ in 0..n {
                            assert_eq!(client.call(body.clone()).await, len);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("a request loop");
            }
            start.elapsed()
        })
    }
}
