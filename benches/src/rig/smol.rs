//! smol, SLOW and the baselines: one `smol::Executor` per side, each run by
//! `smol::block_on` on its own thread (server thread, bench thread).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use super::server_thread::server_thread;
use super::tokio::{connect_all, rig};
use super::{Bench, BoxFut, Exec, Imp, Scenario, ServerThread, config};
use crate::baseline;

/// The smol client side: an executor run by `smol::block_on` on the bench
/// thread.
///
/// Tasks hold the executor (`Smol::on`, the baseline's spawner), so an
/// executor and its sockets are not freed when a rig is dropped; they are
/// simply never polled again. A bench process makes a handful of rigs.
pub struct SmolExec(pub(super) Arc<smol::Executor<'static>>);

impl SmolExec {
    /// An executor run by `threads` threads: the bench thread (in
    /// `block_on`) and `threads - 1` of its own, which run for the rest of
    /// the process (a bench process makes a handful).
    pub(super) fn threads(threads: usize) -> SmolExec {
        let ex = Arc::new(smol::Executor::new());
        for i in 1..threads {
            let ex = ex.clone();
            std::thread::Builder::new()
                .name(format!("smol-worker-{i}"))
                .spawn(move || smol::block_on(ex.run(std::future::pending::<()>())))
                .expect("spawn a smol worker");
        }
        SmolExec(ex)
    }
}

impl Exec for SmolExec {
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        smol::block_on(self.0.run(f))
    }

    fn spawn(&self, f: BoxFut) -> BoxFut {
        Box::pin(self.0.spawn(f))
    }
}

async fn echo_slow_smol(req: slow_smol::Request) -> slow_smol::Reply {
    Ok(req.body)
}

/// Starts `imp`'s smol server (SLOW or a baseline) on its own thread.
pub fn smol_server(imp: Imp) -> (SocketAddr, ServerThread) {
    server_thread("smol-server", move |addr_tx, stop| {
        let ex = Arc::new(smol::Executor::new());
        smol::block_on(ex.run(async {
            let addr = if imp == Imp::SlowSmol {
                let runtime = slow_smol::Smol::on(ex.clone());
                let server = slow_smol::Server::bind_on(runtime, "127.0.0.1:0", config())
                    .await
                    .expect("bind");
                let addr = server
                    .local_addr()
                    .expect("addr")
                    .tcp()
                    .expect("a TCP address");
                ex.spawn(server.serve(echo_slow_smol)).detach();
                addr
            } else {
                let listener = smol::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr");
                match imp {
                    Imp::BaselineSmol => ex.spawn(baseline::smol::serve(listener, ex.clone())),
                    Imp::PipelinedSmol => {
                        ex.spawn(baseline::futures_io::serve_pipelined(listener, ex.clone()))
                    }
                    other => panic!("{} is not served on smol", other.name()),
                }
                .detach();
                addr
            };
            addr_tx.send(addr).expect("send address");
            stop.wait().await;
        }));
    })
}

pub(super) fn smol_rig(imp: Imp, scenario: Scenario) -> Box<dyn Bench> {
    let (addr, server) = smol_server(imp);
    let exec = SmolExec(Arc::new(smol::Executor::new()));
    let ex = exec.0.clone();
    let conns = scenario.conns;
    if imp == Imp::SlowSmol {
        let clients = exec.block_on(connect_all(conns, || {
            let runtime = slow_smol::Smol::on(ex.clone());
            slow_smol::Client::connect_on(runtime, addr, config())
        }));
        rig(clients, exec, scenario, server)
    } else {
        // The per-request and pipelined baselines share their client.
        let clients = exec.block_on(connect_all(conns, || {
            baseline::futures_io::Client::connect(addr, &ex)
        }));
        rig(clients, exec, scenario, server)
    }
}
