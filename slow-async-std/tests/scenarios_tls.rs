//! The shared adapter scenarios (`tests-common`) over mutual TLS on
//! async-std (`Server::tls`, `Client::connect_tls_on`; the raw peers speak
//! TLS too): `async_std::task::block_on`, tasks on async-std's global
//! executor, as in `scenarios.rs`.

use std::future::Future;
use std::time::Duration;

struct AsyncStdTest;

impl tests_common::TestRuntime for AsyncStdTest {
    type Runtime = slow_async_std::AsyncStd;
    type Raw = tests_common::ReadinessIo;

    fn block_on(f: impl Future<Output = ()>) {
        async_std::task::block_on(f)
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + 'static {
        async_std::task::sleep(d)
    }
}

tests_common::scenario_tests!(tls: AsyncStdTest, slow_async_std);
