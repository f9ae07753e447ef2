//! The loop logs what the async adapters log, at the same levels: a span
//! per connection naming its role and peer, each request at DEBUG, a
//! GOAWAY, and a protocol violation at WARN. Alone in its test binary: the
//! server runs on a thread of its own, so the subscriber is the process's.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slow_custom_example::{BlockingClient, Server};
use slow_proto::Config;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn has(log: &str, line_with: &[&str]) -> bool {
    log.lines()
        .any(|l| line_with.iter().all(|part| l.contains(part)))
}

#[test]
fn the_loop_logs_requests_goaway_and_violations() {
    let out = Captured::default();
    let writer = out.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let server = Server::bind(([127, 0, 0, 1], 0).into(), Config::default())
        .expect("bind")
        .spawn()
        .expect("server thread");
    let addr = server.local_addr();

    let mut client = BlockingClient::connect(addr).expect("connect");
    let answer = client.request("hello", Some(Duration::from_secs(5)));
    assert_eq!(answer.expect("answer"), "hello");
    client.close(Duration::from_secs(5)).expect("close");

    // A HELLO, then a frame header claiming 4 GiB: FRAME_TOO_LARGE.
    let mut raw = TcpStream::connect(addr).expect("raw connect");
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(b"\0\0\0\x05\x01\0\0\0\0\0SLOW\x01").unwrap();
    raw.write_all(&[0xFF, 0xFF, 0xFF, 0xFF, 0x03, 0, 0, 0, 0, 1])
        .unwrap();
    let mut rest = Vec::new();
    let _ = raw.read_to_end(&mut rest);

    server.shutdown().expect("shutdown");
    #[cfg(feature = "tls")]
    tls_failures();
    let log = String::from_utf8_lossy(&out.0.lock().unwrap()).into_owned();
    print!("{log}");
    let server_span = "connection{role=\"server\" peer=127.0.0.1:";
    assert!(
        has(
            &log,
            &[
                "DEBUG",
                server_span,
                "runtime=\"custom\"",
                "request",
                "len=5"
            ]
        ),
        "{log}"
    );
    assert!(
        has(
            &log,
            &["DEBUG", "connection{role=\"client\"", "handshake complete"]
        ),
        "{log}"
    );
    assert!(
        has(&log, &["DEBUG", server_span, "GOAWAY received", "NO_ERROR"]),
        "{log}"
    );
    assert!(
        has(
            &log,
            &[
                "WARN",
                server_span,
                "protocol violation by the peer",
                "FRAME_TOO_LARGE"
            ]
        ),
        "{log}"
    );
    #[cfg(feature = "tls")]
    {
        // Garbage instead of a ClientHello: the peer broke TLS.
        assert!(
            has(&log, &["WARN", server_span, "TLS violation by the peer"]),
            "{log}"
        );
        // A certificate the client does not trust: not a violation.
        assert!(
            has(
                &log,
                &[
                    "INFO",
                    "connection{role=\"client\"",
                    "TLS failed",
                    "invalid peer certificate"
                ]
            ),
            "{log}"
        );
    }
}

/// A TLS server gets garbage; a client meets a server it does not trust.
#[cfg(feature = "tls")]
fn tls_failures() {
    use slow_custom_example::tls;
    let dir = std::env::temp_dir().join(format!("slow-ctls-tracing-{}", std::process::id()));
    let files = tests_common::pki::Pki::new().write_to(&dir).unwrap();
    let stranger = tests_common::pki::Pki::new()
        .write_to(&dir.join("other"))
        .unwrap();
    let config = tls::server_config(&files.server_cert, &files.server_key, None).unwrap();
    let server = Server::bind(([127, 0, 0, 1], 0).into(), Config::default())
        .expect("bind")
        .tls(config)
        .spawn()
        .expect("server thread");

    let mut raw = TcpStream::connect(server.local_addr()).expect("raw connect");
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(&[0x16, 3, 1, 0, 8, 1, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef])
        .unwrap();
    let mut rest = Vec::new();
    let _ = raw.read_to_end(&mut rest);

    let untrusting = tls::client_config(&stranger.ca, None).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    assert!(BlockingClient::connect_tls(server.local_addr(), untrusting, name).is_err());
    server.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
