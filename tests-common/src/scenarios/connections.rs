//! A connection's end and its limits: graceful shutdown, a server killed
//! mid-request, and the server's connection and descriptor limits.

use std::time::{Duration, Instant};

use bytes::Bytes;
use slow_driver::{Client, Config, Error, ErrorCode, Request};
use slow_interop::driver::InteropService;

use crate::fixtures::{Probe, Running};
use crate::raw::{REQUEST, RESPONSE, Raw, frame, raw_server};
use crate::runner::{Join, LIMIT, TestRuntime, TestRuntimeExt, WAIT};

// ---- 7. graceful shutdown with requests in flight ---------------------------

/// A graceful shutdown answers the requests in flight and refuses new ones.
pub async fn graceful_shutdown_finishes_in_flight_requests<T: TestRuntime>() {
    let probe = Probe::default();
    let handler = {
        let probe = probe.clone();
        move |req: Request| {
            let probe = probe.clone();
            async move {
                let _stopped = probe.enter(&req);
                T::sleep(Duration::from_millis(500)).await;
                Ok(req.body)
            }
        }
    };
    let server = Running::<T>::start(handler).await;
    let addr = server.addr;
    let client = server.client().await;
    let in_flight: Vec<Join<Result<Bytes, Error>>> = (0..10)
        .map(|i| {
            let client = client.clone();
            T::spawn_join(async move { client.request(format!("in flight {i}")).await })
        })
        .collect();
    T::wait_until("10 handlers to run", || probe.started() == 10).await;

    let done = T::spawn_join(server.shutdown());
    // The GOAWAY arrives: the client drains, new requests are refused.
    T::wait_until("the client to see the GOAWAY", || client.is_closed()).await;
    let late = client.request("late").await;
    assert!(matches!(late, Err(Error::NotProcessed)), "{late:?}");
    assert!(late.unwrap_err().is_retryable());

    for (i, request) in in_flight.into_iter().enumerate() {
        let got = T::bounded("an in-flight request", request.join()).await;
        assert_eq!(got.unwrap(), format!("in flight {i}"));
    }
    done.join().await.expect("serve returned an error");
    assert_eq!(probe.stopped(), 10);
    let after = client.request("after").await;
    assert!(matches!(after, Err(Error::NotProcessed)), "{after:?}");
    let refused = T::bounded(
        "connect after shutdown",
        Client::<T::Runtime>::connect(addr),
    )
    .await;
    assert!(refused.is_err(), "a server that returned still accepts");
}

// ---- 8. server killed mid-request ----------------------------------------------

/// A server that dies with requests outstanding: each is `ConnectionLost`.
pub async fn server_killed_mid_request_is_connection_lost<T: TestRuntime>() {
    let (addr, server) = raw_server(|mut raw: Raw<T>| async move {
        raw.welcome().await;
        let mut requests = 0;
        while requests < 3 {
            let f = raw.read().await.expect("a request");
            requests += usize::from(f.ty == REQUEST);
        }
    })
    .await;
    let client = T::bounded("connect", Client::<T::Runtime>::connect(addr))
        .await
        .expect("connect");
    let calls: Vec<Join<Result<Bytes, Error>>> = (0..3)
        .map(|i| {
            let client = client.clone();
            T::spawn_join(async move { client.request(format!("never answered {i}")).await })
        })
        .collect();
    T::bounded("the raw server to die", server.join()).await;
    for call in calls {
        let outcome = T::bounded("a caller", call.join()).await;
        assert!(
            matches!(outcome, Err(Error::ConnectionLost { .. })),
            "{outcome:?}"
        );
    }
    T::wait_until("the client to notice", || client.is_closed()).await;
    let after = client.request("after").await;
    assert!(matches!(after, Err(Error::NotProcessed)), "{after:?}");
}

/// A server that resets the connection (it closes with our request still
/// unread in its socket, so the kernel sends RST): `ConnectionLost`, with
/// the socket's own error as its cause.
pub async fn server_reset_is_connection_lost_with_its_cause<T: TestRuntime>() {
    let (addr, server) = raw_server(|mut raw: Raw<T>| async move {
        raw.welcome().await;
        // The first of the request's frames; the rest of its megabyte is
        // left unread when the socket is dropped.
        raw.read_type(REQUEST).await;
    })
    .await;
    let client = T::bounded("connect", Client::<T::Runtime>::connect(addr))
        .await
        .expect("connect");
    let call = {
        let client = client.clone();
        T::spawn_join(async move { client.request(vec![1u8; 1 << 20]).await })
    };
    T::bounded("the raw server to reset", server.join()).await;
    let outcome = T::bounded("the caller", call.join()).await;
    match outcome {
        Err(Error::ConnectionLost { cause: Some(e) }) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "cause {e:?}"
        ),
        other => panic!("expected ConnectionLost with the reset as cause, got {other:?}"),
    }
}

/// A server that dies halfway through a RESPONSE: `ConnectionLost`.
pub async fn server_killed_mid_response_is_connection_lost<T: TestRuntime>() {
    let (addr, server) = raw_server(|mut raw: Raw<T>| async move {
        raw.welcome().await;
        let request = raw.read_type(REQUEST).await;
        // Half a RESPONSE, then gone.
        let response = frame(RESPONSE, 0, request.id, &[7; 100]);
        raw.write(&response[..30]).await;
    })
    .await;
    let client = T::bounded("connect", Client::<T::Runtime>::connect(addr))
        .await
        .expect("connect");
    let outcome = T::bounded(
        "the request",
        client.request_timeout("x", Duration::from_secs(30)),
    )
    .await;
    assert!(
        matches!(outcome, Err(Error::ConnectionLost { .. })),
        "{outcome:?}"
    );
    T::bounded("the raw server", server.join()).await;
}

// ---- 9. max connections -----------------------------------------------------

/// `max_connections(1)` refuses a second client until the first has gone.
pub async fn max_connections_refuses_the_second_client<T: TestRuntime>() {
    let server = Running::<T>::start_with(
        InteropService::<T::Runtime>::current().unwrap(),
        Config::default(),
        Some(1),
    )
    .await;
    let first = server.client().await;
    assert_eq!(first.request("first").await.unwrap(), "first");
    for _ in 0..3 {
        let second = T::bounded(
            "the second connect",
            Client::<T::Runtime>::connect(server.addr),
        )
        .await;
        match second {
            Err(Error::Closed {
                code: ErrorCode::CONNECTION_LIMIT,
                ..
            }) => {}
            Err(other) => panic!("wrong error: {other:?}"),
            Ok(_) => panic!("a second connection was accepted"),
        }
        assert_eq!(first.request("still first").await.unwrap(), "still first");
    }
    // Once the first has gone, there is room again.
    first.close().await.unwrap();
    let start = Instant::now();
    let third = loop {
        match T::bounded(
            "the third connect",
            Client::<T::Runtime>::connect(server.addr),
        )
        .await
        {
            Ok(c) => break c,
            Err(Error::Closed {
                code: ErrorCode::CONNECTION_LIMIT,
                ..
            }) if start.elapsed() < WAIT => T::sleep(Duration::from_millis(20)).await,
            Err(other) => panic!("third connect: {other:?}"),
        }
    };
    assert_eq!(third.request("third").await.unwrap(), "third");
}

/// CPU time this process has used, in clock ticks, from an open
/// `/proc/self/stat` (Linux).
fn cpu_ticks(file: &mut std::fs::File) -> u64 {
    use std::io::{Read, Seek};
    let mut stat = String::new();
    file.rewind().unwrap();
    file.read_to_string(&mut stat).expect("/proc/self/stat");
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Accepting with no descriptors left neither stalls, spins nor blocks shutdown (reruns itself in a
/// child process under `ulimit -n 64`).
pub async fn accept_out_of_descriptors_does_not_stall_the_server<T: TestRuntime>() {
    const CHILD: &str = "SLOW_SCENARIO_OUT_OF_DESCRIPTORS";
    if std::env::var_os(CHILD).is_none() {
        // Runs itself again in a child process with few descriptors.
        let exe = std::env::current_exe().unwrap();
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -n 64 && exec "$0" "$@""#)
            .arg(exe)
            .args([
                "--exact",
                "accept_out_of_descriptors_does_not_stall_the_server",
                "--include-ignored",
            ])
            .args(["--test-threads", "1", "--nocapture"])
            .env(CHILD, "1")
            .spawn()
            .expect("sh");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > LIMIT - WAIT {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("the child process hung");
            }
            T::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "the child failed: {status}");
        return;
    }
    let server = Running::<T>::interop().await;
    let client = server.client().await;
    let mut stat = std::fs::File::open("/proc/self/stat").unwrap();
    // Use up every descriptor but one; a raw connection takes that one,
    // so accepting it fails with EMFILE.
    let mut files = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        files.push(f);
    }
    files.pop();
    let _raw = Raw::<T>::connect(server.addr).await;
    T::sleep(Duration::from_millis(100)).await;
    // The connection the server already has is still served...
    let answer = T::within(Duration::from_secs(5), client.request("still served")).await;
    assert_eq!(
        answer.expect("no answer while accept fails").unwrap(),
        "still served"
    );
    // ... without a core spinning on the failing accept...
    let (ticks, start) = (cpu_ticks(&mut stat), Instant::now());
    T::sleep(Duration::from_secs(1)).await;
    let used = (cpu_ticks(&mut stat) - ticks) as f64 / 100.0 / start.elapsed().as_secs_f64();
    assert!(used < 0.2, "{:.0}% of a core used while idle", used * 100.0);
    // ... and a shutdown still ends `serve`.
    drop(client);
    let ended = T::within(Duration::from_secs(5), server.shutdown()).await;
    assert!(
        ended.is_some(),
        "serve did not return after the shutdown signal"
    );
    drop(files);
}
