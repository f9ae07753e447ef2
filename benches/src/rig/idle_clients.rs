//! Clients that connect and then stay idle, for memory per connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pipelined_compio_clients;
use super::{CompioExec, Exec, Imp, SmolExec, TokioExec, compio_clients, config, custom};
use crate::baseline;

/// Clients of one implementation that connect and then stay idle, with
/// their runtime created up front (so that it is not counted).
pub enum IdleClients {
    /// `slow-tokio` clients on a current-thread runtime.
    SlowTokio(TokioExec, Vec<slow_tokio::Client>),
    /// Baseline tokio clients (per request and pipelined: one client).
    BaselineTokio(TokioExec, Vec<baseline::tokio::Client>),
    /// tokio-util `Framed` clients.
    FramedTokio(TokioExec, Vec<baseline::framed::Client>),
    /// `slow-smol` clients on an executor of their own.
    SlowSmol(SmolExec, Vec<slow_smol::Client>),
    /// Baseline smol clients (per request and pipelined: one client).
    BaselineSmol(SmolExec, Vec<baseline::futures_io::Client>),
    /// `slow-async-std` clients.
    SlowAsyncStd(Vec<slow_async_std::Client>),
    /// Baseline async-std clients (pipelined).
    PipelinedAsyncStd(Vec<baseline::futures_io::Client>),
    /// `slow-compio` clients on the bench thread's compio runtime.
    SlowCompio(CompioExec, Vec<slow_compio::Client>),
    /// Baseline compio clients (pipelined) on the bench thread's compio
    /// runtime.
    PipelinedCompio(CompioExec, Vec<baseline::compio::Client>),
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
            Imp::BaselineTokio | Imp::PipelinedTokio => {
                IdleClients::BaselineTokio(TokioExec::new(), Vec::with_capacity(n))
            }
            Imp::FramedTokio => IdleClients::FramedTokio(TokioExec::new(), Vec::with_capacity(n)),
            Imp::SlowSmol => IdleClients::SlowSmol(smol(), Vec::with_capacity(n)),
            Imp::BaselineSmol | Imp::PipelinedSmol => {
                IdleClients::BaselineSmol(smol(), Vec::with_capacity(n))
            }
            Imp::SlowAsyncStd => IdleClients::SlowAsyncStd(Vec::with_capacity(n)),
            Imp::PipelinedAsyncStd => IdleClients::PipelinedAsyncStd(Vec::with_capacity(n)),
            Imp::SlowCompio => IdleClients::SlowCompio(CompioExec::new(), Vec::with_capacity(n)),
            Imp::PipelinedCompio => {
                IdleClients::PipelinedCompio(CompioExec::new(), Vec::with_capacity(n))
            }
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
            IdleClients::FramedTokio(exec, v) => v.push(exec.block_on(async {
                baseline::framed::Client::connect(addr)
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
                    baseline::futures_io::Client::connect(addr, &ex)
                        .await
                        .expect("connect")
                }))
            }
            IdleClients::SlowAsyncStd(v) => v.push(async_std::task::block_on(async {
                slow_async_std::Client::connect_on(slow_async_std::AsyncStd, addr, config())
                    .await
                    .expect("connect")
            })),
            IdleClients::PipelinedAsyncStd(v) => v.push(async_std::task::block_on(async {
                baseline::futures_io::Client::connect(addr, &baseline::async_std::Global)
                    .await
                    .expect("connect")
            })),
            IdleClients::SlowCompio(exec, v) => v.extend(compio_clients(exec, addr, 1)),
            IdleClients::PipelinedCompio(exec, v) => {
                v.extend(pipelined_compio_clients(exec, addr, 1))
            }
            IdleClients::Custom(client, v) => v.push(custom::connect(client, addr)),
        }
    }

    /// Lets every client task run for `d`, so that all are idle after.
    pub fn settle(&mut self, d: Duration) {
        match self {
            IdleClients::SlowTokio(exec, _)
            | IdleClients::BaselineTokio(exec, _)
            | IdleClients::FramedTokio(exec, _) => {
                exec.block_on(async move { tokio::time::sleep(d).await })
            }
            IdleClients::SlowSmol(exec, _) | IdleClients::BaselineSmol(exec, _) => {
                exec.block_on(async {
                    smol::Timer::after(d).await;
                })
            }
            IdleClients::SlowAsyncStd(_) | IdleClients::PipelinedAsyncStd(_) => {
                std::thread::sleep(d)
            }
            IdleClients::SlowCompio(exec, _) | IdleClients::PipelinedCompio(exec, _) => {
                exec.0.block_on(compio::time::sleep(d))
            }
            IdleClients::Custom(client, _) => {
                let end = Instant::now() + d;
                while let Some(left) = end.checked_duration_since(Instant::now()) {
                    client.run_once(Some(left)).expect("loop");
                }
            }
        }
    }
}
