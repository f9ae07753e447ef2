//! What a scenario needs from its runtime, and the bounds every scenario
//! runs under: the whole of it by [`LIMIT`], every wait inside it by
//! [`WAIT`]. There are no timing assertions beyond those generous bounds.

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use slow_driver::Request;
use slow_driver::net::NetStream;
use slow_driver::runtime::{Reactor, RunsClient, RunsServer};
use slow_interop::driver::InteropService;

use crate::combinators::race;
use crate::handler::{Answer, TestHandler};
use crate::raw::RawIo;

/// No scenario may take longer than this, whatever goes wrong.
pub const LIMIT: Duration = Duration::from_secs(60);
/// No single wait inside a scenario may take longer than this.
pub const WAIT: Duration = Duration::from_secs(10);

/// What a connection made by `connect` or accepted by `bind` runs over.
type Net<R> = NetStream<<R as Reactor>::Stream, <R as Reactor>::UnixStream>;

/// The mode ([`Threaded`](slow_driver::runtime::Threaded) or
/// [`Local`](slow_driver::runtime::Local)) of runtime `R`.
type Mode<R> = <R as Reactor>::Mode;

/// The mode of `T`'s runtime.
pub(crate) type ModeOf<T> = Mode<<T as TestRuntime>::Runtime>;

/// An async runtime the scenarios run on, threaded or local: the adapter's
/// [`Reactor`], how the raw peers do IO on its streams, and how a test runs
/// a future and sleeps on it. Implemented once per adapter, in its
/// `tests/scenarios.rs`.
///
/// The bounds on `Runtime` say that it runs clients and serves the
/// scenarios' two handlers; they hold for every
/// [`Runtime`](slow_driver::runtime::Runtime) and every
/// [`LocalRuntime`](slow_driver::runtime::LocalRuntime), so there is
/// nothing to prove. The scenarios' own tasks (callers, raw peers, the
/// server's accept loop) are not `Send` (code generic over the mode cannot
/// show that they are on a threaded runtime): they run on the test's
/// thread, beside the future [`block_on`](TestRuntime::block_on) runs,
/// while the driver's tasks (connections, handlers) run on the runtime.
pub trait TestRuntime: 'static {
    /// The adapter's runtime, which `Client` and `Server` are bound to.
    type Runtime: Reactor
        + RunsClient<Net<Self::Runtime>, Mode<Self::Runtime>>
        + RunsServer<Net<Self::Runtime>, TestHandler<Self::Runtime>, Mode<Self::Runtime>>
        + RunsServer<Net<Self::Runtime>, InteropService<Self::Runtime>, Mode<Self::Runtime>>;
    /// How the raw peers read and write the runtime's TCP and Unix
    /// streams: [`ReadinessIo`](crate::ReadinessIo) for
    /// [`Stream`](slow_driver::runtime::Stream)s,
    /// [`CompletionIo`](crate::CompletionIo) for
    /// [`Completion`](slow_driver::runtime::Completion) streams.
    type Raw: RawIo<<Self::Runtime as Reactor>::Stream>
        + RawIo<<Self::Runtime as Reactor>::UnixStream>;
    /// Runs one test's future to completion, on a runtime of its own or the
    /// adapter's global one.
    fn block_on(f: impl Future<Output = ()>);
    /// Sleeps for `d` on the runtime's own timer.
    fn sleep(d: Duration) -> impl Future<Output = ()> + 'static;
    /// Why the runtime cannot run on this machine, if it cannot (io_uring
    /// missing, say): every scenario then says so and passes without
    /// running. `None` by default.
    fn unavailable() -> Option<String> {
        None
    }
}

thread_local! {
    /// The scenario's own tasks, while [`run`] runs one on this thread.
    static TASKS: RefCell<Option<Rc<LocalExecutor<'static>>>> = const { RefCell::new(None) };
}

/// Runs `scenario` on `T`, panicking (naming `name`) if it takes longer
/// than [`LIMIT`]. If `T` is [unavailable](TestRuntime::unavailable), says
/// why on stderr and returns.
pub fn run<T: TestRuntime>(name: &str, scenario: impl Future<Output = ()>) {
    if let Some(why) = T::unavailable() {
        // Past libtest's capture, so that the skip is seen.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "scenario {name} skipped: {why}");
        return;
    }
    // On the heap: a runtime's `block_on` may move the future it is given
    // through a few frames of its own (async-std's does), and a scenario's
    // state is large in a debug build.
    let scenario = Box::pin(scenario);
    T::block_on(async move {
        let tasks = Rc::new(LocalExecutor::new());
        let previous = TASKS.replace(Some(tasks.clone()));
        let finished = tasks.run(T::within(LIMIT, scenario)).await;
        TASKS.set(previous);
        // The tasks left (a server nobody shut down, a raw peer) are
        // dropped here, while the runtime still runs.
        drop(tasks);
        if finished.is_none() {
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

    /// A handler of the scenario's own, answering each request as
    /// `request` says (see [`TestHandler`]).
    fn handler(
        request: impl Fn(&Request<ModeOf<Self>>) -> Answer + Send + Sync + 'static,
    ) -> TestHandler<Self::Runtime> {
        TestHandler::new(request)
    }

    /// Spawns `f` as a task of the scenario's (on this thread, beside the
    /// scenario); a panic in it resurfaces in [`Join::join`].
    fn spawn_join<O: 'static>(f: impl Future<Output = O> + 'static) -> Join<O> {
        let slot: Slot<O> = Arc::new(Mutex::new((None, None)));
        let theirs = slot.clone();
        let task = async move {
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
        };
        TASKS.with_borrow(|tasks| {
            let tasks = tasks
                .as_ref()
                .expect("a scenario's task spawned outside `run`");
            tasks.spawn(task).detach();
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
