//! The demo's matrix in-process, with a short throughput run: every
//! runtime's client against every runtime's server.

use std::time::Duration;

use slow_cli::RuntimeKind;
use slow_cli::demo::{self, Throughput};

#[test]
fn every_client_works_with_every_server() {
    let throughput = Throughput {
        duration: Duration::from_millis(50),
        in_flight: 16,
    };
    let cells = demo::run(&RuntimeKind::ALL, throughput).expect("servers start");
    let table = demo::render(&RuntimeKind::ALL, &cells);
    assert_eq!(cells.len(), 16, "{table}");
    assert!(cells.iter().all(|c| c.passed()), "{table}");
}
