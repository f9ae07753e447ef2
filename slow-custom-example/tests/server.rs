//! The loop and the server around the service: many connections, the
//! connection limit, graceful shutdown, back-pressure, bad input.

mod common;

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Raw, SOON, config, next, server, server_with_limit};
use slow_custom_example::{BlockingClient, ClientLoop, Completion, ConnError};
use slow_proto::frame::Frame;
use slow_proto::{Config, ErrorCode, RequestId, Settings};

#[test]
fn many_connections_many_requests() {
    // More requests per connection than the server's concurrency limit, so
    // some wait in the client's queue.
    let settings = Settings {
        max_concurrent_requests: 4,
        ..Settings::default()
    };
    let server = server(Config {
        settings,
        ..config()
    });
    let mut lp = ClientLoop::new().unwrap();
    let mut expected = HashMap::new();
    for c in 0..40 {
        let conn = lp.connect(server.local_addr(), config()).unwrap();
        for r in 0..10 {
            let body = Bytes::from(format!("conn {c} request {r}"));
            let id = lp.request(conn, body.clone(), Some(SOON)).unwrap();
            expected.insert((conn, id), body);
        }
    }
    while !expected.is_empty() {
        match next(&mut lp) {
            Completion::Connected { .. } => {}
            Completion::Response { conn, id, body } => {
                assert_eq!(expected.remove(&(conn, id)), Some(body));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn connections_beyond_the_limit_get_connection_limit() {
    let server = server_with_limit(config(), 2);
    let mut a = BlockingClient::connect(server.local_addr()).unwrap();
    let mut b = BlockingClient::connect(server.local_addr()).unwrap();
    for _ in 0..3 {
        match BlockingClient::connect(server.local_addr()) {
            Err(e) => assert_eq!(e.code(), Some(ErrorCode::CONNECTION_LIMIT), "{e}"),
            Ok(_) => panic!("a third connection was accepted"),
        }
    }
    // The others are unaffected, and refused connections do not count.
    assert_eq!(a.request("a", Some(SOON)).unwrap(), "a");
    assert_eq!(b.request("b", Some(SOON)).unwrap(), "b");

    // Once one leaves, there is room again (as soon as the server has seen
    // it go).
    a.close(SOON).unwrap();
    let deadline = Instant::now() + SOON;
    let mut c = loop {
        match BlockingClient::connect(server.local_addr()) {
            Ok(c) => break c,
            Err(e)
                if e.code() == Some(ErrorCode::CONNECTION_LIMIT) && Instant::now() < deadline =>
            {
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("no room after a connection left: {e}"),
        }
    };
    assert_eq!(c.request("c", Some(SOON)).unwrap(), "c");
}

#[test]
fn graceful_shutdown_completes_requests_in_flight() {
    let server = server(config());
    let mut lp = ClientLoop::new().unwrap();
    let mut sleeping = HashMap::new();
    let mut barriers = Vec::new();
    for _ in 0..2 {
        let conn = lp.connect(server.local_addr(), config()).unwrap();
        for _ in 0..3 {
            let id = lp.request(conn, "!sleep 300", Some(SOON)).unwrap();
            sleeping.insert((conn, id), ());
        }
        // Answered in order, so once it is back the sleeps have arrived.
        barriers.push((conn, lp.request(conn, "barrier", Some(SOON)).unwrap()));
    }
    while !barriers.is_empty() {
        match next(&mut lp) {
            Completion::Connected { .. } => {}
            Completion::Response { conn, id, .. } => barriers.retain(|b| *b != (conn, id)),
            other => panic!("unexpected {other:?}"),
        }
    }

    // From another thread than the server's, as a signal handler would.
    server.shutdown_handle().shutdown().unwrap();

    let mut closed = 0;
    while closed < 2 {
        match next(&mut lp) {
            Completion::Response { conn, id, body } => {
                assert_eq!(body, "slept 300");
                assert!(sleeping.remove(&(conn, id)).is_some());
            }
            Completion::Closed { error: None, .. } => closed += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(sleeping.is_empty(), "not answered: {sleeping:?}");
    let addr = server.local_addr();
    server.shutdown().unwrap(); // `run` returned Ok
    assert!(
        BlockingClient::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

#[test]
fn shutdown_with_no_connections_returns_at_once() {
    let started = Instant::now();
    server(config()).shutdown().unwrap();
    assert!(started.elapsed() < SOON);
}

#[test]
fn first_frame_not_hello_is_protocol_error() {
    let server = server(config());
    // A REQUEST where HELLO must come.
    let mut raw = Raw::connect(server.local_addr());
    raw.send_bytes(&[0, 0, 0, 2, 0x03, 0, 0, 0, 0, 1, b'h', b'i']);
    expect_goaway_then_eof(&mut raw, ErrorCode::PROTOCOL_ERROR);

    // A HELLO with the wrong magic.
    let mut raw = Raw::connect(server.local_addr());
    raw.send_bytes(&[0, 0, 0, 5, 0x01, 0, 0, 0, 0, 0, b'N', b'O', b'P', b'E', 1]);
    expect_goaway_then_eof(&mut raw, ErrorCode::PROTOCOL_ERROR);

    // Not SLOW at all: the first four bytes read as a huge length.
    let mut raw = Raw::connect(server.local_addr());
    raw.send_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_goaway_then_eof(&mut raw, ErrorCode::FRAME_TOO_LARGE);

    // The server is fine.
    let mut client = BlockingClient::connect(server.local_addr()).unwrap();
    assert_eq!(client.request("ok", Some(SOON)).unwrap(), "ok");
}

fn expect_goaway_then_eof(raw: &mut Raw, expected: ErrorCode) {
    match raw.recv() {
        Some(Frame::GoAway {
            code,
            last_id: RequestId::NONE,
            ..
        }) => assert_eq!(code, expected),
        other => panic!("expected GOAWAY {expected}, got {other:?}"),
    }
    assert_eq!(raw.recv(), None, "the server did not close");
}

#[test]
fn a_peer_that_stops_reading_is_paused_then_served() {
    // A small high-water mark, so the server stops reading early while its
    // answers pile up.
    let server = server(Config {
        send_high_water: 16 * 1024,
        ..config()
    });
    let mut raw = Raw::handshake(server.local_addr());
    const REQUESTS: u32 = 120;
    const SIZE: usize = 60_000;
    let mut writer = raw.stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        use std::io::Write;
        let body = slow_interop::pattern(SIZE);
        for id in 1..=REQUESTS {
            let mut out = bytes::BytesMut::new();
            Frame::Request {
                id: RequestId::new(id),
                more: false,
                timeout_ms: None,
                body: body.clone(),
            }
            .encode(&mut out);
            writer.write_all(&out).unwrap();
        }
    });
    // Read nothing for a while: the server's output fills, it stops reading.
    thread::sleep(Duration::from_millis(300));
    let mut answered = 0;
    while answered < REQUESTS {
        match raw.recv() {
            Some(Frame::Response {
                more: false, body, ..
            }) => {
                assert_eq!(body.len(), SIZE);
                answered += 1;
            }
            other => panic!("expected a response, got {other:?}"),
        }
    }
    sender.join().unwrap();
}

#[test]
fn connect_refused_is_an_io_error() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    match BlockingClient::connect(addr) {
        Err(ConnError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        Err(e) => panic!("expected connection refused, got {e}"),
        Ok(_) => panic!("connected to a closed port"),
    }
}

#[test]
fn handshake_timeout_against_a_silent_server() {
    // A listener that accepts (in the backlog) but never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = Config {
        handshake_timeout: Duration::from_millis(200),
        ..config()
    };
    match BlockingClient::connect_with(listener.local_addr().unwrap(), config) {
        Err(e) => assert_eq!(e.code(), Some(ErrorCode::HANDSHAKE_TIMEOUT), "{e}"),
        Ok(_) => panic!("connected to a silent server"),
    }
}

#[test]
fn a_peer_that_never_reads_is_given_up_after_the_drain_timeout() {
    let drain_timeout = Duration::from_millis(300);
    let server = server(Config {
        drain_timeout,
        ..config()
    });
    let mut raw = Raw::handshake(server.local_addr());
    // Far more than the kernel buffers hold, and never read.
    let body = Bytes::from_static(b"!bytes 16000000");
    raw.send(&Frame::Request {
        id: RequestId::new(1),
        more: false,
        timeout_ms: None,
        body,
    });
    thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    server.shutdown().unwrap();
    assert!(
        started.elapsed() < SOON,
        "shutdown waited on a peer that never reads"
    );
    drop(raw);
}

#[test]
fn idle_connections_are_closed_gracefully() {
    let settings = Settings {
        idle_timeout_ms: 200,
        ..Settings::default()
    };
    let server = server(Config {
        settings,
        ..config()
    });
    let mut lp = ClientLoop::new().unwrap();
    let conn = lp.connect(server.local_addr(), config()).unwrap();
    assert!(matches!(next(&mut lp), Completion::Connected { .. }));
    match next(&mut lp) {
        Completion::Closed {
            conn: closed,
            error: None,
        } => assert_eq!(closed, conn),
        other => panic!("expected a clean close after the idle timeout, got {other:?}"),
    }
}
