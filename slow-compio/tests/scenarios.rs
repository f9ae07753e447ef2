//! The shared adapter scenarios (`tests-common`) on compio: a compio
//! runtime (its own io_uring) per test, completion-based streams, the
//! driver's local path. Without io_uring on this machine every scenario says
//! why on stderr and passes without running.

use std::future::Future;
use std::time::Duration;

struct CompioTest;

impl tests_common::TestRuntime for CompioTest {
    type Runtime = slow_compio::Compio;
    type Raw = tests_common::CompletionIo;

    fn block_on(f: impl Future<Output = ()>) {
        slow_compio::runtime().expect("io_uring").block_on(f)
    }

    async fn sleep(d: Duration) {
        compio::time::sleep(d).await;
    }

    fn unavailable() -> Option<String> {
        slow_compio::available().err().map(|e| e.to_string())
    }
}

tests_common::scenario_tests!(CompioTest);
