//! What slow-driver logs through `tracing`, captured: a connection's span
//! (role, peer, runtime) and a request's (id), a GOAWAY on both sides, a
//! protocol violation and a peer that does not speak SLOW, each at its
//! level. Everything runs on one current-thread runtime inside the test's
//! own subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slow_tokio::{Client, Request, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing_subscriber::fmt::MakeWriter;

/// Everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Runs `test` on a current-thread runtime with a subscriber that keeps
/// everything at `level` and above; returns what it wrote.
fn captured(level: tracing::Level, test: impl std::future::Future<Output = ()>) -> String {
    let out = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(out.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(test)
    });
    out.text()
}

fn has(log: &str, line_with: &[&str]) -> bool {
    log.lines()
        .any(|l| line_with.iter().all(|part| l.contains(part)))
}

#[test]
fn a_request_in_its_connection_and_request_spans() {
    let log = captured(tracing::Level::DEBUG, async {
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.serve(|req: Request| async move {
            tracing::info!("the handler runs");
            Ok(req.body)
        }));
        let client = Client::connect(addr).await.unwrap();
        assert_eq!(client.request("hello").await.unwrap(), "hello");
        client.close().await.unwrap();
    });
    print!("{log}");
    // The server's connection span names its peer and runtime; the
    // request's span its id; the handler's own event is inside both.
    assert!(
        has(
            &log,
            &[
                "connection{role=\"server\"",
                "runtime=\"Tokio\"",
                "request{id=1}",
                "request",
                "len=5"
            ]
        ),
        "{log}"
    );
    assert!(
        has(
            &log,
            &[
                "connection{role=\"server\"",
                "request{id=1}",
                "the handler runs"
            ]
        ),
        "{log}"
    );
    assert!(
        has(
            &log,
            &[
                "connection{role=\"client\"",
                "handshake complete",
                "max_frame_size="
            ]
        ),
        "{log}"
    );
    assert!(
        has(
            &log,
            &["DEBUG", "connection{role=\"client\"", "connection closed"]
        ),
        "{log}"
    );
    // Nothing per frame at INFO or above: this run logged only DEBUG
    // (and the handler's own INFO).
    for line in log
        .lines()
        .filter(|l| l.contains(" INFO ") || l.contains(" WARN "))
    {
        assert!(line.contains("the handler runs"), "unexpected: {line}");
    }
}

#[test]
fn a_goaway_on_both_sides() {
    let log = captured(tracing::Level::DEBUG, async {
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve_with_shutdown(
            |req: Request| async move { Ok(req.body) },
            async move {
                let _ = stopped.await;
            },
        ));
        let client = Client::connect(addr).await.unwrap();
        client.request("one").await.unwrap();
        let _ = stop.send(());
        serving.await.unwrap().unwrap();
        assert!(!client.is_open());
    });
    print!("{log}");
    assert!(
        has(
            &log,
            &[
                "connection{role=\"server\"",
                "closing: GOAWAY sent",
                "SHUTTING_DOWN",
                "server shutting down"
            ]
        ),
        "{log}"
    );
    assert!(
        has(
            &log,
            &[
                "connection{role=\"client\"",
                "GOAWAY received",
                "SHUTTING_DOWN",
                "reason=\"server shutting down\""
            ]
        ),
        "{log}"
    );
}

#[test]
fn a_violation_and_a_peer_that_is_not_slow_are_warnings() {
    let log = captured(tracing::Level::WARN, async {
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap().tcp().unwrap();
        tokio::spawn(server.serve(|req: Request| async move { Ok(req.body) }));

        // A HELLO, then a frame header claiming 4 GiB: FRAME_TOO_LARGE.
        let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
        raw.write_all(b"\0\0\0\x05\x01\0\0\0\0\0SLOW\x01")
            .await
            .unwrap();
        raw.write_all(&[0xFF, 0xFF, 0xFF, 0xFF, 0x03, 0, 0, 0, 0, 1])
            .await
            .unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), raw.read_to_end(&mut rest)).await;

        // An HTTP client.
        let mut http = tokio::net::TcpStream::connect(addr).await.unwrap();
        http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(10), http.read_to_end(&mut rest)).await;
    });
    print!("{log}");
    assert!(
        has(
            &log,
            &[
                "WARN",
                "connection{role=\"server\"",
                "protocol violation by the peer",
                "FRAME_TOO_LARGE",
                "frame longer than MAX_FRAME_SIZE"
            ]
        ),
        "{log}"
    );
    assert!(
        has(
            &log,
            &[
                "WARN",
                "connection{role=\"server\"",
                "does not speak SLOW/1",
                "GET / HTTP/1.1"
            ]
        ),
        "{log}"
    );
}
