//! `slow` over Unix domain sockets, as a user runs it: `serve --addr
//! unix:PATH` on every runtime (the custom event loop included), `call`
//! with a client of the same runtime, `bench` and `conformance` reaching
//! it, a second server on the live socket refused, the file removed at exit
//! and a stale one replaced.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SLOW: &str = env!("CARGO_BIN_EXE_slow");

fn slow(args: &[&str]) -> Output {
    Command::new(SLOW)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("slow runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A directory of this test's own, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("slow-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `slow serve --addr unix:PATH`, checking the line it announces.
fn serve(runtime: &str, path: &Path) -> Child {
    let addr = format!("unix:{}", path.display());
    let mut child = Command::new(SLOW)
        .args(["serve", "--runtime", runtime, "--addr", &addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("slow serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    assert_eq!(line.trim(), format!("listening on {addr}"));
    child
}

/// SIGTERM, then the exit code and stderr.
fn terminate(mut child: Child) -> (Option<i32>, String) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            return (status.code(), err);
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_call_bench_conformance_over_a_unix_socket_on_every_runtime() {
    let dir = Dir::new("every");
    let mut runtimes = vec!["tokio", "smol", "async-std", "custom"];
    match slow_compio::available() {
        Ok(()) => runtimes.push("compio"),
        Err(why) => eprintln!("compio skipped: {why}"),
    }
    for runtime in runtimes {
        let path = dir.0.join(format!("{runtime}.sock"));
        let addr = format!("unix:{}", path.display());
        let server = serve(runtime, &path);
        assert!(path.exists(), "{runtime}: the socket file is there");

        let out = slow(&["call", &addr, "hello over unix", "--runtime", runtime]);
        assert!(out.status.success(), "{runtime}: {}", text(&out.stderr));
        assert_eq!(out.stdout, b"hello over unix");

        // A second server on the live socket says so, and leaves it alone.
        let out = slow(&["serve", "--runtime", runtime, "--addr", &addr]);
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains("already listening") && err.contains(&addr),
            "{err}"
        );

        // The load from a client of the same runtime (custom: its
        // completion-queue loop).
        let out = slow(&[
            "bench",
            &addr,
            "--duration",
            "1",
            "--json",
            "--runtime",
            runtime,
        ]);
        assert!(out.status.success(), "{runtime}: {}", text(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(json["errors"], 0, "{json}");
        assert!(json["requests"].as_u64().unwrap_or(0) > 0, "{json}");

        let out = slow(&[
            "conformance",
            &addr,
            "--only",
            "handshake,framing,service,close",
        ]);
        let report = text(&out.stdout);
        assert!(out.status.success(), "{runtime}: {report}");
        assert!(
            report
                .lines()
                .last()
                .is_some_and(|l| l.contains(" passed, 0 failed")),
            "{report}"
        );

        let (code, stderr) = terminate(server);
        assert_eq!(code, Some(0), "{runtime}: {stderr}");
        assert!(
            !path.exists(),
            "{runtime}: the socket file is removed at exit"
        );
        // What it served, every runtime alike: the call's, the bench's
        // and the conformance checks' connections.
        let served = stderr
            .lines()
            .find_map(|l| l.strip_prefix("slow: served "))
            .unwrap_or_else(|| panic!("{runtime}: no totals in {stderr}"));
        let requests: u64 = served
            .split(": ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{runtime}: {served}"));
        let measured = json["requests"].as_u64().unwrap_or(0);
        assert!(requests > measured, "{runtime}: {served}");
    }
}

#[test]
fn a_stale_socket_file_is_replaced_and_bad_paths_are_named() {
    let dir = Dir::new("stale");
    let path = dir.0.join("stale.sock");
    // What a server killed with SIGKILL leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(path.exists());
    let server = serve("tokio", &path);
    let addr = format!("unix:{}", path.display());
    let out = slow(&["call", &addr, "fresh"]);
    assert_eq!(out.stdout, b"fresh", "{}", text(&out.stderr));
    let (code, _) = terminate(server);
    assert_eq!(code, Some(0));

    let missing = format!("unix:{}/no/such/dir/x.sock", dir.0.display());
    let out = slow(&["call", &missing, "hi"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&missing) && err.contains("No such file"),
        "{err}"
    );
    assert_eq!(
        err.matches(&missing).count(),
        1,
        "the path said once: {err}"
    );

    let out = slow(&["serve", "--addr", &missing]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&missing),
        "{}",
        text(&out.stderr)
    );

    // The custom runtime the same way: a stale file replaced, served and
    // called over it, removed at exit; a bad path named once, both ways.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(path.exists());
    let server = serve("custom", &path);
    let out = slow(&["call", &addr, "fresh custom", "--runtime", "custom"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"fresh custom");
    let out = slow(&["call", &addr, "!notify ping", "--runtime", "custom"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"notified");
    assert!(text(&out.stderr).contains("ping"), "{}", text(&out.stderr));
    let (code, stderr) = terminate(server);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!path.exists(), "custom: the socket file is removed at exit");

    let out = slow(&["call", &missing, "hi", "--runtime", "custom"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&missing) && err.contains("No such file"),
        "{err}"
    );
    assert_eq!(
        err.matches(&missing).count(),
        1,
        "the path said once: {err}"
    );
    let out = slow(&["serve", "--runtime", "custom", "--addr", &missing]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&missing) && err.contains("No such file"),
        "{err}"
    );
    assert_eq!(
        err.matches(&missing).count(),
        1,
        "the path said once: {err}"
    );
}

/// compio serves a Unix socket on one thread: `--threads 2` says why not
/// (exit 2) and leaves no socket file; without it, it serves, a compio
/// client calls, a stale file is replaced and the file goes at exit.
#[test]
fn compio_serves_a_unix_socket_on_one_thread() {
    let dir = Dir::new("compio");
    let path = dir.0.join("compio.sock");
    let addr = format!("unix:{}", path.display());
    let out = slow(&[
        "serve",
        "--runtime",
        "compio",
        "--addr",
        &addr,
        "--threads",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("SO_REUSEPORT") && err.contains("one thread") && err.contains(&addr),
        "{err}"
    );
    assert!(!path.exists());
    if let Err(why) = slow_compio::available() {
        eprintln!("the rest skipped: compio needs io_uring: {why}");
        return;
    }
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    let server = serve("compio", &path);
    for runtime in ["compio", "tokio", "custom"] {
        let out = slow(&["call", &addr, "over unix", "--runtime", runtime]);
        assert!(out.status.success(), "{runtime}: {}", text(&out.stderr));
        assert_eq!(out.stdout, b"over unix", "{runtime}");
    }
    let (code, stderr) = terminate(server);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("slow: served 3 connections: 3 requests"),
        "{stderr}"
    );
    assert!(!path.exists(), "compio: the socket file is removed at exit");
}
