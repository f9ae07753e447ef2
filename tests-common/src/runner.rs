//! What a scenario needs from its runtime, and the bounds every scenario
//! runs under: the whole of it by [`LIMIT`], every wait inside it by
//! [`WAIT`]. There are no timing assertions beyond those generous bounds.

use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::combinators::race;

/// No scenario may take longer than this, whatever goes wrong.
pub const LIMIT: Duration = Duration::from_secs(60);
/// No single wait inside a scenario may take longer than this.
pub const WAIT: Duration = Duration::from_secs(10);

/// An async runtime the scenarios run on: the adapter's
/// [`Runtime`](slow_driver::runtime::Runtime), and how a test runs a future,
/// spawns a detached task and sleeps on it. Implemented once per adapter, in
/// its `tests/scenarios.rs`.
pub trait TestRuntime: 'static {
    /// The adapter's runtime, which `Client` and `Server` are bound to. Its
    /// streams are readiness-based: the raw peers use them directly.
    type Runtime: slow_driver::runtime::Runtime<
            Stream: slow_driver::runtime::Stream,
            UnixStream: slow_driver::runtime::Stream,
        >;
    /// Runs one test's future to completion, on a runtime of its own or the
    /// adapter's global one.
    fn block_on(f: impl Future<Output = ()>);
    /// Spawns `f` as a detached task.
    fn spawn(f: impl Future<Output = ()> + Send + 'static);
    /// Sleeps for `d` on the runtime's own timer.
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static;
}

/// Runs `scenario` on `T`, panicking (naming `name`) if it takes longer
/// than [`LIMIT`].
pub fn run<T: TestRuntime>(name: &str, scenario: impl Future<Output = ()>) {
    T::block_on(async move {
        if T::within(LIMIT, scenario).await.is_none() {
            panic!("scenario {name} did not finish within {LIMIT:?}");
        }
    })
}

/// The bounded waits and joinable tasks the scenarios are built from, on
/// any [`TestRuntime`] (a blanket impl: nothing to implement).
pub(crate) trait TestRuntimeExt: TestRuntime {
    /// `f`'s output, or `None` if `d` passes first (`f` is then dropped).
    async fn within<F: Future>(d: Duration, f: F) -> Option<F::Output> {
        race(f, Self::sleep(d)).await.ok()
    }

    /// `f`'s output; panics (naming `what`) if it takes longer than `WAIT`.
    async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
        match Self::within(WAIT, f).await {
            Some(v) => v,
            None => panic!("{what}: nothing within {WAIT:?}"),
        }
    }

    /// Polls `cond` until it holds; panics (naming `what`) after `WAIT`.
    async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        while !cond() {
            assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
            Self::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Spawns `f` with [`TestRuntime::spawn`]; a panic in it resurfaces in
    /// [`Join::join`].
    fn spawn_join<O: Send + 'static>(f: impl Future<Output = O> + Send + 'static) -> Join<O> {
        let slot: Slot<O> = Arc::new(Mutex::new((None, None)));
        let theirs = slot.clone();
        Self::spawn(async move {
            let mut f = pin!(f);
            let out = poll_fn(
                |cx| match catch_unwind(AssertUnwindSafe(|| f.as_mut().poll(cx))) {
                    Ok(Poll::Pending) => Poll::Pending,
                    Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
                    Err(panic) => Poll::Ready(Err(panic)),
                },
            )
            .await;
            let waker = {
                let mut s = theirs.lock().unwrap();
                s.0 = Some(out);
                s.1.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        });
        Join(slot)
    }
}

impl<T: TestRuntime> TestRuntimeExt for T {}

type Slot<O> = Arc<Mutex<(Option<std::thread::Result<O>>, Option<Waker>)>>;

/// A spawned task's output (dropping it detaches the task).
pub(crate) struct Join<O>(Slot<O>);

impl<O> Join<O> {
    /// The task's output, once it has finished; its panic, if it panicked.
    pub(crate) async fn join(self) -> O {
        let out = poll_fn(|cx| {
            let mut s = self.0.lock().unwrap();
            match s.0.take() {
                Some(out) => Poll::Ready(out),
                None => {
                    s.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        out.unwrap_or_else(|panic| resume_unwind(panic))
    }
}
