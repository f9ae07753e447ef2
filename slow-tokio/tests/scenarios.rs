//! The shared adapter scenarios (`tests-common/scenarios.rs`) on tokio: a
//! multi-thread runtime with 2 workers per test.

use std::future::Future;
use std::time::Duration;

use slow_tokio as rt;

type RtRuntime = slow_tokio::Tokio;

fn rt_block_on(f: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

fn rt_spawn(f: impl Future<Output = ()> + Send + 'static) {
    tokio::spawn(f);
}

fn rt_sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
    tokio::time::sleep(d)
}

include!("../../tests-common/scenarios.rs");
