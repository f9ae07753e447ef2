//! The conformance checks, in-process, against every runtime's INTEROP
//! server: each server must pass every check. The servers run with short
//! handshake and keepalive timeouts and a small connection limit so that
//! the checks needing those run too (none is skipped).

use std::time::Duration;

use slow_cli::conformance::{self, Hints, Outcome, Target};
use slow_cli::server::RunningServer;
use slow_cli::{RuntimeKind, ServeOptions};

fn check_runtime(kind: RuntimeKind) {
    check_runtime_on(kind, 2);
}

/// The checks against `kind`'s server on `threads` threads.
fn check_runtime_on(kind: RuntimeKind, threads: usize) {
    let options = ServeOptions {
        handshake_timeout_ms: 400,
        keepalive_interval_ms: 400,
        keepalive_timeout_ms: 300,
        max_connections: 8,
        ..ServeOptions::default()
    };
    let server =
        RunningServer::start(kind, "127.0.0.1:0", &options, Some(threads)).expect("server starts");
    let target = Target {
        addr: server.addr().clone(),
        tls: None,
        hints: Hints {
            handshake_timeout: Some(Duration::from_millis(options.handshake_timeout_ms)),
            keepalive: Some((
                Duration::from_millis(options.keepalive_interval_ms),
                Duration::from_millis(options.keepalive_timeout_ms),
            )),
            max_connections: Some(options.max_connections),
        },
    };
    let mut report = Vec::new();
    let summary =
        conformance::run(&target, &conformance::all(), &mut report).expect("report written");
    let report = String::from_utf8_lossy(&report);
    let skipped: Vec<_> = summary
        .verdicts
        .iter()
        .filter(|v| matches!(v.result, Ok(Outcome::Skip(_))))
        .map(|v| v.name)
        .collect();
    assert_eq!(
        summary.failed(),
        0,
        "{kind} server on {threads} thread(s):\n{report}"
    );
    assert!(skipped.is_empty(), "{kind} server skipped {skipped:?}");
    assert!(
        report
            .trim_end()
            .ends_with(&format!("{} passed, 0 failed", conformance::all().len()))
    );
    server.stop().expect("graceful stop");
}

#[test]
fn tokio_server_conforms() {
    check_runtime(RuntimeKind::Tokio);
}

#[test]
fn async_std_server_conforms() {
    check_runtime(RuntimeKind::AsyncStd);
}

#[test]
fn smol_server_conforms() {
    check_runtime(RuntimeKind::Smol);
}

#[test]
fn custom_server_conforms() {
    check_runtime(RuntimeKind::Custom);
}

/// Whether io_uring is there for compio; if not, says why the test skips.
fn compio_available() -> bool {
    match slow_compio::available() {
        Ok(()) => true,
        Err(why) => {
            eprintln!("skipped: compio needs io_uring: {why}");
            false
        }
    }
}

/// Two threads, each its own runtime and listener: the connection limit
/// is the whole server's (connection-limit passes), not one per thread.
#[test]
fn compio_server_on_two_threads_conforms() {
    if compio_available() {
        check_runtime_on(RuntimeKind::Compio, 2);
    }
}

#[test]
fn compio_server_on_one_thread_conforms() {
    if compio_available() {
        check_runtime_on(RuntimeKind::Compio, 1);
    }
}
