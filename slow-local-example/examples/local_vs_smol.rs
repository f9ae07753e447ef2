//! What the local mode saves: the same echo load on the thread-per-core
//! runtime (`PerCore`: a `LocalExecutor`, the connection's state in
//! `Rc<RefCell>`) and on slow-smol (an `Executor`, the state in
//! `Arc<Mutex>`), both on async-io, in alternating rounds in one process.
//! Each side's server runs on a thread of its own, its client on the main
//! thread; pin the process to one core for the figures that count:
//!
//! ```sh
//! cargo build --release -p slow-local-example --example local_vs_smol
//! taskset -c 0 target/release/examples/local_vs_smol [rounds] [requests per round]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use slow_driver::runtime::LocalRuntime;
use slow_driver::{Bytes, Client, LocalRequest};
use slow_local_example::{PerCore, PerCoreServer};

const BODY: &[u8] = &[7; 64];

/// `requests` echo round trips with `in_flight` tasks on one PerCore
/// connection.
fn local_round(addr: std::net::SocketAddr, in_flight: usize, requests: usize) -> Duration {
    let rt = PerCore::new();
    rt.block_on(async {
        let client = Client::<PerCore>::connect(addr).await.expect("connect");
        let (done, finished) = smol::channel::unbounded::<()>();
        let start = Instant::now();
        for _ in 0..in_flight {
            let (client, done) = (client.clone(), done.clone());
            rt.spawn_local(async move {
                for _ in 0..requests / in_flight {
                    let answer = client.request(Bytes::from_static(BODY)).await;
                    assert_eq!(answer.expect("echo").len(), BODY.len());
                }
                let _ = done.send(()).await;
            });
        }
        for _ in 0..in_flight {
            finished.recv().await.expect("a task ended");
        }
        let took = start.elapsed();
        client.close().await.expect("close");
        took
    })
}

/// The same on slow-smol, its client on an `Executor` run by this thread.
fn smol_round(addr: std::net::SocketAddr, in_flight: usize, requests: usize) -> Duration {
    let ex = Arc::new(smol::Executor::new());
    smol::block_on(ex.run(async {
        let runtime = slow_smol::Smol::on(ex.clone());
        let client = slow_smol::Client::connect_on(runtime, addr, Default::default())
            .await
            .expect("connect");
        let start = Instant::now();
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let client = client.clone();
                ex.spawn(async move {
                    for _ in 0..requests / in_flight {
                        let answer = client.request(Bytes::from_static(BODY)).await;
                        assert_eq!(answer.expect("echo").len(), BODY.len());
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
        let took = start.elapsed();
        client.close().await.expect("close");
        took
    }))
}

/// slow-smol's echo server on a thread of its own (its own executor).
fn smol_server() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("smol-server".into())
        .spawn(move || {
            let ex = Arc::new(smol::Executor::new());
            smol::block_on(ex.run(async {
                let runtime = slow_smol::Smol::on(ex.clone());
                let server = slow_smol::Server::bind_on(runtime, "127.0.0.1:0", Default::default())
                    .await
                    .expect("bind");
                tx.send(server.local_addr().unwrap().tcp().unwrap())
                    .unwrap();
                server
                    .serve(|req: slow_smol::Request| async move { Ok(req.body) })
                    .await
                    .expect("serve");
            }))
        })
        .expect("server thread");
    rx.recv().expect("listening")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(15, |a| a.parse().expect("rounds"));
    let requests: usize = args.next().map_or(64_000, |a| a.parse().expect("requests"));
    let local = PerCoreServer::builder("127.0.0.1:0".parse().unwrap())
        .threads(1)
        .thread_name("local-server")
        .serve(|_| |req: LocalRequest| async move { Ok(req.body) })
        .expect("serve");
    let smol = smol_server();
    println!(
        "| in flight | local req/s | smol req/s | local / smol (median of {rounds}) | min–max |"
    );
    println!("|---|---|---|---|---|");
    for in_flight in [1, 64] {
        let n = if in_flight == 1 {
            requests / 4
        } else {
            requests
        };
        let (mut l, mut s, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        // One warm-up round each, not counted.
        local_round(local.local_addr(), in_flight, n);
        smol_round(smol, in_flight, n);
        for round in 0..rounds {
            // Alternate which goes first.
            let (lt, st) = if round % 2 == 0 {
                let lt = local_round(local.local_addr(), in_flight, n);
                (lt, smol_round(smol, in_flight, n))
            } else {
                let st = smol_round(smol, in_flight, n);
                (local_round(local.local_addr(), in_flight, n), st)
            };
            let (lr, sr) = (n as f64 / lt.as_secs_f64(), n as f64 / st.as_secs_f64());
            l.push(lr);
            s.push(sr);
            ratio.push(lr / sr);
        }
        let (lo, hi) = ratio
            .iter()
            .fold((f64::MAX, 0f64), |(a, b), &r| (a.min(r), b.max(r)));
        println!(
            "| {in_flight} | {:.1} k/s | {:.1} k/s | {:.3}× | {lo:.2}–{hi:.2} |",
            median(l) / 1e3,
            median(s) / 1e3,
            median(ratio)
        );
    }
    local.shutdown().expect("shutdown");
}
