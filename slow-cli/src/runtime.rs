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

use slow_compio::Compio;
use slow_driver::net::NetStream;
use slow_driver::runtime::{Reactor, RunsClient, Runtime, Timer};
use slow_driver::tls::{ClientTls, ServerTls};
use slow_driver::{Client, Config, Error, Server};
use slow_interop::driver::InteropService;
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

    /// Whether `slow` runs TLS on this runtime: `Err` (a usage error, exit
    /// 2) says why not. Every command asks this, once, before it uses a
    /// `--tls-*` flag; the demo's TLS round leaves out what it refuses.
    ///
    /// ```
    /// use slow_cli::RuntimeKind;
    ///
    /// assert!(RuntimeKind::Smol.tls_supported().is_ok());
    /// assert!(RuntimeKind::Custom.tls_supported().is_ok());
    /// assert_eq!(RuntimeKind::Compio.tls_supported().unwrap_err().exit_code(), 2);
    /// ```
    pub fn tls_supported(self) -> Result<(), CliError> {
        match self {
            RuntimeKind::Compio => Err(CliError::Usage(
                "--runtime compio has no TLS (yet): its completion-based streams have no TLS \
                 layer; use --runtime tokio, smol, async-std or custom with the --tls-* flags"
                    .into(),
            )),
            // custom: rustls's sans-IO API in the mio loop itself (`crate::custom`).
            RuntimeKind::Tokio
            | RuntimeKind::AsyncStd
            | RuntimeKind::Smol
            | RuntimeKind::Custom => Ok(()),
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
    > + Dial
{
}

impl<R> Connects for R where
    R: Reactor
        + RunsClient<
            NetStream<<R as Reactor>::Stream, <R as Reactor>::UnixStream>,
            <R as Reactor>::Mode,
        > + Dial
{
}

/// Connecting, in plaintext or over TLS. Its own trait, implemented for
/// each runtime by name, because the TLS client's bounds (a poll-based
/// stream under rustls) hold for tokio, smol and async-std, not for
/// compio's completion-based streams; generic code asks for `Dial` and
/// compio answers TLS with an error ([`RuntimeKind::tls_supported`] stops
/// a command before it gets there).
pub trait Dial: Reactor {
    /// A client connected to `addr` (`HOST:PORT` or `unix:PATH`), over
    /// TLS when `tls` is given.
    fn dial(
        &self,
        addr: &str,
        tls: Option<&ClientTls>,
        config: Config,
    ) -> impl Future<Output = Result<Client<Self>, Error>>;
}

/// An async runtime that serves the INTEROP service over TLS too (the
/// server's half of [`Dial`]: the bounds of a TLS listener hold for each
/// threaded runtime by name, not for any [`Runtime`]).
pub trait ServesTls: Runtime {
    /// Serves `server`'s connections over `tls` until `stop`.
    fn serve_tls(
        runtime: Self,
        server: Server<Self>,
        tls: ServerTls,
        stop: Trigger,
    ) -> impl Future<Output = Result<(), Error>>;
}

/// tokio, smol and async-std: TLS is the adapter's, plaintext the same
/// calls as without it.
macro_rules! tls_runtimes {
    ($($rt:ty),*) => {$(
        impl Dial for $rt {
            async fn dial(
                &self,
                addr: &str,
                tls: Option<&ClientTls>,
                config: Config,
            ) -> Result<Client<Self>, Error> {
                match tls {
                    None => Client::connect_on(self.clone(), addr, config).await,
                    Some(tls) => Client::connect_tls_on(self.clone(), addr, tls, config).await,
                }
            }
        }

        impl ServesTls for $rt {
            async fn serve_tls(
                runtime: Self,
                server: Server<Self>,
                tls: ServerTls,
                stop: Trigger,
            ) -> Result<(), Error> {
                let service = InteropService::new(runtime);
                server.tls(tls).serve_with_shutdown(service, stop.wait()).await
            }
        }
    )*};
}

tls_runtimes!(Tokio, Smol, slow_async_std::AsyncStd);

impl Dial for Compio {
    async fn dial(
        &self,
        addr: &str,
        tls: Option<&ClientTls>,
        config: Config,
    ) -> Result<Client<Self>, Error> {
        match tls {
            None => Client::connect_on(*self, addr, config).await,
            Some(_) => Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "compio has no TLS (yet)",
            ))),
        }
    }
}

/// What [`Job`]s run on: tokio, smol and async-std.
pub trait AsyncRuntime: Runtime + Connects + ServesTls {}

impl<R: Runtime + Connects + ServesTls> AsyncRuntime for R {}

/// Work written once for every async runtime.
pub trait Job: Send + 'static {
    /// What the work produces.
    type Output: Send + 'static;
    /// Runs the work on `runtime`; tasks it spawns go there too.
    fn run<R: AsyncRuntime>(self, runtime: R) -> impl Future<Output = Self::Output>;
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
