//! The INTEROP service over real loopback TCP, with this crate's own client.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Raw, SOON, config, next, next_after_connect, server};
use slow_custom_example::{BlockingClient, ClientLoop, Completion};
use slow_proto::frame::Frame;
use slow_proto::{Config, ErrorCode, RequestError, RequestId, Settings};

fn small(settings: Settings) -> Config {
    Config {
        settings,
        ..config()
    }
}

fn server_error(result: Result<Bytes, RequestError>) -> (u16, String) {
    match result {
        Err(RequestError::Server { code, message }) => (code.as_u16(), message),
        other => panic!("expected a server ERROR, got {other:?}"),
    }
}

#[test]
fn echo() {
    let server = server(config());
    let mut client = BlockingClient::connect(server.local_addr()).unwrap();
    for body in [
        &b"hello"[..],
        b"",
        b"\xff\x00 not utf-8",
        b"sleep 5 (no bang)",
    ] {
        let got = client
            .request(Bytes::copy_from_slice(body), Some(SOON))
            .unwrap();
        assert_eq!(got, body);
    }
    client.close(SOON).unwrap();
}

#[test]
fn one_mib_both_ways() {
    let body = slow_interop::pattern(1 << 20);
    let server = server(config());
    let mut client = BlockingClient::connect(server.local_addr()).unwrap();
    assert_eq!(client.request(body.clone(), Some(SOON)).unwrap(), body);
    assert_eq!(client.request("!bytes 1048576", Some(SOON)).unwrap(), body);
}

#[test]
fn one_mib_in_small_frames_both_ways() {
    // 1 KiB frames on both sides: about a thousand MORE frames each way.
    let settings = Settings {
        max_frame_size: 1024,
        ..Settings::default()
    };
    let server = server(small(settings));
    let mut client = BlockingClient::connect_with(server.local_addr(), small(settings)).unwrap();
    let body = slow_interop::pattern(1 << 20);
    assert_eq!(client.request(body.clone(), Some(SOON)).unwrap(), body);
    assert_eq!(client.request("!bytes 1048576", Some(SOON)).unwrap(), body);
}

#[test]
fn sleep_answers_after_sleeping() {
    let server = server(config());
    let mut client = BlockingClient::connect(server.local_addr()).unwrap();
    let started = std::time::Instant::now();
    assert_eq!(client.request("!sleep 50", Some(SOON)).unwrap(), "slept 50");
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[test]
fn sleep_past_its_deadline_is_deadline_exceeded() {
    // Our own client times out locally at the same moment it would hear
    // DEADLINE_EXCEEDED, so speak frames by hand: a DEADLINE and no local
    // timer.
    let server = server(config());
    let mut raw = Raw::handshake(server.local_addr());
    let body = Bytes::from_static(b"!sleep 60000");
    raw.send(&Frame::Request {
        id: RequestId::new(1),
        more: false,
        timeout_ms: Some(100),
        body,
    });
    match raw.recv() {
        Some(Frame::Error { id, code, .. }) if id == RequestId::new(1) => {
            assert_eq!(code, ErrorCode::DEADLINE_EXCEEDED)
        }
        other => panic!("expected ERROR DEADLINE_EXCEEDED, got {other:?}"),
    }
    // The abandoned sleep answers nothing later; the connection goes on.
    let body = Bytes::from_static(b"after");
    raw.send(&Frame::Request {
        id: RequestId::new(2),
        more: false,
        timeout_ms: Some(5_000),
        body: body.clone(),
    });
    assert_eq!(
        raw.recv(),
        Some(Frame::Response {
            id: RequestId::new(2),
            more: false,
            body
        })
    );
}

#[test]
fn client_timeout_and_cancel() {
    let server = server(config());
    let mut lp = ClientLoop::new().unwrap();
    let conn = lp.connect(server.local_addr(), config()).unwrap();

    let timed = lp
        .request(conn, "!sleep 60000", Some(Duration::from_millis(100)))
        .unwrap();
    match next_after_connect(&mut lp) {
        Completion::Failed {
            id,
            error: RequestError::TimedOut,
            ..
        } => assert_eq!(id, timed),
        other => panic!("expected a timeout, got {other:?}"),
    }

    let cancelled = lp.request(conn, "!sleep 60000", None).unwrap();
    lp.cancel(conn, cancelled).unwrap();
    match next(&mut lp) {
        Completion::Failed {
            id,
            error: RequestError::Cancelled,
            ..
        } => assert_eq!(id, cancelled),
        other => panic!("expected a cancellation, got {other:?}"),
    }

    // The connection is still good, and nothing is outstanding: a graceful
    // close completes at once instead of waiting for the sleeps.
    let echo = lp.request(conn, "still here", Some(SOON)).unwrap();
    match next(&mut lp) {
        Completion::Response { id, body, .. } => {
            assert_eq!((id, &body[..]), (echo, &b"still here"[..]))
        }
        other => panic!("expected the echo, got {other:?}"),
    }
    lp.close(conn).unwrap();
    assert!(matches!(
        next(&mut lp),
        Completion::Closed { error: None, .. }
    ));
}

#[test]
fn notifications_both_ways() {
    let server = server(config());
    let mut client = BlockingClient::connect(server.local_addr()).unwrap();
    assert_eq!(
        client.request("!notify hello there", Some(SOON)).unwrap(),
        "notified"
    );
    assert_eq!(
        client.next_notification(SOON).unwrap().unwrap(),
        "hello there"
    );

    client.notify("from the client").unwrap();
    assert_eq!(
        client.next_notification(SOON).unwrap().unwrap(),
        "from the client"
    );
}

#[test]
fn notify_larger_than_the_clients_frames_is_refused() {
    let server = server(config());
    let settings = Settings {
        max_frame_size: 1024,
        ..Settings::default()
    };
    let mut client = BlockingClient::connect_with(server.local_addr(), small(settings)).unwrap();
    let body = format!("!notify {}", "x".repeat(1500));
    let (code, _) = server_error(client.request(body, Some(SOON)));
    assert_eq!(code, ErrorCode::MESSAGE_TOO_LARGE.as_u16());
    assert_eq!(
        client
            .next_notification(Duration::from_millis(200))
            .unwrap(),
        None
    );
}

#[test]
fn error_and_bad_commands() {
    let server = server(config());
    let mut client = BlockingClient::connect(server.local_addr()).unwrap();
    let mut ask = |body: &str| server_error(client.request(body.to_owned(), Some(SOON)));
    assert_eq!(ask("!error 300 it broke"), (300, "it broke".into()));
    assert_eq!(ask("!error 7"), (7, "".into()));
    assert_eq!(ask("!dance"), (0x0100, "unknown command".into()));
    for bad in [
        "!sleep abc",
        "!sleep",
        "!bytes -1",
        "!error",
        "!error 65536 x",
    ] {
        assert_eq!(ask(bad), (0x0100, "bad command".into()), "{bad}");
    }
}

#[test]
fn bytes_command() {
    let server = server(config());
    let settings = Settings {
        max_message_size: 2048,
        ..Settings::default()
    };
    let mut client = BlockingClient::connect_with(server.local_addr(), small(settings)).unwrap();
    assert_eq!(client.request("!bytes 0", Some(SOON)).unwrap(), "");
    assert_eq!(
        client.request("!bytes 2048", Some(SOON)).unwrap(),
        slow_interop::pattern(2048)
    );
    for too_large in ["!bytes 2049", "!bytes 18446744073709551615"] {
        let (code, _) = server_error(client.request(too_large, Some(SOON)));
        assert_eq!(code, ErrorCode::MESSAGE_TOO_LARGE.as_u16(), "{too_large}");
    }
}

#[test]
fn close_command_drains_then_closes() {
    let server = server(config());
    let mut lp = ClientLoop::new().unwrap();
    let conn = lp.connect(server.local_addr(), config()).unwrap();
    let sleeping = lp.request(conn, "!sleep 200", Some(SOON)).unwrap();
    let closing = lp.request(conn, "!close", Some(SOON)).unwrap();
    let mut answers = Vec::new();
    loop {
        match next_after_connect(&mut lp) {
            Completion::Response { id, body, .. } => answers.push((id, body)),
            Completion::Closed { error, .. } => {
                assert!(error.is_none(), "not a clean close: {error:?}");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let expected = vec![
        (closing, Bytes::from("closing")),
        (sleeping, Bytes::from("slept 200")),
    ];
    assert_eq!(answers, expected);
    // A request after the close is refused locally.
    assert!(lp.request(conn, "late", None).is_err());
}
