//! Multi-threaded layouts (see `benches::rig::multi_thread`): slow-tokio on
//! a 2-worker multi-thread runtime on both sides against the pipelined
//! tokio code and tokio-util `Framed` on the same layout, and slow-smol on
//! 2-thread executors against pipelined smol, in paired rounds. The
//! targets: ≥ 0.5× the pipelined code at 1 connection × 64 in flight,
//! ≥ 0.8× at 64 connections × 4 in flight.
//!
//! ```sh
//! cargo bench -p benches --bench multi_thread
//! ```

use benches::pairing::paired;
use benches::report;
use benches::rig::Imp;
use benches::rig::multi_thread::{SCENARIOS, start};

/// Threads on each side.
const THREADS: usize = 2;

fn main() {
    let mut results = Vec::new();
    for scenario in SCENARIOS {
        for (imp, base) in [
            (Imp::SlowTokio, Imp::PipelinedTokio),
            (Imp::SlowTokio, Imp::FramedTokio),
            (Imp::SlowSmol, Imp::PipelinedSmol),
        ] {
            results.push(paired(scenario, imp, base, |imp, s| start(imp, s, THREADS)));
        }
    }
    if !benches::test_mode() {
        report::print_paired(&results);
    }
}
