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

use benches::report::{self, E2eResult, Paired};
use benches::rig::{self, Imp, SCENARIOS, Scenario};
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
            for &base in imp.baselines() {
                let group = format!("e2e_{}/", scenario.name);
                if filter_matches(&format!("{group}{}", imp.name()))
                    || filter_matches(&format!("{group}{}", base.name()))
                {
                    paired_results.push(paired(scenario, imp, base));
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

/// `imp` and `base` in alternating rounds of about `ROUND` each.
fn paired(scenario: Scenario, imp: Imp, base: Imp) -> Paired {
    const ROUND: Duration = Duration::from_millis(80);
    let (rounds, calibrate) = if benches::test_mode() {
        (1, 1)
    } else {
        (15, 500)
    };
    let mut slow = rig::start(imp, scenario);
    let mut baseline = rig::start(base, scenario);
    let mut scratch = Vec::new();
    // Warm up both, and size a round from the warm-up.
    let per_round = |rig: &mut Box<dyn rig::Bench>, scratch: &mut Vec<u64>| {
        let took = rig.run(calibrate, scratch);
        let n = (ROUND.as_secs_f64() / took.as_secs_f64() * calibrate as f64) as u64;
        if benches::test_mode() { 1 } else { n.max(50) }
    };
    let n_slow = per_round(&mut slow, &mut scratch);
    let n_base = per_round(&mut baseline, &mut scratch);
    let (mut lat_slow, mut lat_base) = (Vec::new(), Vec::new());
    let (mut rate_slow, mut rate_base, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let mut run_slow = || n_slow as f64 / slow.run(n_slow, &mut lat_slow).as_secs_f64();
        let mut run_base = || n_base as f64 / baseline.run(n_base, &mut lat_base).as_secs_f64();
        let (s, b) = if r % 2 == 0 {
            let s = run_slow();
            (s, run_base())
        } else {
            let b = run_base();
            (run_slow(), b)
        };
        rate_slow.push(s);
        rate_base.push(b);
        ratios.push(s / b);
    }
    let us = |v: &mut Vec<u64>| report::percentile(v, 50.0).map(|ns| ns as f64 / 1e3);
    Paired {
        scenario,
        imp,
        base,
        ratios,
        slow_per_sec: report::median(&mut rate_slow),
        base_per_sec: report::median(&mut rate_base),
        slow_p50_us: us(&mut lat_slow),
        base_p50_us: us(&mut lat_base),
    }
}
