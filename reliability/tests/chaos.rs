//! Scenario 1, chaos: mixed traffic (echo, large bodies, deadlines, cancels
//! by drop, notifications both ways) through the fault proxy against every
//! runtime's INTEROP server, a client of another runtime on the other end.
//!
//! Every request must end in exactly one outcome consistent with the fault
//! its connection suffered (`chaos::verify`), no caller may wait past its
//! deadline plus 2 s, the server must keep answering a clean connection
//! throughout, and afterwards no proxied connection, client task or server
//! task may be left.

use std::time::{Duration, Instant};

use reliability::chaos::{self, ChaosSize};
use reliability::proxy::Proxy;
use reliability::{Kind, TestServer, on_runtime, rng};

fn chaos_against(server: Kind, client: Kind, default_seed: u64) {
    let name = format!("chaos {} server, {} client", server.name(), client.name());
    if !server.runs_here(&name) {
        return;
    }
    let seed = rng::seed(&name, default_seed);
    let srv = TestServer::start(server, chaos::server_config());
    let proxy = Proxy::start(srv.addr, seed, chaos::plan).expect("proxy");
    let size = ChaosSize {
        seed,
        connections: 8,
        ops: 12,
        concurrency: 3,
        max_body: 256 * 1024,
    };
    let started = Instant::now();
    let (proxy_addr, direct_addr) = (proxy.addr(), srv.addr);
    let report = on_runtime!(client, |rt| chaos::run(rt, proxy_addr, direct_addr, size));
    let verdict = chaos::verify(&report, &proxy);
    let took = started.elapsed();

    // Whatever the faults did, every proxied connection ends, and the
    // server is left with no task and no handler.
    let proxy_idle = proxy.wait_idle(Duration::from_secs(10));
    let server_tasks = srv
        .tasks
        .as_ref()
        .map(|t| t.wait_at_most(0, Duration::from_secs(10)));
    let running = srv.handlers.as_ref().map(|h| h.running());
    let st = proxy.stats();
    println!(
        "figure: {name}: seed {seed}, {took:.1?}; ops {:?}; outcomes {:?}; faults fired {:?}; \
         direct requests {} all correct; worst wait beyond a limit {:?}; proxy pieces {} \
         (single bytes {}), delays {}, up {} B, down {} B; server tasks left {server_tasks:?}",
        verdict.ops,
        verdict.outcomes,
        verdict.faults,
        verdict.direct,
        verdict.worst_overrun,
        st.pieces.load(std::sync::atomic::Ordering::Relaxed),
        st.single_bytes.load(std::sync::atomic::Ordering::Relaxed),
        st.delays.load(std::sync::atomic::Ordering::Relaxed),
        st.bytes_up.load(std::sync::atomic::Ordering::Relaxed),
        st.bytes_down.load(std::sync::atomic::Ordering::Relaxed),
    );
    assert!(
        verdict.violations.is_empty(),
        "{name} (RELIABILITY_SEED={seed}):\n{}",
        verdict.violations.join("\n")
    );
    assert!(verdict.direct > 0, "the direct connection made no request");
    assert!(
        proxy_idle,
        "{name}: proxied connections still open 10 s after the clients left"
    );
    assert_eq!(server_tasks.unwrap_or(0), 0, "{name}: server tasks leaked");
    assert_eq!(running.unwrap_or(0), 0, "{name}: handlers still running");
    srv.shutdown().expect("graceful shutdown");
}

#[test]
fn chaos_tokio_server_smol_client() {
    chaos_against(Kind::Tokio, Kind::Smol, 11);
}

#[test]
fn chaos_smol_server_async_std_client() {
    chaos_against(Kind::Smol, Kind::AsyncStd, 12);
}

#[test]
fn chaos_async_std_server_tokio_client() {
    chaos_against(Kind::AsyncStd, Kind::Tokio, 13);
}

#[test]
fn chaos_custom_server_tokio_client() {
    chaos_against(Kind::Custom, Kind::Tokio, 14);
}

#[test]
fn chaos_compio_server_smol_client() {
    chaos_against(Kind::Compio, Kind::Smol, 15);
}
