//! No hidden threads, compio (slow-compio, io_uring): a `ThreadPerCore`
//! server on 2 threads (`tpc-compio-0`, `tpc-compio-1`), each with its own
//! compio runtime, io_uring and listener, and a client on a compio runtime
//! of the test's own thread, holding 10,000 requests in flight over 4
//! connections.
//!
//! Allowed on top of the threads there were before: exactly the 2 server
//! threads. Not allowed: anything else, at any point: a thread per
//! connection or request, compio's blocking pool (its `spawn_blocking`
//! threads, e.g. for a DNS lookup or an operation io_uring cannot do), and
//! io_uring's own workers (the kernel's `iou-wrk-N` and `iou-sqp-N` threads
//! are listed in `/proc/self/task` too, so they are counted). Every handler
//! runs on a server thread. This file holds exactly one test so that no
//! other test's threads are counted. Skipped (and says why) where io_uring
//! is unavailable.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use interop_tests::load::{self, IN_FLIGHT, SETTLE, Snapshots, TASKS};
use interop_tests::observe::{Counting, Stats};
use interop_tests::threads::Threads;
use interop_tests::util::{io_uring, timeout, wait_until, with_watchdog};
use slow_compio::{Client, Compio, Config, ThreadPerCore};
use slow_interop::driver::InteropService;

const THREADS: usize = 2;
const NAME: &str = "tpc-compio";
/// The client's connections (the 100 load tasks share them in turn), so
/// that both server threads are likely to get some (the kernel spreads
/// connections over the `SO_REUSEPORT` listeners by a hash).
const CONNECTIONS: usize = 4;

#[test]
fn compio_no_hidden_threads() {
    if !io_uring("compio_no_hidden_threads") {
        return;
    }
    let (snapshots, handler_threads) =
        with_watchdog("test-body", Duration::from_secs(180), body).expect("test body");
    snapshots.print("compio");
    let added = snapshots.warm.minus(&snapshots.before);
    let expected = (0..THREADS).map(|i| (format!("{NAME}-{i}"), 1)).collect();
    assert_eq!(
        added, expected,
        "only the {THREADS} server threads may be added"
    );
    assert_eq!(
        snapshots.loaded, snapshots.warm,
        "threads changed with {IN_FLIGHT} requests in flight"
    );
    assert_eq!(
        snapshots.cancelled, snapshots.warm,
        "threads changed after the cancel"
    );
    println!("[compio] handlers started on {handler_threads:?}");
    assert!(
        handler_threads.keys().all(|t| t.starts_with(NAME)),
        "handlers ran off the server threads: {handler_threads:?}"
    );
}

fn body() -> (Snapshots, std::collections::BTreeMap<String, u64>) {
    let before = Threads::settled();
    let stats = Arc::new(Stats::default());
    let counted = stats.clone();
    let server = ThreadPerCore::builder(([127, 0, 0, 1], 0).into())
        .threads(THREADS)
        .thread_name(NAME)
        .config(load::server_config())
        .serve(move || Counting::with_stats(InteropService::new(Compio::new()), counted.clone()))
        .expect("serve");
    assert_eq!(server.threads(), THREADS);
    let addr = server.local_addr();
    let rt = slow_compio::runtime().expect("a compio runtime");
    let on = Compio::new();
    let snapshots = rt.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..CONNECTIONS {
            let client = Client::connect_on(on, addr, Config::default())
                .await
                .expect("connect");
            assert_eq!(client.request("warm-up").await.expect("warm-up"), "warm-up");
            clients.push(client);
        }
        let warm = Threads::settled();

        let t0 = Instant::now();
        let finished = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let client = clients[i % CONNECTIONS].clone();
                compio::runtime::spawn(load::task(client, finished.clone()))
            })
            .collect();
        let all_in = wait_until(&on, SETTLE, || stats.in_flight() == IN_FLIGHT).await;
        let loaded = Threads::settled();
        println!("[compio] {IN_FLIGHT} in flight after {:.2?}", t0.elapsed());
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

        // Cancel by dropping: dropping a compio task cancels it, dropping
        // its request futures, each of which sends CANCEL.
        drop(tasks);
        let all_out = wait_until(&on, SETTLE, || stats.in_flight() == 0).await;
        assert!(
            all_out,
            "{} handlers still running after the cancel",
            stats.in_flight()
        );
        let cancelled = Threads::settled();
        println!("[compio] all cancelled after {:.2?}", t0.elapsed());

        for client in &clients {
            timeout(&on, Duration::from_secs(10), client.close())
                .await
                .expect("close in time")
                .expect("close");
        }
        Snapshots {
            before,
            warm,
            loaded,
            cancelled,
        }
    });
    drop(rt);
    let t = Instant::now();
    let totals = server.shutdown().expect("graceful shutdown");
    println!(
        "[compio]   after server shutdown    {} ({:.2?}; both threads' totals: {} requests, {} \
         responses, {} cancelled)",
        Threads::settled(),
        t.elapsed(),
        totals.requests,
        totals.responses,
        totals.cancelled,
    );
    // The server's totals are every thread's, summed: the warm-ups and the
    // load, all of the load cancelled.
    assert_eq!(totals.requests, (IN_FLIGHT + CONNECTIONS) as u64);
    assert_eq!(totals.responses, CONNECTIONS as u64);
    assert_eq!(totals.cancelled, IN_FLIGHT as u64);
    (snapshots, stats.threads.snapshot())
}
