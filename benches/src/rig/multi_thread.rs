//! Multi-threaded layouts: what `#[tokio::main]` gives every tokio user (a
//! multi-thread runtime, here with 2 workers) on both sides, and smol with
//! an executor run by 2 threads on each side. The client's tasks and the
//! server's connections move between the workers; a task spawned per
//! request may land on the other one.

use std::net::SocketAddr;

use super::server_thread::server_thread;
use super::smol::SmolExec;
use super::tokio::{TokioExec, connect_all, rig, tokio_clients};
use super::{Bench, Exec, Imp, Scenario, ServerThread, config};
use crate::baseline;

/// The implementations with a multi-threaded layout here.
pub const IMPS: [Imp; 5] = [
    Imp::SlowTokio,
    Imp::PipelinedTokio,
    Imp::FramedTokio,
    Imp::SlowSmol,
    Imp::PipelinedSmol,
];

/// 1 connection × 64 in flight and 64 connections × 4 in flight.
pub const SCENARIOS: [Scenario; 2] = [
    Scenario {
        name: "mt_inflight_64",
        what: "64 B, 64 in flight on 1 connection, 2 threads a side",
        body: crate::SMALL,
        conns: 1,
        per_conn: 64,
    },
    Scenario {
        name: "mt_conns_64x4",
        what: "64 B, 64 connections × 4 in flight, 2 threads a side",
        body: crate::SMALL,
        conns: 64,
        per_conn: 4,
    },
];

fn tokio_runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `imp` with `threads` threads on each side.
pub fn start(imp: Imp, scenario: Scenario, threads: usize) -> Box<dyn Bench> {
    match imp {
        Imp::SlowTokio | Imp::PipelinedTokio | Imp::FramedTokio => {
            let (addr, server) = tokio_server(imp, threads);
            let exec = TokioExec::from(tokio_runtime(threads));
            tokio_clients(imp, addr, exec, scenario, server)
        }
        Imp::SlowSmol | Imp::PipelinedSmol => {
            let (addr, server) = smol_server(imp, threads);
            let exec = SmolExec::threads(threads);
            let ex = exec.0.clone();
            let conns = scenario.conns;
            if imp == Imp::SlowSmol {
                let clients = exec.block_on(connect_all(conns, || {
                    slow_smol::Client::connect_on(slow_smol::Smol::on(ex.clone()), addr, config())
                }));
                rig(clients, exec, scenario, server)
            } else {
                let clients = exec.block_on(connect_all(conns, || {
                    baseline::futures_io::Client::connect(addr, &ex)
                }));
                rig(clients, exec, scenario, server)
            }
        }
        other => panic!("{} has no multi-threaded layout here", other.name()),
    }
}

fn tokio_server(imp: Imp, threads: usize) -> (SocketAddr, ServerThread) {
    server_thread("tokio-mt-server", move |addr_tx, stop| {
        let rt = tokio_runtime(threads);
        rt.block_on(async move {
            let addr = if imp == Imp::SlowTokio {
                let runtime = slow_tokio::Tokio(tokio::runtime::Handle::current());
                let server = slow_tokio::Server::bind_on(runtime, "127.0.0.1:0", config())
                    .await
                    .expect("bind");
                let addr = server.local_addr().expect("addr").tcp().expect("TCP");
                tokio::spawn(server.serve(|req: slow_tokio::Request| async move { Ok(req.body) }));
                addr
            } else {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr");
                match imp {
                    Imp::PipelinedTokio => tokio::spawn(baseline::tokio::serve_pipelined(listener)),
                    _ => tokio::spawn(baseline::framed::serve(listener)),
                };
                addr
            };
            addr_tx.send(addr).expect("send address");
            stop.wait().await;
        });
    })
}

fn smol_server(imp: Imp, threads: usize) -> (SocketAddr, ServerThread) {
    server_thread("smol-mt-server", move |addr_tx, stop| {
        let exec = SmolExec::threads(threads);
        let ex = exec.0.clone();
        exec.block_on(async move {
            let addr = if imp == Imp::SlowSmol {
                let runtime = slow_smol::Smol::on(ex.clone());
                let server = slow_smol::Server::bind_on(runtime, "127.0.0.1:0", config())
                    .await
                    .expect("bind");
                let addr = server.local_addr().expect("addr").tcp().expect("TCP");
                ex.spawn(server.serve(|req: slow_smol::Request| async move { Ok(req.body) }))
                    .detach();
                addr
            } else {
                let listener = smol::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr");
                ex.spawn(baseline::futures_io::serve_pipelined(listener, ex.clone()))
                    .detach();
                addr
            };
            addr_tx.send(addr).expect("send address");
            stop.wait().await;
        });
    })
}
