//! Every runtime end to end over loopback, each SLOW adapter beside a
//! hand-written baseline for the same runtime and wire format (see
//! `benches::rig` for threads and runtime flavours, `benches::baseline` for
//! what the baselines do). One iteration is one round trip; with several in
//! flight, criterion's time per iteration is wall time divided by round
//! trips. With one in flight every round trip is also timed on its own, for
//! p50 and p99.
//!
//! After criterion, each adapter is measured again against each of its
//! baselines (`Imp::baselines`: per request, pipelined, Framed) in
//! alternating rounds (adapter, baseline, baseline, adapter, ...), so that
//! both see the same load on a busy machine; the targets are judged on
//! those paired ratios.

use std::time::Duration;

use benches::report::{self, E2eResult};
use benches::rig::{self, Imp, SCENARIOS};
use criterion::{Criterion, Throughput};

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .configure_from_args();
    let mut results = Vec::new();
    for scenario in SCENARIOS {
        let mut group = c.benchmark_group(format!("e2e_{}", scenario.name));
        group.throughput(if scenario.body >= benches::LARGE {
            Throughput::Bytes(scenario.body as u64)
        } else {
            Throughput::Elements(1)
        });
        for imp in Imp::runnable() {
            let mut bench = None;
            let mut latencies = Vec::new();
            group.bench_function(imp.name(), |b| {
                let bench = bench.get_or_insert_with(|| rig::start(imp, scenario));
                b.iter_custom(|iters| bench.run(iters, &mut latencies))
            });
            let ran = bench.is_some();
            drop(bench);
            if ran && !benches::test_mode() {
                let group = format!("e2e_{}", scenario.name);
                let Some(e) = report::estimate(&group, imp.name()) else {
                    continue;
                };
                let mut us = |p| report::percentile(&mut latencies, p).map(|ns| ns as f64 / 1e3);
                results.push(E2eResult {
                    scenario,
                    imp,
                    per_sec: 1e9 / e.median_ns,
                    p50_us: us(50.0),
                    p99_us: us(99.0),
                });
            }
        }
        group.finish();
    }
    c.final_summary();
    let filters = positional_args();
    let filter_matches =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let mut paired_results = Vec::new();
    for scenario in SCENARIOS {
        for imp in Imp::runnable() {
            for base in imp.paired_with(&scenario) {
                let group = format!("e2e_{}/", scenario.name);
                if filter_matches(&format!("{group}{}", imp.name()))
                    || filter_matches(&format!("{group}{}", base.name()))
                {
                    paired_results.push(benches::pairing::paired(scenario, imp, base, rig::start));
                }
            }
        }
    }
    if !benches::test_mode() {
        report::print_e2e(&results);
        report::print_paired(&paired_results);
    }
}

/// criterion's positional filter(s), if any (matched as substrings here):
/// the arguments that are neither options nor the values of options.
fn positional_args() -> Vec<String> {
    const WITH_VALUE: [&str; 14] = [
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--output-format",
        "--color",
        "--plotting-backend",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--nresamples",
    ];
    let mut out = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if WITH_VALUE.contains(&arg.as_str()) || arg == "--profile-time" {
            args.next();
        } else if !arg.starts_with('-') {
            out.push(arg);
        }
    }
    out
}
