//! TLS against plaintext in the hand-written loop: one connection, a fixed
//! number of requests in flight, echo bodies of one size; the two modes run
//! in interleaved pairs (ABBA order) so that drift on a noisy machine hits
//! both alike. Reports requests per second (wall clock) and CPU time per
//! request (this process's user + system time, server and client threads
//! together: robust against other load on the machine).
//!
//! ```sh
//! cargo run --release -p slow-custom-example --example tls_bench -- \
//!     [--secs 2] [--pairs 5] [--body 64] [--inflight 64]
//! taskset -c 0 target/release/examples/tls_bench   # server and client on one core
//! ```

use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use slow_custom_example::{ClientLoop, Completion, Server, tls};
use slow_proto::Config;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Plain,
    Tls,
}

struct Args {
    secs: f64,
    pairs: usize,
    body: usize,
    inflight: usize,
}

fn args() -> Args {
    let mut a = Args {
        secs: 2.0,
        pairs: 5,
        body: 64,
        inflight: 64,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--secs" => a.secs = value.parse().expect("--secs"),
            "--pairs" => a.pairs = value.parse().expect("--pairs"),
            "--body" => a.body = value.parse().expect("--body"),
            "--inflight" => a.inflight = value.parse().expect("--inflight"),
            _ => panic!("unknown option {flag}"),
        }
    }
    a
}

/// This process's CPU time so far (user + system), from `/proc/self/stat`
/// (in clock ticks, 100 per second on Linux).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are
    // the 14th and 15th of the line.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Requests per second over `secs`, after a short warm-up, and the CPU
/// time per request.
fn run(mode: Mode, a: &Args, files: &tests_common::pki::PkiFiles) -> (f64, Duration) {
    let config = Config::default();
    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), config.clone()).unwrap();
    if mode == Mode::Tls {
        server =
            server.tls(tls::server_config(&files.server_cert, &files.server_key, None).unwrap());
    }
    let server = server.spawn().unwrap();
    let mut lp = ClientLoop::new().unwrap();
    let conn = match mode {
        Mode::Plain => lp.connect(server.local_addr(), config).unwrap(),
        Mode::Tls => {
            let client = tls::client_config(&files.ca, None).unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            lp.connect_tls(server.local_addr(), config, client, name)
                .unwrap()
        }
    };
    let body = bytes::Bytes::from(vec![7u8; a.body]);
    for _ in 0..a.inflight {
        lp.request(conn, body.clone(), None).unwrap();
    }
    let warm_until = Instant::now() + Duration::from_millis(300);
    let mut started: Option<(Instant, Duration)> = None;
    let mut done = 0u64;
    let measure = Duration::from_secs_f64(a.secs);
    loop {
        match lp.next_completion(Some(Duration::from_secs(10))).unwrap() {
            Some(Completion::Response { .. }) => {
                lp.request(conn, body.clone(), None).unwrap();
                match started {
                    None if Instant::now() >= warm_until => {
                        started = Some((Instant::now(), cpu_time()));
                    }
                    None => {}
                    Some((t0, cpu0)) => {
                        done += 1;
                        if t0.elapsed() >= measure {
                            let rate = done as f64 / t0.elapsed().as_secs_f64();
                            let cpu = (cpu_time() - cpu0) / done as u32;
                            drop(lp);
                            server.shutdown().unwrap();
                            return (rate, cpu);
                        }
                    }
                }
            }
            Some(Completion::Connected { .. }) => {}
            other => panic!("unexpected: {other:?}"),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let a = args();
    let dir = std::env::temp_dir().join(format!("slow-tls-bench-{}", std::process::id()));
    let files = tests_common::pki::Pki::new().write_to(&dir).unwrap();
    println!(
        "custom loop, 1 connection, {} in flight, {} B bodies, {} s per run, {} pairs",
        a.inflight, a.body, a.secs, a.pairs
    );
    let (mut plain, mut tls, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut plain_cpu, mut tls_cpu) = (Vec::new(), Vec::new());
    for pair in 0..a.pairs {
        // ABBA: which mode goes first alternates.
        let order = if pair % 2 == 0 {
            [Mode::Plain, Mode::Tls]
        } else {
            [Mode::Tls, Mode::Plain]
        };
        let ((mut p, mut pc), (mut t, mut tc)) = ((0.0, 0.0), (0.0, 0.0));
        for mode in order {
            let (rate, cpu) = run(mode, &a, &files);
            let cpu = cpu.as_secs_f64() * 1e6;
            match mode {
                Mode::Plain => (p, pc) = (rate, cpu),
                Mode::Tls => (t, tc) = (rate, cpu),
            }
        }
        println!(
            "pair {pair}: plaintext {p:>9.0} req/s {pc:>6.2} us CPU/req   \
             TLS {t:>9.0} req/s {tc:>6.2} us CPU/req   TLS/plain {:.3}",
            t / p
        );
        plain.push(p);
        tls.push(t);
        ratios.push(t / p);
        plain_cpu.push(pc);
        tls_cpu.push(tc);
    }
    println!(
        "median: plaintext {:.0} req/s ({:.2} us CPU/req), TLS {:.0} req/s ({:.2} us CPU/req), \
         paired ratio TLS/plain {:.3}",
        median(plain),
        median(plain_cpu),
        median(tls),
        median(tls_cpu),
        median(ratios)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
