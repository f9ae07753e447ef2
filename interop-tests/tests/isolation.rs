//! Runtime isolation (as lapin's tests do): every task an adapter spawns
//! runs on the runtime or executor the user handed it, never on a hidden
//! global one.
//!
//! Each test runs the whole INTEROP scenario list between a client and a
//! server on two separate runtime instances, both wrapped in
//! [`Observed`], which records the thread every adapter-spawned task
//! (connection drivers, request handlers, notification handlers) is polled
//! on, at every poll; the server's handler is wrapped in [`Counting`],
//! which records the thread every handler starts on. Then:
//!
//! - tokio: server and client runtimes built with their own `thread_name`;
//!   every poll of a server task was on a `iso-tokio-srv` thread, every
//!   poll of a client task on a `iso-tokio-cli` thread.
//! - smol: two executors of our own, each run by 2 threads we created
//!   (`iso-smol-srv-N`, `iso-smol-cli-N`), given through `Smol::on`; every
//!   poll was on the right one's threads, and smol's global executor was
//!   never started (it spawns threads named `smol-N` lazily on first
//!   `smol::spawn`: none exist).
//! - async-std: it has only its global runtime (`AsyncStd` carries no
//!   handle), so isolation means: every task ran on its worker threads
//!   (`async-std/runtime`), never on the caller's thread or elsewhere. Client
//!   and server necessarily share that one runtime.

use std::collections::BTreeMap;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use interop_tests::observe::{Counting, Observed, Stats, ThreadLog};
use interop_tests::scenarios::run_all;
use interop_tests::servers::SmolPool;
use interop_tests::threads::Threads;
use interop_tests::util::with_watchdog;
use slow_driver::runtime::Runtime;
use slow_driver::{Config, Server};
use slow_interop::driver::InteropService;

const LIMIT: Duration = Duration::from_secs(60);

/// Asserts that every recorded thread name satisfies `ok`, and that
/// something was recorded at all.
fn all_on(what: &str, log: &ThreadLog, ok: impl Fn(&str) -> bool) -> BTreeMap<String, u64> {
    let seen = log.snapshot();
    println!("{what}: {seen:?}");
    assert!(log.total() > 0, "{what}: nothing recorded");
    let wrong: Vec<_> = seen.keys().filter(|n| !ok(n)).collect();
    assert!(
        wrong.is_empty(),
        "{what} ran on foreign threads {wrong:?} (all: {seen:?})"
    );
    seen
}

fn check_outcomes(outcomes: &[interop_tests::scenarios::Outcome]) {
    let failed: Vec<_> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    assert!(failed.is_empty(), "scenarios failed: {failed:?}");
}

fn check_server(stats: &Stats, server: &Observed<impl Runtime>, ok: impl Fn(&str) -> bool + Copy) {
    all_on(
        "server tasks (drivers + handlers), polls per thread",
        &server.log,
        ok,
    );
    all_on("server handlers, starts per thread", &stats.threads, ok);
    assert!(
        stats
            .notifications
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0,
        "no notification handler ran"
    );
}

/// The server side of a test: its counters, stop signal and outcome.
struct ServerCtl {
    stats: Arc<Stats>,
    stop: smol::channel::Sender<()>,
    done: mpsc::Receiver<Result<(), String>>,
}

impl ServerCtl {
    /// Graceful shutdown, bounded.
    fn shutdown(self) -> Arc<Stats> {
        drop(self.stop);
        let r = self
            .done
            .recv_timeout(Duration::from_secs(10))
            .expect("server shut down in time");
        r.expect("serve");
        self.stats
    }
}

/// The interop service (counted) on `on`: the future to spawn, and its
/// control.
fn serve<R: Runtime>(
    server: Server<Observed<R>>,
    on: Observed<R>,
) -> (ServerCtl, impl Future<Output = ()> + Send) {
    let (handler, stats) = Counting::new(InteropService::new(on));
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let (done_tx, done) = mpsc::channel();
    let fut = async move {
        let r = server
            .serve_with_shutdown(handler, async move {
                let _ = stopped.recv().await;
            })
            .await;
        let _ = done_tx.send(r.map_err(|e| e.to_string()));
    };
    (ServerCtl { stats, stop, done }, fut)
}

#[test]
fn tokio_tasks_run_on_the_given_runtime() {
    with_watchdog("test-body", LIMIT, || {
        let build = |name: &str| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(name)
                .enable_all()
                .build()
                .expect("tokio runtime")
        };
        let (srv_rt, cli_rt) = (build("iso-tokio-srv"), build("iso-tokio-cli"));
        let srv_on = Observed::new(slow_tokio::Tokio(srv_rt.handle().clone()));
        let cli_on = Observed::new(slow_tokio::Tokio(cli_rt.handle().clone()));
        let server = srv_rt
            .block_on(Server::bind_on(
                srv_on.clone(),
                "127.0.0.1:0",
                Config::default(),
            ))
            .unwrap();
        let addr = server.local_addr().unwrap().tcp().unwrap();
        let (ctl, fut) = serve(server, srv_on.clone());
        srv_rt.spawn(fut);
        check_outcomes(&cli_rt.block_on(run_all(cli_on.clone(), addr, Config::default())));
        let stats = ctl.shutdown();
        check_server(&stats, &srv_on, |n| n == "iso-tokio-srv");
        all_on(
            "client tasks (drivers), polls per thread",
            &cli_on.log,
            |n| n == "iso-tokio-cli",
        );
    })
    .unwrap();
}

#[test]
fn smol_tasks_run_on_the_given_executor() {
    with_watchdog("test-body", LIMIT, || {
        let (srv_pool, cli_pool) = (
            SmolPool::new(2, "iso-smol-srv"),
            SmolPool::new(2, "iso-smol-cli"),
        );
        let srv_on = Observed::new(slow_smol::Smol::on(srv_pool.ex.clone()));
        let cli_on = Observed::new(slow_smol::Smol::on(cli_pool.ex.clone()));
        let server = smol::block_on(Server::bind_on(
            srv_on.clone(),
            "127.0.0.1:0",
            Config::default(),
        ))
        .unwrap();
        let addr = server.local_addr().unwrap().tcp().unwrap();
        let (ctl, fut) = serve(server, srv_on.clone());
        srv_pool.ex.spawn(fut).detach();
        check_outcomes(&smol::block_on(run_all(
            cli_on.clone(),
            addr,
            Config::default(),
        )));
        let stats = ctl.shutdown();
        check_server(&stats, &srv_on, |n| n.starts_with("iso-smol-srv-"));
        all_on(
            "client tasks (drivers), polls per thread",
            &cli_on.log,
            |n| n.starts_with("iso-smol-cli-"),
        );
        let threads = Threads::settled();
        println!("threads: {threads}");
        assert_eq!(
            threads.numbered("smol-"),
            0,
            "smol's global executor was started: {threads}"
        );
        srv_pool.stop();
        cli_pool.stop();
    })
    .unwrap();
}

#[test]
fn async_std_tasks_run_on_its_global_runtime() {
    with_watchdog("test-body", LIMIT, || {
        let on = slow_async_std::AsyncStd;
        let (srv_on, cli_on) = (Observed::new(on), Observed::new(on));
        let server = async_std::task::block_on(Server::bind_on(
            srv_on.clone(),
            "127.0.0.1:0",
            Config::default(),
        ))
        .unwrap();
        let addr = server.local_addr().unwrap().tcp().unwrap();
        let (ctl, fut) = serve(server, srv_on.clone());
        drop(async_std::task::spawn(fut));
        check_outcomes(&async_std::task::block_on(run_all(
            cli_on.clone(),
            addr,
            Config::default(),
        )));
        let stats = ctl.shutdown();
        let worker = |n: &str| n == "async-std/runtime";
        check_server(&stats, &srv_on, worker);
        all_on(
            "client tasks (drivers), polls per thread",
            &cli_on.log,
            worker,
        );
    })
    .unwrap();
}
