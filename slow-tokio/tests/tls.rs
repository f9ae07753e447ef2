//! TLS on tokio: mutual TLS end to end, the identity a handler sees, and
//! each bad case a clear typed error while the server keeps serving.

use std::time::{Duration, Instant};

use slow_tokio::tls::{ClientTls, ServerTls};
use slow_tokio::{Client, Config, Error, Request, Server};
use tests_common::pki::{CLIENT_NAME, Pki};

/// A mutual-TLS echo server (answers the client certificate's length with
/// `who`), and its address.
async fn mtls_server(pki: &Pki, config: Config) -> std::net::SocketAddr {
    let tls = ServerTls::from_pem(
        pki.server.cert.as_bytes(),
        pki.server.key.as_bytes(),
        Some(pki.ca.as_bytes()),
    )
    .expect("server TLS");
    let server = Server::bind_with("127.0.0.1:0", config)
        .await
        .expect("bind")
        .tls(tls);
    let addr = server.local_addr().expect("addr").tcp().expect("tcp");
    tokio::spawn(server.serve(|req: Request| async move {
        if &req.body[..] == b"who" {
            let id = req.peer.tls_identity().expect("a verified client");
            return Ok(id.certificate().to_vec().into());
        }
        Ok(req.body)
    }));
    addr
}

fn client_tls(pki: &Pki) -> ClientTls {
    ClientTls::from_ca_pem(pki.ca.as_bytes())
        .expect("roots")
        .client_cert_pem(pki.client.cert.as_bytes(), pki.client.key.as_bytes())
        .expect("client cert")
}

fn tls_error(result: Result<Client, Error>) -> rustls::Error {
    match result {
        Err(Error::Tls { source }) => source,
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(_) => panic!("expected a TLS error, the connection succeeded"),
    }
}

#[tokio::test]
async fn mutual_tls_round_trips_and_the_handler_sees_the_client() {
    let pki = Pki::new();
    let addr = mtls_server(&pki, Config::default()).await;
    let client = Client::connect_tls(addr, &client_tls(&pki))
        .await
        .expect("connect");
    for len in [0usize, 10, 100_000, 1 << 20] {
        let body = vec![len as u8; len];
        assert_eq!(client.request(body.clone()).await.expect("echo"), body);
    }
    let seen = client.request("who").await.expect("who");
    let ours = rustls::pki_types::pem::PemObject::from_pem_slice(pki.client.cert.as_bytes())
        .map(|c: rustls::pki_types::CertificateDer| c.to_vec())
        .expect("our certificate");
    assert_eq!(&seen[..], &ours[..], "the handler saw our certificate");
    assert!(client.tls_identity().is_some(), "the server's chain");
    let _ = CLIENT_NAME;
    client.close().await.expect("close");
}

#[tokio::test]
async fn bad_certificates_are_typed_errors_and_the_server_keeps_serving() {
    let pki = Pki::new();
    let addr = mtls_server(&pki, Config::default()).await;
    let stranger = Pki::new();

    // A server certificate from a CA we do not trust.
    let e = tls_error(Client::connect_tls(addr, &client_tls(&stranger)).await);
    assert!(matches!(e, rustls::Error::InvalidCertificate(_)), "{e:?}");
    // The wrong name.
    let wrong = client_tls(&pki)
        .server_name("other.slow.test")
        .expect("name");
    let e = tls_error(Client::connect_tls(addr, &wrong).await);
    assert!(
        matches!(
            e,
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{e:?}"
    );
    // No client certificate where one is required.
    let anonymous = ClientTls::from_ca_pem(pki.ca.as_bytes()).expect("roots");
    let e = tls_error(Client::connect_tls(addr, &anonymous).await);
    assert!(matches!(e, rustls::Error::AlertReceived(_)), "{e:?}");
    // A client certificate from a CA the server does not trust.
    let foreign = ClientTls::from_ca_pem(pki.ca.as_bytes())
        .expect("roots")
        .client_cert_pem(
            stranger.client.cert.as_bytes(),
            stranger.client.key.as_bytes(),
        )
        .expect("cert");
    let e = tls_error(Client::connect_tls(addr, &foreign).await);
    assert!(matches!(e, rustls::Error::AlertReceived(_)), "{e:?}");

    // A plaintext SLOW client: the server answers TLS, which is no SLOW.
    match Client::connect(addr).await {
        Err(Error::NotSlow(_) | Error::ConnectionLost { .. }) => {}
        other => panic!("plaintext client to a TLS server: {other:?}"),
    }

    // And everyone else is still served.
    let client = Client::connect_tls(addr, &client_tls(&pki))
        .await
        .expect("connect");
    assert_eq!(client.request("still").await.expect("echo"), "still");
}

#[tokio::test]
async fn an_expired_server_certificate_is_refused() {
    let pki = Pki::new();
    let tls = ServerTls::from_pem(
        pki.expired_server.cert.as_bytes(),
        pki.expired_server.key.as_bytes(),
        None,
    )
    .expect("server TLS");
    let server = Server::bind("127.0.0.1:0").await.expect("bind").tls(tls);
    let addr = server.local_addr().expect("addr").tcp().expect("tcp");
    tokio::spawn(server.serve(|req: Request| async move { Ok(req.body) }));
    let roots = ClientTls::from_ca_pem(pki.ca.as_bytes()).expect("roots");
    let e = tls_error(Client::connect_tls(addr, &roots).await);
    assert!(
        matches!(
            e,
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. }
            )
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_tls_client_to_a_plaintext_server_is_told_so() {
    let server = Server::bind("127.0.0.1:0").await.expect("bind");
    let addr = server.local_addr().expect("addr").tcp().expect("tcp");
    tokio::spawn(server.serve(|req: Request| async move { Ok(req.body) }));
    let pki = Pki::new();
    let e = tls_error(Client::connect_tls(addr, &client_tls(&pki)).await);
    assert!(
        matches!(
            e,
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_handshake_timeout_covers_tls() {
    // A client that opens TCP and never says a TLS word is closed at the
    // handshake timeout, like one that never sends HELLO.
    let pki = Pki::new();
    let config = Config {
        handshake_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let addr = mtls_server(&pki, config).await;
    let mut silent = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let start = Instant::now();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut silent, &mut buf),
    )
    .await
    .expect("closed within 5 s")
    .unwrap_or(0);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed after {waited:?}"
    );
    // Whatever came (nothing, or a TLS alert), the stream then ended.
    let _ = n;
    // Mid-handshake: a ClientHello's first bytes and then silence.
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    tokio::io::AsyncWriteExt::write_all(&mut slow, &[0x16, 0x03, 0x01, 0x00, 0x40, 0x01])
        .await
        .expect("write");
    let start = Instant::now();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut slow, &mut buf),
    )
    .await
    .expect("closed within 5 s");
    assert!(start.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn a_refusal_at_the_connection_limit_reaches_a_tls_client() {
    // The server refuses before the TLS handshake is done; its GOAWAY
    // waits in rustls for the handshake and must still arrive.
    let pki = Pki::new();
    let tls = ServerTls::from_pem(
        pki.server.cert.as_bytes(),
        pki.server.key.as_bytes(),
        Some(pki.ca.as_bytes()),
    )
    .expect("server TLS");
    let server = Server::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .max_connections(1)
        .tls(tls);
    let addr = server.local_addr().expect("addr").tcp().expect("tcp");
    tokio::spawn(server.serve(|req: Request| async move { Ok(req.body) }));
    let first = Client::connect_tls(addr, &client_tls(&pki))
        .await
        .expect("first");
    for _ in 0..3 {
        match Client::connect_tls(addr, &client_tls(&pki)).await {
            Err(Error::Closed {
                code: slow_tokio::ErrorCode::CONNECTION_LIMIT,
                ..
            }) => {}
            Err(other) => panic!("wrong error: {other:?}"),
            Ok(_) => panic!("a second connection was accepted"),
        }
        assert_eq!(first.request("still").await.expect("first"), "still");
    }
    first.close().await.expect("close");
}

#[tokio::test]
async fn a_plaintext_client_to_a_tls_server_is_told_it_speaks_tls() {
    let pki = Pki::new();
    let addr = mtls_server(&pki, Config::default()).await;
    for _ in 0..2 {
        match Client::connect(addr).await {
            Err(e @ Error::NotSlow(_)) => {
                assert!(e.to_string().contains("the peer speaks TLS"), "{e}")
            }
            Err(other) => panic!("wrong error: {other:?}"),
            Ok(_) => panic!("a plaintext client got through"),
        }
    }
    // The server still serves.
    let client = Client::connect_tls(addr, &client_tls(&pki))
        .await
        .expect("connect");
    assert_eq!(client.request("still").await.expect("echo"), "still");
    client.close().await.expect("close");
}
