//! The shared adapter scenarios (`tests-common`) on smol: `smol::block_on`,
//! tasks on smol's global executor.

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

tests_common::scenario_tests!(SmolTest, slow_smol);
