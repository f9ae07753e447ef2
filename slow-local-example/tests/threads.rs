//! A thread-per-core server on N threads starts exactly N threads, plus
//! async-io's one reactor thread per process (shared by every executor;
//! it sleeps while a `block_on` drives the reactor), and connections and
//! requests start none. Alone in its test binary, so that no other test's
//! threads are counted.

use std::collections::BTreeMap;
use std::time::Duration;

use slow_driver::Client;
use slow_interop::driver::InteropService;
use slow_local_example::{PerCore, PerCoreServer};

/// This process's threads: name → how many.
fn threads() -> BTreeMap<String, usize> {
    let mut by_name = BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task (Linux)")
        .flatten()
    {
        if let Ok(name) = std::fs::read_to_string(task.path().join("comm")) {
            *by_name.entry(name.trim_end().to_owned()).or_insert(0) += 1;
        }
    }
    by_name
}

#[test]
fn n_threads_and_no_others() {
    // The reactor thread starts on first use of async-io: use it first.
    PerCore::new().block_on(async {});
    std::thread::sleep(Duration::from_millis(50));
    let before = threads();

    let server = PerCoreServer::builder("127.0.0.1:0".parse().unwrap())
        .threads(3)
        .thread_name("tc-core")
        .serve(InteropService::new)
        .expect("serve");
    let addr = server.local_addr();
    PerCore::new().block_on(async {
        let mut clients = Vec::new();
        for _ in 0..6 {
            clients.push(Client::<PerCore>::connect(addr).await.unwrap());
        }
        for client in &clients {
            assert_eq!(client.request("!sleep 10").await.unwrap(), "slept 10");
            client.notify("n").unwrap();
        }
        for client in clients {
            client.close().await.unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(50)); // new threads name themselves
    let during = threads();
    println!("before: {before:?}\nserving: {during:?}");

    let mut expected = before.clone();
    for i in 0..3 {
        expected.insert(format!("tc-core-{i}"), 1);
    }
    assert_eq!(during, expected, "the 3 server threads and nothing else");
    server.shutdown().expect("graceful shutdown");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(threads(), before, "every server thread ended");
}
