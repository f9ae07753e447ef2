//! async-std, SLOW and the pipelined baseline: client and server tasks on
//! async-std's global executor; the bench thread only waits.

use std::future::Future;
use std::net::SocketAddr;

use async_std::task::JoinHandle;

use super::tokio::{connect_all, rig};
use super::{Bench, BoxFut, Exec, Imp, Scenario, ServerThread, config};
use crate::baseline;
use crate::baseline::async_std::Global;

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

async fn echo_slow_async_std(req: slow_async_std::Request) -> slow_async_std::Reply {
    Ok(req.body)
}

/// Starts `imp`'s async-std server (SLOW or the pipelined baseline) on the
/// global runtime; dropping the guard stops accepting (connections end
/// when their clients close).
pub fn async_std_server(imp: Imp) -> (SocketAddr, ServerThread) {
    async_std::task::block_on(async {
        let (addr, task) = match imp {
            Imp::SlowAsyncStd => slow_server().await,
            Imp::PipelinedAsyncStd => pipelined_server().await,
            other => panic!("{} is not served on async-std", other.name()),
        };
        let stop = move || {
            async_std::task::block_on(task.cancel());
        };
        (addr, ServerThread::none(stop))
    })
}

/// The SLOW server's address and its accept loop, a task.
async fn slow_server() -> (SocketAddr, JoinHandle<()>) {
    let server = slow_async_std::Server::bind_on(slow_async_std::AsyncStd, "127.0.0.1:0", config())
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr").tcp().expect("TCP");
    let task = async_std::task::spawn(async move {
        let _ = server.serve(echo_slow_async_std).await;
    });
    (addr, task)
}

/// The pipelined baseline's address and its accept loop, a task.
async fn pipelined_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = async_std::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = async_std::task::spawn(baseline::futures_io::serve_pipelined(listener, Global));
    (addr, task)
}

pub(super) fn async_std_rig(imp: Imp, scenario: Scenario) -> Box<dyn Bench> {
    let (addr, server) = async_std_server(imp);
    let exec = AsyncStdExec;
    let conns = scenario.conns;
    if imp == Imp::SlowAsyncStd {
        let clients = exec.block_on(connect_all(conns, || {
            slow_async_std::Client::connect_on(slow_async_std::AsyncStd, addr, config())
        }));
        rig(clients, exec, scenario, server)
    } else {
        let clients = exec.block_on(connect_all(conns, || {
            baseline::futures_io::Client::connect(addr, &Global)
        }));
        rig(clients, exec, scenario, server)
    }
}
