//! SLOW over Unix domain sockets with the fourth runtime,
//! `slow-custom-example`'s mio event loop, both ways:
//!
//! - its server (`Server::bind_unix`) against the tokio, smol, async-std
//!   and both thread-per-core clients (`local`, and `compio` where
//!   io_uring is available) (`Client::connect("unix:PATH")`) and its own
//!   completion-queue client;
//! - its client (`ClientLoop::connect_unix`, through
//!   [`LoopClient::connect_unix`]) against the tokio, smol, async-std and
//!   both thread-per-core servers (`Server::bind("unix:PATH")`).
//!
//! Every cell answers what `tests/unix.rs` checks on the async adapters:
//! echo, `!bytes`, `!notify`, `!error` and a graceful close. Then the
//! custom client runs the whole scenario list against every server, and
//! the socket file's rules hold across runtimes (a live socket of one is
//! refused to the other; a stale one is replaced).

use std::path::Path;
use std::time::Duration;

use interop_tests::custom::{self, LoopClient};
use interop_tests::servers::server_config;
use interop_tests::unix::{SocketDir, call_at, runtimes, serve_at};
use interop_tests::util::with_watchdog;
use slow_driver::{Addr, Config, Error, ErrorCode};
use slow_proto::RequestError;

const LIMIT: Duration = Duration::from_secs(60);
/// One cell's bound.
const CELL: Duration = Duration::from_secs(20);

/// The custom server on the Unix socket at `path`, on its own thread.
fn custom_server(path: &Path) -> slow_custom_example::ServerThread<slow_custom_example::Unix> {
    let server = slow_custom_example::Server::bind_unix(path, server_config()).expect("bind");
    assert_eq!(server.local_addr(), path);
    assert_eq!(
        server.listen_addr().to_string(),
        format!("unix:{}", path.display())
    );
    server.spawn().expect("server thread")
}

/// The same checks on the custom loop's client.
fn exercise_custom(path: &Path) -> Result<(), String> {
    let mut client = LoopClient::connect_unix(path, Config::default(), CELL)?;
    let got = client.request("hello over unix", None)?;
    let got = got.map_err(|e| format!("echo: {e:?}"))?;
    check(got == "hello over unix", format!("echo answered {got:?}"))?;

    let body = client
        .request("!bytes 100000", None)?
        .map_err(|e| format!("!bytes: {e:?}"))?;
    check(
        body.len() == 100_000,
        format!("!bytes: {} bytes", body.len()),
    )?;
    check(
        body.iter()
            .enumerate()
            .all(|(i, b)| usize::from(*b) == i % 251),
        "!bytes: not the pattern".into(),
    )?;

    let got = client
        .request("!notify ping", None)?
        .map_err(|e| format!("!notify: {e:?}"))?;
    check(got == "notified", format!("!notify answered {got:?}"))?;
    let note = client.notification(Duration::from_secs(5))?;
    check(note == "ping", format!("notification {note:?}"))?;

    match client.request("!error 300 no such thing", None)? {
        Err(RequestError::Server { code, message })
            if code == ErrorCode(300) && message == "no such thing" => {}
        other => return Err(format!("expected ERROR 300, got {other:?}")),
    }
    client.close(Duration::from_secs(5))?;
    match client.request("after close", None)? {
        Err(RequestError::NotProcessed) => Ok(()),
        other => Err(format!("a request after close: {other:?}")),
    }
}

fn check(ok: bool, otherwise: String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(otherwise) }
}

/// Runs one cell under a watchdog: a panic or a hang fails that cell, not
/// the whole matrix.
fn cell(name: String, f: impl FnOnce() -> Result<(), String> + Send + 'static) -> Option<String> {
    let result = with_watchdog(&name, CELL, f).and_then(|r| r);
    match result {
        Ok(()) => {
            println!("{name}: ok");
            None
        }
        Err(e) => Some(format!("{name}: {e}")),
    }
}

#[test]
fn every_client_with_the_custom_server_over_unix() {
    with_watchdog("unix-custom", LIMIT, || {
        let dir = SocketDir::new("server");
        let path = dir.path("custom.sock");
        let server = custom_server(&path);
        let mut failed = Vec::new();
        for client in runtimes("every client with the custom server") {
            let p = path.clone();
            failed.extend(cell(
                format!("{client} client → custom server"),
                move || call_at(client, &p).map_err(|e| e.to_string()),
            ));
        }
        let p = path.clone();
        failed.extend(cell("custom client → custom server".into(), move || {
            exercise_custom(&p)
        }));
        server.shutdown().expect("custom server shut down");
        assert!(!path.exists(), "the custom server's socket file is removed");
        assert!(failed.is_empty(), "cells failed: {failed:?}");
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_custom_client_with_every_server_over_unix() {
    with_watchdog("unix-custom", LIMIT, || {
        let dir = SocketDir::new("client");
        let mut failed = Vec::new();
        for server in runtimes("the custom client with every server") {
            let path = dir.path(&format!("{server}.sock"));
            let addr = serve_at(server, &path);
            assert_eq!(
                addr,
                Addr::Unix(Some(path.clone())),
                "{server}'s local_addr"
            );
            failed.extend(cell(
                format!("custom client → {server} server"),
                move || exercise_custom(&path),
            ));
        }
        assert!(failed.is_empty(), "cells failed: {failed:?}");
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

/// The whole INTEROP scenario list (the matrix's), custom client over a
/// Unix socket, against every server.
#[test]
fn the_custom_client_runs_every_scenario_over_unix() {
    with_watchdog("unix-custom", LIMIT * 2, || {
        let dir = SocketDir::new("scenarios");
        let custom_path = dir.path("custom.sock");
        let custom = custom_server(&custom_path);
        let mut targets = vec![("custom", custom_path.clone())];
        for server in runtimes("the custom client runs every scenario") {
            let path = dir.path(&format!("{server}.sock"));
            serve_at(server, &path);
            targets.push((server, path));
        }
        let mut failed = Vec::new();
        for (server, path) in &targets {
            for o in custom::run_all_unix(path, Config::default()) {
                match &o.result {
                    Ok(()) => println!("custom → {server}: {:<40} ok", o.name),
                    Err(e) => failed.push(format!("custom → {server}: {}: {e}", o.name)),
                }
            }
        }
        custom.shutdown().expect("custom server shut down");
        assert!(failed.is_empty(), "scenarios failed: {failed:?}");
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

/// The socket file's rules hold across runtimes: the custom server and
/// tokio's refuse each other's live socket (`AddrInUse`, with the path),
/// and the custom server replaces a stale one as the others do.
#[test]
fn socket_file_rules_hold_across_runtimes() {
    with_watchdog("unix-custom", LIMIT, || {
        let dir = SocketDir::new("files");
        let path = dir.path("shared.sock");
        let addr = format!("unix:{}", path.display());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");

        // A live custom server: tokio is refused, and the custom server
        // still serves.
        let server = custom_server(&path);
        match rt.block_on(slow_tokio::Server::bind(&addr)).err() {
            Some(Error::Unix { path: p, source }) => {
                assert_eq!(p, path);
                assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
            }
            other => panic!("expected Error::Unix AddrInUse, got {other:?}"),
        }
        call_at("tokio", &path).expect("the custom server still serves");
        server.shutdown().expect("shut down");
        assert!(!path.exists());

        // A live tokio server: the custom server is refused, and the file
        // stays tokio's (removed when tokio's server goes).
        let tokio_server = rt.block_on(slow_tokio::Server::bind(&addr)).expect("bind");
        let e = slow_custom_example::Server::bind_unix(&path, server_config())
            .err()
            .expect("a live socket");
        assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
        let unix = slow_custom_example::UnixSocketError::of(&e).expect("the path");
        assert_eq!(unix.path, path);
        assert!(e.to_string().contains(&addr), "{e}");
        assert!(path.exists());
        drop(tokio_server);
        assert!(!path.exists(), "tokio removes its own file");

        // What a killed server leaves: the custom server replaces it, and
        // serves a client of another runtime on it.
        drop(std::os::unix::net::UnixListener::bind(&path).expect("std bind"));
        assert!(path.exists());
        let server = custom_server(&path);
        call_at("smol", &path).expect("served on the replaced file");
        server.shutdown().expect("shut down");
        assert!(!path.exists());
    })
    .unwrap_or_else(|e| panic!("{e}"));
}
