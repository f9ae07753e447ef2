//! tokio, SLOW and the baselines: the server on a current-thread runtime in its
//! own thread, the client on another current-thread runtime on the bench
//! thread.

use std::future::Future;
use std::net::SocketAddr;

use super::server_thread::server_thread;
use super::{AsyncRig, Bench, BoxFut, Exec, Imp, Scenario, ServerThread, config};
use crate::baseline;

/// The tokio client side: a current-thread runtime on the bench thread.
pub struct TokioExec(tokio::runtime::Runtime);

impl TokioExec {
    pub(super) fn new() -> TokioExec {
        TokioExec(current_thread_runtime())
    }
}

impl From<tokio::runtime::Runtime> for TokioExec {
    fn from(rt: tokio::runtime::Runtime) -> TokioExec {
        TokioExec(rt)
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

/// Starts `imp`'s tokio server (SLOW or a baseline) on its own thread.
pub fn tokio_server(imp: Imp) -> (SocketAddr, ServerThread) {
    server_thread("tokio-server", move |addr_tx, stop| {
        let rt = current_thread_runtime();
        rt.block_on(async move {
            let addr = if imp == Imp::SlowTokio {
                let runtime = slow_tokio::Tokio(tokio::runtime::Handle::current());
                let server = slow_tokio::Server::bind_on(runtime, "127.0.0.1:0", config())
                    .await
                    .expect("bind");
                let addr = server
                    .local_addr()
                    .expect("addr")
                    .tcp()
                    .expect("a TCP address");
                tokio::spawn(server.serve(echo_slow_tokio));
                addr
            } else {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr");
                match imp {
                    Imp::BaselineTokio => tokio::spawn(baseline::tokio::serve(listener)),
                    Imp::PipelinedTokio => tokio::spawn(baseline::tokio::serve_pipelined(listener)),
                    Imp::FramedTokio => tokio::spawn(baseline::framed::serve(listener)),
                    other => panic!("{} is not served on tokio", other.name()),
                };
                addr
            };
            addr_tx.send(addr).expect("send address");
            stop.wait().await;
        });
        // Dropping the runtime drops every task and closes every socket.
    })
}

pub(super) fn tokio_rig(imp: Imp, scenario: Scenario) -> Box<dyn Bench> {
    let (addr, server) = tokio_server(imp);
    tokio_clients(imp, addr, TokioExec::new(), scenario, server)
}

/// `imp`'s tokio clients for `scenario` on `exec`, talking to `server`.
pub(super) fn tokio_clients(
    imp: Imp,
    addr: SocketAddr,
    exec: TokioExec,
    scenario: Scenario,
    server: ServerThread,
) -> Box<dyn Bench> {
    let conns = scenario.conns;
    match imp {
        Imp::SlowTokio => {
            let clients = exec.block_on(connect_all(conns, || {
                let runtime = slow_tokio::Tokio(tokio::runtime::Handle::current());
                slow_tokio::Client::connect_on(runtime, addr, config())
            }));
            rig(clients, exec, scenario, server)
        }
        Imp::FramedTokio => {
            let clients = exec.block_on(connect_all(conns, || {
                baseline::framed::Client::connect(addr)
            }));
            rig(clients, exec, scenario, server)
        }
        // The per-request and pipelined baselines share their client.
        _ => {
            let clients = exec.block_on(connect_all(conns, || {
                baseline::tokio::Client::connect(addr)
            }));
            rig(clients, exec, scenario, server)
        }
    }
}

/// `n` clients, connected one after another.
pub(super) async fn connect_all<C, E: std::fmt::Debug, F>(
    n: usize,
    connect: impl Fn() -> F,
) -> Vec<C>
where
    F: Future<Output = Result<C, E>>,
{
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(connect().await.expect("connect"));
    }
    clients
}

pub(super) fn rig<E: Exec + 'static, C: super::Requester>(
    clients: Vec<C>,
    exec: E,
    scenario: Scenario,
    server: ServerThread,
) -> Box<dyn Bench> {
    Box::new(AsyncRig {
        clients,
        exec,
        scenario,
        _server: server,
    })
}
