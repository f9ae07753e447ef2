//! Runtime-agnostic waiting: sleep, timeout, spawn-and-join, on the timer
//! and executor of the runtime under test (so a tokio test pulls in no
//! other runtime's timer, and so on).

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use slow_driver::runtime::{Runtime, Timer};

/// Waits `d` on `rt`'s timer.
pub async fn sleep<R: Runtime>(rt: &R, d: Duration) {
    let mut timer = rt.timer(Instant::now() + d);
    poll_fn(|cx| timer.poll_expired(cx)).await
}

/// Runs `fut` for at most `limit`; `None` when the time ran out (the
/// future is dropped then).
pub async fn timeout<R: Runtime, F: Future>(rt: &R, limit: Duration, fut: F) -> Option<F::Output> {
    let mut timer = rt.timer(Instant::now() + limit);
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        timer.poll_expired(cx).map(|()| None)
    })
    .await
}

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
    rt.spawn(Box::pin(async move {
        let _ = tx.send(fut.await).await;
    }));
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
