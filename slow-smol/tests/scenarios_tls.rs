//! The shared adapter scenarios (`tests-common`) over mutual TLS on smol
//! (`Server::tls`, `Client::connect_tls_on`; the raw peers speak TLS too):
//! `smol::block_on`, tasks on smol's global executor, as in `scenarios.rs`.

use std::future::Future;
use std::time::Duration;

struct SmolTest;

impl tests_common::TestRuntime for SmolTest {
    type Runtime = slow_smol::Smol;
    type Raw = tests_common::ReadinessIo;

    fn block_on(f: impl Future<Output = ()>) {
        smol::block_on(f)
    }

    async fn sleep(d: Duration) {
        smol::Timer::after(d).await;
    }
}

tests_common::scenario_tests!(tls: SmolTest, slow_smol);
