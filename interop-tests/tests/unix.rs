//! SLOW over Unix domain sockets, on every async adapter, both ways in:
//!
//! - by address: `Server::bind("unix:PATH")` and `Client::connect("unix:PATH")`;
//! - bringing your own: every server serves a Unix listener of its runtime
//!   (`Server::from_listener`) and every client runs over a `UnixStream`
//!   it connected itself (`Client::from_stream`).
//!
//! Each is a 5 × 5 matrix (tokio, smol, async-std and the thread-per-core
//! runtimes `local` and `compio`; 4 × 4 without compio where io_uring is
//! unavailable, which the test then says), each cell answering the INTEROP
//! service's echo, `!bytes`, `!notify`, `!error` and graceful close; on
//! compio the own streams are `Completion<CompioStream<UnixStream>>` and
//! `CompioUnixListener` over compio's Unix sockets. Then the socket file's
//! life (removed after serving, stale replaced, live refused) and bad
//! paths, each a typed error naming the path.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use interop_tests::unix::{SocketDir, call_at, exercise, runtimes, serve_at};
use interop_tests::util::with_watchdog;
use slow_compio::{Compio, CompioStream, CompioUnixListener};
use slow_driver::runtime::Completion;
use slow_driver::{Addr, Client, Config, Error, Server};
use slow_interop::driver::InteropService;
use slow_local_example::PerCore;

const LIMIT: Duration = Duration::from_secs(60);

/// How a cell's server listens and its client connects.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Way {
    /// `bind("unix:PATH")` / `connect("unix:PATH")`.
    Address,
    /// `from_listener` / `from_stream` with the runtime's own Unix types.
    OwnStream,
}

/// Starts the INTEROP service of runtime `server` on a Unix socket at
/// `path`, in a thread of its own; returns once it listens, with the
/// address the server reports.
fn serve(server: &str, path: &Path, way: Way) -> Addr {
    if way == Way::Address {
        return serve_at(server, path);
    }
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
            "local" => {
                let rt = PerCore::new();
                rt.block_on(async {
                    let listener =
                        smol::Async::<std::os::unix::net::UnixListener>::bind(&path).expect("bind");
                    let listener = slow_smol::SmolUnixListener(listener);
                    let server = Server::<PerCore, _>::from_listener(listener, Config::default())
                        .expect("server");
                    ready.send(server.local_addr().expect("addr")).unwrap();
                    server
                        .serve(InteropService::new(rt.clone()))
                        .await
                        .expect("serve");
                })
            }
            "compio" => slow_compio::runtime()
                .expect("a compio runtime")
                .block_on(async {
                    let listener = compio::net::UnixListener::bind(&path).await.expect("bind");
                    let listener = CompioUnixListener::new(listener);
                    let server = Server::<Compio, _>::from_listener(listener, Config::default())
                        .expect("server");
                    ready.send(server.local_addr().expect("addr")).unwrap();
                    server
                        .serve(InteropService::new(Compio::new()))
                        .await
                        .expect("serve");
                }),
            other => panic!("no runtime {other}"),
        })
        .expect("server thread");
    listening.recv_timeout(LIMIT).expect("server listening")
}

/// Runs `exercise` with a client of runtime `client` over a Unix stream
/// it connects to `path` itself.
fn call(client: &str, path: &Path, way: Way) -> Result<(), Error> {
    if way == Way::Address {
        return call_at(client, path);
    }
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
        "local" => PerCore::new().block_on(async {
            let stream = smol::Async::<std::os::unix::net::UnixStream>::connect(path).await?;
            let stream = slow_smol::SmolStream::from(stream);
            exercise(Client::<PerCore>::from_stream(stream, Config::default()).await?).await
        }),
        "compio" => slow_compio::runtime()
            .expect("a compio runtime")
            .block_on(async {
                let stream = compio::net::UnixStream::connect(path).await?;
                let stream: Completion<CompioStream<compio::net::UnixStream>> =
                    Completion::new(CompioStream(stream));
                exercise(Client::<Compio>::from_stream(stream, Config::default()).await?).await
            }),
        other => panic!("no runtime {other}"),
    }
}

fn matrix(way: Way) {
    with_watchdog("unix", LIMIT, move || {
        let dir = SocketDir::new(&format!("{way:?}"));
        let runtimes = runtimes(&format!("unix matrix, {way:?}"));
        let mut failed = Vec::new();
        for &server in &runtimes {
            let path = dir.path(&format!("{server}.sock"));
            let addr = serve(server, &path, way);
            assert_eq!(
                addr,
                Addr::Unix(Some(path.clone())),
                "{server}'s local_addr"
            );
            assert_eq!(addr.to_string(), format!("unix:{}", path.display()));
            for &client in &runtimes {
                match call(client, &path, way) {
                    Ok(()) => println!("{client} client → {server} server, {way:?}: ok"),
                    Err(e) => failed.push(format!("{client} → {server}: {e}")),
                }
            }
        }
        assert!(failed.is_empty(), "cells failed: {failed:?}");
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn every_client_with_every_server_over_unix_addresses() {
    matrix(Way::Address);
}

#[test]
fn every_client_with_every_server_over_their_own_unix_streams() {
    matrix(Way::OwnStream);
}

fn tokio_block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

fn unix_error(e: Error) -> (PathBuf, std::io::ErrorKind) {
    match e {
        Error::Unix { path, source } => (path, source.kind()),
        other => panic!("expected Error::Unix, got {other:?}"),
    }
}

/// The socket file is there while serving and gone after; a second server
/// on a live socket is refused with the path; a dead server's file is
/// replaced.
#[test]
fn socket_files_are_removed_replaced_when_stale_and_kept_when_live() {
    let dir = SocketDir::new("files");
    let path = dir.path("life.sock");
    let addr = format!("unix:{}", path.display());
    tokio_block_on(async {
        let server = slow_tokio::Server::bind(&addr).await.expect("bind");
        assert!(path.exists(), "the socket file exists while bound");

        let second = slow_tokio::Server::bind(&addr)
            .await
            .err()
            .expect("a live socket");
        assert_eq!(
            unix_error(second),
            (path.clone(), std::io::ErrorKind::AddrInUse)
        );

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve_with_shutdown(
            |req: slow_tokio::Request| async move { Ok(req.body) },
            async move {
                let _ = stopped.await;
            },
        ));
        let client = slow_tokio::Client::connect(&addr).await.expect("connect");
        assert_eq!(client.request("x").await.expect("answer"), "x");
        client.close().await.expect("close");
        stop.send(()).unwrap();
        serving.await.unwrap().expect("served");
        assert!(
            !path.exists(),
            "the socket file is removed when serving ends"
        );
    });

    // A dead server's file: bound by a listener that is gone without
    // removing it.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("std bind"));
    assert!(path.exists());
    tokio_block_on(async {
        let server = slow_tokio::Server::bind(&addr)
            .await
            .expect("stale file replaced");
        drop(server);
        assert!(
            !path.exists(),
            "dropping an unserved server removes its file"
        );
    });

    // A file that is not a socket is neither replaced nor removed.
    std::fs::write(&path, "data").unwrap();
    let err = tokio_block_on(slow_tokio::Server::bind(&addr))
        .err()
        .expect("not a socket");
    assert_eq!(
        unix_error(err),
        (path.clone(), std::io::ErrorKind::AlreadyExists)
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
}

/// Bad paths are typed errors naming the path; nothing panics.
#[test]
fn bad_unix_paths_are_errors_with_the_path() {
    let dir = SocketDir::new("bad");
    let missing = dir.path("no/such/dir/s.sock");
    let long = dir.path(&"x".repeat(200));
    tokio_block_on(async {
        for path in [&missing, &long] {
            let addr = format!("unix:{}", path.display());
            let bind = slow_tokio::Server::bind(&addr)
                .await
                .err()
                .expect("bind fails");
            let (p, kind) = unix_error(bind);
            assert_eq!(&p, path);
            let connect = slow_tokio::Client::connect(&addr)
                .await
                .expect_err("connect fails");
            let message = connect.to_string();
            let (p, _) = unix_error(connect);
            assert_eq!(&p, path);
            assert!(message.contains(&path.display().to_string()), "{message}");
            println!("{addr}: {kind:?}");
        }
        // Not allowed there (sysfs refuses new files, even to root).
        let denied = PathBuf::from("/sys/slow-unix-test.sock");
        let bind = slow_tokio::Server::bind(format!("unix:{}", denied.display()))
            .await
            .err()
            .expect("bind fails");
        assert_eq!(
            unix_error(bind),
            (denied, std::io::ErrorKind::PermissionDenied)
        );
        // Nothing listens on an existing directory's free name.
        let free = dir.path("free.sock");
        let err = slow_tokio::Client::connect(format!("unix:{}", free.display()))
            .await
            .expect_err("nobody listens");
        assert_eq!(unix_error(err), (free, std::io::ErrorKind::NotFound));
    });
}

/// A peer that closes its Unix socket in the middle of a frame costs only
/// its own connection: every runtime's server goes on serving the next
/// client.
#[test]
fn a_peer_closing_mid_frame_does_not_stop_the_server() {
    use std::io::Write;
    with_watchdog("unix", LIMIT, move || {
        let dir = SocketDir::new("midframe");
        for server in runtimes("a peer closing mid-frame") {
            let path = dir.path(&format!("{server}.sock"));
            serve(server, &path, Way::Address);
            for _ in 0..3 {
                // The first bytes of a frame header, then gone.
                let mut raw = std::os::unix::net::UnixStream::connect(&path).expect("connect");
                raw.write_all(&[0x00, 0x00, 0x01]).expect("write");
                drop(raw);
            }
            call(server, &path, Way::Address)
                .unwrap_or_else(|e| panic!("{server} after peers left mid-frame: {e}"));
        }
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
