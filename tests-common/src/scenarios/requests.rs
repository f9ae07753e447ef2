//! Requests and their ends: echo, large bodies, many at once, deadlines on
//! either side, and cancelling by dropping the future.

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use bytes::Bytes;
use slow_driver::{Error, ErrorCode, Peer, Settings};

use crate::combinators::{join_all, race};
use crate::fixtures::{Probe, Running, assert_pattern, hanging, pattern};
use crate::handler::Answer;
use crate::raw::{CANCEL, DEADLINE, ERROR, REQUEST, RESPONSE, Raw, frame};
use crate::runner::{Join, ModeOf, TestRuntime, TestRuntimeExt, WAIT};
use crate::wire::Wire;

// ---- 1. echo ----------------------------------------------------------

/// Echo through the interop service and through a handler of our own.
pub async fn echo<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::interop().await;
    let client = server.client().await;
    assert_eq!(client.request("hello").await.unwrap(), "hello");
    assert_eq!(client.request(Bytes::new()).await.unwrap(), "");
    let binary: Vec<u8> = (0..=255).collect();
    assert_eq!(client.request(binary.clone()).await.unwrap(), binary);
    assert_eq!(client.peer_settings(), Settings::default());
    assert!(!client.is_closed());

    // A handler of our own sees who asks.
    let server = Running::<T, W>::start(T::handler(|req| {
        let peer: Peer<ModeOf<T>> = req.peer.clone();
        Answer::now(Ok(Bytes::from(format!(
            "{} from {}",
            String::from_utf8_lossy(&req.body),
            peer.addr().tcp().expect("a TCP client").ip()
        ))))
    }))
    .await;
    let client = server.client().await;
    assert_eq!(client.request("hi").await.unwrap(), "hi from 127.0.0.1");
    client.close().await.unwrap();
}

// ---- 2. 1 MiB both ways -----------------------------------------------

/// 1 MiB bodies each way, one at a time and both at once on one connection.
pub async fn one_mib_bodies_both_ways<T: TestRuntime, W: Wire<T>>() {
    const MIB: usize = 1 << 20;
    let server = Running::<T, W>::interop().await;
    let client = server.client().await;
    let body = pattern(MIB);
    let back = client.request(body.clone()).await.unwrap();
    assert_pattern(&back, MIB);
    let got = client.request(format!("!bytes {MIB}")).await.unwrap();
    assert_pattern(&got, MIB);
    // Both at once, on one connection.
    let command = Bytes::from(format!("!bytes {MIB}"));
    for got in join_all([client.request(body), client.request(command)]).await {
        assert_pattern(&got.unwrap(), MIB);
    }
}

// ---- 3. 1,000 concurrent requests from 50 tasks -------------------------

/// 1,000 concurrent requests from 50 tasks on one cloned client.
pub async fn thousand_concurrent_requests_from_fifty_tasks<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::interop().await;
    let client = server.client().await;
    let tasks: Vec<Join<usize>> = (0..50)
        .map(|t| {
            let client = client.clone();
            T::spawn_join(async move {
                let requests = (0..20).map(|i| {
                    let client = &client;
                    async move {
                        let body = format!("task {t} request {i}");
                        let got = client.request(body.clone()).await.expect("request");
                        assert_eq!(got, body);
                    }
                });
                join_all(requests).await.len()
            })
        })
        .collect();
    let mut answered = 0;
    for task in tasks {
        answered += T::bounded("a task's requests", task.join()).await;
    }
    assert_eq!(answered, 1000);
    assert_eq!(client.request("still fine").await.unwrap(), "still fine");
}

// ---- 4. deadlines -------------------------------------------------------

/// A client-side timeout fails the request and stops the server's handler.
pub async fn deadline_client_side_times_out<T: TestRuntime, W: Wire<T>>() {
    let probe = Probe::default();
    let server = Running::<T, W>::start(hanging::<T::Runtime>(&probe)).await;
    let client = server.client().await;
    let started = Instant::now();
    let outcome = client
        .request_timeout("hang", Duration::from_millis(200))
        .await;
    assert!(matches!(outcome, Err(Error::TimedOut)), "{outcome:?}");
    assert!(started.elapsed() < WAIT, "took {:?}", started.elapsed());
    // The server was told too (CANCEL or its own DEADLINE): the handler stopped.
    T::wait_until("the handler to be stopped", || probe.stopped() == 1).await;
    assert!(
        probe.saw_deadline.load(SeqCst),
        "the handler saw no deadline"
    );

    // Through the interop service's own timer as well.
    let server = Running::<T, W>::interop().await;
    let client = server.client().await;
    let outcome = client
        .request_timeout("!sleep 100000", Duration::from_millis(100))
        .await;
    assert!(matches!(outcome, Err(Error::TimedOut)), "{outcome:?}");
    // A deadline long enough is no deadline at all.
    let ok = client
        .request_timeout("!sleep 10", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(ok, "slept 10");
}

/// A DEADLINE nobody cancels: the server answers ERROR DEADLINE_EXCEEDED.
pub async fn deadline_server_side_deadline_exceeded<T: TestRuntime, W: Wire<T>>() {
    // A raw client sends a DEADLINE and never cancels: what comes back is
    // the server's own ERROR DEADLINE_EXCEEDED.
    let probe = Probe::default();
    let server = Running::<T, W>::start(hanging::<T::Runtime>(&probe)).await;
    let mut raw = Raw::<T, W>::connect(server.addr).await;
    raw.hello().await;
    let mut payload = 200u32.to_be_bytes().to_vec();
    payload.extend_from_slice(b"hang");
    raw.write(&frame(REQUEST, DEADLINE, 1, &payload)).await;
    let error = raw.read_type(ERROR).await;
    assert_eq!(error.id, 1);
    let code = u16::from_be_bytes([error.payload[0], error.payload[1]]);
    assert_eq!(ErrorCode(code), ErrorCode::DEADLINE_EXCEEDED);
    T::wait_until("the handler to be stopped", || probe.stopped() == 1).await;
    assert!(
        probe.saw_deadline.load(SeqCst),
        "the handler saw no deadline"
    );

    // timeout_ms 0: already expired.
    let mut payload = 0u32.to_be_bytes().to_vec();
    payload.extend_from_slice(b"hang");
    raw.write(&frame(REQUEST, DEADLINE, 2, &payload)).await;
    let error = raw.read_type(ERROR).await;
    assert_eq!(error.id, 2);
    assert_eq!(
        ErrorCode(u16::from_be_bytes([error.payload[0], error.payload[1]])),
        ErrorCode::DEADLINE_EXCEEDED
    );

    // The connection is still up.
    raw.write(&frame(REQUEST, 0, 3, b"still here")).await;
    let response = raw.read_type(RESPONSE).await;
    assert_eq!(
        (response.id, &response.payload[..]),
        (3, &b"still here"[..])
    );
    T::wait_until("every hanging handler to be stopped", || {
        probe.stopped() == probe.started()
    })
    .await;
}

// ---- 5. cancel by drop ----------------------------------------------------

/// Dropping a request's future stops its handler on the server.
pub async fn cancel_by_drop_stops_the_handler<T: TestRuntime, W: Wire<T>>() {
    let probe = Probe::default();
    let server = Running::<T, W>::start(hanging::<T::Runtime>(&probe)).await;
    let client = server.client().await;
    for round in 1..=3 {
        // Poll the request until its handler runs, then drop it.
        let request = client.request("hang");
        let started = async {
            T::wait_until("the handler to start", || probe.started() == round).await;
        };
        assert!(
            race(request, started).await.is_err(),
            "a hanging request was answered"
        );
        T::wait_until("the handler to be stopped", || probe.stopped() == round).await;
    }
    // The connection is unharmed.
    assert_eq!(client.request("after").await.unwrap(), "after");

    // Many at once, from other tasks, all dropped once all run.
    let tasks: Vec<Join<()>> = (0..10)
        .map(|_| {
            let (client, probe) = (client.clone(), probe.clone());
            T::spawn_join(async move {
                let all_started = T::wait_until("13 handlers to start", || probe.started() == 13);
                assert!(race(client.request("hang"), all_started).await.is_err());
            })
        })
        .collect();
    for task in tasks {
        T::bounded("a dropping task", task.join()).await;
    }
    T::wait_until("all 13 handlers to be stopped", || probe.stopped() == 13).await;
    assert_eq!(probe.started(), 13);
    assert_eq!(client.request("after").await.unwrap(), "after");

    // A CANCEL in the same write as its REQUEST (usually the same read:
    // the handler is stopped before it first runs), then one a read later.
    let mut raw = Raw::<T, W>::connect(server.addr).await;
    raw.hello().await;
    let mut both = frame(REQUEST, 0, 1, b"hang");
    both.extend_from_slice(&frame(CANCEL, 0, 1, b""));
    raw.write(&both).await;
    raw.write(&frame(REQUEST, 0, 2, b"hang")).await;
    T::wait_until("the second handler to start", || probe.started() >= 14).await;
    raw.write(&frame(CANCEL, 0, 2, b"")).await;
    // Nothing is answered for either; the connection serves on.
    raw.write(&frame(REQUEST, 0, 3, b"next")).await;
    let response = raw.read_type(RESPONSE).await;
    assert_eq!((response.id, &response.payload[..]), (3, &b"next"[..]));
    T::wait_until("every cancelled handler to be stopped", || {
        probe.stopped() == probe.started()
    })
    .await;
}
