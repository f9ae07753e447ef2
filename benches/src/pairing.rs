//! Paired rounds: an adapter and a baseline measured alternately in one
//! process (adapter, baseline, baseline, adapter, ...), so that both see
//! the same load on a busy machine; the targets are judged on the ratios.

use std::time::Duration;

use crate::report::{self, Paired};
use crate::rig::{Bench, Imp, Scenario};

/// `imp` and `base` in alternating rounds of about `ROUND` each.
pub fn paired(
    scenario: Scenario,
    imp: Imp,
    base: Imp,
    start: impl Fn(Imp, Scenario) -> Box<dyn Bench>,
) -> Paired {
    const ROUND: Duration = Duration::from_millis(80);
    let (rounds, calibrate) = if crate::test_mode() {
        (1, 1)
    } else {
        (15, 500)
    };
    let mut slow = start(imp, scenario);
    let mut baseline = start(base, scenario);
    let mut scratch = Vec::new();
    // Warm up both, and size a round from the warm-up.
    let per_round = |rig: &mut Box<dyn Bench>, scratch: &mut Vec<u64>| {
        let took = rig.run(calibrate, scratch);
        let n = (ROUND.as_secs_f64() / took.as_secs_f64() * calibrate as f64) as u64;
        if crate::test_mode() { 1 } else { n.max(50) }
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
