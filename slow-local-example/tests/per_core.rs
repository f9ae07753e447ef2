//! The thread-per-core runtime serving and calling SLOW: the INTEROP
//! service on N threads, handlers with `Rc` state on each, and a Unix
//! socket on a local runtime. (Its thread count is `tests/threads.rs`,
//! alone in its process.)

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use slow_driver::{Client, Config, Error, ErrorCode, LocalRequest, Server};
use slow_interop::driver::InteropService;
use slow_local_example::{PerCore, PerCoreServer};

#[test]
fn interop_service_on_two_cores() {
    let server = PerCoreServer::builder("127.0.0.1:0".parse().unwrap())
        .threads(2)
        .thread_name("it-core")
        .serve(InteropService::new)
        .expect("serve");
    let addr = server.local_addr();
    PerCore::new().block_on(async {
        let client = Client::<PerCore>::connect(addr).await.expect("connect");
        assert_eq!(client.request("echo me").await.unwrap(), "echo me");
        let mut notes = client.notifications();
        assert_eq!(client.request("!notify hi").await.unwrap(), "notified");
        assert_eq!(notes.recv().await.unwrap(), "hi");
        client.notify("ping").unwrap();
        assert_eq!(notes.recv().await.unwrap(), "ping");
        let slow = client.request_timeout("!sleep 5000", Duration::from_millis(50));
        assert!(matches!(slow.await, Err(Error::TimedOut)));
        match client.request("!error 300 boom").await {
            Err(Error::Server { code, message }) => {
                assert_eq!((code, message.as_str()), (ErrorCode(300), "boom"))
            }
            other => panic!("expected ERROR 300, got {other:?}"),
        }
        assert_eq!(
            client.request("!bytes 100000").await.unwrap().len(),
            100_000
        );
        assert_eq!(client.request("!close").await.unwrap(), "closing");
        assert!(matches!(
            client.request("late").await,
            Err(Error::NotProcessed)
        ));
    });
    server.shutdown().expect("graceful shutdown");
}

#[test]
fn each_core_keeps_its_own_rc_state() {
    const CONNECTIONS: usize = 16;
    const REQUESTS: usize = 10;
    // Each thread's handler reports its count when its server ends.
    let (report, reports) = mpsc::channel::<(String, u64)>();
    let server = PerCoreServer::builder("127.0.0.1:0".parse().unwrap())
        .threads(2)
        .thread_name("rc-core")
        .serve(move |_runtime| {
            let count = Rc::new(Cell::new(0u64));
            let on_drop = Reported(count.clone(), report.clone());
            move |req: LocalRequest| {
                let _keep = &on_drop;
                let count = count.clone();
                async move {
                    count.set(count.get() + 1);
                    Ok(req.body)
                }
            }
        })
        .expect("serve");
    let addr = server.local_addr();
    PerCore::new().block_on(async {
        for c in 0..CONNECTIONS {
            let client = Client::<PerCore>::connect(addr).await.expect("connect");
            for r in 0..REQUESTS {
                let body = format!("{c}/{r}");
                assert_eq!(client.request(body.clone()).await.unwrap(), body);
            }
            client.close().await.unwrap();
        }
    });
    server.shutdown().expect("graceful shutdown");
    let counts: BTreeMap<String, u64> = reports.try_iter().collect();
    println!("requests per thread: {counts:?}");
    assert_eq!(counts.len(), 2, "one report per thread: {counts:?}");
    assert_eq!(
        counts.values().sum::<u64>(),
        (CONNECTIONS * REQUESTS) as u64
    );
}

/// Sends its thread's final count when dropped (with the handler).
struct Reported(Rc<Cell<u64>>, mpsc::Sender<(String, u64)>);

impl Drop for Reported {
    fn drop(&mut self) {
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        let _ = self.1.send((name, self.0.get()));
    }
}

#[test]
fn unix_socket_on_a_local_runtime() {
    let dir = std::env::temp_dir().join(format!("slow-local-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("local.sock");
    let addr = format!("unix:{}", path.display());
    let runtime = PerCore::new();
    runtime.block_on(async {
        let server = Server::<PerCore>::bind_with(&addr, Config::default())
            .await
            .expect("bind");
        assert_eq!(server.local_addr().unwrap().to_string(), addr);
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let served = Rc::new(Cell::new(0));
        let count = served.clone();
        let handler = move |req: LocalRequest| {
            count.set(count.get() + 1);
            async move { Ok(req.body) }
        };
        let serving = smol::LocalExecutor::new();
        let task = serving.spawn(server.serve_with_shutdown(handler, async move {
            let _ = stopped.recv().await;
        }));
        let work = async {
            let client = Client::<PerCore>::connect(&addr).await.expect("connect");
            assert_eq!(client.request("over unix").await.unwrap(), "over unix");
            client.close().await.unwrap();
            drop(stop);
            task.await
        };
        serving.run(work).await.expect("served");
        assert_eq!(served.get(), 1);
    });
    assert!(!path.exists(), "the socket file is removed after serving");
    let _ = std::fs::remove_dir_all(&dir);
}
