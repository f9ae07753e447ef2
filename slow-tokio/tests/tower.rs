//! The `tower` feature on tokio: `Client` as a `Service<Bytes>` whose
//! `poll_ready` is the server's MAX_CONCURRENT_REQUESTS (back-pressure),
//! and `ServiceHandler` serving a tower service.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use slow_tokio::{
    Bytes, Client, Config, Error, ErrorCode, ErrorReply, Request, Server, ServiceHandler, Settings,
};
use tokio::sync::Semaphore;
use tokio::time::timeout;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// Long enough for anything that should happen on loopback.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long something that should not happen is given to happen.
const A_WHILE: Duration = Duration::from_millis(100);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Sets a flag when dropped: a handler that was stopped (or finished).
struct Dropped(Arc<AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A server that takes 2 requests at once and answers each only when the
/// gate lets one through; "drop" sets `stopped` when its handler goes.
async fn gated_server(gate: Arc<Semaphore>, stopped: Arc<AtomicBool>) -> Client {
    let settings = Settings {
        max_concurrent_requests: 2,
        ..Settings::default()
    };
    let config = Config {
        settings,
        ..Config::default()
    };
    let server = Server::bind_with("127.0.0.1:0", config).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve(move |req: Request| {
        let gate = gate.clone();
        let stopped = stopped.clone();
        async move {
            let _flag = (req.body == "drop").then(|| Dropped(stopped));
            gate.acquire().await.expect("gate open").forget();
            Ok(req.body)
        }
    }));
    let client = Client::connect(addr).await.unwrap();
    assert_eq!(client.peer_settings().max_concurrent_requests, 2);
    client
}

async fn ready(svc: &mut Client) -> Result<(), Error> {
    ServiceExt::<Bytes>::ready(svc).await.map(drop)
}

#[test]
fn poll_ready_waits_for_a_slot_under_the_servers_limit() {
    runtime().block_on(async {
        let gate = Arc::new(Semaphore::new(0));
        let mut svc = gated_server(gate.clone(), Default::default()).await;

        ready(&mut svc).await.unwrap();
        let a = svc.call(Bytes::from("a"));
        ready(&mut svc).await.unwrap();
        let b = svc.call(Bytes::from("b"));
        // Both slots are taken: not ready, and not an error either.
        assert!(timeout(A_WHILE, ready(&mut svc)).await.is_err());

        // A waiting `poll_ready` is woken when a request ends.
        let mut other = svc.clone();
        let waiting = tokio::spawn(async move { ready(&mut other).await });
        tokio::time::sleep(A_WHILE).await;
        assert!(!waiting.is_finished());
        gate.add_permits(1);
        timeout(PATIENCE, waiting).await.unwrap().unwrap().unwrap();

        gate.add_permits(1);
        let mut answers = [
            timeout(PATIENCE, a).await.unwrap().unwrap(),
            timeout(PATIENCE, b).await.unwrap().unwrap(),
        ];
        answers.sort();
        assert_eq!(answers, [Bytes::from("a"), Bytes::from("b")]);
        ready(&mut svc).await.unwrap();
        svc.close().await.unwrap();
    });
}

#[test]
fn a_call_over_the_limit_waits_in_the_queue_rather_than_failing() {
    runtime().block_on(async {
        let gate = Arc::new(Semaphore::new(0));
        let mut svc = gated_server(gate.clone(), Default::default()).await;
        // Not asking poll_ready first: the third waits in the core's queue.
        let calls: Vec<_> = ["1", "2", "3"]
            .into_iter()
            .map(|b| svc.call(Bytes::from(b)))
            .collect();
        gate.add_permits(3);
        for (call, want) in calls.into_iter().zip(["1", "2", "3"]) {
            assert_eq!(timeout(PATIENCE, call).await.unwrap().unwrap(), want);
        }
        svc.close().await.unwrap();
    });
}

#[test]
fn dropping_a_response_future_cancels_the_request_and_frees_its_slot() {
    runtime().block_on(async {
        let gate = Arc::new(Semaphore::new(0));
        let stopped = Arc::new(AtomicBool::new(false));
        let mut svc = gated_server(gate.clone(), stopped.clone()).await;
        let dropped = svc.call(Bytes::from("drop"));
        let kept = svc.call(Bytes::from("kept"));
        assert!(timeout(A_WHILE, ready(&mut svc)).await.is_err());
        drop(dropped); // CANCEL: the slot is free at once
        timeout(PATIENCE, ready(&mut svc)).await.unwrap().unwrap();
        // The server's handler is stopped, not answered.
        timeout(PATIENCE, async {
            while !stopped.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the cancelled handler was stopped");
        gate.add_permits(1);
        assert_eq!(timeout(PATIENCE, kept).await.unwrap().unwrap(), "kept");
        svc.close().await.unwrap();
    });
}

#[test]
fn poll_ready_fails_once_the_connection_closes() {
    runtime().block_on(async {
        let gate = Arc::new(Semaphore::new(100));
        let mut svc = gated_server(gate, Default::default()).await;
        svc.close().await.unwrap();
        assert!(matches!(ready(&mut svc).await, Err(Error::NotProcessed)));
        // A call anyway: refused, nothing sent.
        let late = svc.call(Bytes::from("late")).await;
        assert!(matches!(late, Err(Error::NotProcessed)));
    });
}

#[test]
fn a_waiting_poll_ready_fails_when_the_connection_drains() {
    runtime().block_on(async {
        let gate = Arc::new(Semaphore::new(0));
        let mut svc = gated_server(gate.clone(), Default::default()).await;
        let a = svc.call(Bytes::from("a"));
        let b = svc.call(Bytes::from("b"));
        let mut other = svc.clone();
        let waiting = tokio::spawn(async move { ready(&mut other).await });
        tokio::time::sleep(A_WHILE).await;
        assert!(!waiting.is_finished());
        // GOAWAY: what was sent still finishes, nothing new opens.
        let closing = svc.clone();
        let close = tokio::spawn(async move { closing.close().await });
        timeout(PATIENCE, async {
            while svc.is_open() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("draining");
        assert!(!waiting.is_finished()); // still full: woken when one ends
        gate.add_permits(2);
        let waited = timeout(PATIENCE, waiting).await.unwrap().unwrap();
        assert!(matches!(waited, Err(Error::NotProcessed)), "{waited:?}");
        assert_eq!(timeout(PATIENCE, a).await.unwrap().unwrap(), "a");
        assert_eq!(timeout(PATIENCE, b).await.unwrap().unwrap(), "b");
        timeout(PATIENCE, close).await.unwrap().unwrap().unwrap();
    });
}

#[test]
fn a_call_the_core_refuses_fails_in_its_future() {
    runtime().block_on(async {
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.serve(|req: Request| async move { Ok(req.body) }));
        let mut svc = Client::connect(addr).await.unwrap();
        let limit = u64::from(svc.peer_settings().max_message_size);
        let big = Bytes::from(vec![0u8; limit as usize + 1]);
        let refused = svc.call(big).await;
        assert!(
            matches!(refused, Err(Error::TooLarge { .. })),
            "{refused:?}"
        );
        assert_eq!(svc.call(Bytes::from("fine")).await.unwrap(), "fine");
    });
}

#[test]
fn a_service_handler_answers_with_a_tower_service() {
    runtime().block_on(async {
        let service = service_fn(|req: Request| async move {
            match &req.body[..] {
                b"refuse" => Err(ErrorReply::new(0x0100, "refused")),
                _ => Ok(Bytes::from(req.body.to_ascii_uppercase())),
            }
        });
        // tower's middleware on the server side: one request at a time
        // (ConcurrencyLimit is not Sync; ServiceHandler does not need it).
        let service = ServiceBuilder::new().concurrency_limit(1).service(service);
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.serve(ServiceHandler::new(service)));

        let client = Client::connect(addr).await.unwrap();
        let (a, b) = tokio::join!(client.request("hi"), client.request("there"));
        assert_eq!((a.unwrap(), b.unwrap()), ("HI".into(), "THERE".into()));
        match client.request("refuse").await {
            Err(Error::Server { code, message }) => {
                assert_eq!((code, message.as_str()), (ErrorCode(0x0100), "refused"));
            }
            other => panic!("expected the service's ErrorReply, got {other:?}"),
        }
        client.close().await.unwrap();
    });
}

#[test]
fn a_service_handlers_other_errors_answer_internal_error_with_their_text() {
    runtime().block_on(async {
        let service = service_fn(|req: Request| async move {
            if req.body == "fail" {
                return Err(std::io::Error::other("disk on fire"));
            }
            Ok(req.body)
        });
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.serve(ServiceHandler::new(service)));

        let client = Client::connect(addr).await.unwrap();
        assert_eq!(client.request("ok").await.unwrap(), "ok");
        match client.request("fail").await {
            Err(Error::Server { code, message }) => {
                assert_eq!(code, ErrorCode::INTERNAL_ERROR);
                assert_eq!(message, "disk on fire");
            }
            other => panic!("expected INTERNAL_ERROR, got {other:?}"),
        }
        client.close().await.unwrap();
    });
}
