//! The cross-runtime interop matrix over mutual TLS: a client on every
//! runtime with a TLS client (tokio, smol, async-std, the custom mio loop,
//! the thread-per-core `local`) against the INTEROP server on every
//! runtime with a TLS server (the same five; `local` is `PerCoreServer`
//! with `Builder::tls`, `custom` is `slow_custom_example::Server::tls`),
//! each cell running the whole scenario list of the plaintext matrix
//! (`interop_tests::scenarios::SCENARIOS`) over TLS with a client
//! certificate. Every driver server's handler is wrapped in
//! `interop_tests::tls::Identified`: a request whose `Peer::tls_identity()`
//! is not the client's certificate is refused (and the scenario fails),
//! and each server must have seen the certificate on every request. The
//! custom loop's INTEROP service has no peer identity to look at, so its
//! server has no such log: what is checked there is that it requires the
//! certificate (a client without one is refused during the handshake).
//! Then TLS over Unix sockets: each runtime in at least one pair, the same
//! scenario list (`PerCoreServer` binds TCP only, so `local` is a client
//! there).
//!
//! Certificates are made at run time (`tests_common::pki`). The rows run
//! at once, one thread per client runtime (cells are mostly waiting on
//! `!sleep`s and timeouts); each cell is bounded by `CELL_LIMIT` and each
//! scenario by `SCENARIO_LIMIT`.
//!
//! A runtime is one more entry: its server in `tls_servers` (or
//! `unix_server`), its client in `tls_clients` and in
//! `ClientRuntime::run_scenarios_tls` (interop-tests/src/clients.rs).

use std::sync::Arc;
use std::time::Instant;

use interop_tests::clients::{ClientRuntime, run_tls_cell};
use interop_tests::custom;
use interop_tests::scenarios::{Cell, Dial, SCENARIOS, table};
use interop_tests::servers::{self, Listen, RunningServer};
use interop_tests::tls::{Identified, IdentityLog, TlsDial};
use interop_tests::unix::SocketDir;
use interop_tests::util::timeout;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use slow_driver::Config;
use slow_driver::tls::{ClientTls, ServerTls};
use slow_interop::driver::InteropService;
use tests_common::pki::Pki;

/// One run's certificates, as the servers and clients take them.
struct Certs {
    server: ServerTls,
    client: ClientTls,
    /// Trusts the same CA, presents no certificate.
    anonymous: ClientTls,
    /// The client certificate (DER) the servers' handlers must see.
    client_der: Vec<u8>,
}

fn certs() -> Certs {
    let pki = Pki::new();
    let server = ServerTls::from_pem(
        pki.server.cert.as_bytes(),
        pki.server.key.as_bytes(),
        Some(pki.ca.as_bytes()),
    )
    .expect("server TLS");
    assert!(server.requires_client_certificates());
    let client = ClientTls::from_ca_pem(pki.ca.as_bytes())
        .expect("roots")
        .client_cert_pem(pki.client.cert.as_bytes(), pki.client.key.as_bytes())
        .expect("client certificate");
    let anonymous = ClientTls::from_ca_pem(pki.ca.as_bytes()).expect("roots");
    let client_der = CertificateDer::from_pem_slice(pki.client.cert.as_bytes())
        .expect("the client certificate")
        .to_vec();
    Certs {
        server,
        client,
        anonymous,
        client_der,
    }
}

/// A server with its identity check (`None`: its service cannot see the
/// peer's certificate, as the custom loop's cannot).
struct Checked {
    server: RunningServer,
    log: Option<Arc<IdentityLog>>,
}

/// Every TLS server runtime, each with a log of its own, on loopback TCP.
fn tls_servers(certs: &Certs) -> Vec<Checked> {
    let listen = Listen::tls("127.0.0.1:0", certs.server.clone());
    let log = || IdentityLog::expecting(certs.client_der.clone());
    let (tokio, smol, async_std, local) = (log(), log(), log(), log());
    vec![
        Checked {
            server: servers::tokio_with(2, "srv-tokio", &listen, |on| {
                Identified::new(InteropService::new(on), tokio.clone())
            }),
            log: Some(tokio),
        },
        Checked {
            server: servers::smol_with(2, "srv-smol", &listen, |on| {
                Identified::new(InteropService::new(on), smol.clone())
            }),
            log: Some(smol),
        },
        Checked {
            server: servers::async_std_with(&listen, |on| {
                Identified::new(InteropService::new(on), async_std.clone())
            }),
            log: Some(async_std),
        },
        // No identity log: the loop's INTEROP service never sees the
        // certificate. Its rustls verifier requires one (see
        // `the_custom_server_requires_the_client_certificate`).
        Checked {
            server: custom::tls_server("custom", "127.0.0.1:0", &certs.server),
            log: None,
        },
        Checked {
            server: servers::local_with(2, "srv-local", Some(certs.server.clone()), {
                let log = local.clone();
                move |rt| Identified::new(InteropService::new(rt), log.clone())
            }),
            log: Some(local),
        },
    ]
}

/// Every TLS client runtime.
fn tls_clients() -> Vec<Arc<ClientRuntime>> {
    vec![
        Arc::new(ClientRuntime::tokio()),
        Arc::new(ClientRuntime::smol()),
        Arc::new(ClientRuntime::async_std()),
        Arc::new(ClientRuntime::custom()),
        Arc::new(ClientRuntime::local()),
    ]
}

/// Runs `pairs` (a client and the server it dials), one thread per client
/// runtime, each thread its cells in order; the cells in `pairs`' order.
fn run_rows(
    clients: &[Arc<ClientRuntime>],
    pairs: Vec<(usize, &'static str, TlsDial)>,
) -> Vec<Cell> {
    let mut cells: Vec<(usize, Cell)> = std::thread::scope(|scope| {
        let rows: Vec<_> = (0..clients.len())
            .map(|row| {
                let mine: Vec<_> = pairs
                    .iter()
                    .enumerate()
                    .filter(|(_, (c, _, _))| *c == row)
                    .map(|(i, (_, name, dial))| (i, *name, dial.clone()))
                    .collect();
                let client = &clients[row];
                scope.spawn(move || {
                    mine.into_iter()
                        .map(|(i, name, dial)| {
                            (i, run_tls_cell(client, name, dial, Config::default()))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        rows.into_iter()
            .flat_map(|r| r.join().expect("a row thread"))
            .collect()
    });
    cells.sort_by_key(|(i, _)| *i);
    cells.into_iter().map(|(_, c)| c).collect()
}

fn print_cells(cells: &[Cell]) {
    for cell in cells {
        println!(
            "cell {:>9} client -> {:>9} server: {} in {:.2?}",
            cell.client,
            cell.server,
            if cell.passed() { "PASS" } else { "FAIL" },
            cell.elapsed
        );
        for o in &cell.outcomes {
            if let Err(e) = &o.result {
                println!("    {:<40} {:>9.1?}  FAILED: {e}", o.name, o.elapsed);
            }
        }
    }
}

/// Every failure, one line each.
fn failures(cells: &[Cell]) -> Vec<String> {
    let mut out = Vec::new();
    for c in cells {
        for f in c.failures() {
            out.push(format!("{} client x {} server: {f}", c.client, c.server));
        }
    }
    out
}

fn stop(servers: Vec<RunningServer>, clients: Vec<Arc<ClientRuntime>>) -> Vec<String> {
    let errors: Vec<String> = servers
        .into_iter()
        .filter_map(|s| s.shutdown().err())
        .collect();
    for client in clients {
        // A hung cell still holds its runtime: leave it then.
        if let Ok(client) = Arc::try_unwrap(client) {
            client.stop();
        }
    }
    errors
}

#[test]
fn cross_runtime_matrix_over_mutual_tls() {
    let start = Instant::now();
    let certs = certs();
    let checked = tls_servers(&certs);
    let clients = tls_clients();
    let mut pairs = Vec::new();
    for row in 0..clients.len() {
        for c in &checked {
            let dial = TlsDial {
                addr: c.server.addr.to_string(),
                tls: certs.client.clone(),
            };
            pairs.push((row, c.server.name, dial));
        }
    }
    let cells = run_rows(&clients, pairs);
    print_cells(&cells);

    let client_names: Vec<&str> = clients.iter().map(|c| c.name()).collect();
    let server_names: Vec<&str> = checked.iter().map(|c| c.server.name).collect();
    println!(
        "\nSLOW interop matrix over mutual TLS ({} scenarios per cell):\n\n{}",
        SCENARIOS.len(),
        table(&client_names, &server_names, &cells)
    );
    let mut problems = failures(&cells);
    for c in &checked {
        let Some(log) = &c.log else {
            println!(
                "{} server's service cannot see certificates: its TLS requires one",
                c.server.name
            );
            continue;
        };
        let (verified, anonymous, other) = log.counts();
        println!(
            "{} server's handlers: {verified} requests and notifications with the client's \
             certificate, {anonymous} without one, {other} with another",
            c.server.name
        );
        // Each cell makes dozens of requests: every one must have come
        // with the client's certificate.
        if verified < clients.len() * SCENARIOS.len() || anonymous + other > 0 {
            problems.push(format!(
                "{} server's handlers saw the client certificate on {verified}, none on \
                 {anonymous}, another on {other}",
                c.server.name
            ));
        }
    }
    let servers = checked.into_iter().map(|c| c.server).collect();
    problems.extend(stop(servers, clients));
    println!("TLS matrix took {:.2?}", start.elapsed());
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// A TLS server on `unix:PATH`, its identity checked.
fn unix_server(name: &str, path: &std::path::Path, certs: &Certs) -> Checked {
    let at = format!("unix:{}", path.display());
    if name == "custom" {
        // No identity log: see `tls_servers`.
        let server = custom::tls_server("usrv-custom", &at, &certs.server);
        return Checked { server, log: None };
    }
    let listen = Listen::tls(at, certs.server.clone());
    let log = IdentityLog::expecting(certs.client_der.clone());
    let l = log.clone();
    let server = match name {
        "tokio" => servers::tokio_with(1, "usrv-tokio", &listen, |on| {
            Identified::new(InteropService::new(on), l)
        }),
        "smol" => servers::smol_with(1, "usrv-smol", &listen, |on| {
            Identified::new(InteropService::new(on), l)
        }),
        "async-std" => {
            servers::async_std_with(&listen, |on| Identified::new(InteropService::new(on), l))
        }
        other => panic!("no Unix TLS server on {other}"),
    };
    Checked {
        server,
        log: Some(log),
    }
}

#[test]
fn mutual_tls_over_unix_sockets() {
    let start = Instant::now();
    let certs = certs();
    let dir = SocketDir::new("tls");
    let checked: Vec<Checked> = ["tokio", "smol", "async-std", "custom"]
        .iter()
        .map(|&name| unix_server(name, &dir.path(&format!("{name}.sock")), &certs))
        .collect();
    let clients = tls_clients();
    // Client row (tokio, smol, async-std, custom, local) -> server (tokio,
    // smol, async-std, custom): every runtime a client, every Unix server
    // dialled at least once, the custom loop both ways and with itself.
    let ring = [(0, 1), (1, 2), (2, 3), (3, 0), (3, 3), (4, 3)];
    let pairs = ring
        .iter()
        .map(|&(row, srv)| {
            let dial = TlsDial {
                addr: checked[srv].server.addr.to_string(),
                tls: certs.client.clone(),
            };
            assert!(dial.addr.starts_with("unix:"), "{}", dial.addr);
            (row, checked[srv].server.name, dial)
        })
        .collect();
    let cells = run_rows(&clients, pairs);
    print_cells(&cells);
    let mut problems = failures(&cells);
    for c in &checked {
        let Some(log) = &c.log else {
            continue;
        };
        let (verified, anonymous, other) = log.counts();
        println!(
            "unix {} server's handlers: {verified} with the client's certificate, \
             {anonymous} without, {other} another",
            c.server.name
        );
        if verified < SCENARIOS.len() || anonymous + other > 0 {
            problems.push(format!(
                "unix {} server: identity seen on {verified}, none on {anonymous}, another on {other}",
                c.server.name
            ));
        }
    }
    let servers = checked.into_iter().map(|c| c.server).collect();
    problems.extend(stop(servers, clients));
    println!("TLS over Unix sockets took {:.2?}", start.elapsed());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check bites: over TLS without client certificates (a server with
/// no client CA), the same wrapper refuses a request with ERROR
/// `NO_IDENTITY`.
#[test]
fn the_identity_check_refuses_a_connection_without_the_certificate() {
    let pki = Pki::new();
    let certs = certs();
    let one_way = ServerTls::from_pem(pki.server.cert.as_bytes(), pki.server.key.as_bytes(), None)
        .expect("server TLS");
    let log = IdentityLog::expecting(certs.client_der.clone());
    let l = log.clone();
    let server = servers::tokio_with(
        1,
        "srv-one-way",
        &Listen::tls("127.0.0.1:0", one_way),
        |on| Identified::new(InteropService::new(on), l),
    );
    let dial = TlsDial {
        addr: server.addr.to_string(),
        tls: ClientTls::from_ca_pem(pki.ca.as_bytes()).expect("roots"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let on = slow_tokio::Tokio(rt.handle().clone());
    let got = rt.block_on(async {
        let limit = std::time::Duration::from_secs(10);
        let client = timeout(&on, limit, dial.dial(on.clone(), Config::default()))
            .await
            .expect("connected in time")
            .expect("connected");
        let got = timeout(&on, limit, client.request("who am I")).await;
        let _ = client.close().await;
        got.expect("answered in time")
    });
    match got {
        Err(slow_driver::Error::Server { code, .. })
            if code == slow_driver::ErrorCode(interop_tests::tls::NO_IDENTITY) => {}
        other => panic!("a request without the client certificate: {other:?}"),
    }
    assert_eq!(log.counts(), (0, 1, 0));
    server.shutdown().expect("graceful shutdown");
}

/// What the custom server's identity check is instead of a log: its
/// rustls verifier. A client with the CA's roots but no certificate is
/// refused during the handshake with the server's alert
/// certificate_required, on an async client and on the loop's own.
#[test]
fn the_custom_server_requires_the_client_certificate() {
    let certs = certs();
    let server = custom::tls_server("custom", "127.0.0.1:0", &certs.server);
    let anonymous = TlsDial {
        addr: server.addr.to_string(),
        tls: certs.anonymous.clone(),
    };
    let limit = std::time::Duration::from_secs(10);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let on = slow_tokio::Tokio(rt.handle().clone());
    let got = rt
        .block_on(timeout(&on, limit, async {
            let client = anonymous.dial(on.clone(), Config::default()).await?;
            let got = client.request("who am I").await;
            let _ = client.close().await;
            got.map(|_| ())
        }))
        .expect("an outcome in time");
    match got {
        Err(slow_driver::Error::Tls { source }) => assert_eq!(
            source,
            rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired)
        ),
        other => panic!("a tokio client without a certificate: {other:?}"),
    }
    // The loop's client: the alert ends the connection before SLOW's
    // handshake, so the connect itself fails: `Completion::Closed` with
    // `ConnError::Tls`, which `LoopClient` reports in its Debug form.
    match custom::LoopClient::connect_tls(&anonymous, Config::default(), limit) {
        Err(e) => assert!(
            e.contains("Tls { source: AlertReceived(CertificateRequired) }"),
            "{e}"
        ),
        Ok(_) => panic!("the custom client without a certificate was served"),
    }
    // The same server serves a client with the certificate.
    let good = TlsDial {
        addr: server.addr.to_string(),
        tls: certs.client.clone(),
    };
    let mut client = custom::LoopClient::connect_tls(&good, Config::default(), limit)
        .expect("a client with the certificate");
    let got = client.request("hi", None).expect("an outcome");
    assert_eq!(got.expect("answered"), "hi");
    client.close(limit).expect("closed");
    server.shutdown().expect("graceful shutdown");
}

/// A handler recording the DEADLINE of every request that has one.
struct Deadlines<H> {
    inner: H,
    seen: Arc<std::sync::Mutex<Vec<Instant>>>,
}

impl<H: slow_driver::Handler> slow_driver::Handler for Deadlines<H> {
    async fn request(&self, request: slow_driver::Request) -> slow_driver::Reply {
        if let Some(d) = request.deadline {
            self.seen.lock().expect("lock").push(d);
        }
        self.inner.request(request).await
    }
}

/// PROTOCOL.md: `timeout_ms` is rounded up "so that the server's budget
/// never ends before the client's". Over TLS it once did: the driver read
/// the clock once per wake-up, and a server poll that wrote one answer
/// went on to read the next request with that reading, taken before the
/// request was sent (12 of 300 here, by up to 0.41 ms); its ERROR
/// DEADLINE_EXCEEDED could beat the client's own timer. Now the driver
/// reads the clock after input arrives. Request after request, each sent
/// as the previous answer arrives, the server's deadline must be no
/// earlier than the caller's.
#[test]
fn the_server_deadline_never_ends_before_the_clients() {
    let pki = Pki::new();
    let tls = ServerTls::from_pem(pki.server.cert.as_bytes(), pki.server.key.as_bytes(), None)
        .expect("server TLS");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let server = servers::smol_with(2, "srv-deadline", &Listen::tls("127.0.0.1:0", tls), |on| {
        Deadlines {
            inner: InteropService::new(on),
            seen: recorded,
        }
    });
    let dial = TlsDial {
        addr: server.addr.to_string(),
        tls: ClientTls::from_ca_pem(pki.ca.as_bytes()).expect("roots"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let on = slow_tokio::Tokio(rt.handle().clone());
    let budget = std::time::Duration::from_secs(2);
    let callers: Vec<Instant> = rt.block_on(async {
        let client = dial.dial(on, Config::default()).await.expect("connect");
        let mut callers = Vec::new();
        for _ in 0..300 {
            // Taken before the call: the client's own deadline is later.
            callers.push(Instant::now() + budget);
            let got = client.request_timeout("!sleep 1", budget).await;
            assert_eq!(got.expect("answered"), "slept 1");
        }
        let _ = client.close().await;
        callers
    });
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), callers.len());
    let early: Vec<_> = seen
        .iter()
        .zip(&callers)
        .filter(|(server, caller)| server < caller)
        .map(|(server, caller)| *caller - *server)
        .collect();
    println!(
        "{} of {} server deadlines before the caller's, the worst by {:?}",
        early.len(),
        seen.len(),
        early.iter().max()
    );
    assert!(
        early.is_empty(),
        "server deadlines before the caller's: {early:?}"
    );
    server.shutdown().expect("graceful shutdown");
}
