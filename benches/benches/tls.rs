//! What TLS costs: each scenario on slow-tokio and slow-smol over TLS and
//! in plaintext, in alternating rounds in one process (plain, TLS, TLS,
//! plain, ...) so that both see the same load; then handshakes per second
//! (TCP + TLS 1.3 + SLOW's HELLO/WELCOME, and close), with and without TLS.
//!
//! ```sh
//! taskset -c 0 cargo bench -p benches --bench tls
//! ```

use std::time::Duration;

use benches::report::median;
use benches::rig::tls::{TlsRuntime, handshakes, rig};
use benches::rig::{SCENARIOS, Scenario};

const ROUNDS: usize = 6;

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Round trips per round: about 0.3 s of work each.
fn iters(s: &Scenario) -> u64 {
    match (s.body >= benches::LARGE, s.in_flight()) {
        (true, _) => 3_000,
        (false, 1) => 10_000,
        _ => 100_000,
    }
}

fn main() {
    let test = benches::test_mode();
    let rounds = if test { 1 } else { ROUNDS };
    let scenarios: Vec<Scenario> = SCENARIOS
        .into_iter()
        .filter(|s| s.name != "conns_64")
        .collect();
    println!("\n## TLS beside plaintext (paired rounds, median of {rounds})\n");
    println!("| runtime | scenario | plaintext | TLS | TLS / plaintext |");
    println!("|---|---|---|---|---|");
    for runtime in TlsRuntime::ALL {
        for s in &scenarios {
            let n = if test { 10 } else { iters(s) };
            let mut plain = rig(runtime, false, *s);
            let mut tls = rig(runtime, true, *s);
            let mut lat = Vec::new();
            plain.run(n / 10 + 1, &mut lat);
            tls.run(n / 10 + 1, &mut lat);
            let (mut p, mut t, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..rounds {
                let order: [bool; 2] = if round % 2 == 0 {
                    [false, true]
                } else {
                    [true, false]
                };
                let mut this = [0.0; 2];
                for over_tls in order {
                    let bench = if over_tls { &mut tls } else { &mut plain };
                    lat.clear();
                    this[usize::from(over_tls)] = per_sec(n, bench.run(n, &mut lat));
                }
                p.push(this[0]);
                t.push(this[1]);
                ratios.push(this[1] / this[0]);
            }
            let unit = if s.body >= benches::LARGE {
                "rt/s (64 KiB each way)"
            } else {
                "rt/s"
            };
            println!(
                "| {} | {} | {:.0} {unit} | {:.0} | {:.3}× |",
                runtime.name(),
                s.what,
                median(&mut p),
                median(&mut t),
                median(&mut ratios)
            );
        }
    }
    println!(
        "\n## Handshakes per second (connect, TLS 1.3 + HELLO/WELCOME, close; one after another)\n"
    );
    println!("| runtime | plaintext | TLS | TLS / plaintext |");
    println!("|---|---|---|---|");
    for runtime in TlsRuntime::ALL {
        let n = if test { 3 } else { 1_000 };
        let (mut p, mut t) = (Vec::new(), Vec::new());
        for _ in 0..rounds.min(3) {
            p.push(per_sec(n, handshakes(runtime, false, n)));
            t.push(per_sec(n, handshakes(runtime, true, n)));
        }
        let (p, t) = (median(&mut p), median(&mut t));
        println!(
            "| {} | {p:.0}/s | {t:.0}/s | {:.3}× |",
            runtime.name(),
            t / p
        );
    }
}
