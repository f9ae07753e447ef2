//! The built `slow` binary, driven as a user would: serve in the
//! background, call, bench, conformance, SIGTERM; and the error paths.

use std::io::{BufRead, BufReader, Read};
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

/// `slow serve` in the background, with the address it announced.
struct Serve {
    child: Child,
    addr: String,
}

impl Serve {
    fn start(runtime: &str) -> Serve {
        Serve::start_with(runtime, &[])
    }

    /// `slow serve` with `extra` flags.
    fn start_with(runtime: &str, extra: &[&str]) -> Serve {
        Serve::start_logging(runtime, extra, None)
    }

    /// `slow serve` with `extra` flags and `RUST_LOG` set to `log` (or
    /// unset).
    fn start_logging(runtime: &str, extra: &[&str], log: Option<&str>) -> Serve {
        let mut command = Command::new(SLOW);
        match log {
            Some(log) => command.env("RUST_LOG", log),
            None => command.env_remove("RUST_LOG"),
        };
        let mut child = command
            .args([
                "serve",
                "--runtime",
                runtime,
                "--addr",
                "127.0.0.1:0",
                "--drain-timeout-ms",
                "2000",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("slow serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .to_owned();
        Serve { child, addr }
    }

    /// SIGTERM, then the exit status within `limit`.
    fn terminate(mut self, limit: Duration) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let mut err = String::new();
                let _ = self
                    .child
                    .stderr
                    .take()
                    .map(|mut e| e.read_to_string(&mut err));
                return (status.code(), err);
            }
            assert!(
                Instant::now() < deadline,
                "serve did not exit within {limit:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether io_uring is there for compio; if not, says why its part of a
/// test is skipped.
fn compio(test: &str) -> bool {
    match slow_compio::available() {
        Ok(()) => true,
        Err(why) => {
            eprintln!("{test}: compio skipped: {why}");
            false
        }
    }
}

/// The runtimes a test runs on: these, and compio where io_uring is.
fn with_compio<'a>(test: &str, runtimes: &[&'a str]) -> Vec<&'a str> {
    let mut all = runtimes.to_vec();
    if compio(test) {
        all.push("compio");
    }
    all
}

#[test]
fn serve_call_bench_conformance_then_sigterm() {
    let server = Serve::start("smol");
    let addr = server.addr.clone();

    let out = slow(&["call", &addr, "hello there", "--runtime", "async-std"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"hello there");

    let out = slow(&["call", &addr, "!error 300 it broke"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("0x012C") && err.contains("it broke"), "{err}");
    // Said once, not "server error application error".
    assert_eq!(err.matches("error").count(), 1, "{err}");

    let out = slow(&[
        "call",
        &addr,
        "!sleep 2000",
        "--timeout-ms",
        "50",
        "--runtime",
        "custom",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("timed out"),
        "{}",
        text(&out.stderr)
    );

    let out = slow(&[
        "bench",
        &addr,
        "--duration",
        "1",
        "--json",
        "--connections",
        "2",
        "--concurrency",
        "8",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for key in [
        "runtime",
        "connections",
        "concurrency",
        "payload",
        "requests",
        "errors",
        "duration_s",
        "requests_per_sec",
        "mb_per_sec",
        "p50_us",
        "p90_us",
        "p99_us",
        "p999_us",
        "max_us",
    ] {
        assert!(json.get(key).is_some(), "no {key} in {json}");
    }
    assert_eq!(json["runtime"], "tokio");
    assert_eq!(json["connections"], 2);
    assert_eq!(json["errors"], 0, "{json}");
    assert!(json["requests"].as_u64().unwrap_or(0) > 0, "{json}");
    assert!(json["p50_us"].as_u64() <= json["p99_us"].as_u64());
    // The client connections' own counters, added up: every measured
    // request is one the core sent and got an answer to.
    let stats = &json["stats"];
    for key in [
        "frames_sent",
        "frames_received",
        "bytes_sent",
        "bytes_received",
        "requests",
        "responses",
        "failed",
        "cancelled",
        "expired",
        "interrupted",
        "pings_sent",
        "pongs_received",
        "errors_received",
        "goaways_received",
    ] {
        assert!(stats.get(key).is_some(), "no stats.{key} in {json}");
    }
    let measured = json["requests"].as_u64().unwrap_or(0);
    assert!(stats["requests"].as_u64() >= Some(measured), "{json}");
    assert!(stats["responses"].as_u64() >= Some(measured), "{json}");
    assert_eq!(stats["failed"], 0, "{json}");
    assert!(
        stats["frames_sent"].as_u64() > stats["requests"].as_u64(),
        "{json}"
    );
    assert!(stats["bytes_received"].as_u64() > Some(0), "{json}");

    let out = slow(&[
        "conformance",
        &addr,
        "--only",
        "handshake,framing,service,close-command",
    ]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(
        report
            .lines()
            .last()
            .is_some_and(|l| l.contains(" passed, 0 failed")),
        "{report}"
    );
    assert!(report.lines().any(|l| l == "PASS service-ping"), "{report}");

    let (code, stderr) = server.terminate(Duration::from_secs(10));
    assert_eq!(code, Some(0), "stderr: {stderr}");
    // On its way out, what it served: at least the bench's requests, on at
    // least the calls' and the bench's connections.
    let served = stderr
        .lines()
        .find_map(|l| l.strip_prefix("slow: served "))
        .unwrap_or_else(|| panic!("no totals in: {stderr}"));
    let number = |after: &str| -> u64 {
        served
            .split(after)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no number after {after:?} in {served:?}"))
    };
    let connections: u64 = served
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{served:?}"));
    assert!(connections >= 5, "{served}");
    assert!(number("connections: ") >= measured, "{served}");
    assert!(
        served.contains(" bytes in, ") && served.ends_with(" bytes out"),
        "{served}"
    );
}

#[test]
fn bench_without_an_address_serves_itself() {
    let out = slow(&[
        "bench",
        "--runtime",
        "tokio",
        "--threads",
        "1",
        "--requests",
        "2000",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["requests"], 2000);
    assert_eq!(json["threads"], 1);
    // A fixed number of requests: exactly those, each answered once.
    assert_eq!(json["stats"]["requests"], 2000, "{json}");
    assert_eq!(json["stats"]["responses"], 2000, "{json}");
    // stderr is not a terminal here: no progress bar.
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn bad_command_lines_exit_2() {
    for args in [
        &["frobnicate"][..],
        &["serve", "--runtime", "nope"],
        &["serve", "--max-frame-size", "5"],
        &["call", "127.0.0.1:1"],
        &["bench", "--duration", "0"],
        &["bench", "--duration", "1", "--requests", "5"],
        &["conformance"],
        &["conformance", "127.0.0.1:1", "--only", "no-such-check"],
        // SO_REUSEPORT has no meaning for a Unix socket (said before
        // io_uring is needed).
        &[
            "serve",
            "--runtime",
            "compio",
            "--addr",
            "unix:never.sock",
            "--threads",
            "2",
        ],
    ] {
        let out = slow(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
}

#[test]
fn a_closed_port_is_one_line_of_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let addr = format!("127.0.0.1:{port}");
    for runtime in with_compio("closed port", &["tokio", "async-std", "smol", "custom"]) {
        let out = slow(&["call", &addr, "hi", "--runtime", runtime]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{runtime}: {err}");
        assert_eq!(err.lines().count(), 1, "{runtime}: {err}");
        assert!(
            err.contains("cannot connect") && !err.contains("panicked"),
            "{runtime}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = slow(&["conformance", &addr]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).lines().count(),
        1,
        "{}",
        text(&out.stderr)
    );
}

/// `slow conformance --list | head`: a reader that stops early is not an
/// error (no panic, exit 0).
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader); // every write now fails with EPIPE
    let out = Command::new(SLOW)
        .args(["conformance", "--list"])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("slow runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
}

/// A listener that is not a SLOW server: each accepted socket gets `reply`
/// (nothing, for a silent one) and is held open until the test ends.
fn stranger(reply: &'static [u8]) -> String {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(reply);
            held.push(stream);
        }
    });
    addr
}

/// An HTTP server's reply and a silent peer each get an error that says
/// what happened, on every runtime.
#[test]
fn a_peer_that_is_not_slow_is_named() {
    let http = stranger(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    let silent = stranger(b"");
    for runtime in with_compio("not slow", &["tokio", "async-std", "smol", "custom"]) {
        let out = slow(&["call", &http, "hi", "--runtime", runtime]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{runtime}: {err}");
        assert!(
            err.contains("does not speak SLOW/1") && err.contains("`HTTP/1.1 400 Bad`"),
            "{runtime}: {err}"
        );
        let out = slow(&[
            "call",
            &silent,
            "hi",
            "--runtime",
            runtime,
            "--connect-timeout-ms",
            "300",
        ]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{runtime}: {err}");
        assert!(
            err.contains("connected, but no WELCOME within 300 ms"),
            "{runtime}: {err}"
        );
    }
}

/// An address without a port is a usage error that shows the form.
#[test]
fn an_address_without_a_port_says_host_port() {
    for args in [
        &["call", "localhost", "hello"][..],
        &["conformance", "localhost"][..],
        &["bench", "localhost", "--requests", "1"][..],
    ] {
        let out = slow(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("is not HOST:PORT"), "{args:?}: {err}");
    }
}

/// A body on stdin larger than the server's MAX_MESSAGE_SIZE is refused
/// after reading just past the limit, not after reading all of it.
#[test]
fn a_body_too_large_on_stdin_is_not_read_whole() {
    use std::io::Write;
    let serve = Serve::start_with("tokio", &["--max-message-size", "65536"]);
    for runtime in ["tokio", "custom"] {
        let mut child = Command::new(SLOW)
            .args(["call", &serve.addr, "-", "--runtime", runtime])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("slow call starts");
        let mut stdin = child.stdin.take().expect("stdin");
        // 256 MiB on offer; the call must stop long before.
        let writer = std::thread::spawn(move || {
            let chunk = vec![b'x'; 1 << 20];
            let mut written = 0usize;
            for _ in 0..256 {
                match stdin.write_all(&chunk) {
                    Ok(()) => written += chunk.len(),
                    Err(_) => break,
                }
            }
            written
        });
        let out = child.wait_with_output().expect("slow call ends");
        let written = writer.join().expect("writer");
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{runtime}: {err}");
        assert!(
            err.contains("larger than the server's limit of 65536 bytes"),
            "{runtime}: {err}"
        );
        assert!(
            written < 16 << 20,
            "{runtime}: {written} bytes taken from stdin"
        );
    }
    let (status, _) = serve.terminate(Duration::from_secs(10));
    assert_eq!(status, Some(0));
}

/// A child process killed when dropped: a failed assertion must not leave
/// a minute-long bench running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `slow bench` (serving itself) in the background until SIGINT.
fn bench_in_background(runtime: &str, extra: &[&str]) -> Reaped {
    let child = Command::new(SLOW)
        .args([
            "bench",
            "--runtime",
            runtime,
            "--threads",
            "1",
            "--duration",
            "60",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("slow bench starts");
    Reaped(child)
}

/// The requests of a text report's `requests     N ok, ...` line.
fn requests_in(report: &str) -> Option<u64> {
    report
        .lines()
        .find_map(|l| l.strip_prefix("requests")?.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The counts of a text report's histogram lines (`≤ 500 µs   1234 |■■`).
fn histogram_counts(report: &str) -> Vec<u64> {
    report
        .lines()
        .skip_while(|l| !l.starts_with("histogram"))
        .take_while(|l| l.starts_with("histogram") || l.starts_with("             ≤"))
        .filter_map(|l| {
            l.split(" |")
                .next()?
                .split_whitespace()
                .last()?
                .parse()
                .ok()
        })
        .collect()
}

/// Ctrl-C stops the load on every runtime: the report of what was measured
/// so far, marked interrupted, then exit 130.
#[test]
fn sigint_during_bench_reports_what_was_measured() {
    // Ctrl-C (SIGINT) or a supervisor's SIGTERM: the same report, exit
    // 128 + the signal.
    let mut runs = vec![
        ("tokio", false, "INT", 130),
        ("smol", true, "TERM", 143),
        ("async-std", false, "TERM", 143),
        ("custom", true, "INT", 130),
    ];
    if compio("bench signals") {
        runs.push(("compio", true, "TERM", 143));
    }
    let mut children: Vec<_> = runs
        .iter()
        .map(|&(runtime, json, signal, code)| {
            let extra: &[&str] = if json { &["--json"] } else { &[] };
            let child = bench_in_background(runtime, extra);
            (runtime, json, signal, code, child)
        })
        .collect();
    // Long enough to connect and measure, even on a busy machine.
    std::thread::sleep(Duration::from_millis(2500));
    for (_, _, signal, _, Reaped(child)) in &children {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }
    let limit = Duration::from_secs(10);
    let deadline = Instant::now() + limit;
    for (runtime, json, signal, code, Reaped(child)) in &mut children {
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{runtime}: bench did not exit within {limit:?} of SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let (mut out, mut err) = (String::new(), String::new());
        let _ = child.stdout.take().map(|mut o| o.read_to_string(&mut out));
        let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
        assert_eq!(status.code(), Some(*code), "{runtime}: {out}{err}");
        if *json {
            let report: serde_json::Value =
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("{runtime}: {e}: {out}"));
            assert_eq!(report["interrupted"], true, "{runtime}: {report}");
            assert!(report["requests"].as_u64() > Some(0), "{runtime}: {report}");
        } else {
            assert!(
                out.lines().any(|l| l.starts_with("interrupted after ")),
                "{runtime}: {out}"
            );
            assert!(requests_in(&out) > Some(0), "{runtime}: {out}");
        }
    }
}

/// A short run's histogram, in text and JSON: its buckets hold every
/// measured request.
#[test]
fn bench_reports_a_latency_histogram() {
    let args = [
        "bench",
        "--runtime",
        "smol",
        "--threads",
        "1",
        "--connections",
        "2",
        "--concurrency",
        "4",
        "--payload",
        "100",
        "--requests",
        "3000",
    ];
    let out = slow(&args);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    let first = report.lines().next().unwrap_or_default();
    for what in [
        "2 connection(s) × 4 in flight",
        "100-byte payload",
        "smol (1 thread(s))",
        "server in-process 127.0.0.1:",
    ] {
        assert!(
            first.contains(what),
            "no {what:?} in the first line: {report}"
        );
    }
    assert!(!report.contains("interrupted"), "{report}");
    let counts = histogram_counts(&report);
    assert!(!counts.is_empty(), "no histogram: {report}");
    assert_eq!(counts.iter().sum::<u64>(), 3000, "{report}");
    assert_eq!(requests_in(&report), Some(3000), "{report}");

    let out = slow(&[&args[..], &["--json"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["interrupted"], false, "{json}");
    let buckets = json["histogram"].as_array().expect("a histogram array");
    let mut previous = 0;
    let mut sum = 0;
    for b in buckets {
        let le = b["le_us"].as_u64().expect("le_us");
        assert!(le > previous, "bounds rise: {json}");
        previous = le;
        sum += b["count"].as_u64().expect("count");
    }
    assert_eq!(sum, json["requests"].as_u64().expect("requests"), "{json}");
    assert_eq!(sum, 3000, "{json}");
}

/// `RUST_LOG=debug slow serve` shows each connection with its peer and
/// each request's id on stderr; without `RUST_LOG`, only warnings (none
/// here), on every runtime.
#[test]
fn rust_log_shows_connections_and_requests_and_the_default_is_warnings() {
    for runtime in with_compio("RUST_LOG", &["tokio", "smol", "async-std", "custom"]) {
        for log in [Some("debug"), None] {
            let serve = Serve::start_logging(runtime, &[], log);
            let out = slow(&["call", &serve.addr, "hello", "--runtime", runtime]);
            assert!(out.status.success(), "{runtime}: {}", text(&out.stderr));
            let addr = serve.addr.clone();
            let (code, err) = serve.terminate(Duration::from_secs(10));
            assert_eq!(code, Some(0), "{runtime}: {err}");
            match log {
                Some(_) => {
                    let connection = "connection{role=\"server\" peer=127.0.0.1:";
                    assert!(
                        err.lines()
                            .any(|l| l.contains("DEBUG") && l.contains(connection)),
                        "{runtime}, RUST_LOG=debug, {addr}: {err}"
                    );
                    assert!(
                        err.lines()
                            .any(|l| l.contains("request") && l.contains("id=1")),
                        "{runtime}, RUST_LOG=debug: {err}"
                    );
                }
                None => assert!(
                    !err.contains("DEBUG") && !err.contains(" INFO "),
                    "{runtime}, no RUST_LOG: {err}"
                ),
            }
        }
    }
}

/// compio as a user runs it: `serve --runtime compio --threads 2` (a
/// runtime and a listener per thread on one port), clients of compio and
/// of the others, bench and conformance against it, SIGTERM and its
/// totals, added up over the threads.
#[test]
fn compio_serve_on_two_threads_call_bench_conformance_then_sigterm() {
    if !compio("compio serve") {
        return;
    }
    let server = Serve::start_with("compio", &["--threads", "2"]);
    let addr = server.addr.clone();

    for runtime in ["compio", "tokio", "custom"] {
        let out = slow(&["call", &addr, "hello compio", "--runtime", runtime]);
        assert!(out.status.success(), "{runtime}: {}", text(&out.stderr));
        assert_eq!(out.stdout, b"hello compio", "{runtime}");
    }
    let out = slow(&["call", &addr, "!error 300 it broke", "--runtime", "compio"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("0x012C") && err.contains("it broke"), "{err}");
    assert_eq!(err.matches("error").count(), 1, "{err}");
    let out = slow(&[
        "call",
        &addr,
        "!sleep 2000",
        "--timeout-ms",
        "50",
        "--runtime",
        "compio",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("timed out"),
        "{}",
        text(&out.stderr)
    );
    let out = slow(&["call", &addr, "!notify ping", "--runtime", "compio"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"notified");
    assert!(
        text(&out.stderr).contains("notification: ping"),
        "{}",
        text(&out.stderr)
    );

    let out = slow(&[
        "bench",
        &addr,
        "--runtime",
        "compio",
        "--threads",
        "2",
        "--connections",
        "4",
        "--concurrency",
        "8",
        "--duration",
        "1",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(json["runtime"], "compio", "{json}");
    assert_eq!(json["threads"], 2, "{json}");
    assert_eq!(json["connections"], 4, "{json}");
    assert_eq!(json["errors"], 0, "{json}");
    let measured = json["requests"].as_u64().unwrap_or(0);
    assert!(measured > 0, "{json}");
    assert!(
        json["stats"]["responses"].as_u64() >= Some(measured),
        "{json}"
    );
    assert_eq!(json["stats"]["failed"], 0, "{json}");

    let out = slow(&[
        "conformance",
        &addr,
        "--only",
        "handshake,framing,service,close-command",
    ]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(
        report
            .lines()
            .last()
            .is_some_and(|l| l.contains(" passed, 0 failed")),
        "{report}"
    );

    let (code, stderr) = server.terminate(Duration::from_secs(10));
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(
        stderr.contains("slow: shutting down (again to exit at once)"),
        "{stderr}"
    );
    // Both threads' connections and requests, added up.
    let served = stderr
        .lines()
        .find_map(|l| l.strip_prefix("slow: served "))
        .unwrap_or_else(|| panic!("no totals in: {stderr}"));
    let connections: u64 = served
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{served:?}"));
    // 6 calls, 4 bench connections, the conformance checks'.
    assert!(connections >= 10, "{served}");
    let requests: u64 = served
        .split("connections: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{served:?}"));
    assert!(requests >= measured, "{served}");
    assert!(
        served.contains(" bytes in, ") && served.ends_with(" bytes out"),
        "{served}"
    );
}

/// `slow bench --runtime compio` without an address: the INTEROP service
/// on the same threads (each its own runtime and listener), the
/// connections dealt out over them, exactly the requests asked for.
#[test]
fn compio_bench_without_an_address_serves_itself_on_its_threads() {
    if !compio("compio bench") {
        return;
    }
    for threads in ["1", "2"] {
        let out = slow(&[
            "bench",
            "--runtime",
            "compio",
            "--threads",
            threads,
            "--connections",
            "3",
            "--requests",
            "2000",
            "--json",
        ]);
        assert!(out.status.success(), "{threads}: {}", text(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(json["requests"], 2000, "{json}");
        assert_eq!(json["errors"], 0, "{json}");
        assert_eq!(json["threads"].to_string(), threads, "{json}");
        assert_eq!(json["stats"]["requests"], 2000, "{json}");
        assert_eq!(json["stats"]["responses"], 2000, "{json}");
        assert!(
            json["server"]
                .as_str()
                .is_some_and(|s| s.starts_with("in-process 127.0.0.1:")),
            "{json}"
        );
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    }
    // The text report names the runtime and its threads.
    let out = slow(&["bench", "--runtime", "compio", "--requests", "500"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report
            .lines()
            .next()
            .is_some_and(|l| l.contains("compio (1 thread(s)), server in-process 127.0.0.1:")),
        "{report}"
    );
    assert_eq!(requests_in(&report), Some(500), "{report}");
}

/// Where compio cannot set up its io_uring (here: out of file
/// descriptors, as a `ulimit -n` makes it; a kernel without io_uring, its
/// sysctl or a seccomp filter fail the same way), `call`, `bench` and
/// `serve --runtime compio` stop at start with exit status 2 and one line
/// that names the cause; no panic. (Needs no io_uring: without it, every
/// limit gives that answer.)
#[test]
fn compio_without_io_uring_is_exit_2_naming_the_cause() {
    let commands: [&[&str]; 3] = [
        &["call", "127.0.0.1:1", "hi", "--runtime", "compio"],
        &["bench", "--runtime", "compio", "--requests", "10"],
        &["serve", "--runtime", "compio", "--addr", "127.0.0.1:0"],
    ];
    for args in commands {
        // Raise the limit until the process gets as far as compio: below
        // that, loading or the signal handlers fail first.
        let mut said = None;
        for limit in 3..=24 {
            let child = Command::new("sh")
                .arg("-c")
                .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                .arg(SLOW)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("sh runs");
            let mut child = Reaped(child);
            let deadline = Instant::now() + Duration::from_secs(5);
            let status = loop {
                if let Some(status) = child.0.try_wait().expect("wait") {
                    break Some(status);
                }
                if Instant::now() >= deadline {
                    break None; // it got past compio's start: serving
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            let Some(status) = status else { break };
            let mut err = String::new();
            let _ = child
                .0
                .stderr
                .take()
                .map(|mut e| e.read_to_string(&mut err));
            assert!(
                !err.contains("panicked"),
                "{args:?}, ulimit -n {limit}: {err}"
            );
            if err.contains("compio cannot run here") {
                said = Some((status.code(), err));
                break;
            }
        }
        let (code, err) = said.unwrap_or_else(|| panic!("{args:?}: never stopped by compio"));
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("io_uring") && err.contains("no epoll fallback"),
            "{args:?}: {err}"
        );
    }
}

/// `slow demo` with compio among the runtimes it is given.
#[test]
fn demo_with_compio_as_client_and_server() {
    if !compio("compio demo") {
        return;
    }
    let out = slow(&[
        "demo",
        "--runtimes",
        "tokio,compio",
        "--throughput-ms",
        "50",
    ]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    assert!(report.contains("4 of 4 cells passed"), "{report}");
    let header = report.lines().nth(1).unwrap_or_default();
    assert!(
        header.contains("tokio") && header.contains("compio"),
        "{report}"
    );
}
