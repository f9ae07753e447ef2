//! `slow`: serve, call, benchmark, check and demo SLOW on every runtime.
//! Argument parsing and printing only; the work is in the library.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use slow_cli::bench::{self, BenchOptions, Limit};
use slow_cli::call::{self, Body, CallOptions, endpoint};
use slow_cli::conformance::{self, Hints, Target};
use slow_cli::demo::{self, Throughput};
use slow_cli::server::RunningServer;
use slow_cli::tls::{ClientTlsArgs, ServerTlsArgs};
use slow_cli::{CliError, RuntimeKind, ServeOptions};

#[derive(Parser)]
#[command(
    name = "slow",
    version,
    about = "SLOW/1 on tokio, async-std, smol, compio (io_uring) and a hand-written event loop"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the INTEROP test service until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Send one request (or notification) and print the answer.
    Call(CallArgs),
    /// Generate echo load and report throughput and latency.
    Bench(BenchArgs),
    /// Check a server against PROTOCOL.md and INTEROP.md over raw TCP.
    Conformance(ConformanceArgs),
    /// Run every runtime's client against every runtime's server.
    Demo(DemoArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// The runtime to serve on (compio needs io_uring: Linux 5.1+, not
    /// disabled by kernel.io_uring_disabled or seccomp; no epoll fallback).
    #[arg(long, value_enum, default_value_t = RuntimeKind::Tokio)]
    runtime: RuntimeKind,
    /// Where to listen: HOST:PORT (port 0 picks a free port) or unix:PATH
    /// (the socket file is removed at exit).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0", value_parser = host_port)]
    addr: String,
    /// Worker threads (1: single-threaded); default: the runtime's own.
    /// compio: N threads, each its own runtime and SO_REUSEPORT listener
    /// on the one port (default 1); a unix: address is served on one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    #[command(flatten)]
    options: ServeOptions,
    // compio: no TLS yet (RuntimeKind::tls_supported).
    #[command(flatten, next_help_heading = "TLS (every runtime but compio)")]
    tls: ServerTlsArgs,
}

#[derive(Args)]
struct CallArgs {
    /// The server: HOST:PORT or unix:PATH.
    #[arg(value_name = "ADDR", value_parser = host_port)]
    addr: String,
    /// The request body; `-` reads it from standard input.
    body: String,
    /// Request timeout (sent to the server as DEADLINE).
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u32>,
    /// How long connecting may take.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    connect_timeout_ms: u64,
    /// Send a notification instead of a request.
    #[arg(long)]
    notify: bool,
    /// The client's runtime (compio needs io_uring).
    #[arg(long, value_enum, default_value_t = RuntimeKind::Tokio)]
    runtime: RuntimeKind,
    #[command(flatten, next_help_heading = "TLS (every runtime but compio)")]
    tls: ClientTlsArgs,
}

#[derive(Args)]
struct BenchArgs {
    /// The server: HOST:PORT or unix:PATH; without it, an INTEROP server
    /// runs in this process on the same runtime.
    #[arg(value_name = "ADDR", value_parser = host_port)]
    addr: Option<String>,
    /// The client's (and own server's) runtime (compio needs io_uring).
    #[arg(long, value_enum, default_value_t = RuntimeKind::Tokio)]
    runtime: RuntimeKind,
    /// Connections to open.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,
    /// Requests in flight on each connection.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// Request body size in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    payload: usize,
    /// Run this many seconds (default 5).
    #[arg(long, value_name = "S", conflicts_with = "requests", value_parser = seconds)]
    duration: Option<Duration>,
    /// Send this many requests in total instead.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    json: bool,
    /// Worker threads (1: single-threaded runtime). compio: N threads, each
    /// its own runtime, the connections dealt out over them (default 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Each request's timeout.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    timeout_ms: u64,
    // To the server at ADDR only: the in-process server has no certificate.
    #[command(
        flatten,
        next_help_heading = "TLS (every runtime but compio; needs ADDR)"
    )]
    tls: ClientTlsArgs,
}

#[derive(Args)]
struct ConformanceArgs {
    /// The server under test: HOST:PORT or unix:PATH.
    #[arg(value_name = "ADDR", required_unless_present = "list", value_parser = host_port)]
    addr: Option<String>,
    /// Run only these checks or groups (comma-separated).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    only: Vec<String>,
    /// List the checks and exit.
    #[arg(long)]
    list: bool,
    /// The server's --handshake-timeout-ms (enables handshake-timeout).
    #[arg(long, value_name = "MS")]
    handshake_timeout_ms: Option<u64>,
    /// The server's --keepalive-interval-ms (with --keepalive-timeout-ms, enables keepalive).
    #[arg(long, value_name = "MS", requires = "keepalive_timeout_ms")]
    keepalive_interval_ms: Option<u64>,
    /// The server's --keepalive-timeout-ms.
    #[arg(long, value_name = "MS", requires = "keepalive_interval_ms")]
    keepalive_timeout_ms: Option<u64>,
    /// The server's --max-connections (enables connection-limit).
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    // Every check's connections over TLS (a blocking rustls client under
    // the raw frames).
    #[command(flatten, next_help_heading = "TLS")]
    tls: ClientTlsArgs,
}

#[derive(Args)]
struct DemoArgs {
    /// Runtimes to include (comma-separated); default: all of them
    /// (compio only where io_uring is available: otherwise it is left out,
    /// and the reason said).
    #[arg(long, value_enum, value_delimiter = ',')]
    runtimes: Vec<RuntimeKind>,
    /// Length of each throughput run.
    #[arg(long, value_name = "MS", default_value_t = Throughput::default().duration.as_millis() as u64)]
    throughput_ms: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    log_to_stderr();
    configure_async_std(&cli.command);
    let result = match cli.command {
        Command::Serve(a) => serve(a),
        Command::Call(a) => run_call(a),
        Command::Bench(a) => run_bench(a),
        Command::Conformance(a) => run_conformance(a),
        Command::Demo(a) => run_demo(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("slow: {e}");
            // Like clap's own: a command line that makes no sense (or a
            // runtime this machine cannot run) is 2.
            ExitCode::from(e.exit_code())
        }
    }
}

/// What the driver logs (`tracing`), to stderr: warnings unless `RUST_LOG`
/// says otherwise (`RUST_LOG=debug slow serve …` shows every connection
/// with its peer, and every request id). A bad `RUST_LOG` falls back to
/// warnings, and says so.
fn log_to_stderr() {
    use tracing_subscriber::EnvFilter;
    let (filter, bad) = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => match EnvFilter::try_new(&spec) {
            Ok(filter) => (filter, None),
            Err(e) => (EnvFilter::new("warn"), Some(format!("{spec}: {e}"))),
        },
        _ => (EnvFilter::new("warn"), None),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if let Some(bad) = bad {
        eprintln!("slow: RUST_LOG ignored ({bad}); logging warnings");
    }
}

/// A positive number of seconds, fractions allowed.
fn seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("`{s}` is not a positive number of seconds")),
    }
}

/// async-std sizes its global runtime from ASYNC_STD_THREAD_COUNT on first
/// use and offers no other way; so it is set here, first thing, while this
/// is the only thread.
fn configure_async_std(command: &Command) {
    let threads = match command {
        Command::Bench(a) if a.runtime == RuntimeKind::AsyncStd => a.threads,
        Command::Serve(a) if a.runtime == RuntimeKind::AsyncStd => a.threads,
        _ => None,
    };
    if let Some(n) = threads {
        // SAFETY: no other thread exists yet (main has only parsed
        // arguments), so nothing can read the environment concurrently.
        unsafe { std::env::set_var("ASYNC_STD_THREAD_COUNT", n.to_string()) };
    }
}

fn serve(a: ServeArgs) -> Result<ExitCode, CliError> {
    // Registered before the address is announced: a supervisor may signal
    // as soon as it reads the line.
    let signals =
        Signals::new([SIGINT, SIGTERM]).map_err(CliError::io("registering signal handlers"))?;
    if a.tls.given() {
        a.runtime.tls_supported()?;
    }
    let tls = a.tls.load()?;
    let mutual = tls.as_ref().map(|t| t.requires_client_certificates());
    let threads = a.threads.map(usize::from);
    let mut server = RunningServer::start_tls(a.runtime, &a.addr, &a.options, threads, tls)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", server.addr())
        .and_then(|()| stdout.flush())
        .map_err(CliError::io("writing to stdout"))?;
    drop(stdout);
    match mutual {
        Some(true) => eprintln!("slow: serving over TLS; client certificates required"),
        Some(false) => eprintln!("slow: serving over TLS"),
        None => {}
    }
    let stop = server.stopper();
    on_signals(
        signals,
        move |_| {
            eprintln!("slow: shutting down (again to exit at once)");
            stop();
        },
        || {},
    )?;
    server.join()?;
    let (connections, totals) = server.totals();
    eprintln!("slow: {}", slow_cli::server::summary(connections, &totals));
    Ok(ExitCode::SUCCESS)
}

/// Watches `signals` on a thread of its own: the first runs `first` with
/// its number (a graceful stop), a second exits at once with 128 + its
/// number (130 for SIGINT, as a shell reports Ctrl-C), after `before_exit`.
fn on_signals(
    mut signals: Signals,
    first: impl FnOnce(i32) + Send + 'static,
    before_exit: impl FnOnce() + Send + 'static,
) -> Result<(), CliError> {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut received = signals.forever();
            if let Some(signal) = received.next() {
                first(signal);
            }
            if let Some(signal) = received.next() {
                before_exit();
                std::process::exit(128 + signal);
            }
        })
        .map(drop)
        .map_err(CliError::io("starting the signal thread"))
}

fn run_call(a: CallArgs) -> Result<ExitCode, CliError> {
    if a.tls.given() {
        a.runtime.tls_supported()?;
    }
    let body = if a.body == "-" {
        Body::Stdin
    } else {
        Body::Bytes(Bytes::from(a.body))
    };
    let options = CallOptions {
        addr: a.addr,
        body,
        timeout: a.timeout_ms.map(|ms| Duration::from_millis(ms.into())),
        connect_timeout: Duration::from_millis(a.connect_timeout_ms),
        notify: a.notify,
        tls: a.tls.load()?,
    };
    let outcome = call::call(a.runtime, &options)?;
    for n in &outcome.notifications {
        eprintln!("notification: {}", String::from_utf8_lossy(n));
    }
    if let Some(body) = outcome.body {
        let mut stdout = std::io::stdout().lock();
        // On a terminal the prompt must not run into the body; piped, the
        // body goes out exactly as it came.
        let newline = stdout.is_terminal() && !body.ends_with(b"\n");
        stdout
            .write_all(&body)
            .and_then(|()| {
                if newline {
                    stdout.write_all(b"\n")
                } else {
                    Ok(())
                }
            })
            .and_then(|()| stdout.flush())
            .map_err(CliError::io("writing to stdout"))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_bench(a: BenchArgs) -> Result<ExitCode, CliError> {
    if a.tls.given() {
        a.runtime.tls_supported()?;
    }
    let tls = a.tls.load()?;
    // Like serve: the first Ctrl-C (or SIGTERM) stops the load (the report
    // of what was measured follows, exit 128 + the signal), a second exits
    // at once.
    let signals =
        Signals::new([SIGINT, SIGTERM]).map_err(CliError::io("registering signal handlers"))?;
    let stop = slow_cli::trigger::Trigger::new();
    let progress = std::io::stderr().is_terminal();
    let fire = stop.clone();
    let stopped_by = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(SIGINT));
    let by = stopped_by.clone();
    on_signals(
        signals,
        move |signal| {
            by.store(signal, std::sync::atomic::Ordering::SeqCst);
            fire.fire()
        },
        move || {
            if progress {
                eprint!("\r\x1b[K"); // the progress bar's line
            }
        },
    )?;
    let limit = match (a.requests, a.duration) {
        (Some(n), _) => Limit::Requests(n),
        (None, Some(d)) => Limit::Duration(d),
        (None, None) => Limit::Duration(Duration::from_secs(5)),
    };
    let options = BenchOptions {
        connections: a.connections as usize,
        concurrency: a.concurrency as usize,
        payload: a.payload,
        limit,
        threads: a.threads.map(usize::from),
        request_timeout: Duration::from_millis(a.timeout_ms),
        progress,
        stop,
        tls,
    };
    let report = bench::run(a.runtime, a.addr.as_deref(), &options)?;
    let text = if a.json {
        format!("{}\n", report.to_json())
    } else {
        report.to_text()
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(CliError::io("writing to stdout"))?;
    // 128 + the signal, as a shell reports a process a signal ended (130
    // for Ctrl-C).
    Ok(if report.interrupted {
        let signal = stopped_by.load(std::sync::atomic::Ordering::SeqCst);
        ExitCode::from(u8::try_from(128 + signal).unwrap_or(130))
    } else {
        ExitCode::SUCCESS
    })
}

fn run_conformance(a: ConformanceArgs) -> Result<ExitCode, CliError> {
    let checks = conformance::select(&a.only).map_err(CliError::Usage)?;
    if a.list {
        let mut out = std::io::stdout().lock();
        let listed = checks
            .iter()
            .try_for_each(|c| writeln!(out, "{:<34} {}", c.name, c.about))
            .and_then(|()| out.flush());
        return match listed {
            // The reader had enough (`slow conformance --list | head`).
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
            other => other
                .map(|()| ExitCode::SUCCESS)
                .map_err(CliError::io("writing to stdout")),
        };
    }
    let addr = a.addr.unwrap_or_default();
    let tls = a
        .tls
        .load()?
        .map(|tls| conformance::TargetTls::new(&tls, &addr))
        .transpose()?;
    let target = Target {
        addr: endpoint(&addr)?,
        tls,
        hints: Hints {
            handshake_timeout: a.handshake_timeout_ms.map(Duration::from_millis),
            keepalive: a
                .keepalive_interval_ms
                .zip(a.keepalive_timeout_ms)
                .map(|(i, t)| (Duration::from_millis(i), Duration::from_millis(t))),
            max_connections: a.max_connections,
        },
    };
    // One line for a server that is not there, rather than every check failing.
    let reachable = match &target.addr {
        slow_driver::Addr::Tcp(a) => {
            std::net::TcpStream::connect_timeout(a, Duration::from_secs(5)).map(drop)
        }
        other => other
            .unix_path()
            .map_or(Err(std::io::ErrorKind::InvalidInput.into()), |p| {
                std::os::unix::net::UnixStream::connect(p).map(drop)
            }),
    };
    reachable.map_err(|e| CliError::Connect {
        addr: addr.clone(),
        reason: e.to_string(),
    })?;
    // Likewise a TLS handshake that fails (an untrusted certificate, a
    // wrong name, a refused client certificate): once, with rustls's reason.
    conformance::probe_tls(&target).map_err(|reason| CliError::Connect {
        addr: addr.clone(),
        reason,
    })?;
    let summary = conformance::run(&target, &checks, &mut std::io::stdout().lock())
        .map_err(CliError::io("writing to stdout"))?;
    Ok(if summary.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// An address as `HOST:PORT` (a name or an IP, `[v6]` in brackets) or
/// `unix:PATH`, or a message that shows the form: `localhost` alone would
/// otherwise fail later as "invalid socket address".
fn host_port(s: &str) -> Result<String, String> {
    if s.strip_prefix("unix:").is_some_and(|path| !path.is_empty()) {
        return Ok(s.to_owned());
    }
    let well_formed = s
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if well_formed {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "`{s}` is not HOST:PORT or unix:PATH (for example localhost:7000, 127.0.0.1:7000 or unix:slow.sock)"
        ))
    }
}

fn run_demo(a: DemoArgs) -> Result<ExitCode, CliError> {
    let start = Instant::now();
    let throughput = Throughput {
        duration: Duration::from_millis(a.throughput_ms),
        ..Throughput::default()
    };
    let runtimes = if a.runtimes.is_empty() {
        // Every runtime this machine can run; compio without io_uring is
        // left out, and the reason said (asked for by name, it is an error).
        RuntimeKind::ALL
            .into_iter()
            .filter(|kind| match kind.available() {
                Ok(()) => true,
                Err(why) => {
                    eprintln!("slow: {kind} left out of the demo: {why}");
                    false
                }
            })
            .collect()
    } else {
        a.runtimes
    };
    for kind in &runtimes {
        kind.available()?;
    }
    let cells = demo::run(&runtimes, throughput)?;
    print!("{}", demo::render(&runtimes, &cells));
    let passed = cells.iter().filter(|c| c.passed()).count();
    // The same matrix over mutual TLS, with certificates made here.
    let tls_runtimes = demo::tls_runtimes(&runtimes);
    let tls_cells = if tls_runtimes.is_empty() {
        println!("\nmutual TLS: none of these runtimes has TLS in slow (yet)");
        Vec::new()
    } else {
        for kind in runtimes.iter().filter(|k| !tls_runtimes.contains(k)) {
            eprintln!("slow: {kind} left out of the TLS round: it has no TLS (yet)");
        }
        let pki = slow_cli::certs::DemoPki::generate()?;
        let tls_cells = demo::run_tls(&tls_runtimes, throughput, &pki)?;
        print!("\n{}", demo::render_tls(&tls_runtimes, &tls_cells));
        tls_cells
    };
    let tls_passed = tls_cells.iter().filter(|c| c.passed()).count();
    println!(
        "\n{passed} of {} cells passed, {tls_passed} of {} over mutual TLS, in {:.1} s",
        cells.len(),
        tls_cells.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(if passed == cells.len() && tls_passed == tls_cells.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
