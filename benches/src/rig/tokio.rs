//! tokio, SLOW and baseline: the server on a current-thread runtime in its
//! own thread, the client on another current-thread runtime on the bench
//! thread.

use std::future::Future;
use std::net::SocketAddr;

use super::server_thread::server_thread;
use super::{AsyncRig, Bench, BoxFut, Exec, Scenario, ServerThread, config};
use crate::baseline;

/// The tokio client side: a current-thread runtime on the bench thread.
pub struct TokioExec(tokio::runtime::Runtime);

impl TokioExec {
    pub(super) fn new() -> TokioExec {
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
                tokio::spawn(baseline::tokio::serve(listener));
                addr
            };
            addr_tx.send(addr).expect("send address");
            stop.wait().await;
        });
        // Dropping the runtime drops every task and closes every socket.
    })
}

pub(super) fn tokio_rig(slow: bool, scenario: Scenario) -> Box<dyn Bench> {
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
