//! The shared adapter scenarios (`tests-common`) over mutual TLS on tokio
//! (`Server::tls`, `Client::connect_tls_on`; the raw peers speak TLS too):
//! a multi-thread runtime with 2 workers per test, as in `scenarios.rs`.

use std::future::Future;
use std::time::Duration;

struct TokioTest;

impl tests_common::TestRuntime for TokioTest {
    type Runtime = slow_tokio::Tokio;
    type Raw = tests_common::ReadinessIo;

    fn block_on(f: impl Future<Output = ()>) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(f)
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + 'static {
        tokio::time::sleep(d)
    }
}

tests_common::scenario_tests!(tls: TokioTest, slow_tokio);
