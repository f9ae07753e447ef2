//! No hidden threads, async-std: its global runtime with a fixed worker
//! count serves and connects, and holds 10,000 requests in flight.
//!
//! async-std has only its global runtime, started lazily on first use with
//! `ASYNC_STD_THREAD_COUNT` workers (default: the number of CPUs). This test
//! therefore re-runs itself in a child process with
//! `ASYNC_STD_THREAD_COUNT=2` set before anything starts, and measures the
//! "warm" count only after the runtime has started (server bound, client
//! connected, one request answered).
//!
//! Allowed on top of the threads there were before: the 2 workers
//! (`async-std/runtime`, shown by the kernel as `async-std/runti`, 15
//! bytes) and async-io's one `async-io` reactor thread (async-std's
//! sockets and timers are async-io's). Not allowed: `blocking-N` threads
//! (async-std's `spawn_blocking` pool, e.g. a DNS lookup), more workers
//! (async-global-executor may grow to 4× the minimum only when asked to),
//! anything else, and any change at all between warm, loaded and
//! cancelled. Snapshots are taken once the thread list is stable
//! (`Threads::settled`): a worker async-std has just spawned carries its
//! creator's name until it runs and names itself, which a single read can
//! catch (seen once: one `async-std/runti` plus one thread still named
//! after the test's own thread, instead of two workers).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use interop_tests::child::{env_is, rerun_with_env};
use interop_tests::load::{self, IN_FLIGHT, SETTLE, Snapshots, TASKS};
use interop_tests::observe::Counting;
use interop_tests::threads::Threads;
use interop_tests::util::{timeout, wait_until, with_watchdog};
use slow_async_std::{AsyncStd, Client, Config, Server};
use slow_interop::driver::InteropService;

const WORKERS: &str = "2";
const ENV: &str = "ASYNC_STD_THREAD_COUNT";
/// The kernel's 15-byte view of "async-std/runtime".
const WORKER_COMM: &str = "async-std/runti";

#[test]
fn async_std_no_hidden_threads() {
    if !env_is(ENV, WORKERS) {
        rerun_with_env(
            "async_std_no_hidden_threads",
            ENV,
            WORKERS,
            Duration::from_secs(150),
        );
        return;
    }
    let snapshots = with_watchdog("test-body", Duration::from_secs(180), body).expect("test body");
    snapshots.print("async-std");
    let added = snapshots.warm.minus(&snapshots.before);
    let workers: isize = WORKERS.parse().unwrap();
    let expected = [
        (WORKER_COMM.to_string(), workers),
        ("async-io".to_string(), 1),
    ]
    .into();
    assert_eq!(
        added, expected,
        "only {workers} async-std workers and async-io's reactor thread may be added"
    );
    assert_eq!(
        snapshots.loaded, snapshots.warm,
        "threads changed with {IN_FLIGHT} requests in flight"
    );
    assert_eq!(
        snapshots.cancelled, snapshots.warm,
        "threads changed after the cancel"
    );
}

fn body() -> Snapshots {
    let before = Threads::settled();
    let on = AsyncStd;
    async_std::task::block_on(async {
        let server = Server::bind_on(on, "127.0.0.1:0", load::server_config())
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        let (handler, stats) = Counting::new(InteropService::new(on));
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let serve = async_std::task::spawn(server.serve_with_shutdown(handler, async move {
            let _ = stopped.recv().await;
        }));
        let client = Client::connect_on(on, addr, Config::default())
            .await
            .expect("connect");
        assert_eq!(client.request("warm-up").await.expect("warm-up"), "warm-up");
        let warm = Threads::settled();

        let t0 = Instant::now();
        let finished = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| async_std::task::spawn(load::task(client.clone().into(), finished.clone())))
            .collect();
        let all_in = wait_until(&on, SETTLE, || stats.in_flight() == IN_FLIGHT).await;
        let loaded = Threads::settled();
        println!(
            "[async-std] {IN_FLIGHT} in flight after {:.2?}",
            t0.elapsed()
        );
        assert!(
            all_in,
            "only {} of {IN_FLIGHT} requests reached the server's handlers",
            stats.in_flight()
        );
        assert_eq!(
            finished.load(Ordering::SeqCst),
            0,
            "requests ended before they were cancelled"
        );

        // Cancel by dropping: `cancel` drops each task's request futures
        // (dropping an async-std JoinHandle would only detach the task).
        for t in tasks {
            assert!(t.cancel().await.is_none(), "a load task finished by itself");
        }
        let all_out = wait_until(&on, SETTLE, || stats.in_flight() == 0).await;
        assert!(
            all_out,
            "{} handlers still running after the cancel",
            stats.in_flight()
        );
        let cancelled = Threads::settled();
        println!("[async-std] all cancelled after {:.2?}", t0.elapsed());

        timeout(&on, Duration::from_secs(10), client.close())
            .await
            .expect("close in time")
            .expect("close");
        drop(stop);
        timeout(&on, Duration::from_secs(10), serve)
            .await
            .expect("server shut down in time")
            .expect("serve");
        Snapshots {
            before,
            warm,
            loaded,
            cancelled,
        }
    })
}
