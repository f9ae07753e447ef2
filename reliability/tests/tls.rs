//! Hostile peers over TLS, against the mutual-TLS server of every runtime
//! with one (`reliability::TLS_SERVERS`: tokio, smol, async-std, the
//! custom mio loop, the thread-per-core `local`), and bad certificates as
//! every TLS client runtime sees them (`clients::TLS_CLIENTS`: tokio,
//! smol, async-std, `local`; and the custom loop's `ClientLoop`, whose
//! errors are its own types: `clients::custom_round_trip`):
//!
//! - garbage TLS records sent raw (random bytes behind a valid-looking
//!   record header, an oversized record, a record of no known type) and a
//!   plaintext SLOW HELLO: each answered with its TLS alert, then closed;
//!   a plaintext SLOW client of every runtime gets a typed error
//!   (`NotSlow`, the alert's bytes in it);
//! - a valid ClientHello, the server's whole first flight taken in, then
//!   garbage: the server's (encrypted) alert, read back through rustls;
//! - no client certificate, or one from a CA the server does not trust:
//!   refused during the handshake, a typed `Error::Tls` on every client
//!   (`ConnError::Tls` on the custom one);
//! - an untrusted, expired or wrong-name server certificate, and a TLS
//!   client to a plaintext server: `Error::Tls` (`ConnError::Tls`) with
//!   rustls's reason;
//! - the connection-limit refusal over TLS: `Error::Closed
//!   CONNECTION_LIMIT` on every client (the custom one: the server's
//!   GOAWAY CONNECTION_LIMIT, `ConnectionError::Remote`);
//! - a TLS slowloris: connections that open TCP and send part of a
//!   ClientHello, or nothing, all shed at the handshake timeout.
//!
//! After every case a good mutual-TLS client is served, and a probe client
//! (`reliability::probe`, over mutual TLS) keeps asking throughout; no
//! server task is left. Certificates are made at run time
//! (`tests_common::pki`). A runtime is one more entry in `TLS_SERVERS` /
//! `TLS_CLIENTS`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use interop_tests::tls::TlsDial;
use reliability::clients::{CustomEnd, RoundTrip, TLS_CLIENTS, custom_round_trip, round_trip_as};
use reliability::probe::{Probe, ProbeReport};
use reliability::raw::{self, Ending};
use reliability::tls::{self as raw_tls, HalfHandshake, content, record_header};
use reliability::{Kind, Rng, TestServer, rng};
use rustls::{AlertDescription, CertificateError};
use slow_custom_example::ConnError;
use slow_driver::tls::{ClientTls, ServerTls};
use slow_driver::{Config, DEFAULT_MAX_CONNECTIONS, Error, ErrorCode, Settings};
use slow_proto::ConnectionError;
use tests_common::pki::{CLIENT_NAME, Pem, Pki, SERVER_NAMES};

/// The hostile-case server's handshake timeout: long, so that a close
/// within [`WAIT`] is the server's verdict on what it read, not the timer.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// A hostile connection must be closed within this.
const WAIT: Duration = Duration::from_secs(5);
/// Any client's connect and echo.
const LIMIT: Duration = Duration::from_secs(10);

/// One run's certificates.
struct Certs {
    pki: Pki,
    /// The server's, requiring client certificates from the CA.
    mutual: ServerTls,
    /// Trusts the CA, presents the client certificate.
    good: ClientTls,
}

impl Certs {
    fn new() -> Certs {
        let pki = Pki::new();
        let mutual = server_tls(&pki.server, Some(&pki.ca));
        let good = ClientTls::from_ca_pem(pki.ca.as_bytes())
            .expect("roots")
            .client_cert_pem(pki.client.cert.as_bytes(), pki.client.key.as_bytes())
            .expect("client certificate");
        Certs { pki, mutual, good }
    }

    /// Trusts the CA, presents no certificate.
    fn anonymous(&self) -> ClientTls {
        ClientTls::from_ca_pem(self.pki.ca.as_bytes()).expect("roots")
    }

    /// Trusts the CA, presents `pem`.
    fn with_client_cert(&self, pem: &Pem) -> ClientTls {
        self.anonymous()
            .client_cert_pem(pem.cert.as_bytes(), pem.key.as_bytes())
            .expect("client certificate")
    }
}

/// A self-signed certificate for `names`: no CA anyone trusts.
fn self_signed(names: &[&str]) -> Pem {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(names).expect("a self-signed certificate");
    Pem {
        cert: cert.pem(),
        key: signing_key.serialize_pem(),
        cert_der: cert.der().to_vec(),
    }
}

fn server_tls(pem: &Pem, client_ca: Option<&String>) -> ServerTls {
    ServerTls::from_pem(
        pem.cert.as_bytes(),
        pem.key.as_bytes(),
        client_ca.map(|ca| ca.as_bytes()),
    )
    .expect("server TLS")
}

fn config(handshake: Duration) -> Config {
    Config {
        handshake_timeout: handshake,
        drain_timeout: Duration::from_secs(2),
        ..Config::default()
    }
}

fn tls_dial(addr: SocketAddr, tls: &ClientTls) -> TlsDial {
    TlsDial {
        addr: addr.to_string(),
        tls: tls.clone(),
    }
}

/// A client runtime for the probe (a `Send` one), not the server's own.
fn probe_kind(server: Kind) -> Kind {
    if server == Kind::Tokio {
        Kind::Smol
    } else {
        Kind::Tokio
    }
}

/// A connection by `kind` through `dial`: its error (`Ok` if it served).
fn attempt(kind: Kind, dial: impl reliability::clients::AnyDial) -> RoundTrip {
    round_trip_as(kind, dial, LIMIT)
        .unwrap_or_else(|| panic!("{} client: no outcome within {LIMIT:?}", kind.name()))
}

/// The rustls error of a failed TLS connection.
fn tls_error(what: &str, got: RoundTrip) -> rustls::Error {
    match got {
        Err(Error::Tls { source }) => source,
        other => panic!("{what}: expected Error::Tls, got {other:?}"),
    }
}

/// A connection by the custom loop's client (TLS with `tls`'s rustls
/// config, the server named `127.0.0.1` as the async clients name it):
/// its error (`Ok` if it served).
fn custom_attempt(addr: SocketAddr, tls: Option<&ClientTls>) -> Result<(), CustomEnd> {
    let tls = tls.map(|tls| {
        let config = tls.config().expect("client TLS config");
        (config, tls.name_for("127.0.0.1").expect("server name"))
    });
    custom_round_trip(addr, tls, LIMIT)
        .unwrap_or_else(|| panic!("custom client: no outcome within {LIMIT:?}"))
}

/// The rustls error of the custom client's failed TLS connection:
/// `ConnError::Tls`, the connection closed before SLOW's handshake.
fn custom_tls_error(what: &str, got: Result<(), CustomEnd>) -> rustls::Error {
    match got {
        Err(CustomEnd::Closed(Some(ConnError::Tls { source }))) => source,
        other => panic!("{what}: expected ConnError::Tls from the custom client, got {other:?}"),
    }
}

/// A server certificate a client must refuse.
#[derive(Debug, Clone, Copy)]
enum BadServer {
    /// The server's own, to a client trusting another CA of the same name.
    Stranger,
    /// Self-signed.
    SelfSigned,
    /// Expired.
    Expired,
    /// For another name.
    WrongName,
}

impl BadServer {
    fn what(self) -> &'static str {
        match self {
            BadServer::Stranger => "a server from another CA of the same name",
            BadServer::SelfSigned => "a self-signed server certificate",
            BadServer::Expired => "an expired server certificate",
            BadServer::WrongName => "a wrong-name server certificate",
        }
    }

    /// Asserts that `e`, what `client` reported, is rustls's reason for
    /// this refusal.
    fn check(self, client: &str, e: rustls::Error) {
        let what = self.what();
        match (self, e) {
            (
                BadServer::Stranger,
                rustls::Error::InvalidCertificate(CertificateError::BadSignature),
            )
            | (
                BadServer::SelfSigned,
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            ) => {}
            (
                BadServer::Expired,
                rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
                    time,
                    not_after,
                }),
            ) => assert!(
                not_after < time,
                "{client} client, {what}: expired {not_after:?}, now {time:?}"
            ),
            (
                BadServer::WrongName,
                rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                    expected,
                    presented,
                }),
            ) => {
                assert_eq!(expected.to_str(), "127.0.0.1", "{client} client, {what}");
                assert!(
                    presented.iter().any(|p| p.contains("other.slow.test")),
                    "{client} client, {what}: {presented:?}"
                );
            }
            (_, other) => panic!("{client} client, {what}: {other:?}"),
        }
    }
}

/// A plaintext fatal decode_error alert, as a server sends it to a
/// plaintext SLOW HELLO: 7 bytes, shorter than a SLOW frame header.
fn decode_error_alert() -> Vec<u8> {
    [
        &record_header(content::ALERT, 2)[..],
        &[2, u8::from(AlertDescription::DecodeError)],
    ]
    .concat()
}

/// A good mutual-TLS client of `kind` is served.
fn served(kind: Kind, addr: SocketAddr, certs: &Certs, after: &str) {
    if let Err(e) = attempt(kind, tls_dial(addr, &certs.good)) {
        panic!(
            "after {after}: a good {} client was not served: {e:?}",
            kind.name()
        );
    }
}

/// A garbage case: bytes that must be answered with a fatal `alert` (or,
/// `None`, nothing at all) and a close.
struct Garbage {
    name: &'static str,
    bytes: Vec<u8>,
    alert: Option<AlertDescription>,
}

fn garbage_cases(rng: &mut Rng) -> Vec<Garbage> {
    // A handshake record of 512 random bytes, its first saying ClientHello
    // (so rustls parses the rest as one).
    let mut hello_ish = record_header(content::HANDSHAKE, 512).to_vec();
    let mut body = rng.bytes(512);
    body[..4].copy_from_slice(&[0x01, 0x00, 0x01, 0xFC]);
    hello_ish.extend_from_slice(&body);
    // Any handshake message but a ClientHello first.
    // A well-formed Finished (opaque bytes) where a ClientHello must come.
    let mut finished = record_header(content::HANDSHAKE, 36).to_vec();
    finished.extend_from_slice(&[0x14, 0x00, 0x00, 0x20]);
    finished.extend_from_slice(&rng.bytes(32));
    // A handshake message claiming 16 MiB: more than rustls takes.
    let mut huge_message = record_header(content::HANDSHAKE, 300).to_vec();
    let mut body = rng.bytes(300);
    body[..4].copy_from_slice(&[0x01, 0xFF, 0xFF, 0xFF]);
    huge_message.extend_from_slice(&body);
    let mut oversized = record_header(content::HANDSHAKE, u16::MAX).to_vec();
    oversized.extend_from_slice(&rng.bytes(1024));
    let mut no_such_type = record_header(0x42, 64).to_vec();
    no_such_type.extend_from_slice(&rng.bytes(64));
    let mut data_first = record_header(content::APPLICATION_DATA, 128).to_vec();
    data_first.extend_from_slice(&rng.bytes(128));
    let slow_hello = raw::encode(&raw::hello(&Settings::default()));
    vec![
        Garbage {
            name: "a ClientHello record of random bytes",
            bytes: hello_ish,
            alert: Some(AlertDescription::DecodeError),
        },
        Garbage {
            name: "a Finished before any ClientHello",
            bytes: finished,
            alert: Some(AlertDescription::UnexpectedMessage),
        },
        // rustls refuses it without an alert (its handshake deframer's
        // length check returns the error directly): closed, nothing sent.
        Garbage {
            name: "a handshake message claiming 16 MiB",
            bytes: huge_message,
            alert: None,
        },
        Garbage {
            name: "a record longer than TLS allows",
            bytes: oversized,
            alert: Some(AlertDescription::DecodeError),
        },
        Garbage {
            name: "a record of no known type",
            bytes: no_such_type,
            alert: Some(AlertDescription::DecodeError),
        },
        Garbage {
            name: "application data before any handshake",
            bytes: data_first,
            alert: Some(AlertDescription::UnexpectedMessage),
        },
        Garbage {
            name: "a plaintext SLOW HELLO",
            bytes: slow_hello,
            alert: Some(AlertDescription::DecodeError),
        },
    ]
}

/// Sends `bytes` on a fresh connection; the plaintext alert that came back
/// and how the connection ended.
fn answer_to(addr: SocketAddr, bytes: &[u8]) -> (Option<(u8, AlertDescription)>, Ending, Vec<u8>) {
    let mut stream = TcpStream::connect_timeout(&addr, LIMIT).expect("connect");
    // The server may close before it has read everything: a failed write
    // still leaves its answer to read.
    let _ = stream.write_all(bytes);
    let (got, ending) = raw_tls::read_until_closed(&mut stream, WAIT);
    (raw_tls::plaintext_alert(&got), ending, got)
}

fn closed(ending: &Ending) -> bool {
    matches!(ending, Ending::Eof | Ending::Reset)
}

fn assert_probe(what: &str, report: &ProbeReport) {
    assert!(
        report.failures.is_empty(),
        "{what}: the probe client failed: {:?}",
        report.failures
    );
    assert!(
        report.ok > 5 && report.connections >= 1,
        "{what}: the probe client was barely served: {report:?}"
    );
}

fn hostile(kind: Kind, default_seed: u64) {
    let start = Instant::now();
    let seed = rng::seed(&format!("tls hostile {}", kind.name()), default_seed);
    let mut rng = Rng::new(seed);
    let certs = Certs::new();
    let srv = TestServer::start_tls(
        kind,
        config(HANDSHAKE),
        DEFAULT_MAX_CONNECTIONS,
        certs.mutual.clone(),
    );
    let addr = srv.addr;
    let probe = Probe::start_tls(addr, probe_kind(kind), certs.good.clone());
    // Good clients of each runtime in turn.
    let mut next_good = TLS_CLIENTS.iter().copied().cycle();
    let mut good = |after: &str| served(next_good.next().expect("cycle"), addr, &certs, after);

    // Garbage before any handshake: a plaintext alert, then the close.
    for case in garbage_cases(&mut rng) {
        let (alert, ending, got) = answer_to(addr, &case.bytes);
        let expected = case.alert.map(|a| (2, a));
        assert_eq!(
            alert,
            expected,
            "{}: expected a fatal {:?}, got {} bytes {:02x?}",
            case.name,
            case.alert,
            got.len(),
            &got[..got.len().min(16)]
        );
        if expected.is_none() {
            assert!(got.is_empty(), "{}: got {got:02x?}", case.name);
        }
        assert!(closed(&ending), "{}: not closed: {ending:?}", case.name);
        good(case.name);
    }

    // A plaintext SLOW client of every runtime, and the custom loop's: the
    // server's answer to its HELLO is the 7-byte alert above, shorter than
    // a SLOW frame header, then the close. The client's core names the
    // stranger (slow-proto `recv_eof`, since 67a5c81: something short that
    // is not SLOW, then the end of stream), the alert's bytes in hand.
    for client in TLS_CLIENTS {
        match attempt(client, addr) {
            Err(Error::NotSlow(ConnectionError::NotSlow {
                expected: "WELCOME",
                code: ErrorCode::PROTOCOL_ERROR,
                first_bytes,
            })) => assert_eq!(
                first_bytes,
                decode_error_alert(),
                "{} client",
                client.name()
            ),
            other => panic!(
                "a plaintext {} client to a TLS server: {other:?}",
                client.name()
            ),
        }
    }
    match custom_attempt(addr, None) {
        Err(CustomEnd::Closed(Some(ConnError::Connection(ConnectionError::NotSlow {
            expected: "WELCOME",
            code: ErrorCode::PROTOCOL_ERROR,
            first_bytes,
        })))) => assert_eq!(first_bytes, decode_error_alert(), "custom client"),
        other => panic!("a plaintext custom client to a TLS server: {other:?}"),
    }
    good("plaintext SLOW clients");

    // A real ClientHello, the server's flight taken in, then garbage: the
    // server's alert is encrypted, read back through rustls.
    let half_cases: [(&str, Vec<u8>, AlertDescription); 2] = [
        (
            "a random encrypted record",
            [
                record_header(content::APPLICATION_DATA, 200).to_vec(),
                rng.bytes(200),
            ]
            .concat(),
            AlertDescription::BadRecordMac,
        ),
        (
            "a plaintext SLOW HELLO",
            raw::encode(&raw::hello(&Settings::default())),
            AlertDescription::DecodeError,
        ),
    ];
    for (name, bytes, alert) in half_cases {
        let mut half =
            HalfHandshake::start(addr, &certs.good, "127.0.0.1", LIMIT).expect("half a handshake");
        let _ = half.send_raw(&bytes);
        let (error, ending) = half.server_verdict(WAIT);
        assert_eq!(
            error,
            Some(rustls::Error::AlertReceived(alert)),
            "a ClientHello, then {name}"
        );
        assert!(closed(&ending), "a ClientHello, then {name}: {ending:?}");
        good(name);
    }

    // Client certificates the server must refuse, on every client runtime
    // and on the custom loop's client: one signed by another CA of the same
    // name (the signature does not verify: rustls's BadSignature, alert
    // decrypt_error) and a self-signed one (no known issuer: UnknownIssuer,
    // alert unknown_ca).
    let stranger = Pki::new();
    let forged = certs.with_client_cert(&stranger.client);
    let unsigned_client = certs.with_client_cert(&self_signed(&[CLIENT_NAME]));
    let client_cases = [
        (
            "no client certificate",
            certs.anonymous(),
            AlertDescription::CertificateRequired,
        ),
        (
            "a client certificate from another CA of the same name",
            forged,
            AlertDescription::DecryptError,
        ),
        (
            "a self-signed client certificate",
            unsigned_client,
            AlertDescription::UnknownCA,
        ),
    ];
    for (what, tls, alert) in &client_cases {
        for client in TLS_CLIENTS {
            let e = tls_error(what, attempt(client, tls_dial(addr, tls)));
            assert_eq!(
                e,
                rustls::Error::AlertReceived(*alert),
                "{} client, {what}",
                client.name()
            );
        }
        let e = custom_tls_error(what, custom_attempt(addr, Some(tls)));
        assert_eq!(
            e,
            rustls::Error::AlertReceived(*alert),
            "custom client, {what}"
        );
    }
    good("refused client certificates");

    // Server certificates every client runtime (and the custom loop's
    // client) must refuse: the server's own as seen by a client trusting
    // another CA of the same name, a self-signed one, an expired one, one
    // for another name.
    let trusting_stranger = ClientTls::from_ca_pem(stranger.ca.as_bytes()).expect("roots");
    let bad_server = |pem: &Pem| {
        TestServer::start_tls(
            kind,
            config(HANDSHAKE),
            DEFAULT_MAX_CONNECTIONS,
            server_tls(pem, None),
        )
    };
    let unsigned = bad_server(&self_signed(&SERVER_NAMES));
    let expired = bad_server(&certs.pki.expired_server);
    let wrong_name = bad_server(&certs.pki.wrong_name_server);
    let anonymous = certs.anonymous();
    let server_cases = [
        (BadServer::Stranger, addr, &trusting_stranger),
        (BadServer::SelfSigned, unsigned.addr, &anonymous),
        (BadServer::Expired, expired.addr, &anonymous),
        (BadServer::WrongName, wrong_name.addr, &anonymous),
    ];
    for (case, at, tls) in server_cases {
        for client in TLS_CLIENTS {
            case.check(
                client.name(),
                tls_error(case.what(), attempt(client, tls_dial(at, tls))),
            );
        }
        case.check(
            "custom",
            custom_tls_error(case.what(), custom_attempt(at, Some(tls))),
        );
    }
    for s in [unsigned, expired, wrong_name] {
        s.shutdown().expect("graceful shutdown");
    }
    good("refused server certificates");

    // A TLS client of every runtime to this runtime's plaintext server.
    let plain = TestServer::start(kind, config(HANDSHAKE));
    let plaintext_reply = |e: &rustls::Error| {
        matches!(
            e,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
        )
    };
    for client in TLS_CLIENTS {
        let e = tls_error(
            "a TLS client to a plaintext server",
            attempt(client, tls_dial(plain.addr, &certs.good)),
        );
        assert!(plaintext_reply(&e), "{} client: {e:?}", client.name());
    }
    let e = custom_tls_error(
        "a TLS client to a plaintext server",
        custom_attempt(plain.addr, Some(&certs.good)),
    );
    assert!(plaintext_reply(&e), "custom client: {e:?}");
    if let Err(e) = attempt(Kind::Tokio, plain.addr) {
        panic!("the plaintext server, after TLS clients: {e:?}");
    }
    plain.shutdown().expect("graceful shutdown");

    // The connection-limit refusal, over TLS, reaches every client.
    let limited = TestServer::start_tls(kind, config(HANDSHAKE), 1, certs.mutual.clone());
    let holder = Holder::connect(limited.addr, &certs.good);
    for client in TLS_CLIENTS {
        match attempt(client, tls_dial(limited.addr, &certs.good)) {
            Err(Error::Closed {
                code: ErrorCode::CONNECTION_LIMIT,
                ..
            }) => {}
            other => panic!("{} client beyond the limit of 1: {other:?}", client.name()),
        }
        holder.still_served();
    }
    match custom_attempt(limited.addr, Some(&certs.good)) {
        Err(CustomEnd::Closed(Some(ConnError::Connection(ConnectionError::Remote {
            code: ErrorCode::CONNECTION_LIMIT,
            ..
        })))) => {}
        other => panic!("custom client beyond the limit of 1: {other:?}"),
    }
    holder.still_served();
    holder.close();
    limited.shutdown().expect("graceful shutdown");

    if let Err(e) = custom_attempt(addr, Some(&certs.good)) {
        panic!("after every case: a good custom client was not served: {e:?}");
    }

    let report = probe.stop();
    let tasks_left = srv
        .tasks
        .as_ref()
        .map(|t| t.wait_at_most(0, Duration::from_secs(5)));
    // The async runtimes' clients and the custom loop's.
    let clients = TLS_CLIENTS.len() + 1;
    println!(
        "figure: TLS hostile peers, {} server (seed {seed}): 7 garbage records, {} plaintext SLOW \
         clients, 2 half handshakes then garbage, {} refused client certificates, {} refused \
         server certificates, {} TLS clients to a plaintext server, {} refused at the connection \
         limit, each as expected; probe client meanwhile {} requests and {} new connections \
         served, slowest {:?}, {} failures; server tasks left {tasks_left:?}; {:.2?}",
        kind.name(),
        clients,
        3 * clients,
        4 * clients,
        clients,
        clients,
        report.ok,
        report.connections,
        report.max_latency,
        report.failures.len(),
        start.elapsed()
    );
    assert_probe(kind.name(), &report);
    assert_eq!(tasks_left.unwrap_or(0), 0, "server tasks leaked");
    srv.shutdown().expect("graceful shutdown");
}

/// One mutual-TLS connection held open (on a tokio runtime of its own).
struct Holder {
    rt: tokio::runtime::Runtime,
    client: slow_tokio::Client,
}

impl Holder {
    fn connect(addr: SocketAddr, tls: &ClientTls) -> Holder {
        let rt = reliability::clients::tokio_runtime("holder");
        let client = rt
            .block_on(async {
                tokio::time::timeout(LIMIT, slow_tokio::Client::connect_tls(addr, tls)).await
            })
            .expect("in time")
            .expect("the first connection");
        Holder { rt, client }
    }

    fn still_served(&self) {
        let got = self
            .rt
            .block_on(async { tokio::time::timeout(LIMIT, self.client.request("still")).await })
            .expect("in time")
            .expect("the connection within the limit");
        assert_eq!(got, "still");
    }

    fn close(self) {
        let _ = self
            .rt
            .block_on(async { tokio::time::timeout(LIMIT, self.client.close()).await });
        self.rt.shutdown_timeout(Duration::from_secs(1));
    }
}

/// The slowloris's handshake timeout.
const SLOW_HANDSHAKE: Duration = Duration::from_millis(300);
/// Shed no later than this after the handshake timeout.
const SHED_SLACK: Duration = Duration::from_secs(2);
const ATTACKERS: usize = 40;
/// How long shed connections are replaced by fresh ones.
const ATTACK: Duration = Duration::from_secs(1);

struct Attacker {
    stream: TcpStream,
    connected: Instant,
    /// Next ClientHello byte to send, and when; `None` for a silent one.
    drip: Option<(usize, Instant)>,
    rx: Vec<u8>,
    ended: Option<(Ending, Instant)>,
}

fn tls_slowloris(kind: Kind, default_seed: u64) {
    let seed = rng::seed(&format!("tls slowloris {}", kind.name()), default_seed);
    let mut rng = Rng::new(seed);
    let certs = Certs::new();
    let srv = TestServer::start_tls(
        kind,
        config(SLOW_HANDSHAKE),
        DEFAULT_MAX_CONNECTIONS,
        certs.mutual.clone(),
    );
    let probe = Probe::start_tls(srv.addr, probe_kind(kind), certs.good.clone());
    let (_, hello) = raw_tls::client_hello(&certs.good, "127.0.0.1");
    assert!(
        hello.len() > 100,
        "a ClientHello cannot be finished in the time"
    );

    let open = |i: usize| {
        let stream = TcpStream::connect(srv.addr).expect("connect");
        stream.set_nonblocking(true).expect("nonblocking");
        Attacker {
            stream,
            connected: Instant::now(),
            // One in four sends nothing; the others a byte at a time.
            drip: (i % 4 != 0).then(|| (0, Instant::now())),
            rx: Vec::new(),
            ended: None,
        }
    };
    let mut attackers: Vec<Attacker> = (0..ATTACKERS).map(open).collect();
    let replace_until = Instant::now() + ATTACK;
    let give_up = replace_until + SLOW_HANDSHAKE + SHED_SLACK + Duration::from_secs(2);
    while attackers.iter().any(|a| a.ended.is_none()) && Instant::now() < give_up {
        let mut fresh = 0;
        for a in attackers.iter_mut().filter(|a| a.ended.is_none()) {
            a.ended = poll_read(a).map(|e| (e, Instant::now()));
            if a.ended.is_some() {
                fresh += usize::from(Instant::now() < replace_until);
                continue;
            }
            if let Some((pos, at)) = a.drip {
                if Instant::now() >= at && pos < hello.len() {
                    let _ = a.stream.write(&hello[pos..pos + 1]);
                    a.drip = Some((
                        pos + 1,
                        Instant::now() + Duration::from_millis(rng.range(20, 60)),
                    ));
                }
            }
        }
        for _ in 0..fresh {
            attackers.push(open(attackers.len()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let report = probe.stop();

    let (mut shed, mut alerts, mut sent_most) = (0, 0, 0usize);
    let (mut first, mut worst) = (Duration::MAX, Duration::ZERO);
    let mut problems = Vec::new();
    for (i, a) in attackers.iter().enumerate() {
        match &a.ended {
            Some((ending, at)) if closed(ending) => {
                let after = *at - a.connected;
                first = first.min(after);
                worst = worst.max(after);
                if after + Duration::from_millis(50) < SLOW_HANDSHAKE
                    || after > SLOW_HANDSHAKE + SHED_SLACK
                {
                    problems.push(format!("attacker {i}: shed after {after:?}"));
                }
                // Nothing, or a TLS alert: never a SLOW frame in the clear.
                if !a.rx.is_empty() {
                    match raw_tls::plaintext_alert(&a.rx) {
                        Some(_) => alerts += 1,
                        None => problems.push(format!("attacker {i}: got {:02x?}", a.rx)),
                    }
                }
                if let Some((pos, _)) = a.drip {
                    sent_most = sent_most.max(pos);
                }
                shed += 1;
            }
            other => problems.push(format!("attacker {i}: {other:?}")),
        }
    }
    let tasks_left = srv
        .tasks
        .as_ref()
        .map(|t| t.wait_at_most(0, Duration::from_secs(5)));
    println!(
        "figure: TLS slowloris {} (seed {seed}): {shed}/{} connections sending part of a \
         ClientHello ({} bytes; at most {sent_most} sent) or nothing shed between {first:?} and \
         {worst:?} after connecting (timeout {SLOW_HANDSHAKE:?}), {alerts} with an alert; probe \
         client meanwhile {} requests and {} new connections served, slowest {:?}, {} failures; \
         server tasks left {tasks_left:?}",
        kind.name(),
        attackers.len(),
        hello.len(),
        report.ok,
        report.connections,
        report.max_latency,
        report.failures.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_probe(kind.name(), &report);
    assert_eq!(tasks_left.unwrap_or(0), 0, "server tasks leaked");
    // And a good client of every runtime afterwards.
    for client in TLS_CLIENTS {
        served(client, srv.addr, &certs, "the slowloris");
    }
    if let Err(e) = custom_attempt(srv.addr, Some(&certs.good)) {
        panic!("after the slowloris: a good custom client was not served: {e:?}");
    }
    srv.shutdown().expect("graceful shutdown");
}

/// Reads what is there; how the connection ended, once it did.
fn poll_read(a: &mut Attacker) -> Option<Ending> {
    let mut buf = [0u8; 1024];
    loop {
        match a.stream.read(&mut buf) {
            Ok(0) => return Some(Ending::Eof),
            Ok(n) => a.rx.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(_) => return Some(Ending::Reset),
        }
    }
}

#[test]
fn tls_hostile_peers_tokio() {
    hostile(Kind::Tokio, 81);
}

#[test]
fn tls_hostile_peers_smol() {
    hostile(Kind::Smol, 82);
}

#[test]
fn tls_hostile_peers_async_std() {
    hostile(Kind::AsyncStd, 83);
}

#[test]
fn tls_hostile_peers_local() {
    hostile(Kind::Local, 84);
}

#[test]
fn tls_hostile_peers_custom() {
    hostile(Kind::Custom, 85);
}

#[test]
fn tls_slowloris_tokio() {
    tls_slowloris(Kind::Tokio, 91);
}

#[test]
fn tls_slowloris_smol() {
    tls_slowloris(Kind::Smol, 92);
}

#[test]
fn tls_slowloris_async_std() {
    tls_slowloris(Kind::AsyncStd, 93);
}

#[test]
fn tls_slowloris_local() {
    tls_slowloris(Kind::Local, 94);
}

#[test]
fn tls_slowloris_custom() {
    tls_slowloris(Kind::Custom, 95);
}
