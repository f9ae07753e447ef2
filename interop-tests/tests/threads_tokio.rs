//! No hidden threads, tokio: a multi-thread runtime with 2 workers runs a
//! server and a client holding 10,000 requests in flight, and the process
//! has exactly the threads it had before plus those 2 workers.
//!
//! Allowed: the runtime's own workers (named `slow-tokio-w`; tokio's
//! blocking-pool threads would carry the same name, so counting the name
//! also catches a `spawn_blocking` anywhere, e.g. a DNS lookup). Nothing
//! else, at any point. This file holds exactly one test so that no other
//! test's threads are counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use interop_tests::load::{self, IN_FLIGHT, SETTLE, Snapshots, TASKS};
use interop_tests::observe::Counting;
use interop_tests::threads::Threads;
use interop_tests::util::{timeout, wait_until, with_watchdog};
use slow_interop::driver::InteropService;
use slow_tokio::{Client, Config, Server, Tokio};

const WORKERS: usize = 2;
const NAME: &str = "slow-tokio-w";

#[test]
fn tokio_no_hidden_threads() {
    let snapshots = with_watchdog("test-body", Duration::from_secs(180), body).expect("test body");
    snapshots.print("tokio");
    let added = snapshots.warm.minus(&snapshots.before);
    assert_eq!(
        added,
        [(NAME.to_string(), WORKERS as isize)].into(),
        "the runtime with {WORKERS} workers added other threads"
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .thread_name(NAME)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let on = Tokio(rt.handle().clone());
    let snapshots = rt.block_on(async {
        let server = Server::bind_on(on.clone(), "127.0.0.1:0", load::server_config())
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        let (handler, stats) = Counting::new(InteropService::new(on.clone()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serve = tokio::spawn(server.serve_with_shutdown(handler, async {
            let _ = stopped.await;
        }));
        let client = Client::connect_on(on.clone(), addr, Config::default())
            .await
            .expect("connect");
        assert_eq!(client.request("warm-up").await.expect("warm-up"), "warm-up");
        let warm = Threads::settled();

        let t0 = std::time::Instant::now();
        let finished = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| tokio::spawn(load::task(client.clone().into(), finished.clone())))
            .collect();
        let all_in = wait_until(&on, SETTLE, || stats.in_flight() == IN_FLIGHT).await;
        let loaded = Threads::settled();
        println!("[tokio] {IN_FLIGHT} in flight after {:.2?}", t0.elapsed());
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
        println!(
            "[tokio] {} requests in flight at the server (peak {})",
            stats.in_flight(),
            stats.peak.load(Ordering::SeqCst)
        );

        // Cancel by dropping: abort drops each task's request futures, and
        // each sends CANCEL; the server drops the handlers.
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            assert!(t.await.expect_err("aborted").is_cancelled());
        }
        let all_out = wait_until(&on, SETTLE, || stats.in_flight() == 0).await;
        assert!(
            all_out,
            "{} handlers still running after the cancel",
            stats.in_flight()
        );
        let cancelled = Threads::settled();
        println!("[tokio] all cancelled after {:.2?}", t0.elapsed());

        timeout(&on, Duration::from_secs(10), client.close())
            .await
            .expect("close in time")
            .expect("close");
        drop(stop);
        timeout(&on, Duration::from_secs(10), serve)
            .await
            .expect("server shut down in time")
            .expect("serve task")
            .expect("serve");
        Snapshots {
            before,
            warm,
            loaded,
            cancelled,
        }
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    println!("[tokio]   after runtime shutdown   {}", Threads::settled());
    snapshots
}
