//! async-std, SLOW only: client and server tasks on async-std's global
//! executor; the bench thread only waits.

use std::future::Future;
use std::net::SocketAddr;

use super::{AsyncRig, Bench, BoxFut, Exec, Scenario, ServerThread, config};

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

/// Starts the async-std SLOW server on the global runtime; dropping the
/// guard stops accepting (connections end when their clients close).
pub fn async_std_server() -> (SocketAddr, ServerThread) {
    async_std::task::block_on(async {
        let server =
            slow_async_std::Server::bind_on(slow_async_std::AsyncStd, "127.0.0.1:0", config())
                .await
                .expect("bind");
        let addr = server
            .local_addr()
            .expect("addr")
            .tcp()
            .expect("a TCP address");
        let task = async_std::task::spawn(server.serve(echo_slow_async_std));
        let stop = move || {
            async_std::task::block_on(task.cancel());
        };
        (addr, ServerThread::none(stop))
    })
}

pub(super) fn async_std_rig(scenario: Scenario) -> Box<dyn Bench> {
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
