//! TLS in the hand-written loop: rustls's sans-IO state machine under the
//! core's. Mutual TLS round trips with this crate on both ends and with
//! slow-tokio on either end; each bad case a clear typed error while the
//! server keeps serving; a refusal at the connection limit that reaches
//! the client; a TLS slowloris closed at the handshake timeout; the binary's
//! `--tls-*` options. Certificates are made at run time.

#![cfg(feature = "tls")]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{SOON, SocketDir};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use slow_custom_example::{BlockingClient, ConnError, Server, ServerThread, tls};
use slow_proto::{Config, ErrorCode};
use tests_common::pki::{Pki, PkiFiles};

/// A test's PKI, on disk (the crate loads PEM files), removed when dropped.
struct Certs {
    pki: Pki,
    files: PkiFiles,
    dir: std::path::PathBuf,
}

impl Certs {
    fn new(name: &str) -> Certs {
        let dir = std::env::temp_dir().join(format!("slow-ctls-{name}-{}", std::process::id()));
        let pki = Pki::new();
        let files = pki.write_to(&dir).unwrap();
        Certs { pki, files, dir }
    }

    /// The server config: this PKI's server certificate, client
    /// certificates required (mutual TLS).
    fn server(&self) -> Arc<rustls::ServerConfig> {
        let f = &self.files;
        tls::server_config(&f.server_cert, &f.server_key, Some(&f.ca)).unwrap()
    }

    /// A client trusting this PKI's CA and presenting its client
    /// certificate.
    fn client(&self) -> Arc<rustls::ClientConfig> {
        let f = &self.files;
        tls::client_config(&f.ca, Some((&f.client_cert, &f.client_key))).unwrap()
    }

    /// A client trusting this PKI's CA, without a certificate of its own.
    fn anonymous_client(&self) -> Arc<rustls::ClientConfig> {
        tls::client_config(&self.files.ca, None).unwrap()
    }

    fn server_cert_der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.pki.server.cert.as_bytes()).unwrap()
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

fn tls_server(config: Config, tls: Arc<rustls::ServerConfig>, limit: usize) -> ServerThread {
    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .unwrap()
        .tls(tls);
    server.set_max_connections(limit);
    server.spawn().unwrap()
}

fn connect(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> Result<BlockingClient, ConnError> {
    BlockingClient::connect_tls_with(addr, common::config(), tls, localhost())
}

/// The rustls error of a connection that TLS refused.
fn tls_error(result: Result<BlockingClient, ConnError>) -> rustls::Error {
    match result {
        Err(ConnError::Tls { source }) => source,
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(_) => panic!("expected a TLS error, the connection succeeded"),
    }
}

/// Bodies from empty to 1 MiB echo whole.
fn round_trips(client: &mut BlockingClient) {
    for len in [0usize, 1, 10, 16_384, 100_000, 1 << 20] {
        let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let got = client.request(body.clone(), Some(SOON)).expect("echo");
        assert_eq!(got.len(), len);
        assert!(got == body, "{len} B body came back different");
    }
}

/// The server still serves a good client.
fn still_serving(addr: SocketAddr, certs: &Certs) {
    let mut client = connect(addr, certs.client()).expect("a good client after a bad one");
    assert_eq!(client.request("ok", Some(SOON)).unwrap(), "ok");
    client.close(SOON).unwrap();
}

#[test]
fn mutual_tls_round_trips_between_custom_client_and_server() {
    let certs = Certs::new("mtls");
    let server = tls_server(common::config(), certs.server(), 100);
    let mut client = connect(server.local_addr(), certs.client()).unwrap();
    round_trips(&mut client);
    assert_eq!(
        client.request("!notify hi", Some(SOON)).unwrap(),
        "notified"
    );
    assert_eq!(client.next_notification(SOON).unwrap().unwrap(), "hi");
    assert_eq!(
        client.peer_certificates(),
        Some(vec![certs.server_cert_der()])
    );
    client.close(SOON).unwrap();
    server.shutdown().unwrap();
}

#[test]
fn mutual_tls_over_a_unix_socket() {
    let certs = Certs::new("unix");
    let dir = SocketDir::new("tls");
    let path = dir.path("tls.sock");
    let server = Server::bind_unix(&path, common::config())
        .unwrap()
        .tls(certs.server())
        .spawn()
        .unwrap();
    let mut client =
        BlockingClient::connect_unix_tls(&path, common::config(), certs.client(), localhost())
            .unwrap();
    round_trips(&mut client);
    client.close(SOON).unwrap();
    server.shutdown().unwrap();
}

#[test]
fn many_tls_connections_share_the_loop() {
    let certs = Certs::new("many");
    let server = tls_server(common::config(), certs.server(), 100);
    let mut lp = slow_custom_example::ClientLoop::new().unwrap();
    let mut pending = std::collections::HashSet::new();
    for _ in 0..10 {
        let conn = lp
            .connect_tls(
                server.local_addr(),
                common::config(),
                certs.client(),
                localhost(),
            )
            .unwrap();
        for i in 0..10 {
            pending.insert(lp.request(conn, format!("{i}"), Some(SOON)).unwrap());
        }
    }
    let deadline = Instant::now() + SOON;
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} requests unanswered",
            pending.len()
        );
        match lp.next_completion(Some(SOON)).unwrap() {
            Some(slow_custom_example::Completion::Response { id, .. }) => {
                assert!(pending.remove(&id));
            }
            Some(slow_custom_example::Completion::Failed { error, .. }) => panic!("{error}"),
            Some(slow_custom_example::Completion::Closed { error, .. }) => panic!("{error:?}"),
            _ => {}
        }
    }
    server.shutdown().unwrap();
}

/// A slow-tokio mutual-TLS echo server on a runtime of its own.
fn tokio_server(certs: &Certs) -> (SocketAddr, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let tls = slow_tokio::tls::ServerTls::from_pem(
        certs.pki.server.cert.as_bytes(),
        certs.pki.server.key.as_bytes(),
        Some(certs.pki.ca.as_bytes()),
    )
    .unwrap();
    let addr = rt.block_on(async {
        let server = slow_tokio::Server::bind("127.0.0.1:0")
            .await
            .unwrap()
            .tls(tls);
        let addr = server.local_addr().unwrap().tcp().unwrap();
        tokio::spawn(server.serve(|req: slow_tokio::Request| async move { Ok(req.body) }));
        addr
    });
    (addr, rt)
}

#[test]
fn custom_client_to_a_tokio_tls_server() {
    let certs = Certs::new("to-tokio");
    let (addr, _rt) = tokio_server(&certs);
    let mut client = connect(addr, certs.client()).unwrap();
    round_trips(&mut client);
    assert_eq!(
        client.peer_certificates(),
        Some(vec![certs.server_cert_der()])
    );
    client.close(SOON).unwrap();
}

#[test]
fn tokio_tls_client_to_a_custom_server() {
    let certs = Certs::new("from-tokio");
    let server = tls_server(common::config(), certs.server(), 100);
    let addr = server.local_addr();
    let tls = slow_tokio::tls::ClientTls::from_ca_pem(certs.pki.ca.as_bytes())
        .unwrap()
        .client_cert_pem(
            certs.pki.client.cert.as_bytes(),
            certs.pki.client.key.as_bytes(),
        )
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = slow_tokio::Client::connect_tls(addr, &tls).await.unwrap();
        for len in [0usize, 10, 100_000, 1 << 20] {
            let body = vec![len as u8; len];
            let got = tokio::time::timeout(SOON, client.request(body.clone()))
                .await
                .expect("in time")
                .unwrap();
            assert!(got == body, "{len} B");
        }
        let id = client.tls_identity().expect("the server's certificate");
        assert_eq!(id.certificate(), &certs.server_cert_der());
        client.close().await.unwrap();
    });
    server.shutdown().unwrap();
}

#[test]
fn an_untrusted_server_certificate_is_a_tls_error() {
    let certs = Certs::new("untrusted");
    let stranger = Certs::new("untrusted-other");
    let server = tls_server(common::config(), certs.server(), 100);
    let e = tls_error(connect(server.local_addr(), stranger.client()));
    assert!(
        // The other CA has the same name as ours, so rustls finds "our"
        // CA and its signature does not match.
        matches!(
            e,
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature
            )
        ),
        "{e}"
    );
    still_serving(server.local_addr(), &certs);
}

#[test]
fn an_expired_server_certificate_is_a_tls_error() {
    let certs = Certs::new("expired");
    let f = &certs.files;
    let config = tls::server_config(&f.expired_cert, &f.expired_key, Some(&f.ca)).unwrap();
    let server = tls_server(common::config(), config, 100);
    let e = tls_error(connect(server.local_addr(), certs.client()));
    assert!(
        matches!(
            e,
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. }
            )
        ),
        "{e}"
    );
    // The server's own certificate is the problem, not its loop: another
    // connection to it gets as far, and no further.
    let e = tls_error(connect(server.local_addr(), certs.client()));
    assert!(matches!(e, rustls::Error::InvalidCertificate(_)), "{e}");
    server.shutdown().unwrap();
}

#[test]
fn a_wrong_name_server_certificate_is_a_tls_error() {
    let certs = Certs::new("wrong-name");
    let f = &certs.files;
    let config = tls::server_config(&f.wrong_name_cert, &f.wrong_name_key, Some(&f.ca)).unwrap();
    let server = tls_server(common::config(), config, 100);
    let e = tls_error(connect(server.local_addr(), certs.client()));
    assert!(
        matches!(
            e,
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{e}"
    );
    server.shutdown().unwrap();

    // And a good certificate asked for by another name.
    let server = tls_server(common::config(), certs.server(), 100);
    let other = ServerName::try_from("other.slow.test").unwrap();
    let e = tls_error(BlockingClient::connect_tls(
        server.local_addr(),
        certs.client(),
        other,
    ));
    assert!(matches!(e, rustls::Error::InvalidCertificate(_)), "{e}");
    still_serving(server.local_addr(), &certs);
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    let certs = Certs::new("no-client-cert");
    let server = tls_server(common::config(), certs.server(), 100);
    let e = tls_error(connect(server.local_addr(), certs.anonymous_client()));
    assert!(matches!(e, rustls::Error::AlertReceived(_)), "{e}");
    still_serving(server.local_addr(), &certs);
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let certs = Certs::new("foreign-client");
    let stranger = Certs::new("foreign-client-other");
    let server = tls_server(common::config(), certs.server(), 100);
    // Trusts the server, but presents a certificate the server's CA did
    // not sign.
    let f = &stranger.files;
    let foreign =
        tls::client_config(&certs.files.ca, Some((&f.client_cert, &f.client_key))).unwrap();
    let e = tls_error(connect(server.local_addr(), foreign));
    assert!(matches!(e, rustls::Error::AlertReceived(_)), "{e}");
    still_serving(server.local_addr(), &certs);
}

#[test]
fn a_plaintext_client_to_a_tls_server_fails_and_others_are_served() {
    let certs = Certs::new("plain-client");
    let server = tls_server(common::config(), certs.server(), 100);
    // The server answers the HELLO with a 7-byte TLS alert and closes: the
    // core names a TLS peer (slow-tokio's client says the same).
    match BlockingClient::connect_with(server.local_addr(), common::config()) {
        Err(ConnError::Connection(e @ slow_proto::ConnectionError::NotSlow { .. }))
            if e.to_string().contains("the peer speaks TLS") => {}
        Err(other) => panic!("expected NotSlow (a TLS peer), got {other:?}"),
        Ok(_) => panic!("a plaintext client got through to a TLS server"),
    }
    still_serving(server.local_addr(), &certs);
}

#[test]
fn a_tls_client_to_a_plaintext_server_is_a_tls_error() {
    let certs = Certs::new("plain-server");
    let server = common::server(common::config());
    let e = tls_error(connect(server.local_addr(), certs.client()));
    assert!(matches!(e, rustls::Error::InvalidMessage(_)), "{e}");
    // The plaintext server still serves plaintext.
    let mut client = BlockingClient::connect(server.local_addr()).unwrap();
    assert_eq!(client.request("ok", Some(SOON)).unwrap(), "ok");
    server.shutdown().unwrap();
}

/// Reads until the server closes, at most `SOON`; what it sent.
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(SOON)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

#[test]
fn garbage_records_to_a_tls_server_get_an_alert_and_a_close() {
    let certs = Certs::new("garbage-in");
    let server = tls_server(common::config(), certs.server(), 100);
    // A ClientHello cut short inside its record: rustls answers with a
    // decode_error alert (21 = alert, 50 = decode_error).
    let mut raw = TcpStream::connect(server.local_addr()).unwrap();
    raw.write_all(&[0x16, 3, 1, 0, 8, 1, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef])
        .unwrap();
    let got = read_until_closed(&mut raw);
    assert_eq!(got, [21, 3, 3, 0, 2, 2, 50], "a fatal decode_error alert");
    // A handshake message longer than rustls takes: closed, without an
    // alert (rustls sends none for it).
    let mut raw = TcpStream::connect(server.local_addr()).unwrap();
    raw.write_all(&[0x16, 3, 1, 0, 8]).unwrap();
    raw.write_all(b"garbage!").unwrap();
    let _ = read_until_closed(&mut raw);
    still_serving(server.local_addr(), &certs);
}

#[test]
fn garbage_records_from_a_server_are_a_tls_error() {
    let certs = Certs::new("garbage-out");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let liar = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut hello = [0; 512];
        let _ = s.read(&mut hello);
        // An application-data record before any handshake, then junk.
        let _ = s.write_all(&[0x17, 0x03, 0x03, 0x00, 0x04, 1, 2, 3, 4]);
        let _ = s.write_all(&[0xff; 64]);
        let mut rest = Vec::new();
        s.set_read_timeout(Some(SOON)).unwrap();
        let _ = s.read_to_end(&mut rest);
    });
    let e = tls_error(connect(addr, certs.client()));
    assert!(
        matches!(
            e,
            rustls::Error::InappropriateMessage { .. } | rustls::Error::InvalidMessage(_)
        ),
        "{e}"
    );
    liar.join().unwrap();
}

#[test]
fn a_tls_slowloris_is_closed_at_the_handshake_timeout() {
    let certs = Certs::new("slowloris");
    let config = Config {
        handshake_timeout: Duration::from_millis(300),
        ..common::config()
    };
    let server = tls_server(config, certs.server(), 100);
    let started = Instant::now();
    // Opens TCP and sends half a ClientHello's record header, then nothing.
    let mut raw = TcpStream::connect(server.local_addr()).unwrap();
    raw.write_all(&[0x16, 0x03]).unwrap();
    let _ = read_until_closed(&mut raw);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed after {:?}, before the handshake timeout",
        started.elapsed()
    );
    // One that sends nothing at all, too.
    let mut silent = TcpStream::connect(server.local_addr()).unwrap();
    let _ = read_until_closed(&mut silent);
    still_serving(server.local_addr(), &certs);
}

#[test]
fn a_tls_client_over_the_connection_limit_hears_connection_limit() {
    let certs = Certs::new("limit");
    let server = tls_server(common::config(), certs.server(), 1);
    let mut first = connect(server.local_addr(), certs.client()).unwrap();
    assert_eq!(first.request("first", Some(SOON)).unwrap(), "first");
    for _ in 0..3 {
        match connect(server.local_addr(), certs.client()) {
            Err(e) => assert_eq!(
                e.code(),
                Some(ErrorCode::CONNECTION_LIMIT),
                "expected GOAWAY CONNECTION_LIMIT, got {e:?}"
            ),
            Ok(_) => panic!("a second connection was admitted over the limit of 1"),
        }
    }
    // The admitted one is unharmed, and its place is free once it is gone.
    assert_eq!(first.request("still", Some(SOON)).unwrap(), "still");
    first.close(SOON).unwrap();
    let deadline = Instant::now() + SOON;
    loop {
        match connect(server.local_addr(), certs.client()) {
            Ok(mut c) => {
                assert_eq!(c.request("next", Some(SOON)).unwrap(), "next");
                break;
            }
            Err(e) if e.code() == Some(ErrorCode::CONNECTION_LIMIT) => {
                assert!(Instant::now() < deadline, "the slot was never freed");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    server.shutdown().unwrap();
}

#[test]
fn the_tokio_client_hears_connection_limit_from_the_custom_server() {
    let certs = Certs::new("limit-tokio");
    let server = tls_server(common::config(), certs.server(), 1);
    let _first = connect(server.local_addr(), certs.client()).unwrap();
    let tls = slow_tokio::tls::ClientTls::from_ca_pem(certs.pki.ca.as_bytes())
        .unwrap()
        .client_cert_pem(
            certs.pki.client.cert.as_bytes(),
            certs.pki.client.key.as_bytes(),
        )
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = server.local_addr();
    let Err(e) = rt.block_on(slow_tokio::Client::connect_tls(addr, &tls)) else {
        panic!("a second connection was admitted over the limit of 1");
    };
    assert!(
        matches!(&e, slow_tokio::Error::Closed { code, .. } if *code == ErrorCode::CONNECTION_LIMIT),
        "{e:?}"
    );
    server.shutdown().unwrap();
}

#[test]
fn graceful_shutdown_reaches_tls_clients() {
    let certs = Certs::new("shutdown");
    let server = tls_server(common::config(), certs.server(), 100);
    let mut client = connect(server.local_addr(), certs.client()).unwrap();
    assert_eq!(
        client.request("!sleep 200", Some(SOON)).unwrap(),
        "slept 200"
    );
    server.shutdown().unwrap();
    // The GOAWAY SHUTTING_DOWN came through TLS: a clean close.
    assert!(matches!(client.wait_closed(SOON), Some(Ok(()))));
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_slow-custom-example"))
}

#[test]
fn the_binary_serves_mutual_tls_from_pem_files() {
    let certs = Certs::new("binary");
    let f = &certs.files;
    let mut child = binary()
        .arg("--tls-cert")
        .arg(&f.server_cert)
        .arg("--tls-key")
        .arg(&f.server_key)
        .arg("--tls-client-ca")
        .arg(&f.ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();
    let result = (|| {
        let mut client = connect(addr, certs.client())?;
        assert_eq!(client.request("over TLS", Some(SOON)).unwrap(), "over TLS");
        let e = tls_error(connect(addr, certs.anonymous_client()));
        assert!(matches!(e, rustls::Error::AlertReceived(_)), "{e}");
        Ok::<_, ConnError>(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result.unwrap();
}

#[test]
fn the_binary_names_a_bad_pem_file_and_exits_2() {
    let certs = Certs::new("binary-bad");
    let f = &certs.files;
    let not_pem = certs.dir.join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let missing = certs.dir.join("missing.pem");
    for (cert, key, what) in [
        (&not_pem, &f.server_key, "no certificate found"),
        (&f.server_cert, &not_pem, "no private key found"),
        (&missing, &f.server_key, "cannot read"),
        // A key that is not the certificate's.
        (&f.server_cert, &f.client_key, "the certificate and key"),
    ] {
        let out = binary()
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(what), "{what}: {stderr}");
        if what != "the certificate and key" {
            let named = if cert == &f.server_cert { key } else { cert };
            assert!(stderr.contains(&*named.to_string_lossy()), "{stderr}");
        }
    }
    let out = binary()
        .arg("--tls-cert")
        .arg(&f.server_cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
