//! Choosing a runtime at run time: `--runtime` and `--threads`.
//!
//! The adapters are generic over `slow_driver::runtime::Runtime`, so the
//! work itself is written once as a [`Job`] and [`block_on`] builds the
//! chosen runtime, with the chosen number of threads, and runs it there.
//! The custom mio event loop is not an async runtime; commands route it to
//! `crate::custom` instead. compio is a local runtime (one per thread, its
//! tasks not `Send`): commands route it to `crate::compio`, which runs the
//! same work (written over [`Connects`], either kind of runtime) and
//! spawns its own way.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use slow_driver::net::NetStream;
use slow_driver::runtime::{Reactor, RunsClient, Runtime, Timer};
use slow_smol::Smol;
use slow_tokio::Tokio;

use crate::error::CliError;
use crate::trigger::Trigger;

/// The runtimes `slow` can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum RuntimeKind {
    /// tokio (multi-threaded, or current-thread with `--threads 1`).
    Tokio,
    /// async-std's global runtime.
    AsyncStd,
    /// smol: an executor run by `--threads` threads.
    Smol,
    /// The hand-written mio event loop of `slow-custom-example`.
    Custom,
    /// compio: io_uring, thread-per-core (`--threads` runtimes, one per
    /// thread, default 1). Needs io_uring: Linux 5.1+, not disabled by
    /// kernel.io_uring_disabled or a seccomp filter; no epoll fallback.
    Compio,
}

impl RuntimeKind {
    /// Every runtime, in the order tables list them.
    pub const ALL: [RuntimeKind; 5] = [
        RuntimeKind::Tokio,
        RuntimeKind::AsyncStd,
        RuntimeKind::Smol,
        RuntimeKind::Custom,
        RuntimeKind::Compio,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Tokio => "tokio",
            RuntimeKind::AsyncStd => "async-std",
            RuntimeKind::Smol => "smol",
            RuntimeKind::Custom => "custom",
            RuntimeKind::Compio => "compio",
        }
    }

    /// Whether this runtime can run on this machine: `Err` says why not
    /// (compio without io_uring; every other runtime always can).
    ///
    /// ```
    /// use slow_cli::RuntimeKind;
    ///
    /// assert!(RuntimeKind::Tokio.available().is_ok());
    /// if let Err(why) = RuntimeKind::Compio.available() {
    ///     eprintln!("no compio here: {why}");
    /// }
    /// ```
    pub fn available(self) -> Result<(), CliError> {
        match self {
            RuntimeKind::Compio => slow_compio::available().map_err(CliError::from),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A runtime of either kind, threaded or local, that runs clients over
/// its own TCP and Unix streams: what the work that spawns nothing (a
/// call, the demo's scenarios, a bench worker) is written over, once for
/// tokio, smol, async-std and compio.
pub trait Connects:
    Reactor
    + RunsClient<
        NetStream<<Self as Reactor>::Stream, <Self as Reactor>::UnixStream>,
        <Self as Reactor>::Mode,
    >
{
}

impl<R> Connects for R where
    R: Reactor
        + RunsClient<
            NetStream<<R as Reactor>::Stream, <R as Reactor>::UnixStream>,
            <R as Reactor>::Mode,
        >
{
}

/// Work written once for every async runtime.
pub trait Job: Send + 'static {
    /// What the work produces.
    type Output: Send + 'static;
    /// Runs the work on `runtime`; tasks it spawns go there too.
    fn run<R: Runtime>(self, runtime: R) -> impl Future<Output = Self::Output>;
}

/// Builds runtime `kind` with `threads` worker threads (`None`: the
/// runtime's default) and runs `job` on it to completion, on this thread.
///
/// async-std sizes its global runtime once, from `ASYNC_STD_THREAD_COUNT`
/// at first use; the `slow` binary sets that variable at start-up, before
/// any thread exists, so `threads` is not applied here.
pub fn block_on<J: Job>(
    kind: RuntimeKind,
    threads: Option<usize>,
    job: J,
) -> Result<J::Output, CliError> {
    match kind {
        RuntimeKind::Tokio => {
            let rt = tokio_runtime(threads)?;
            let handle = rt.handle().clone();
            Ok(rt.block_on(job.run(Tokio(handle))))
        }
        RuntimeKind::AsyncStd => Ok(async_std::task::block_on(job.run(slow_async_std::AsyncStd))),
        RuntimeKind::Smol => Ok(smol_block_on(threads, job)),
        RuntimeKind::Custom => Err(CliError::Usage(
            "the custom event loop is not an async runtime (internal routing error)".into(),
        )),
        RuntimeKind::Compio => Err(CliError::Usage(
            "compio is a local runtime, run by crate::compio (internal routing error)".into(),
        )),
    }
}

fn tokio_runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime, CliError> {
    let mut builder = match threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| CliError::Setup(format!("cannot start tokio: {e}")))
}

/// One smol executor driven by `threads` threads: this one plus helpers
/// that run it until the job is over.
fn smol_block_on<J: Job>(threads: Option<usize>, job: J) -> J::Output {
    let executor = Arc::new(smol::Executor::new());
    let threads = threads.unwrap_or_else(default_threads).max(1);
    let stop = Trigger::new();
    let helpers: Vec<_> = (1..threads)
        .filter_map(|i| {
            let (executor, stop) = (executor.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("smol-{i}"))
                .spawn(move || smol::block_on(executor.run(stop.wait())))
                .ok()
        })
        .collect();
    let output = smol::block_on(executor.run(job.run(Smol::on(executor.clone()))));
    stop.fire();
    for helper in helpers {
        let _ = helper.join();
    }
    output
}

/// The machine's parallelism, as the runtimes' own defaults use it.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Runs `work` until `deadline` on `runtime`'s own timer; `None` if the
/// deadline came first (the work is dropped, which cancels a request).
pub async fn timeout_at<R: Reactor, T>(
    runtime: &R,
    deadline: Instant,
    work: impl Future<Output = T>,
) -> Option<T> {
    let mut work = pin!(work);
    let mut timer = runtime.timer(deadline);
    poll_fn(|cx| {
        if let Poll::Ready(v) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        timer.poll_expired(cx).map(|()| None)
    })
    .await
}

/// Waits on `runtime`'s own timer.
pub async fn sleep_until<R: Reactor>(runtime: &R, deadline: Instant) {
    let mut timer = runtime.timer(deadline);
    poll_fn(|cx| timer.poll_expired(cx)).await
}
