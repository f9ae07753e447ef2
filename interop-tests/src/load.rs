//! Holding many requests in flight at once, for the "no hidden threads"
//! tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use slow_driver::runtime::Reactor;
use slow_driver::{Client, Config, Settings};

use crate::threads::Threads;
use crate::util::join_all;

/// Requests held in flight.
pub const IN_FLIGHT: usize = 10_000;
/// Spread over this many tasks...
pub const TASKS: usize = 100;
/// ...of this many concurrent requests each.
pub const PER_TASK: usize = IN_FLIGHT / TASKS;
/// The request each one sends: answered only after a minute...
pub const BODY: &str = "!sleep 60000";
/// ...with a deadline of 30 s, so none ends before it is cancelled.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// How long the requests may take to all reach the server's handlers, and
/// to all be gone from them after the cancel.
pub const SETTLE: Duration = Duration::from_secs(60);

/// The server config of the thread tests: MAX_CONCURRENT_REQUESTS raised
/// from its default of 128 so that all [`IN_FLIGHT`] requests really are in
/// flight at the server, not queued in the client.
pub fn server_config() -> Config {
    Config {
        settings: Settings {
            max_concurrent_requests: 20_000,
            ..Settings::default()
        },
        drain_timeout: Duration::from_secs(5),
        ..Config::default()
    }
}

/// One task's share of the load: [`PER_TASK`] concurrent requests that
/// only end when cancelled. One that ends anyway is counted in `finished`.
pub async fn task<R: Reactor>(client: Client<R>, finished: Arc<AtomicUsize>) {
    let requests = (0..PER_TASK).map(|_| {
        let client = &client;
        let finished = &finished;
        async move {
            let _ = client
                .request_timeout(Bytes::from_static(BODY.as_bytes()), DEADLINE)
                .await;
            finished.fetch_add(1, Ordering::SeqCst);
        }
    });
    join_all(requests).await;
}

/// The thread snapshots a test takes, printed and checked together.
#[derive(Debug, Clone)]
pub struct Snapshots {
    /// Before the runtime was started.
    pub before: Threads,
    /// The runtime, server and client started, one request answered.
    pub warm: Threads,
    /// With [`IN_FLIGHT`] requests in flight at the server.
    pub loaded: Threads,
    /// After they were cancelled.
    pub cancelled: Threads,
}

impl Snapshots {
    /// Prints every snapshot and what each added to `before`.
    pub fn print(&self, runtime: &str) {
        println!("[{runtime}] thread counts (from /proc/self/task):");
        for (label, t) in [
            ("before runtime", &self.before),
            ("warm (server+client up)", &self.warm),
            ("10,000 in flight", &self.loaded),
            ("after cancel", &self.cancelled),
        ] {
            println!("[{runtime}]   {label:<24} {t}");
            println!(
                "[{runtime}]   {:<24} added vs before: {:?}",
                "",
                t.minus(&self.before)
            );
        }
    }
}
