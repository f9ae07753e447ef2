//! The shared adapter scenarios (`tests-common/scenarios.rs`) on async-std:
//! `async_std::task::block_on`, tasks on async-std's global executor.

use std::future::Future;
use std::time::Duration;

use slow_async_std as rt;

type RtRuntime = slow_async_std::AsyncStd;

fn rt_block_on(f: impl Future<Output = ()>) {
    async_std::task::block_on(f)
}

fn rt_spawn(f: impl Future<Output = ()> + Send + 'static) {
    // Dropping the JoinHandle detaches the task.
    drop(async_std::task::spawn(f));
}

fn rt_sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
    async_std::task::sleep(d)
}

include!("../../tests-common/scenarios.rs");
