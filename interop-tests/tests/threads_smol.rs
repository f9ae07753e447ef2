//! No hidden threads, smol: an executor of our own, run by 2 threads we
//! create (`user-ex-0`, `user-ex-1`), serves and connects through
//! `Smol::on`, and holds 10,000 requests in flight.
//!
//! Allowed on top of the threads there were before: our 2 executor threads
//! and the one `async-io` reactor thread, which is smol's own runtime (its
//! timers and socket readiness; async-io starts it once per process on
//! first use). Not allowed: smol's global executor threads (`smol-N`, only
//! started by `smol::spawn`), `blocking-N` threads (only started by
//! `unblock`, e.g. a DNS lookup), anything else. This file holds exactly one
//! test so that no other test's threads are counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use interop_tests::load::{self, IN_FLIGHT, SETTLE, Snapshots, TASKS};
use interop_tests::observe::Counting;
use interop_tests::servers::SmolPool;
use interop_tests::threads::Threads;
use interop_tests::util::{timeout, wait_until, with_watchdog};
use slow_interop::driver::InteropService;
use slow_smol::{Client, Config, Server, Smol};

const WORKERS: usize = 2;
const NAME: &str = "user-ex";

#[test]
fn smol_no_hidden_threads() {
    let snapshots = with_watchdog("test-body", Duration::from_secs(180), body).expect("test body");
    snapshots.print("smol");
    let added = snapshots.warm.minus(&snapshots.before);
    let expected = [
        (format!("{NAME}-0"), 1),
        (format!("{NAME}-1"), 1),
        ("async-io".to_string(), 1),
    ]
    .into();
    assert_eq!(
        added, expected,
        "only our {WORKERS} executor threads and async-io's reactor thread may be added"
    );
    assert_eq!(
        snapshots.warm.numbered("smol-"),
        0,
        "smol's global executor was started"
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
    let pool = SmolPool::new(WORKERS, NAME);
    let on = Smol::on(pool.ex.clone());
    let snapshots = smol::block_on(async {
        let server = Server::bind_on(on.clone(), "127.0.0.1:0", load::server_config())
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        let (handler, stats) = Counting::new(InteropService::new(on.clone()));
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let serve = pool
            .ex
            .spawn(server.serve_with_shutdown(handler, async move {
                let _ = stopped.recv().await;
            }));
        let client = Client::connect_on(on.clone(), addr, Config::default())
            .await
            .expect("connect");
        assert_eq!(client.request("warm-up").await.expect("warm-up"), "warm-up");
        let warm = Threads::settled();

        let t0 = Instant::now();
        let finished = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<smol::Task<()>> = (0..TASKS)
            .map(|_| {
                pool.ex
                    .spawn(load::task(client.clone().into(), finished.clone()))
            })
            .collect();
        let all_in = wait_until(&on, SETTLE, || stats.in_flight() == IN_FLIGHT).await;
        let loaded = Threads::settled();
        println!("[smol] {IN_FLIGHT} in flight after {:.2?}", t0.elapsed());
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

        // Cancel by dropping: dropping a smol Task cancels it, dropping its
        // request futures, each of which sends CANCEL.
        drop(tasks);
        let all_out = wait_until(&on, SETTLE, || stats.in_flight() == 0).await;
        assert!(
            all_out,
            "{} handlers still running after the cancel",
            stats.in_flight()
        );
        let cancelled = Threads::settled();
        println!("[smol] all cancelled after {:.2?}", t0.elapsed());

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
    });
    pool.stop();
    println!("[smol]   after executor stop      {}", Threads::settled());
    snapshots
}
