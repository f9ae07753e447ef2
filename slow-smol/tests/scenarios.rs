//! The shared adapter scenarios (`tests-common/scenarios.rs`) on smol:
//! `smol::block_on`, tasks on smol's global executor.

use std::future::Future;
use std::time::Duration;

use slow_smol as rt;

type RtRuntime = slow_smol::Smol;

fn rt_block_on(f: impl Future<Output = ()>) {
    smol::block_on(f)
}

fn rt_spawn(f: impl Future<Output = ()> + Send + 'static) {
    smol::spawn(f).detach();
}

async fn rt_sleep(d: Duration) {
    smol::Timer::after(d).await;
}

include!("../../tests-common/scenarios.rs");
