//! A client core and a server core exchanging requests and responses in
//! memory (no IO, no threads, a virtual clock): round trips/s for 64 B and
//! 64 KiB bodies, 1 and 64 in flight. One iteration is one batch of
//! `in flight` requests sent together and all answered (echoed); criterion's
//! throughput is round trips/s.
//!
//! Bytes move as an adapter moves them: one copy from the sender's transmit
//! slices into the receiver's `recv_buffer` (standing in for the kernel's
//! copy on a socket read), at most the buffer's spare capacity per "read".
//! So this is the whole per-request cost of both cores, without the network.

use std::hint::black_box;
use std::time::Duration;

use benches::core_pair::CorePair;
use criterion::{Criterion, Throughput};

const CASES: [(&str, usize, usize); 4] = [
    ("64B_x1", benches::SMALL, 1),
    ("64B_x64", benches::SMALL, 64),
    ("64KiB_x1", benches::LARGE, 1),
    ("64KiB_x64", benches::LARGE, 64),
];

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    let mut group = c.benchmark_group("core_pair");
    for (name, len, in_flight) in CASES {
        let body = benches::body(len);
        let mut pair = CorePair::default();
        group.throughput(Throughput::Elements(in_flight as u64));
        group.bench_function(name, |b| {
            b.iter(|| black_box(pair.round_trips(&body, in_flight)))
        });
    }
    group.finish();
    c.final_summary();
    if !benches::test_mode() {
        let rows: Vec<_> = CASES
            .iter()
            .map(|&(name, len, n)| {
                (
                    "core_pair".to_string(),
                    name.to_string(),
                    n as u64,
                    (len * n) as u64,
                )
            })
            .collect();
        benches::report::print_rates(
            "Core pair (round trips; MiB/s counts response bodies)",
            &rows,
        );
    }
}
