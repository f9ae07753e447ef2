//! Small runtime-agnostic helpers.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::mpsc;
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use slow_driver::runtime::{Reactor, Timer};

/// Runs `fut` for at most `limit`, timed by `rt`'s own timer (so a test on
/// tokio uses tokio's timer, one on smol async-io's, and so on: no other
/// runtime is pulled in). `None` when the time ran out.
pub async fn timeout<R: Reactor, F: Future>(rt: &R, limit: Duration, fut: F) -> Option<F::Output> {
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

/// Waits on `rt`'s own timer.
pub async fn sleep<R: Reactor>(rt: &R, d: Duration) {
    let mut timer = rt.timer(Instant::now() + d);
    poll_fn(|cx| timer.poll_expired(cx)).await
}

/// Polls every future concurrently (in one task) and returns their outputs
/// in order. Every future is polled once on the first poll, so requests
/// made by them are all on their way before any answer is awaited.
pub async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut left = futures.len();
    poll_fn(|cx| {
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                if let Poll::Ready(v) = f.as_mut().poll(cx) {
                    *out = Some(v);
                    left -= 1;
                }
            }
        }
        if left == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// Runs `f` on a new thread and waits at most `limit` for it. A call that
/// does not return in time is reported as `Err` and its thread is left
/// behind (the test fails rather than hangs). A panic is reported as `Err`
/// with its message.
pub fn with_watchdog<T: Send + 'static>(
    name: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(result);
        })
        .map_err(|e| format!("spawning {name}: {e}"))?;
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(panic)) => Err(format!("panicked: {}", panic_message(&*panic))),
        Err(_) => Err(format!("did not finish within {limit:?} (hang)")),
    }
}

/// The message of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic)".to_string()
    }
}

/// Polls `cond` every few milliseconds (on `rt`'s timer) until it holds or
/// `limit` passes; returns whether it held.
pub async fn wait_until<R: Reactor>(
    rt: &R,
    limit: Duration,
    mut cond: impl FnMut() -> bool,
) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        sleep(rt, Duration::from_millis(5)).await;
    }
}

/// Whether io_uring is available here, so that compio (slow-compio) can
/// run. If it is not, prints why `what` skips its compio part (or all of
/// it) and returns `false`: no test fails for lack of io_uring.
/// (`slow_compio::available` probes once per process on a thread of its
/// own, so asking never disturbs the caller's thread.)
pub fn io_uring(what: &str) -> bool {
    match slow_compio::available() {
        Ok(()) => true,
        Err(why) => {
            println!("{what}: compio skipped, io_uring is unavailable: {why}");
            false
        }
    }
}
