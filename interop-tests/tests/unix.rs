//! SLOW over Unix domain sockets, through the bring-your-own-stream API:
//! every async adapter's server serves a Unix listener
//! (`Server::from_listener`) and every adapter's client runs over a
//! `UnixStream` it connected itself (`Client::from_stream`): 3 × 3 cells,
//! each answering the INTEROP service's echo, `!bytes`, `!notify`,
//! `!error` and graceful close.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use interop_tests::util::with_watchdog;
use slow_driver::runtime::Runtime;
use slow_driver::{Addr, Client, Config, Error, ErrorCode};
use slow_interop::driver::InteropService;

const LIMIT: Duration = Duration::from_secs(60);

/// A directory of this test's own for socket files, removed when dropped.
struct SocketDir(PathBuf);

impl SocketDir {
    fn new(name: &str) -> SocketDir {
        let dir = std::env::temp_dir().join(format!("slow-unix-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("socket dir");
        SocketDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts the INTEROP service of runtime `server` on a Unix listener at
/// `path`, in a thread of its own; returns once it listens, with the
/// address the server reports.
fn serve(server: &str, path: &Path) -> Addr {
    let (ready, listening) = mpsc::channel();
    let path = path.to_owned();
    let name = server.to_owned();
    thread::Builder::new()
        .name(format!("unix-{name}-server"))
        .spawn(move || match name.as_str() {
            "tokio" => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async {
                    let listener = tokio::net::UnixListener::bind(&path).expect("bind");
                    let listener = slow_tokio::TokioUnixListener(listener);
                    let server = slow_tokio::Server::from_listener(listener, Config::default())
                        .expect("server");
                    ready.send(server.local_addr().expect("addr")).unwrap();
                    let service =
                        InteropService::<slow_tokio::Tokio>::current().expect("tokio handle");
                    server.serve(service).await.expect("serve");
                })
            }
            "smol" => smol::block_on(async {
                let listener =
                    smol::Async::<std::os::unix::net::UnixListener>::bind(&path).expect("bind");
                let listener = slow_smol::SmolUnixListener(listener);
                let server =
                    slow_smol::Server::from_listener(listener, Config::default()).expect("server");
                ready.send(server.local_addr().expect("addr")).unwrap();
                let service = InteropService::new(slow_smol::Smol::global());
                server.serve(service).await.expect("serve");
            }),
            "async-std" => async_std::task::block_on(async {
                let listener = async_std::os::unix::net::UnixListener::bind(&path)
                    .await
                    .expect("bind");
                let listener = slow_async_std::AsyncStdUnixListener::from(listener);
                let server = slow_async_std::Server::from_listener(listener, Config::default())
                    .expect("server");
                ready.send(server.local_addr().expect("addr")).unwrap();
                let service = InteropService::new(slow_async_std::AsyncStd);
                server.serve(service).await.expect("serve");
            }),
            other => panic!("no runtime {other}"),
        })
        .expect("server thread");
    listening.recv_timeout(LIMIT).expect("server listening")
}

/// What every cell checks, on a client of any runtime.
async fn exercise<R: Runtime>(client: Client<R>) -> Result<(), Error> {
    assert_eq!(client.request("hello over unix").await?, "hello over unix");

    let body = client.request("!bytes 100000").await?;
    assert_eq!(body.len(), 100_000);
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, b)| usize::from(*b) == i % 251)
    );

    let mut notes = client.notifications();
    assert_eq!(client.request("!notify ping").await?, "notified");
    assert_eq!(notes.recv().await.as_deref(), Some(&b"ping"[..]));

    match client.request("!error 300 no such thing").await {
        Err(Error::Server { code, message }) => {
            assert_eq!(code, ErrorCode(300));
            assert_eq!(message, "no such thing");
        }
        other => panic!("expected ERROR 300, got {other:?}"),
    }
    client.close().await?;
    assert!(client.is_closed());
    Ok(())
}

/// Runs `exercise` with a client of runtime `client` over a Unix stream
/// it connects to `path` itself.
fn call(client: &str, path: &Path) -> Result<(), Error> {
    match client {
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async {
                let stream = tokio::net::UnixStream::connect(path).await?;
                let stream = slow_tokio::TokioStream(stream);
                let client = slow_tokio::Client::from_stream(stream, Config::default()).await?;
                exercise(client.into_inner()).await
            })
        }
        "smol" => smol::block_on(async {
            let stream = smol::Async::<std::os::unix::net::UnixStream>::connect(path).await?;
            let stream = slow_smol::SmolStream::from(stream);
            let client = slow_smol::Client::from_stream(stream, Config::default()).await?;
            exercise(client.into_inner()).await
        }),
        "async-std" => async_std::task::block_on(async {
            let stream = async_std::os::unix::net::UnixStream::connect(path).await?;
            let stream = slow_async_std::AsyncStdStream::from(stream);
            let client = slow_async_std::Client::from_stream(stream, Config::default()).await?;
            exercise(client.into_inner()).await
        }),
        other => panic!("no runtime {other}"),
    }
}

const RUNTIMES: [&str; 3] = ["tokio", "smol", "async-std"];

#[test]
fn every_client_with_every_server_over_unix_sockets() {
    with_watchdog("unix", LIMIT, move || {
        let dir = SocketDir::new("matrix");
        let mut failed = Vec::new();
        for server in RUNTIMES {
            let path = dir.path(&format!("{server}.sock"));
            let addr = serve(server, &path);
            assert_eq!(
                addr,
                Addr::Unix(Some(path.clone())),
                "{server}'s local_addr"
            );
            assert_eq!(addr.to_string(), format!("unix:{}", path.display()));
            for client in RUNTIMES {
                match call(client, &path) {
                    Ok(()) => println!("{client} client → {server} server over unix: ok"),
                    Err(e) => failed.push(format!("{client} → {server}: {e}")),
                }
            }
        }
        assert!(failed.is_empty(), "cells failed: {failed:?}");
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

/// A handler sees a Unix client as `Addr::Unix`: connecting clients have
/// no path of their own, so it is unnamed.
#[test]
fn a_handler_sees_a_unix_peer() {
    with_watchdog("unix", LIMIT, move || {
        let dir = SocketDir::new("peer");
        let path = dir.path("peer.sock");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(async {
            let listener = tokio::net::UnixListener::bind(&path).expect("bind");
            let listener = slow_tokio::TokioUnixListener(listener);
            let server =
                slow_tokio::Server::from_listener(listener, Config::default()).expect("server");
            tokio::spawn(server.serve(|req: slow_tokio::Request| async move {
                Ok(req.peer.addr().to_string().into())
            }));
            let stream = tokio::net::UnixStream::connect(&path)
                .await
                .expect("connect");
            let client =
                slow_tokio::Client::from_stream(slow_tokio::TokioStream(stream), Config::default())
                    .await
                    .expect("handshake");
            assert_eq!(
                client.request("who").await.expect("answer"),
                "unix:(unnamed)"
            );
            client.close().await.expect("close");
        });
    })
    .unwrap_or_else(|e| panic!("{e}"));
}
