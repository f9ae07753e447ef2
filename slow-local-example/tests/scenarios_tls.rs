//! The shared adapter scenarios (`tests-common`) over mutual TLS on the
//! thread-per-core runtime (`Server::tls`, `Client::connect_tls_on`; the
//! raw peers speak TLS too): a `PerCore` executor per test, on the test's
//! thread, as in `scenarios.rs`; nothing it runs is `Send`.

use std::future::Future;
use std::time::Duration;

use slow_local_example::PerCore;

struct PerCoreTest;

impl tests_common::TestRuntime for PerCoreTest {
    type Runtime = PerCore;
    type Raw = tests_common::ReadinessIo;

    fn block_on(f: impl Future<Output = ()>) {
        PerCore::new().block_on(f)
    }

    async fn sleep(d: Duration) {
        smol::Timer::after(d).await;
    }
}

tests_common::scenario_tests!(tls: PerCoreTest);
