//! The demo's matrix in-process, with a short throughput run: every
//! runtime's client against every runtime's server.

use std::time::Duration;

use slow_cli::RuntimeKind;
use slow_cli::demo::{self, Throughput};

/// Every runtime's client against every runtime's server: 5×5 with
/// compio, 4×4 where io_uring is not there (and the reason said).
#[test]
fn every_client_works_with_every_server() {
    let throughput = Throughput {
        duration: Duration::from_millis(50),
        in_flight: 16,
    };
    let runtimes: Vec<RuntimeKind> = RuntimeKind::ALL
        .into_iter()
        .filter(|kind| match kind.available() {
            Ok(()) => true,
            Err(why) => {
                eprintln!("{kind} skipped: {why}");
                false
            }
        })
        .collect();
    assert!(runtimes.len() >= 4, "{runtimes:?}");
    let cells = demo::run(&runtimes, throughput).expect("servers start");
    let table = demo::render(&runtimes, &cells);
    assert_eq!(cells.len(), runtimes.len() * runtimes.len(), "{table}");
    assert!(cells.iter().all(|c| c.passed()), "{table}");
}

/// The demo's TLS round: every client runtime with TLS against every
/// server runtime with TLS, over mutual TLS with the demo's own
/// certificates: 4×4, the custom loop's own TLS among them (compio has
/// none in `slow` yet).
#[test]
fn every_tls_client_works_with_every_tls_server() {
    let throughput = Throughput {
        duration: Duration::from_millis(50),
        in_flight: 16,
    };
    let runtimes = demo::tls_runtimes(&RuntimeKind::ALL);
    assert_eq!(
        runtimes,
        [
            RuntimeKind::Tokio,
            RuntimeKind::AsyncStd,
            RuntimeKind::Smol,
            RuntimeKind::Custom
        ]
    );
    let pki = slow_cli::certs::DemoPki::generate().expect("certificates");
    let cells = demo::run_tls(&runtimes, throughput, &pki).expect("servers start");
    let table = demo::render_tls(&runtimes, &cells);
    assert!(
        table.starts_with("interop matrix over mutual TLS"),
        "{table}"
    );
    assert_eq!(cells.len(), runtimes.len() * runtimes.len(), "{table}");
    assert!(cells.iter().all(|c| c.passed()), "{table}");
}
