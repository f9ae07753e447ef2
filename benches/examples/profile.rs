//! A fixed amount of one benchmark's work, for profilers (`perf record`,
//! `valgrind --tool=callgrind`), which need a plain program rather than
//! criterion's adaptive loop.
//!
//! ```sh
//! cargo run --release -p benches --example profile -- decode 64 1000000
//! cargo run --release -p benches --example profile -- core 64 64 2000
//! cargo run --release -p benches --example profile -- e2e slow_tokio inflight_64 100000
//! cargo run --release -p benches --example profile -- mt slow_tokio mt_inflight_64 100000
//! ```
//!
//! `decode PAYLOAD FRAMES`: decodes RESPONSE frames off one buffer.
//! `core BODY IN_FLIGHT BATCHES`: the core pair (see `benches::core_pair`).
//! `e2e IMPLEMENTATION SCENARIO ROUND_TRIPS`: one end-to-end rig (see
//! `benches::rig`; implementations as in `Imp::name`, scenarios as in
//! `SCENARIOS`), after 1,000 round trips of warm-up.
//! `mt IMPLEMENTATION SCENARIO ROUND_TRIPS`: the same for a multi-threaded
//! layout (`benches::rig::multi_thread`, 2 threads a side).

use std::time::Instant;

use benches::core_pair::CorePair;
use benches::rig::{self, Imp, SCENARIOS};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    match arg(0) {
        "decode" => {
            let len: usize = arg(1).parse().expect("PAYLOAD");
            let n: usize = arg(2).parse().expect("FRAMES");
            let mut one = bytes::BytesMut::new();
            slow_proto::frame::Frame::Response {
                id: slow_proto::RequestId::new(7),
                more: false,
                body: benches::body(len),
            }
            .encode(&mut one);
            let mut buf = bytes::BytesMut::with_capacity(one.len() * n);
            for _ in 0..n {
                buf.extend_from_slice(&one);
            }
            let start = Instant::now();
            for _ in 0..n {
                let frame = slow_proto::frame::decode(&mut buf, 65_536);
                std::hint::black_box(frame.expect("valid").expect("whole"));
            }
            println!(
                "{n} frames in {:?} ({:?} each)",
                start.elapsed(),
                start.elapsed() / n as u32
            );
        }
        "core" => {
            let len: usize = arg(1).parse().expect("BODY");
            let in_flight: usize = arg(2).parse().expect("IN_FLIGHT");
            let batches: usize = arg(3).parse().expect("BATCHES");
            let body = benches::body(len);
            let mut pair = CorePair::default();
            let start = Instant::now();
            for _ in 0..batches {
                pair.round_trips(&body, in_flight);
            }
            let n = batches * in_flight;
            println!(
                "{n} round trips in {:?} ({:?} each)",
                start.elapsed(),
                start.elapsed() / n as u32
            );
        }
        mode @ ("e2e" | "mt") => {
            let imps: &[Imp] = if mode == "mt" {
                &rig::multi_thread::IMPS
            } else {
                &Imp::ALL
            };
            let scenarios: &[rig::Scenario] = if mode == "mt" {
                &rig::multi_thread::SCENARIOS
            } else {
                &SCENARIOS
            };
            let imp = *imps
                .iter()
                .find(|i| i.name() == arg(1))
                .expect("IMPLEMENTATION: one of Imp::ALL's names (for mt: multi_thread::IMPS)");
            let scenario = *scenarios
                .iter()
                .find(|s| s.name == arg(2))
                .expect("SCENARIO: one of SCENARIOS' names (for mt: multi_thread::SCENARIOS)");
            let n: u64 = arg(3).parse().expect("ROUND_TRIPS");
            let mut bench = if mode == "mt" {
                rig::multi_thread::start(imp, scenario, 2)
            } else {
                rig::start(imp, scenario)
            };
            let mut latencies = Vec::new();
            bench.run(1000, &mut latencies);
            let took = bench.run(n, &mut latencies);
            println!("{n} round trips in {took:?} ({:?} each)", took / n as u32);
        }
        _ => {
            eprintln!(
                "usage: profile core BODY IN_FLIGHT BATCHES | profile e2e|mt IMPLEMENTATION SCENARIO ROUND_TRIPS"
            );
            std::process::exit(2);
        }
    }
}
