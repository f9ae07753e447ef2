//! Runtime-agnostic waiting: sleep, timeout, spawn-and-join, on the timer
//! and executor of the runtime under test (so a tokio test pulls in no
//! other runtime's timer, and so on).

use std::future::Future;

use slow_driver::runtime::Runtime;

// The same helpers the interop tests use, one copy of each.
pub use interop_tests::util::{sleep, timeout};

/// Spawns `fut` on `rt` and returns a future of its output (`None` if the
/// task was dropped before finishing, e.g. its runtime shut down).
pub fn spawn<R, T, F>(rt: &R, fut: F) -> impl Future<Output = Option<T>> + Send + 'static
where
    R: Runtime,
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    // async-channel: no reactor, no thread, works on every runtime.
    let (tx, rx) = smol::channel::bounded(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await).await;
    });
    async move { rx.recv().await.ok() }
}

/// Awaits every future in turn (they run concurrently as spawned tasks;
/// this only collects them).
pub async fn join_all<T>(handles: Vec<impl Future<Output = Option<T>>>) -> Vec<Option<T>> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await);
    }
    out
}
