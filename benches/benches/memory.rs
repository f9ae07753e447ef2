//! Allocations and memory, counted by a global allocator (deterministic
//! counts, not timings; the figures are printed, not timed by criterion).
//!
//! 1. Heap allocations per round trip in the cores (client and server
//!    together, steady state: warmed up, then counted over 10,000 round
//!    trips), for 64 B and 64 KiB bodies, 1 and 64 in flight.
//! 2. Heap per idle connection in the cores: N client–server pairs past the
//!    handshake, each side measured on its own.
//! 3. Heap per idle connection through each adapter (core, driver, tasks,
//!    timer, runtime registration, buffers): N connections to a SLOW server
//!    from heap-free `std::net` peers (server side), and N SLOW clients to a
//!    heap-free `std::net` server (client side). The baselines too.
//! 4. Heap allocations per round trip end to end (client and server in this
//!    process, runtime internals included), 64 B, 1 in flight.
//!
//! `tests/allocations.rs` asserts the core's target (≤ 2 per round trip).

use std::time::Duration;

use benches::alloc_count::{self, CountingAlloc};
use benches::core_pair::CorePair;
use benches::idle::{RawClients, RawServer};
use benches::rig::{self, IdleClients, Imp, SCENARIOS};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn core_allocs(len: usize, in_flight: usize, round_trips: usize) -> (f64, f64) {
    let mut pair = CorePair::default();
    let body = benches::body(len);
    let batches = round_trips.div_ceil(in_flight);
    for _ in 0..batches.max(100) {
        pair.round_trips(&body, in_flight);
    }
    let before = alloc_count::snapshot();
    let (allocs, ()) = alloc_count::count_thread_allocs(|| {
        for _ in 0..batches {
            pair.round_trips(&body, in_flight);
        }
    });
    let after = alloc_count::snapshot();
    let n = (batches * in_flight) as f64;
    (
        allocs as f64 / n,
        (after.allocated_bytes - before.allocated_bytes) as f64 / n,
    )
}

fn core_idle(n: usize) -> (f64, f64) {
    let mut clients = Vec::with_capacity(n);
    let mut servers = Vec::with_capacity(n);
    let s0 = alloc_count::snapshot().live_bytes;
    for _ in 0..n {
        let CorePair { client, server, .. } = CorePair::default();
        clients.push(client);
        servers.push(server);
    }
    let s1 = alloc_count::snapshot().live_bytes;
    drop(servers);
    let s2 = alloc_count::snapshot().live_bytes;
    drop(clients);
    ((s2 - s0) as f64 / n as f64, (s1 - s2) as f64 / n as f64)
}

/// Heap per idle connection on the server side of `imp`.
fn server_idle(imp: Imp, n: usize) -> f64 {
    let (addr, server) = rig::start_server(imp);
    let mut raw = RawClients::with_capacity(n + 1);
    raw.connect(addr).expect("warm-up connection");
    std::thread::sleep(Duration::from_millis(50));
    let s0 = alloc_count::snapshot().live_bytes;
    for _ in 0..n {
        raw.connect(addr).expect("connect");
    }
    std::thread::sleep(Duration::from_millis(200));
    let s1 = alloc_count::snapshot().live_bytes;
    drop(raw);
    drop(server);
    (s1 - s0) as f64 / n as f64
}

/// Heap per idle connection on the client side of `imp`.
fn client_idle(imp: Imp, n: usize) -> f64 {
    let raw = RawServer::start(n + 1).expect("raw server");
    let mut clients = IdleClients::new(imp, n + 1);
    clients.connect(raw.addr());
    clients.settle(Duration::from_millis(50));
    let s0 = alloc_count::snapshot().live_bytes;
    for _ in 0..n {
        clients.connect(raw.addr());
    }
    clients.settle(Duration::from_millis(200));
    let s1 = alloc_count::snapshot().live_bytes;
    assert_eq!(raw.wait_accepted(), n + 1);
    drop(clients);
    drop(raw);
    (s1 - s0) as f64 / n as f64
}

/// Allocations per round trip end to end, whole process.
fn e2e_allocs(imp: Imp, round_trips: u64) -> f64 {
    let mut bench = rig::start(imp, SCENARIOS[0]);
    let mut lat = Vec::with_capacity(2 * round_trips as usize + 1000);
    bench.run(1000, &mut lat);
    std::thread::sleep(Duration::from_millis(20));
    let before = alloc_count::snapshot().allocs;
    bench.run(round_trips, &mut lat);
    let after = alloc_count::snapshot().allocs;
    (after - before) as f64 / round_trips as f64
}

fn main() {
    let test = benches::test_mode();
    let (round_trips, idle_n, e2e_n) = if test {
        (200, 8, 200)
    } else {
        (10_000, 500, 10_000)
    };

    println!("## Heap allocations per round trip in the cores (client + server, steady state)\n");
    println!("| body | in flight | allocations / round trip | bytes allocated / round trip |");
    println!("|---|---|---|---|");
    for (name, len) in [("64 B", benches::SMALL), ("64 KiB", benches::LARGE)] {
        for in_flight in [1, 64] {
            let (a, b) = core_allocs(len, in_flight, round_trips);
            println!("| {name} | {in_flight} | {a:.3} | {b:.0} |");
        }
    }

    let (c, s) = core_idle(if test { 8 } else { 1000 });
    println!("\n## Heap per idle connection, cores only (past the handshake)\n");
    println!("| client core | server core |");
    println!("|---|---|");
    println!("| {c:.0} B | {s:.0} B |");

    println!("\n## Heap per idle connection through the adapters ({idle_n} connections)\n");
    println!("| implementation | server side | client side |");
    println!("|---|---|---|");
    for imp in Imp::runnable() {
        let s = server_idle(imp, idle_n);
        let c = client_idle(imp, idle_n);
        println!("| {} | {s:.0} B | {c:.0} B |", imp.name());
    }

    println!(
        "\n## Heap allocations per round trip end to end (64 B, 1 in flight, both sides, whole process)\n"
    );
    println!("| implementation | allocations / round trip |");
    println!("|---|---|");
    for imp in Imp::runnable() {
        println!("| {} | {:.2} |", imp.name(), e2e_allocs(imp, e2e_n));
    }
}
