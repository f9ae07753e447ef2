//! The same rigs over TLS (rustls, TLS 1.3, ECDSA P-256 certificates made at
//! start with rcgen), for what TLS costs beside plaintext: tokio and smol,
//! SLOW only, threads and flavours as in their plaintext rigs.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use slow_tokio::tls::{ClientTls, ServerTls};
use tests_common::pki::Pki;

use super::server_thread::server_thread;
use super::{AsyncRig, Bench, Exec, Scenario, ServerThread, SmolExec, TokioExec, config};

/// The runtimes measured over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsRuntime {
    /// slow-tokio.
    Tokio,
    /// slow-smol.
    Smol,
}

impl TlsRuntime {
    /// Both.
    pub const ALL: [TlsRuntime; 2] = [TlsRuntime::Tokio, TlsRuntime::Smol];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            TlsRuntime::Tokio => "slow_tokio",
            TlsRuntime::Smol => "slow_smol",
        }
    }
}

/// One PKI for the whole process.
fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(Pki::new)
}

fn server_tls() -> ServerTls {
    let pki = pki();
    ServerTls::from_pem(pki.server.cert.as_bytes(), pki.server.key.as_bytes(), None)
        .expect("server TLS")
}

/// What the clients trust, naming the server `localhost`.
pub fn client_tls() -> ClientTls {
    ClientTls::from_ca_pem(pki().ca.as_bytes())
        .expect("roots")
        .server_name("localhost")
        .expect("name")
}

/// An echo server on `runtime`, TLS or not, on its own thread.
pub fn server(runtime: TlsRuntime, tls: bool) -> (SocketAddr, ServerThread) {
    let server_tls = tls.then(server_tls);
    match runtime {
        TlsRuntime::Tokio => server_thread("tokio-tls-server", move |addr_tx, stop| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio");
            rt.block_on(async move {
                let runtime = slow_tokio::Tokio(tokio::runtime::Handle::current());
                let server = slow_tokio::Server::bind_on(runtime, "127.0.0.1:0", config())
                    .await
                    .expect("bind");
                let addr = server.local_addr().expect("addr").tcp().expect("TCP");
                let echo = |req: slow_tokio::Request| async move { Ok(req.body) };
                match server_tls {
                    Some(tls) => drop(tokio::spawn(server.tls(tls).serve(echo))),
                    None => drop(tokio::spawn(server.serve(echo))),
                }
                addr_tx.send(addr).expect("send address");
                stop.wait().await;
            });
        }),
        TlsRuntime::Smol => server_thread("smol-tls-server", move |addr_tx, stop| {
            let ex = Arc::new(smol::Executor::new());
            smol::block_on(ex.run(async {
                let runtime = slow_smol::Smol::on(ex.clone());
                let server = slow_smol::Server::bind_on(runtime, "127.0.0.1:0", config())
                    .await
                    .expect("bind");
                let addr = server.local_addr().expect("addr").tcp().expect("TCP");
                let echo = |req: slow_smol::Request| async move { Ok(req.body) };
                match server_tls {
                    Some(tls) => ex.spawn(server.tls(tls).serve(echo)).detach(),
                    None => ex.spawn(server.serve(echo)).detach(),
                }
                addr_tx.send(addr).expect("send address");
                stop.wait().await;
            }));
        }),
    }
}

/// A rig for `scenario` on `runtime`, over TLS or not.
pub fn rig(runtime: TlsRuntime, tls: bool, scenario: Scenario) -> Box<dyn Bench> {
    let (addr, server) = server(runtime, tls);
    let client_tls = client_tls();
    match runtime {
        TlsRuntime::Tokio => {
            let exec = TokioExec::new();
            let clients = exec.block_on(async {
                let mut clients = Vec::new();
                for _ in 0..scenario.conns {
                    let runtime = slow_tokio::Tokio(tokio::runtime::Handle::current());
                    let client = if tls {
                        slow_tokio::Client::connect_tls_on(runtime, addr, &client_tls, config())
                            .await
                    } else {
                        slow_tokio::Client::connect_on(runtime, addr, config()).await
                    };
                    clients.push(client.expect("connect"));
                }
                clients
            });
            Box::new(AsyncRig {
                clients,
                exec,
                scenario,
                _server: server,
            })
        }
        TlsRuntime::Smol => {
            let exec = SmolExec(Arc::new(smol::Executor::new()));
            let ex = exec.0.clone();
            let clients = exec.block_on(async {
                let mut clients = Vec::new();
                for _ in 0..scenario.conns {
                    let runtime = slow_smol::Smol::on(ex.clone());
                    let client = if tls {
                        slow_smol::Client::connect_tls_on(runtime, addr, &client_tls, config())
                            .await
                    } else {
                        slow_smol::Client::connect_on(runtime, addr, config()).await
                    };
                    clients.push(client.expect("connect"));
                }
                clients
            });
            Box::new(AsyncRig {
                clients,
                exec,
                scenario,
                _server: server,
            })
        }
    }
}

/// Connects (TCP, TLS if asked, SLOW's HELLO/WELCOME) and closes, `n`
/// times one after the other, against a server on `runtime`; the time it
/// took.
pub fn handshakes(runtime: TlsRuntime, tls: bool, n: u64) -> Duration {
    let (addr, _server) = server(runtime, tls);
    let client_tls = client_tls();
    let connect_close = |client: Result<_, slow_tokio::Error>| async move {
        let client: slow_tokio::Client = client.expect("connect");
        client.close().await.expect("close");
    };
    match runtime {
        TlsRuntime::Tokio => TokioExec::new().block_on(async {
            let start = Instant::now();
            for _ in 0..n {
                let client = if tls {
                    slow_tokio::Client::connect_tls(addr, &client_tls).await
                } else {
                    slow_tokio::Client::connect(addr).await
                };
                connect_close(client).await;
            }
            start.elapsed()
        }),
        TlsRuntime::Smol => {
            let exec = SmolExec(Arc::new(smol::Executor::new()));
            let ex = exec.0.clone();
            exec.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    let runtime = slow_smol::Smol::on(ex.clone());
                    let client = if tls {
                        slow_smol::Client::connect_tls_on(runtime, addr, &client_tls, config())
                            .await
                    } else {
                        slow_smol::Client::connect_on(runtime, addr, config()).await
                    };
                    let client = client.expect("connect");
                    client.close().await.expect("close");
                }
                start.elapsed()
            })
        }
    }
}
