//! The built `slow` binary over TLS, as a user runs it: `serve` with a
//! certificate (and a client CA: mutual TLS), `call`, `bench` and the full
//! `conformance` run against it, over TCP and a Unix socket; PEM files
//! that cannot be used (exit 2, naming the file); certificates a client
//! must refuse (exit 1, rustls's reason), on an async client and the
//! custom loop's alike; the custom loop's server with other clients;
//! compio, without TLS (exit 2); the demo's TLS round. Certificates are made at run time
//! (`tests_common::pki`), into a temporary directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tests_common::pki::{Pki, PkiFiles};

const SLOW: &str = env!("CARGO_BIN_EXE_slow");

fn slow(args: &[&str]) -> Output {
    Command::new(SLOW)
        .args(args)
        .stdin(Stdio::null())
        .env_remove("RUST_LOG")
        .output()
        .expect("slow runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A directory of its own for each test, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("slow-cli-tls-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// A new PKI written into `sub`.
    fn pki(&self, sub: &str) -> PkiFiles {
        Pki::new().write_to(&self.0.join(sub)).expect("PEM written")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `slow serve` over mutual TLS in the background, with the address it
/// announced.
struct Serve {
    child: Child,
    addr: String,
}

impl Serve {
    fn start(runtime: &str, addr: &str, pki: &PkiFiles, extra: &[&str]) -> Serve {
        let mut child = Command::new(SLOW)
            .args(["serve", "--runtime", runtime, "--addr", addr])
            .args([
                "--tls-cert",
                s(&pki.server_cert),
                "--tls-key",
                s(&pki.server_key),
            ])
            .args(["--tls-client-ca", s(&pki.ca), "--drain-timeout-ms", "2000"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
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

    /// SIGTERM; the exit status within 10 s.
    fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.expect("kill runs").success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "serve did not exit on SIGTERM");
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

/// The client's flags for mutual TLS with `pki`.
fn client_flags(pki: &PkiFiles) -> Vec<&str> {
    vec![
        "--tls-ca",
        s(&pki.ca),
        "--tls-cert",
        s(&pki.client_cert),
        "--tls-key",
        s(&pki.client_key),
    ]
}

/// The server's timers and limit, given to both sides so that all checks
/// run (as the README shows).
const HINTS: [&str; 8] = [
    "--handshake-timeout-ms",
    "400",
    "--keepalive-interval-ms",
    "400",
    "--keepalive-timeout-ms",
    "300",
    "--max-connections",
    "8",
];

/// One server over mutual TLS (smol), clients of the other runtimes: a
/// call, a short bench, and every conformance check (none skipped, none
/// failed) through the blocking TLS client under the raw frames.
#[test]
fn mutual_tls_serve_call_bench_and_every_conformance_check() {
    let dir = TempDir::new("serve");
    let pki = dir.pki("pki");
    let server = Serve::start("smol", "127.0.0.1:0", &pki, &HINTS);
    let addr = server.addr.clone();
    let tls = client_flags(&pki);

    for runtime in ["tokio", "async-std", "smol"] {
        let mut args = vec!["call", &addr, "hello over TLS", "--runtime", runtime];
        args.extend(&tls);
        let out = slow(&args);
        assert!(out.status.success(), "{runtime}: {}", text(&out.stderr));
        assert_eq!(out.stdout, b"hello over TLS", "{runtime}");
    }
    // The name is the address's host unless told: localhost is on the
    // certificate too.
    let mut args = vec!["call", &addr, "named", "--tls-name", "localhost"];
    args.extend(&tls);
    let out = slow(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let mut args = vec!["bench", &addr, "--duration", "0.3", "--json"];
    args.extend(["--runtime", "async-std", "--connections", "2"]);
    args.extend(&tls);
    let out = slow(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(json["errors"], 0, "{json}");
    assert!(json["requests"].as_u64().unwrap_or(0) > 0, "{json}");

    let mut args = vec!["conformance", &addr];
    args.extend(HINTS);
    args.extend(&tls);
    let out = slow(&args);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    let total = report
        .lines()
        .filter(|l| l.starts_with("PASS ") || l.starts_with("FAIL ") || l.starts_with("SKIP "))
        .count();
    assert!(total >= 90, "{report}");
    assert!(
        report
            .trim_end()
            .ends_with(&format!("{total} passed, 0 failed")),
        "{report}"
    );

    assert_eq!(server.terminate(), Some(0));
}

/// Over a Unix socket, TLS names the server `localhost`; a quick check of
/// each group's first checks runs through it too.
#[test]
fn mutual_tls_over_a_unix_socket() {
    let dir = TempDir::new("unix");
    let pki = dir.pki("pki");
    let sock = format!("unix:{}", s(&dir.path("tls.sock")));
    let server = Serve::start("tokio", &sock, &pki, &[]);
    let tls = client_flags(&pki);
    let mut args = vec!["call", &server.addr, "unix and TLS", "--runtime", "smol"];
    args.extend(&tls);
    let out = slow(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"unix and TLS");

    let mut args = vec!["conformance", &server.addr, "--only", "service,requests"];
    args.extend(&tls);
    let out = slow(&args);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.trim_end().ends_with(" passed, 0 failed"), "{report}");
    assert_eq!(server.terminate(), Some(0));
}

/// The custom mio loop's own TLS (rustls's sans-IO API) through the
/// binary: its server with a tokio and a custom client, a custom client
/// against a tokio server over a Unix socket (named `localhost`), and a
/// short custom bench; a quick group of conformance checks through it.
#[test]
fn mutual_tls_on_the_custom_loop_both_ways() {
    let dir = TempDir::new("custom");
    let pki = dir.pki("pki");
    let tls = client_flags(&pki);
    let server = Serve::start("custom", "127.0.0.1:0", &pki, &[]);
    for runtime in ["tokio", "custom"] {
        let mut args = vec!["call", &server.addr, "custom TLS", "--runtime", runtime];
        args.extend(&tls);
        let out = slow(&args);
        assert!(out.status.success(), "{runtime}: {}", text(&out.stderr));
        assert_eq!(out.stdout, b"custom TLS", "{runtime}");
    }
    let mut args = vec!["bench", &server.addr, "--runtime", "custom", "--json"];
    args.extend(["--requests", "500", "--connections", "2"]);
    args.extend(&tls);
    let out = slow(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(
        (&json["requests"], &json["errors"]),
        (&500.into(), &0.into()),
        "{json}"
    );

    let mut args = vec!["conformance", &server.addr, "--only", "service"];
    args.extend(&tls);
    let out = slow(&args);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.trim_end().ends_with(" passed, 0 failed"), "{report}");
    assert_eq!(server.terminate(), Some(0));

    let sock = format!("unix:{}", s(&dir.path("custom.sock")));
    let server = Serve::start("tokio", &sock, &pki, &[]);
    let mut args = vec!["call", &server.addr, "unix", "--runtime", "custom"];
    args.extend(&tls);
    let out = slow(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"unix");
    assert_eq!(server.terminate(), Some(0));
}

/// What a client must refuse, and a client the server must refuse: exit
/// 1, one line with rustls's reason.
#[test]
fn untrusted_wrong_name_and_missing_client_certificate_fail_clearly() {
    let dir = TempDir::new("refuse");
    let pki = dir.pki("pki");
    let other = dir.pki("other");
    let server = Serve::start("async-std", "127.0.0.1:0", &pki, &[]);
    let addr = server.addr.clone();
    let (ca, cert, key) = (s(&pki.ca), s(&pki.client_cert), s(&pki.client_key));
    let cases: [(&str, Vec<&str>, &str); 3] = [
        (
            "another CA",
            vec![
                "--tls-ca",
                s(&other.ca),
                "--tls-cert",
                cert,
                "--tls-key",
                key,
            ],
            // Both CAs have one name: rustls finds the issuer, not its key.
            "invalid peer certificate",
        ),
        (
            "a wrong name",
            vec![
                "--tls-ca",
                ca,
                "--tls-cert",
                cert,
                "--tls-key",
                key,
                "--tls-name",
                "other.slow.test",
            ],
            "not valid for name",
        ),
        (
            "no client certificate",
            vec!["--tls-ca", ca],
            "CertificateRequired",
        ),
    ];
    // The custom loop's client says it as the async ones do.
    for runtime in ["tokio", "custom"] {
        for (what, tls, reason) in &cases {
            let mut args = vec!["call", &addr, "hi", "--runtime", runtime];
            args.extend(tls);
            let out = slow(&args);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{runtime}, {what}: {err}");
            assert_eq!(err.lines().count(), 1, "{runtime}, {what}: {err}");
            let said = format!("slow: cannot connect to {addr}: TLS: ");
            assert!(
                err.starts_with(&said) && err.contains(reason),
                "{runtime}, {what}: {err}"
            );
        }
    }
    // And its bench, before any load.
    let args = [
        "bench",
        &addr,
        "--runtime",
        "custom",
        "--tls-ca",
        s(&other.ca),
    ];
    let out = slow(&args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(&format!(
            "slow: cannot connect to {addr}: TLS: invalid peer certificate"
        )),
        "{err}"
    );
    // conformance says it once, before any check.
    let out = slow(&["conformance", &addr, "--tls-ca", s(&other.ca)]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("cannot connect").count(), 1, "{err}");
    assert!(
        err.contains("TLS: invalid peer certificate") && out.stdout.is_empty(),
        "{err}"
    );
    drop(server);
}

/// A PEM file that cannot be used is exit 2 at start-up, naming the flag
/// and the file; a certificate and key that do not match name both.
#[test]
fn unusable_pem_files_exit_2_naming_the_file() {
    let dir = TempDir::new("pem");
    let pki = dir.pki("pki");
    let missing = dir.path("missing.pem");
    let garbage = dir.path("garbage.pem");
    std::fs::write(&garbage, "not PEM at all\n").expect("write");
    let (cert, key, ca) = (s(&pki.server_cert), s(&pki.server_key), s(&pki.ca));
    let (missing, garbage) = (s(&missing), s(&garbage));
    fn serve<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["serve", "--addr", "127.0.0.1:0"];
        args.extend(extra);
        args
    }
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            serve(&["--tls-cert", missing, "--tls-key", key]),
            vec!["--tls-cert", missing, "cannot read"],
        ),
        (
            serve(&["--tls-cert", cert, "--tls-key", garbage]),
            vec!["--tls-key", garbage, "no private key"],
        ),
        (
            serve(&[
                "--tls-cert",
                cert,
                "--tls-key",
                key,
                "--tls-client-ca",
                garbage,
            ]),
            vec!["--tls-client-ca", garbage, "no certificate"],
        ),
        // The client's key with the server's certificate.
        (
            serve(&["--tls-cert", cert, "--tls-key", s(&pki.client_key)]),
            vec!["--tls-cert", "--tls-key", "key"],
        ),
        (
            vec!["call", "127.0.0.1:1", "hi", "--tls-ca", missing],
            vec!["--tls-ca", missing, "cannot read"],
        ),
        (
            vec!["call", "127.0.0.1:1", "hi", "--tls-ca", garbage],
            vec!["--tls-ca", garbage, "no certificate"],
        ),
        (
            vec![
                "call",
                "127.0.0.1:1",
                "hi",
                "--tls-ca",
                ca,
                "--tls-cert",
                s(&pki.client_cert),
                "--tls-key",
                key,
            ],
            vec!["--tls-cert", "--tls-key", "key"],
        ),
        (
            vec!["bench", "127.0.0.1:1", "--tls-ca", garbage],
            vec!["--tls-ca", garbage],
        ),
        (
            vec!["conformance", "127.0.0.1:1", "--tls-ca", missing],
            vec!["--tls-ca", missing],
        ),
    ];
    for (args, words) in &cases {
        let out = slow(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("slow: --tls-"), "{args:?}: {err}");
        for word in words {
            assert!(err.contains(word), "{args:?}: no {word:?} in {err}");
        }
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// compio has no TLS in `slow` yet; half a client certificate and TLS
/// without the server's address (on the custom loop too) are usage errors.
#[test]
fn tls_where_there_is_none_and_half_flags_exit_2() {
    let dir = TempDir::new("usage");
    let pki = dir.pki("pki");
    let (cert, key, ca) = (s(&pki.server_cert), s(&pki.server_key), s(&pki.ca));
    let server_tls = ["--tls-cert", cert, "--tls-key", key];
    let mut serve = vec!["serve", "--addr", "127.0.0.1:0", "--runtime", "compio"];
    serve.extend(server_tls);
    let cases: Vec<Vec<&str>> = vec![
        serve,
        vec![
            "call",
            "127.0.0.1:1",
            "hi",
            "--runtime",
            "compio",
            "--tls-ca",
            ca,
        ],
        vec![
            "bench",
            "127.0.0.1:1",
            "--runtime",
            "compio",
            "--tls-ca",
            ca,
        ],
        vec![
            "call",
            "127.0.0.1:1",
            "hi",
            "--tls-ca",
            ca,
            "--tls-cert",
            cert,
        ],
        vec!["call", "127.0.0.1:1", "hi", "--tls-key", key],
        vec!["serve", "--tls-cert", cert],
        vec!["serve", "--tls-client-ca", ca],
        vec!["bench", "--tls-ca", ca, "--duration", "0.1"],
        vec!["bench", "--runtime", "custom", "--tls-ca", ca],
    ];
    for args in &cases {
        let out = slow(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.is_empty() && !err.contains("panicked"), "{args:?}");
        if args.contains(&"compio") {
            assert!(err.contains("no TLS"), "{args:?}: {err}");
        }
    }
}

/// `slow demo`'s TLS round: the matrix over mutual TLS, the custom loop
/// in it as client and server, every cell passes.
#[test]
fn the_demo_runs_a_mutual_tls_round() {
    let out = slow(&[
        "demo",
        "--runtimes",
        "tokio,custom",
        "--throughput-ms",
        "50",
    ]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    assert!(
        report.contains("interop matrix over mutual TLS"),
        "{report}"
    );
    assert!(report.contains("throughput over mutual TLS"), "{report}");
    let round = &report[report.find("over mutual TLS").unwrap_or(0)..];
    assert!(
        round
            .lines()
            .any(|l| l.split_whitespace().eq(["custom", "PASS", "PASS"])),
        "{report}"
    );
    assert!(
        report.contains("4 of 4 cells passed, 4 of 4 over mutual TLS"),
        "{report}"
    );
    assert!(!text(&out.stderr).contains("left out of the TLS round"));
}
