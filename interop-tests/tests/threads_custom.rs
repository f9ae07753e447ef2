//! No hidden threads, custom event loop (`slow-custom-example`): its server
//! is one mio loop on one thread, its client loop runs on the caller's
//! thread only while the caller runs it. With 10,000 requests in flight the
//! process has exactly the threads it had before plus that one server
//! thread (`slow-custom-server ADDR`, shown by the kernel as
//! `slow-custom-ser`).
//!
//! The server's handlers cannot be wrapped here, so "in flight at the
//! server" is shown through the stream's order: after the 10,000 sleeps, one
//! echo request is sent on the same connection; when its answer arrives the
//! server has read every request before it, and since none of them was
//! answered (no completion, not even an ERROR TOO_MANY_REQUESTS), all
//! 10,000 are outstanding at the server. This file holds exactly one test
//! so that no other test's threads are counted.

use std::time::{Duration, Instant};

use interop_tests::custom::LoopClient;
use interop_tests::load::{self, BODY, DEADLINE, IN_FLIGHT, Snapshots};
use interop_tests::threads::Threads;
use interop_tests::util::with_watchdog;
use slow_driver::Config;

const SERVER_COMM: &str = "slow-custom-ser";

#[test]
fn custom_no_hidden_threads() {
    let snapshots = with_watchdog("test-body", Duration::from_secs(180), body).expect("test body");
    snapshots.print("custom");
    let added = snapshots.warm.minus(&snapshots.before);
    assert_eq!(
        added,
        [(SERVER_COMM.to_string(), 1)].into(),
        "only the server's loop thread may be added"
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
    let server =
        slow_custom_example::Server::bind(([127, 0, 0, 1], 0).into(), load::server_config())
            .expect("bind")
            .spawn()
            .expect("server thread");
    let addr = server.local_addr();
    let limit = Duration::from_secs(30);
    let mut client = LoopClient::connect(addr, Config::default(), limit).expect("connect");
    let warm_up = client
        .request("warm-up", None)
        .expect("warm-up outcome")
        .expect("warm-up");
    assert_eq!(warm_up, "warm-up");
    let warm = Threads::settled();

    let t0 = Instant::now();
    let ids: Vec<_> = (0..IN_FLIGHT)
        .map(|_| client.submit(BODY, Some(DEADLINE)).expect("submit"))
        .collect();
    let marker = client
        .request("all read", None)
        .expect("marker outcome")
        .expect("marker");
    assert_eq!(marker, "all read");
    for &id in &ids {
        // Nothing may have completed: every one is still outstanding.
        assert!(
            client.outcome(id, Duration::ZERO).is_err(),
            "request {id} ended before the cancel"
        );
    }
    let loaded = Threads::settled();
    println!(
        "[custom] {IN_FLIGHT} in flight at the server after {:.2?}",
        t0.elapsed()
    );

    // Cancel by dropping: the client loop and its socket go away; the
    // server abandons every request of the connection.
    drop(client);
    let mut check =
        LoopClient::connect(addr, Config::default(), limit).expect("connect after the cancel");
    let got = check
        .request("still serving", None)
        .expect("outcome")
        .expect("answer after the cancel");
    assert_eq!(got, "still serving");
    check.close(limit).expect("close");
    let cancelled = Threads::settled();
    println!("[custom] cancelled and checked after {:.2?}", t0.elapsed());

    let t = Instant::now();
    server.shutdown().expect("graceful shutdown");
    println!(
        "[custom]   after server shutdown    {} ({:.2?})",
        Threads::settled(),
        t.elapsed()
    );
    Snapshots {
        before,
        warm,
        loaded,
        cancelled,
    }
}
