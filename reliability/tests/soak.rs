//! Scenario 7, soak (not part of `cargo test`; scripts/reliability.sh runs
//! it): chaos rounds (tests/chaos.rs's mix through the fault proxy) against
//! every server in turn (the five, or four where io_uring is unavailable
//! for compio's), for `RELIABILITY_SOAK_SECS` seconds (default
//! 30 here, 300 in the script).
//!
//! Every round is verified like a chaos test. Between rounds, once every
//! client is gone, the live heap is sampled: it must stay flat (the last
//! quarter of the run no more than 1 MiB + 5% above the second quarter),
//! every server must be back to zero tasks, and at the end the process
//! must hold exactly the file descriptors it held after the first round.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reliability::chaos::{self, ChaosSize};
use reliability::measure::{self, mib};
use reliability::proxy::Proxy;
use reliability::{Kind, SERVERS, TestServer, on_runtime, rng};

#[global_allocator]
static ALLOC: measure::CountingAlloc = measure::CountingAlloc;

const CLIENTS: [Kind; 3] = [Kind::Tokio, Kind::Smol, Kind::AsyncStd];

fn soak_secs() -> u64 {
    std::env::var("RELIABILITY_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

/// The process's descriptors, by what they point at.
fn fd_targets() -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
    {
        let target = std::fs::read_link(e.path()).map_or("?".into(), |p| p.display().to_string());
        // Sockets and pipes differ by inode only: count them by kind.
        let kind = target.split(':').next().unwrap_or("?").to_string();
        *m.entry(kind).or_default() += 1;
    }
    m
}

fn median(v: &[usize]) -> usize {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

#[test]
#[ignore = "long: scripts/reliability.sh runs it (RELIABILITY_SOAK_SECS, default 300 there)"]
fn soak() {
    assert!(
        measure::counting(),
        "the counting allocator is not installed"
    );
    let secs = soak_secs();
    let seed = rng::seed("soak", 70);
    let servers: Vec<TestServer> = SERVERS
        .iter()
        .filter(|k| k.runs_here("soak"))
        .map(|&k| TestServer::start(k, chaos::server_config()))
        .collect();
    let started = Instant::now();
    let end = started + Duration::from_secs(secs);
    let (mut heap, mut rss) = (Vec::new(), Vec::new());
    let mut fds_after_first = None;
    let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut faults: BTreeMap<String, usize> = BTreeMap::new();
    let mut violations = Vec::new();
    let mut round = 0u64;
    while round < servers.len() as u64 || Instant::now() < end {
        let srv = &servers[round as usize % servers.len()];
        let client = CLIENTS[(round as usize / servers.len()) % CLIENTS.len()];
        let seed = seed.wrapping_add(round);
        // A proxy per round: its records of every connection are test
        // bookkeeping, and must not look like the server's growth.
        let proxy = Proxy::start(srv.addr, seed, chaos::plan).expect("proxy");
        let size = ChaosSize {
            seed,
            connections: 6,
            ops: 10,
            concurrency: 3,
            max_body: 128 * 1024,
        };
        let (proxy_addr, direct_addr) = (proxy.addr(), srv.addr);
        let report = on_runtime!(client, |rt| chaos::run(rt, proxy_addr, direct_addr, size));
        let verdict = chaos::verify(&report, &proxy);
        for (k, n) in verdict.outcomes {
            *outcomes.entry(k).or_default() += n;
        }
        for (k, n) in verdict.faults {
            *faults.entry(k).or_default() += n;
        }
        let tag = format!(
            "round {round} ({} server, {} client, seed {seed})",
            srv.kind.name(),
            client.name()
        );
        violations.extend(
            verdict
                .violations
                .into_iter()
                .map(|v| format!("{tag}: {v}")),
        );
        if !proxy.wait_idle(Duration::from_secs(15)) {
            violations.push(format!("{tag}: proxied connections still open"));
        }
        drop(proxy);
        for s in &servers {
            if let Some(t) = &s.tasks {
                let left = t.wait_at_most(0, Duration::from_secs(10));
                if left > 0 {
                    violations.push(format!(
                        "{tag}: {} server has {left} tasks left",
                        s.kind.name()
                    ));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        heap.push(measure::heap_in_use());
        rss.push(measure::rss_bytes().unwrap_or(0));
        if round == servers.len() as u64 - 1 {
            // Every server and client runtime has run once: what they
            // keep open for good is open now.
            fds_after_first = Some(fd_targets());
        }
        round += 1;
        if round % 20 == 0 {
            println!(
                "soak: {:>4}s round {round}: heap {}, RSS {}, outcomes {outcomes:?}",
                started.elapsed().as_secs(),
                mib(*heap.last().unwrap_or(&0)),
                mib(*rss.last().unwrap_or(&0))
            );
        }
    }
    let fds_end = fd_targets();
    let q = heap.len() / 4;
    let (second_quarter, last_quarter) = (median(&heap[q..2 * q]), median(&heap[heap.len() - q..]));
    let growth = last_quarter.saturating_sub(second_quarter);
    let allowed = (1 << 20) + second_quarter / 20;
    println!(
        "figure: soak {:.0?}, {round} chaos rounds over the {} servers: outcomes {outcomes:?}; faults \
         fired {faults:?}; heap between rounds: min {} max {} first {} last {}, median of the \
         2nd quarter {} and of the last {} (growth {growth} B, allowed {allowed} B); RSS first \
         {} last {} max {}; descriptors after round {} {:?}, at the end {fds_end:?}; {} violations",
        started.elapsed(),
        servers.len(),
        mib(heap.iter().copied().min().unwrap_or(0)),
        mib(heap.iter().copied().max().unwrap_or(0)),
        mib(heap[0]),
        mib(*heap.last().unwrap_or(&0)),
        mib(second_quarter),
        mib(last_quarter),
        mib(rss[0]),
        mib(*rss.last().unwrap_or(&0)),
        mib(rss.iter().copied().max().unwrap_or(0)),
        servers.len(),
        fds_after_first,
        violations.len(),
    );
    assert!(
        violations.is_empty(),
        "{}",
        violations[..violations.len().min(20)].join("\n")
    );
    assert!(growth <= allowed, "heap grew by {growth} B over the run");
    assert_eq!(Some(fds_end), fds_after_first, "descriptors leaked");
    for s in servers {
        s.shutdown().expect("graceful shutdown");
    }
}
