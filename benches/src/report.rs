//! Reads criterion's estimates back (from this run) and prints the tables
//! of `docs/BENCHMARKS.md`, ratios and targets included.

use std::path::PathBuf;

use crate::rig::{Imp, SCENARIOS, Scenario};

/// Where criterion writes its results: the same rule criterion follows.
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    let from_metadata = std::env::var_os("CARGO").and_then(|cargo| {
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(PathBuf::from(v["target_directory"].as_str()?))
    });
    from_metadata
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("criterion")
}

/// Criterion's point estimates for one benchmark, in ns per iteration.
#[derive(Debug, Clone, Copy)]
pub struct Estimate {
    /// Mean time per iteration.
    pub mean_ns: f64,
    /// Median time per iteration.
    pub median_ns: f64,
}

/// The estimates of `group`/`function` from the latest run, if any.
pub fn estimate(group: &str, function: &str) -> Option<Estimate> {
    let path = criterion_dir()
        .join(group)
        .join(function)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(Estimate {
        mean_ns: v["mean"]["point_estimate"].as_f64()?,
        median_ns: v["median"]["point_estimate"].as_f64()?,
    })
}

/// The `p`-th percentile (0–100) of `samples`, sorting them.
pub fn percentile(samples: &mut [u64], p: f64) -> Option<u64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    Some(samples[rank.min(samples.len() - 1)])
}

/// What one end-to-end benchmark of this run measured.
#[derive(Debug, Clone)]
pub struct E2eResult {
    /// The scenario.
    pub scenario: Scenario,
    /// The implementation.
    pub imp: Imp,
    /// Round trips per second (from criterion's median time per iteration).
    pub per_sec: f64,
    /// Per-request latency percentiles (1 in flight only): p50, p99, in µs.
    pub p50_us: Option<f64>,
    /// 99th percentile, µs.
    pub p99_us: Option<f64>,
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k/s", r / 1e3)
    } else {
        format!("{r:.0}/s")
    }
}

/// Prints the end-to-end table (markdown); the targets are judged on the
/// paired rounds ([`print_paired`]).
pub fn print_e2e(results: &[E2eResult]) {
    let find = |s: &Scenario, imp: Imp| {
        results
            .iter()
            .find(|r| r.scenario.name == s.name && r.imp == imp)
    };
    println!("\n## End to end over loopback (this run)\n");
    println!(
        "| scenario | implementation | round trips/s | body MiB/s (each way) | p50 µs | p99 µs | vs pipelined (req/s) | vs pipelined (p50) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for s in SCENARIOS {
        for imp in Imp::ALL {
            let Some(r) = find(&s, imp) else { continue };
            let base = imp.pipelined_baseline().and_then(|b| find(&s, b));
            let ratio = base.map(|b| r.per_sec / b.per_sec);
            let p50_ratio = base.and_then(|b| Some(r.p50_us? / b.p50_us?));
            let mib = r.per_sec * s.body as f64 / (1024.0 * 1024.0);
            println!(
                "| {} | {} | {} | {:.1} | {} | {} | {} | {} |",
                s.what,
                imp.name(),
                fmt_rate(r.per_sec),
                mib,
                r.p50_us.map_or("–".into(), |v| format!("{v:.1}")),
                r.p99_us.map_or("–".into(), |v| format!("{v:.1}")),
                ratio.map_or("–".into(), |v| format!("{v:.3}×")),
                p50_ratio.map_or("–".into(), |v| format!("{v:.3}×")),
            );
        }
    }
}

/// Prints a throughput table for the codec or the core pair from this
/// run's estimates: per-iteration `elements` and `bytes`.
pub fn print_rates(title: &str, rows: &[(String, String, u64, u64)]) {
    println!("\n## {title} (this run)\n");
    println!("| benchmark | time/iter | per second | MiB/s |");
    println!("|---|---|---|---|");
    for (group, function, elements, bytes) in rows {
        let Some(e) = estimate(group, function) else {
            continue;
        };
        let per_iter = e.median_ns;
        let per_sec = *elements as f64 * 1e9 / per_iter;
        let mib = *bytes as f64 * 1e9 / per_iter / (1024.0 * 1024.0);
        println!(
            "| {group}/{function} | {} | {} | {:.0} |",
            fmt_ns(per_iter),
            fmt_rate(per_sec),
            mib
        );
    }
}

/// A duration in ns, with a readable unit.
pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// An adapter and its baseline measured in alternating rounds.
#[derive(Debug, Clone)]
pub struct Paired {
    /// The scenario.
    pub scenario: Scenario,
    /// The SLOW adapter.
    pub imp: Imp,
    /// The baseline it ran against.
    pub base: Imp,
    /// Per round: the adapter's round trips/s over the baseline's.
    pub ratios: Vec<f64>,
    /// Round trips/s of each side, median over rounds.
    pub slow_per_sec: f64,
    /// The baseline's.
    pub base_per_sec: f64,
    /// p50 latency of each side over all rounds, µs (1 in flight only).
    pub slow_p50_us: Option<f64>,
    /// The baseline's.
    pub base_p50_us: Option<f64>,
}

/// The median of `v` (sorting it).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// What a paired ratio is held to (the targets of docs/BENCHMARKS.md):
/// `(what, bound, at least)`; `None` where no target is set. The targets
/// on pipelined code are judged against the adapter's own pipelined
/// baseline ([`Imp::pipelined_baseline`]: its runtime's, or tokio's for
/// the custom loop); slow-async-std against smol's and slow-compio
/// against tokio's are shown, not judged, but at 64 KiB, whose target is
/// set against the tokio code for every adapter (each is paired with it
/// there: [`Imp::paired_with`]).
pub fn target(scenario: &Scenario, imp: Imp, base: Imp) -> Option<(&'static str, f64, bool)> {
    let pipelined = imp.pipelined_baseline() == Some(base);
    match scenario.name {
        "latency_1" if pipelined => Some(("p50", 1.10, false)),
        "inflight_64" if imp == Imp::Custom => Some(("req/s", 1.0, true)),
        "inflight_64" if pipelined => Some(("req/s", 0.6, true)),
        "inflight_64" if base == Imp::FramedTokio => Some(("req/s (moonshot)", 1.0, true)),
        "conns_64" if pipelined => Some(("req/s", 0.9, true)),
        "body_64k" if base == Imp::PipelinedTokio => Some(("req/s", 0.95, true)),
        "mt_inflight_64" if pipelined => Some(("req/s", 0.5, true)),
        "mt_conns_64x4" if pipelined => Some(("req/s", 0.8, true)),
        _ => None,
    }
}

/// Prints the paired comparison and each target's verdict.
pub fn print_paired(results: &[Paired]) {
    println!("\n## Adapter vs baseline, alternating rounds (this run)\n");
    println!(
        "| scenario | adapter | baseline | rounds | adapter req/s | baseline req/s | ratio (median of rounds) | min–max | p50 µs adapter / baseline | p50 ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut verdicts = Vec::new();
    for p in results {
        let mut ratios = p.ratios.clone();
        let ratio = median(&mut ratios);
        let (lo, hi) = (ratios[0], ratios[ratios.len() - 1]);
        let p50_ratio = p.slow_p50_us.zip(p.base_p50_us).map(|(s, b)| s / b);
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.3}× | {:.2}–{:.2} | {} | {} |",
            p.scenario.what,
            p.imp.name(),
            p.base.name(),
            p.ratios.len(),
            fmt_rate(p.slow_per_sec),
            fmt_rate(p.base_per_sec),
            ratio,
            lo,
            hi,
            p.slow_p50_us
                .zip(p.base_p50_us)
                .map_or("–".into(), |(s, b)| format!("{s:.1} / {b:.1}")),
            p50_ratio.map_or("–".into(), |v| format!("{v:.3}×")),
        );
        let Some((what, bound, at_least)) = target(&p.scenario, p.imp, p.base) else {
            continue;
        };
        let x = if what == "p50" {
            let Some(x) = p50_ratio else { continue };
            x
        } else {
            ratio
        };
        let met = if at_least { x >= bound } else { x <= bound };
        verdicts.push(format!(
            "{} vs {}, {}: {what} {x:.3}× (target {} {bound}): {}",
            p.imp.name(),
            p.base.name(),
            p.scenario.what,
            if at_least { "≥" } else { "≤" },
            if met { "met" } else { "MISSED" }
        ));
    }
    println!();
    for v in verdicts {
        println!("- {v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_judged_against_the_adapters_own_pipelined_baseline() {
        let latency = &SCENARIOS[0];
        assert_eq!(latency.name, "latency_1");
        let judged = |imp, base| target(latency, imp, base).is_some();
        assert!(judged(Imp::SlowAsyncStd, Imp::PipelinedAsyncStd));
        assert!(!judged(Imp::SlowAsyncStd, Imp::PipelinedSmol));
        assert!(judged(Imp::SlowSmol, Imp::PipelinedSmol));
        assert!(judged(Imp::SlowTokio, Imp::PipelinedTokio));
        assert!(judged(Imp::SlowCompio, Imp::PipelinedCompio));
        assert!(!judged(Imp::SlowCompio, Imp::PipelinedTokio));
        assert!(judged(Imp::Custom, Imp::PipelinedTokio));
        assert!(!judged(Imp::SlowTokio, Imp::BaselineTokio));
    }

    #[test]
    fn compio_is_still_paired_with_the_tokio_code_and_judged_there_at_64_kib() {
        let large = &SCENARIOS[3];
        assert_eq!(large.name, "body_64k");
        assert_eq!(
            Imp::SlowCompio.pipelined_baseline(),
            Some(Imp::PipelinedCompio)
        );
        for imp in [Imp::SlowTokio, Imp::SlowCompio, Imp::Custom] {
            assert!(imp.baselines().contains(&Imp::PipelinedTokio), "{imp:?}");
        }
        // At 64 KiB every adapter is paired with the tokio code and judged.
        for imp in Imp::ALL
            .into_iter()
            .filter(|imp| !imp.baselines().is_empty())
        {
            let bases = imp.paired_with(large);
            assert!(bases.contains(&Imp::PipelinedTokio), "{imp:?}");
            assert!(target(large, imp, Imp::PipelinedTokio).is_some(), "{imp:?}");
        }
        // Elsewhere smol and async-std are paired with their own runtime's.
        let small = &SCENARIOS[0];
        assert!(
            !Imp::SlowSmol
                .paired_with(small)
                .contains(&Imp::PipelinedTokio)
        );
        assert_eq!(
            Imp::SlowAsyncStd.paired_with(small),
            Imp::SlowAsyncStd.baselines()
        );
        assert!(target(large, Imp::SlowCompio, Imp::PipelinedCompio).is_none());
    }
}
