//! The cross-runtime interop matrix: a client on every runtime against the
//! INTEROP server on every runtime, over real loopback TCP, each cell
//! running the whole scenario list (`interop_tests::scenarios::SCENARIOS`).
//!
//! Every server runs on a runtime instance of its own, started once for
//! this test: tokio (2 workers `srv-tokio`), smol (an executor of its own on
//! 2 threads `srv-smol-N`), async-std (its global runtime: it has no other).
//! Every client runtime is its own instance too: tokio (2 workers
//! `cli-tokio`), smol (2 threads `cli-smol-N`), async-std (the same global
//! runtime; unavoidable). The fourth runtime is `slow-custom-example`'s
//! single-threaded mio event loop: its server on a thread of its own, its
//! completion-queue client run by the cell's thread. The fifth is
//! `slow-local-example`'s thread-per-core runtime, whose tasks are not
//! `Send`: its server on 2 threads `srv-local-N`, each with its own
//! executor and listener, its client a `PerCore` executor on the cell's
//! thread. The sixth is slow-compio, compio's thread-per-core runtime on
//! io_uring (completion-based IO, tasks not `Send`): its server a
//! `ThreadPerCore` on 2 threads `srv-compio-N`, each with its own runtime,
//! io_uring and listener, its client a compio runtime on the cell's thread.
//! Where io_uring is unavailable, the compio row and column are skipped
//! (the test says why) and the other 5 × 5 cells run. Each cell is bounded
//! by `CELL_LIMIT` and each scenario by `SCENARIO_LIMIT`: a hang fails, it
//! does not block.

use std::sync::Arc;
use std::time::Instant;

use interop_tests::clients::{ClientRuntime, run_cell};
use interop_tests::scenarios::{SCENARIOS, table};
use interop_tests::servers::{self, RunningServer};
use interop_tests::util::io_uring;
use slow_driver::Config;

#[test]
fn cross_runtime_matrix() {
    let start = Instant::now();
    let compio = io_uring("cross_runtime_matrix");
    let mut servers: Vec<RunningServer> = vec![
        servers::tokio(2, "srv-tokio"),
        servers::smol(2, "srv-smol"),
        servers::async_std(),
        servers::custom(),
        servers::local(2, "srv-local"),
    ];
    let mut clients: Vec<Arc<ClientRuntime>> = vec![
        Arc::new(ClientRuntime::tokio()),
        Arc::new(ClientRuntime::smol()),
        Arc::new(ClientRuntime::async_std()),
        Arc::new(ClientRuntime::custom()),
        Arc::new(ClientRuntime::local()),
    ];
    if compio {
        servers.push(servers::compio(2, "srv-compio"));
        clients.push(Arc::new(ClientRuntime::compio()));
    }

    let mut cells = Vec::new();
    for client in &clients {
        for server in &servers {
            let cell = run_cell(client, server.name, server.tcp(), Config::default());
            println!(
                "cell {:>9} client -> {:>9} server: {} in {:.2?}",
                cell.client,
                cell.server,
                if cell.passed() { "PASS" } else { "FAIL" },
                cell.elapsed
            );
            for o in &cell.outcomes {
                println!(
                    "    {:<40} {:>9.1?}  {}",
                    o.name,
                    o.elapsed,
                    match &o.result {
                        Ok(()) => "ok".to_string(),
                        Err(e) => format!("FAILED: {e}"),
                    }
                );
            }
            cells.push(cell);
        }
    }

    let client_names: Vec<&str> = clients.iter().map(|c| c.name()).collect();
    let server_names: Vec<&str> = servers.iter().map(|s| s.name).collect();
    println!(
        "\nSLOW interop matrix ({} scenarios per cell):\n",
        SCENARIOS.len()
    );
    println!("{}", table(&client_names, &server_names, &cells));
    let failures: Vec<String> = cells
        .iter()
        .flat_map(|c| {
            c.failures()
                .into_iter()
                .map(move |f| format!("{} client x {} server: {f}", c.client, c.server))
        })
        .collect();
    for f in &failures {
        println!("FAILED {f}");
    }

    let mut shutdown_errors = Vec::new();
    for server in servers {
        let name = server.name;
        let t = Instant::now();
        match server.shutdown() {
            Ok(()) => println!("{name} server shut down gracefully in {:.2?}", t.elapsed()),
            Err(e) => shutdown_errors.push(e),
        }
    }
    for client in clients {
        // A hung cell still holds its runtime: leave it then.
        if let Ok(client) = Arc::try_unwrap(client) {
            client.stop();
        }
    }
    println!("matrix took {:.2?}", start.elapsed());
    assert!(
        failures.is_empty(),
        "{} failure(s) in the matrix:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        shutdown_errors.is_empty(),
        "server shutdown: {shutdown_errors:?}"
    );
}
