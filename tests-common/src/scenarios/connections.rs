//! A connection's end and its limits: graceful shutdown, a server killed
//! mid-request, and the server's connection and descriptor limits.

use std::time::{Duration, Instant};

use bytes::Bytes;
use slow_driver::{Config, Error, ErrorCode};
use slow_interop::driver::InteropService;

use crate::fixtures::{Probe, Running};
use crate::handler::Answer;
use crate::raw::{REQUEST, RESPONSE, Raw, frame, raw_server};
use crate::runner::{Join, LIMIT, TestRuntime, TestRuntimeExt, WAIT};
use crate::wire::Wire;

// ---- 7. graceful shutdown with requests in flight ---------------------------

/// A graceful shutdown answers the requests in flight and refuses new ones.
pub async fn graceful_shutdown_finishes_in_flight_requests<T: TestRuntime, W: Wire<T>>() {
    let probe = Probe::default();
    let handler = {
        let probe = probe.clone();
        T::handler(move |req| {
            Answer::after(Duration::from_millis(500), Ok(req.body.clone()))
                .holding(probe.enter(req))
        })
    };
    let server = Running::<T, W>::start(handler).await;
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
        W::connect(addr, Config::default()),
    )
    .await;
    assert!(refused.is_err(), "a server that returned still accepts");
}

// ---- 8. server killed mid-request ----------------------------------------------

/// A server that dies with requests outstanding: each is `ConnectionLost`.
pub async fn server_killed_mid_request_is_connection_lost<T: TestRuntime, W: Wire<T>>() {
    let (addr, server) = raw_server(|mut raw: Raw<T, W>| async move {
        raw.welcome().await;
        let mut requests = 0;
        while requests < 3 {
            let f = raw.read().await.expect("a request");
            requests += usize::from(f.ty == REQUEST);
        }
    })
    .await;
    let client = T::bounded("connect", W::connect(addr, Config::default()))
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
pub async fn server_reset_is_connection_lost_with_its_cause<T: TestRuntime, W: Wire<T>>() {
    let (addr, server) = raw_server(|mut raw: Raw<T, W>| async move {
        raw.welcome().await;
        // The first of the request's frames; the rest of its megabyte is
        // left unread when the socket is dropped.
        raw.read_type(REQUEST).await;
    })
    .await;
    let client = T::bounded("connect", W::connect(addr, Config::default()))
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
pub async fn server_killed_mid_response_is_connection_lost<T: TestRuntime, W: Wire<T>>() {
    let (addr, server) = raw_server(|mut raw: Raw<T, W>| async move {
        raw.welcome().await;
        let request = raw.read_type(REQUEST).await;
        // Half a RESPONSE, then gone.
        let response = frame(RESPONSE, 0, request.id, &[7; 100]);
        raw.write(&response[..30]).await;
    })
    .await;
    let client = T::bounded("connect", W::connect(addr, Config::default()))
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
pub async fn max_connections_refuses_the_second_client<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::start_with(
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
            W::connect(server.addr, Config::default()),
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
            W::connect(server.addr, Config::default()),
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

/// Collects a child's stdout and stderr on threads of their own (a full
/// pipe would stall it), joined when it has exited.
fn drain_output(child: &mut std::process::Child) -> std::thread::JoinHandle<String> {
    use std::io::Read;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        let err = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = stderr {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        });
        let mut text = String::new();
        if let Some(mut pipe) = stdout {
            let _ = pipe.read_to_string(&mut text);
        }
        text + &err.join().unwrap_or_default()
    })
}

/// Accepting with no descriptors left neither stalls, spins nor blocks shutdown (reruns itself in a
/// child process under `ulimit -n 64`).
pub async fn accept_out_of_descriptors_does_not_stall_the_server<T: TestRuntime, W: Wire<T>>() {
    const CHILD: &str = "SLOW_SCENARIO_OUT_OF_DESCRIPTORS";
    if std::env::var_os(CHILD).is_none() {
        // Runs itself again in a child process with few descriptors. Its
        // output is captured and shown as this test's (libtest captures
        // what the test prints, not what a child writes to the terminal).
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
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let output = drain_output(&mut child);
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > LIMIT - WAIT {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!(
                    "the child process hung:\n{}",
                    output.join().unwrap_or_default()
                );
            }
            T::sleep(Duration::from_millis(50)).await;
        };
        let output = output.join().unwrap_or_default();
        println!("---- child process (ulimit -n 64) ----\n{output}---- end of child ----");
        assert!(status.success(), "the child failed: {status}");
        assert!(
            output.contains("1 passed"),
            "the child did not run the test"
        );
        return;
    }
    let server = Running::<T, W>::interop().await;
    let client = server.client().await;
    let mut stat = std::fs::File::open("/proc/self/stat").unwrap();
    // Use up every descriptor but one; a raw connection takes that one,
    // so accepting it fails with EMFILE.
    let mut files = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        files.push(f);
    }
    files.pop();
    let _raw = Raw::<T, W>::connect(server.addr).await;
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

// ---- the runtime's streams: a half-close is a FIN ---------------------------

/// A shutdown of the runtime's TCP and Unix streams (`Stream::poll_shutdown`
/// or `CompletionStream::shutdown`) sends a FIN while the stream stays
/// open: the peer reads end of stream at once, and what the peer sends
/// afterwards is still read. (A shutdown that only flushes leaves a closing
/// peer waiting out its linger for an end of stream that comes when the
/// socket is dropped.) Plaintext only: the runtime's streams as they are,
/// whatever the wire (TLS's own half-close is
/// [`tls_streams_half_close_with_close_notify`](crate::scenarios::tls::tls_streams_half_close_with_close_notify)).
pub async fn streams_half_close_with_a_fin<T: TestRuntime, W: Wire<T>>() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    use slow_driver::runtime::Reactor;

    use crate::raw::RawIo;

    /// Shuts `ours` down, checks the peer reads end of stream, then that
    /// `ours` still reads what the peer sends.
    async fn half_close<T: TestRuntime, S>(mut ours: S, mut peer: impl Read + Write)
    where
        T::Raw: RawIo<S>,
    {
        T::Raw::shutdown(&mut ours).await.expect("shutdown");
        let mut byte = [0u8; 1];
        assert_eq!(
            peer.read(&mut byte).expect("the peer reads"),
            0,
            "the peer reads end of stream while the stream is still open"
        );
        peer.write_all(b"after").expect("the peer writes");
        let mut buf = bytes::BytesMut::new();
        while buf.len() < 5 {
            let n = T::bounded("read after shutdown", T::Raw::read(&mut ours, &mut buf))
                .await
                .expect("read");
            assert!(n > 0, "end of stream before the peer's bytes");
        }
        assert_eq!(&buf[..], b"after");
    }

    let runtime = T::Runtime::current().expect("runtime");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let ours = T::bounded("connect", runtime.connect(listener.local_addr().unwrap()))
        .await
        .expect("connect");
    let (peer, _) = listener.accept().expect("accept");
    peer.set_read_timeout(Some(WAIT)).unwrap();
    half_close::<T, _>(ours, peer).await;

    let dir = std::env::temp_dir().join(format!("slow-fin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("socket dir");
    let path = dir.join(format!("{}.sock", std::any::type_name::<T>().len()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("bind unix");
    let ours = T::bounded("connect unix", runtime.connect_unix(path.clone()))
        .await
        .expect("connect unix");
    let (peer, _) = listener.accept().expect("accept unix");
    peer.set_read_timeout(Some(WAIT)).unwrap();
    half_close::<T, _>(ours, peer).await;
    let _ = std::fs::remove_file(&path);
}
