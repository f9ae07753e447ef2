//! One thread's executor behind slow-driver's traits.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use slow_driver::runtime::{Local, LocalRuntime, Reactor};
use slow_smol::{Smol, SmolListener, SmolStream, SmolTimer, SmolUnixListener};
use smol::{Async, LocalExecutor};

/// One thread's executor (async-executor's `LocalExecutor`, driven by
/// async-io): every task SLOW spawns on it stays on this thread, so
/// nothing it runs needs to be `Send`. Cheap to clone (an `Rc`); not
/// `Send` itself.
///
/// ```
/// use slow_local_example::PerCore;
///
/// let runtime = PerCore::new();
/// let answer = runtime.block_on(async { 6 * 7 });
/// assert_eq!(answer, 42);
/// ```
#[derive(Clone, Default)]
pub struct PerCore {
    executor: Rc<LocalExecutor<'static>>,
}

impl std::fmt::Debug for PerCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerCore").finish_non_exhaustive()
    }
}

thread_local! {
    /// The runtime `block_on` runs on this thread, for `current()`.
    static CURRENT: RefCell<Option<PerCore>> = const { RefCell::new(None) };
}

impl PerCore {
    /// A new executor for this thread.
    pub fn new() -> PerCore {
        PerCore::default()
    }

    /// Runs `future` and every task spawned on this runtime until
    /// `future` completes, on this thread. Meanwhile this runtime is the
    /// thread's current one (what `Client::connect` and `Server::bind`
    /// use).
    ///
    /// ```
    /// use slow_driver::runtime::{LocalRuntime, Reactor};
    /// use slow_local_example::PerCore;
    ///
    /// let runtime = PerCore::new();
    /// let seen = std::rc::Rc::new(std::cell::Cell::new(false));
    /// runtime.block_on(async {
    ///     assert!(PerCore::current().is_ok());
    ///     let seen = seen.clone();
    ///     PerCore::current().unwrap().spawn_local(async move { seen.set(true) });
    ///     smol::future::yield_now().await; // the task runs meanwhile
    /// });
    /// assert!(seen.get());
    /// assert!(PerCore::current().is_err()); // not inside block_on
    /// ```
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        let previous = CURRENT.replace(Some(self.clone()));
        // Put back on the way out, panics included.
        let _restore = Restore(previous);
        smol::block_on(self.executor.run(future))
    }
}

struct Restore(Option<PerCore>);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.set(self.0.take());
    }
}

/// The IO half: async-io's, which slow-smol already wraps (it spawns
/// nothing, so it serves a local executor as well as smol's).
fn io() -> Smol {
    Smol::global()
}

impl Reactor for PerCore {
    type Mode = Local;
    type Stream = SmolStream;
    type Listener = SmolListener;
    type UnixStream = SmolStream<Async<UnixStream>>;
    type UnixListener = SmolUnixListener;
    type Timer = SmolTimer;

    fn current() -> io::Result<Self> {
        CURRENT.with_borrow(Clone::clone).ok_or_else(|| {
            io::Error::other("no PerCore runtime on this thread (run inside PerCore::block_on)")
        })
    }

    async fn resolve(&self, addr: String) -> io::Result<Vec<SocketAddr>> {
        io().resolve(addr).await
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<SmolStream> {
        io().connect(addr).await
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<SmolListener> {
        io().bind(addr).await
    }

    async fn connect_unix(&self, path: PathBuf) -> io::Result<Self::UnixStream> {
        io().connect_unix(path).await
    }

    fn unix_listener(&self, listener: UnixListener) -> io::Result<SmolUnixListener> {
        io().unix_listener(listener)
    }

    fn timer(&self, deadline: Instant) -> SmolTimer {
        io().timer(deadline)
    }
}

impl LocalRuntime for PerCore {
    fn spawn_local<F>(&self, task: F)
    where
        F: Future<Output = ()> + 'static,
    {
        self.executor.spawn(task).detach();
    }
}
