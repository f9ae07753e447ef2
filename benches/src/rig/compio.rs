//! compio (SLOW only): the server on a compio runtime (its own io_uring)
//! on its own thread, the client on another on the bench thread. compio's
//! tasks are not `Send`, so it has a rig of its own rather than
//! [`AsyncRig`](super::AsyncRig); the load is the same.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use slow_compio::{Client, Compio, LocalRequest, Server};

use super::server_thread::server_thread;
use super::{Bench, Scenario, ServerThread, config, share};

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

/// Starts the SLOW compio server on its own thread.
pub fn compio_server() -> (SocketAddr, ServerThread) {
    server_thread("compio-server", move |addr_tx, stop| {
        CompioExec::new().0.block_on(async {
            let server = Server::bind_on(Compio::new(), "127.0.0.1:0", config())
                .await
                .expect("bind");
            let addr = server.local_addr().expect("addr").tcp().expect("TCP");
            compio::runtime::spawn(server.serve(|req: LocalRequest| async move { Ok(req.body) }))
                .detach();
            addr_tx.send(addr).expect("send address");
            stop.wait().await;
        })
    })
}

/// Connects `n` clients to `addr` on `exec`.
pub fn compio_clients(exec: &CompioExec, addr: SocketAddr, n: usize) -> Vec<Client> {
    exec.0.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..n {
            clients.push(
                Client::connect_on(Compio::new(), addr, config())
                    .await
                    .expect("connect"),
            );
        }
        clients
    })
}

struct CompioRig {
    clients: Vec<Client>,
    exec: CompioExec,
    scenario: Scenario,
    _server: ServerThread,
}

pub(super) fn compio_rig(scenario: Scenario) -> Box<dyn Bench> {
    let (addr, server) = compio_server();
    let exec = CompioExec::new();
    let clients = compio_clients(&exec, addr, scenario.conns);
    Box::new(CompioRig {
        clients,
        exec,
        scenario,
        _server: server,
    })
}

impl Bench for CompioRig {
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
                        assert_eq!(client.request(body.clone()).await.expect("SLOW").len(), len);
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
                            assert_eq!(
                                client.request(body.clone()).await.expect("SLOW").len(),
                                len
                            );
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
