//! The server and both clients over a Unix domain socket: the INTEROP
//! service (echo, `!notify`, `!close`, ...), the socket file's life
//! (stale replaced, live refused, not-a-socket kept, removed after
//! shutdown), bad paths as errors naming the path, and peers that vanish
//! mid-frame.

mod common;

use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use common::{Raw, SOON, SocketDir, config, next, next_after_connect, unix_server};
use slow_custom_example::{
    BlockingClient, ClientError, ClientLoop, Completion, ConnError, ListenAddr, Server,
    UnixSocketError,
};
use slow_proto::frame::Frame;
use slow_proto::{Config, ErrorCode, RequestError, RequestId, Settings};

/// The path an error carries, and its kind; fails unless it names `path`
/// in its message too.
fn path_error(e: &std::io::Error, path: &Path) -> ErrorKind {
    let inner = UnixSocketError::of(e).unwrap_or_else(|| panic!("no path in {e:?}"));
    assert_eq!(inner.path, path);
    let message = e.to_string();
    assert!(
        message.starts_with(&format!("unix:{}: ", path.display())),
        "{message}"
    );
    e.kind()
}

#[test]
fn the_service_over_a_unix_socket() {
    let dir = SocketDir::new("service");
    let path = dir.path("s.sock");
    let server = unix_server(&path, config());
    assert_eq!(server.local_addr(), path);
    assert_eq!(server.listen_addr(), ListenAddr::Unix(path.clone()));
    assert_eq!(
        server.listen_addr().to_string(),
        format!("unix:{}", path.display())
    );

    let mut client = BlockingClient::connect_unix(&path).unwrap();
    for body in [&b"hello over unix"[..], b"", b"\xff\x00 not utf-8"] {
        let got = client
            .request(Bytes::copy_from_slice(body), Some(SOON))
            .unwrap();
        assert_eq!(got, body);
    }
    let big = slow_interop::pattern(1 << 20);
    assert_eq!(client.request(big.clone(), Some(SOON)).unwrap(), big);
    assert_eq!(client.request("!bytes 1048576", Some(SOON)).unwrap(), big);

    assert_eq!(
        client.request("!notify over unix", Some(SOON)).unwrap(),
        "notified"
    );
    assert_eq!(
        client.next_notification(SOON).unwrap().unwrap(),
        "over unix"
    );
    client.notify("from the client").unwrap();
    assert_eq!(
        client.next_notification(SOON).unwrap().unwrap(),
        "from the client"
    );
    match client.request("!error 300 no such thing", Some(SOON)) {
        Err(RequestError::Server { code, message }) => {
            assert_eq!((code, message.as_str()), (ErrorCode(300), "no such thing"));
        }
        other => panic!("expected ERROR 300, got {other:?}"),
    }
    assert_eq!(client.request("!sleep 20", Some(SOON)).unwrap(), "slept 20");

    // `!close` on the completion-queue client: what was sent before it is
    // answered, then a clean close; the other connection is unaffected.
    let mut lp = ClientLoop::new().unwrap();
    let conn = lp.connect_unix(&path, config()).unwrap();
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
    assert_eq!(
        answers,
        vec![
            (closing, Bytes::from("closing")),
            (sleeping, Bytes::from("slept 200")),
        ]
    );
    assert!(lp.request(conn, "late", None).is_err());

    assert_eq!(
        client.request("still here", Some(SOON)).unwrap(),
        "still here"
    );
    client.close(SOON).unwrap();
    server.shutdown().unwrap();
    assert!(!path.exists(), "the socket file is removed after shutdown");
}

#[test]
fn many_connections_on_one_loop_over_unix() {
    let dir = SocketDir::new("many");
    let path = dir.path("s.sock");
    let settings = Settings {
        max_concurrent_requests: 4,
        ..Settings::default()
    };
    let server = unix_server(
        &path,
        Config {
            settings,
            ..config()
        },
    );
    let mut lp = ClientLoop::new().unwrap();
    let mut expected = HashMap::new();
    for c in 0..20 {
        let conn = lp.connect_unix(&path, config()).unwrap();
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
    drop(lp);
    server.shutdown().unwrap();
}

#[test]
fn the_connection_limit_holds_over_unix() {
    let dir = SocketDir::new("limit");
    let path = dir.path("s.sock");
    let mut server = Server::bind_unix(&path, config()).unwrap();
    server.set_max_connections(1);
    let server = server.spawn().unwrap();
    let mut a = BlockingClient::connect_unix(&path).unwrap();
    match BlockingClient::connect_unix(&path) {
        Err(e) => assert_eq!(e.code(), Some(ErrorCode::CONNECTION_LIMIT), "{e}"),
        Ok(_) => panic!("a second connection was accepted"),
    }
    assert_eq!(a.request("a", Some(SOON)).unwrap(), "a");
    a.close(SOON).unwrap();
    server.shutdown().unwrap();
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = SocketDir::new("stale");
    let path = dir.path("s.sock");
    // What a server killed with SIGKILL leaves behind.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    // Nothing accepts there: a client is told so, with the path.
    match BlockingClient::connect_unix(&path) {
        Err(ConnError::Io(e)) => assert_eq!(path_error(&e, &path), ErrorKind::ConnectionRefused),
        Err(e) => panic!("expected a refused connect, got {e}"),
        Ok(_) => panic!("connected to a dead socket"),
    }

    let server = unix_server(&path, config());
    let mut client = BlockingClient::connect_unix(&path).unwrap();
    assert_eq!(client.request("fresh", Some(SOON)).unwrap(), "fresh");
    client.close(SOON).unwrap();
    server.shutdown().unwrap();
    assert!(!path.exists());
}

#[test]
fn a_live_socket_is_refused_and_keeps_serving() {
    let dir = SocketDir::new("live");
    let path = dir.path("s.sock");
    let server = unix_server(&path, config());
    let mut client = BlockingClient::connect_unix(&path).unwrap();

    let e = Server::bind_unix(&path, config())
        .err()
        .expect("a live socket");
    assert_eq!(path_error(&e, &path), ErrorKind::AddrInUse);
    assert!(
        e.to_string()
            .contains("a server is already listening there"),
        "{e}"
    );

    // The first server still has its file, its connections, and accepts.
    assert!(path.exists());
    assert_eq!(client.request("still", Some(SOON)).unwrap(), "still");
    let mut other = BlockingClient::connect_unix(&path).unwrap();
    assert_eq!(other.request("new", Some(SOON)).unwrap(), "new");
    client.close(SOON).unwrap();
    other.close(SOON).unwrap();
    server.shutdown().unwrap();
    assert!(!path.exists());
}

#[test]
fn a_file_that_is_not_a_socket_is_refused_and_kept() {
    let dir = SocketDir::new("regular");
    let path = dir.path("s.sock");
    std::fs::write(&path, "precious").unwrap();
    let e = Server::bind_unix(&path, config())
        .err()
        .expect("not a socket");
    assert_eq!(path_error(&e, &path), ErrorKind::AlreadyExists);
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn bad_paths_are_errors_naming_the_path() {
    let dir = SocketDir::new("bad");
    let missing = dir.path("no/such/dir/s.sock");
    // Longer than sockaddr_un's 107 bytes.
    let long = dir.path(&"x".repeat(200));
    for (path, kind) in [
        (&missing, ErrorKind::NotFound),
        (&long, ErrorKind::InvalidInput),
    ] {
        let bind = Server::bind_unix(path, config()).err().expect("bind fails");
        assert_eq!(path_error(&bind, path), kind, "bind {}", path.display());

        match ClientLoop::new().unwrap().connect_unix(path, config()) {
            Err(ClientError::Io(e)) => assert_eq!(path_error(&e, path), kind),
            Err(e) => panic!("expected an io error, got {e}"),
            Ok(_) => panic!("connected to {}", path.display()),
        }
        match BlockingClient::connect_unix(path) {
            Err(ConnError::Io(e)) => assert_eq!(path_error(&e, path), kind),
            Err(e) => panic!("expected an io error, got {e}"),
            Ok(_) => panic!("connected to {}", path.display()),
        }
    }
    // Nothing listens on a free name in an existing directory.
    let free = dir.path("free.sock");
    match BlockingClient::connect_unix(&free) {
        Err(ConnError::Io(e)) => assert_eq!(path_error(&e, &free), ErrorKind::NotFound),
        Err(e) => panic!("expected an io error, got {e}"),
        Ok(_) => panic!("connected to nothing"),
    }
    assert!(!free.exists());
}

#[test]
fn an_invalid_config_touches_no_file() {
    let dir = SocketDir::new("config");
    let path = dir.path("s.sock");
    let config = Config {
        settings: Settings {
            max_frame_size: 10,
            ..Settings::default()
        },
        ..config()
    };
    let e = Server::bind_unix(&path, config.clone())
        .err()
        .expect("bad config");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(!path.exists());
    match ClientLoop::new().unwrap().connect_unix(&path, config) {
        Err(ClientError::Config(_)) => {}
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn the_socket_file_is_removed_when_the_server_ends() {
    let dir = SocketDir::new("removed");

    // Bound, never run.
    let path = dir.path("unrun.sock");
    drop(Server::bind_unix(&path, config()).unwrap());
    assert!(!path.exists());

    // Shut down with a request in flight: the file goes when accepting
    // stops, the request is still answered, then the client is closed
    // gracefully.
    let path = dir.path("draining.sock");
    let server = unix_server(&path, config());
    let mut lp = ClientLoop::new().unwrap();
    let conn = lp.connect_unix(&path, config()).unwrap();
    let sleeping = lp.request(conn, "!sleep 300", Some(SOON)).unwrap();
    let barrier = lp.request(conn, "barrier", Some(SOON)).unwrap();
    // Answered at once, so the sleep has arrived by then.
    match next_after_connect(&mut lp) {
        Completion::Response { id, .. } if id == barrier => {}
        other => panic!("unexpected {other:?}"),
    }
    server.shutdown_handle().shutdown().unwrap();
    let mut answered = false;
    loop {
        match next(&mut lp) {
            Completion::Response { id, body, .. } => {
                assert_eq!((id, &body[..]), (sleeping, &b"slept 300"[..]));
                answered = true;
            }
            Completion::Closed { error: None, .. } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(answered, "the request in flight was not answered");
    assert!(!path.exists(), "the file outlived the listener");
    server.shutdown().unwrap();
    assert!(!path.exists());
    match BlockingClient::connect_unix(&path) {
        Err(ConnError::Io(e)) => assert_eq!(e.kind(), ErrorKind::NotFound),
        other => panic!("still accepting after shutdown: {:?}", other.err()),
    }
}

#[test]
fn peers_that_vanish_mid_frame_do_not_stop_the_server() {
    let dir = SocketDir::new("mid-frame");
    let path = dir.path("s.sock");
    let server = unix_server(&path, config());
    // Connected before, and served throughout.
    let mut steady = BlockingClient::connect_unix(&path).unwrap();

    // Half a HELLO, then gone.
    let mut half = UnixStream::connect(&path).unwrap();
    half.write_all(&[0, 0, 0, 5, 0x01, 0, 0]).unwrap();
    drop(half);

    // A frame header promising 60 000 bytes, a few of them, then gone.
    let mut raw = Raw::handshake_unix(&path);
    let mut out = bytes::BytesMut::new();
    Frame::Request {
        id: RequestId::new(1),
        more: false,
        timeout_ms: None,
        body: slow_interop::pattern(60_000),
    }
    .encode(&mut out);
    raw.send_bytes(&out[..1000]);
    drop(raw);

    // Mid-frame with requests in flight and unread answers, then gone.
    let mut raw = Raw::handshake_unix(&path);
    raw.send(&Frame::Request {
        id: RequestId::new(1),
        more: false,
        timeout_ms: None,
        body: Bytes::from_static(b"!bytes 4000000"),
    });
    raw.send_bytes(&out[..9]);
    thread::sleep(Duration::from_millis(50));
    drop(raw);

    // Connections before and after are served as if nothing happened.
    assert_eq!(steady.request("steady", Some(SOON)).unwrap(), "steady");
    for i in 0..3 {
        let mut fresh = BlockingClient::connect_unix(&path).unwrap();
        let body = format!("fresh {i}");
        assert_eq!(fresh.request(body.clone(), Some(SOON)).unwrap(), body);
        fresh.close(SOON).unwrap();
    }
    steady.close(SOON).unwrap();
    server.shutdown().unwrap();
    assert!(!path.exists());
}

#[test]
fn garbage_is_answered_with_goaway_over_unix() {
    let dir = SocketDir::new("garbage");
    let path = dir.path("s.sock");
    let server = unix_server(&path, config());
    let mut raw = Raw::connect_unix(&path);
    raw.send_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    match raw.recv() {
        Some(Frame::GoAway { code, .. }) => assert_eq!(code, ErrorCode::FRAME_TOO_LARGE),
        other => panic!("expected GOAWAY FRAME_TOO_LARGE, got {other:?}"),
    }
    assert_eq!(raw.recv(), None, "the server did not close");
    server.shutdown().unwrap();
}
