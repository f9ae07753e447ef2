//! Counting the tasks a SLOW client or server spawns, to prove none leak.
//!
//! [`Counted`] wraps any adapter's runtime: every task the driver spawns
//! through it (one per connection, one per request handler, one per
//! received notification) is counted while it lives. Once every connection
//! is over, [`TaskCount::live`] must come back to zero.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use slow_driver::runtime::{Local, LocalRuntime, Reactor, Runtime, Threaded};

/// Live and total tasks spawned through a [`Counted`] runtime.
#[derive(Debug, Default)]
pub struct TaskCount {
    live: AtomicUsize,
    spawned: AtomicUsize,
}

impl TaskCount {
    /// Tasks spawned and not yet finished (or dropped).
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Tasks spawned in all.
    pub fn spawned(&self) -> usize {
        self.spawned.load(Ordering::SeqCst)
    }

    /// Waits (polling, on the calling thread) until at most `n` tasks live,
    /// for at most `limit`; returns how many live at the end.
    pub fn wait_at_most(&self, n: usize, limit: Duration) -> usize {
        let end = Instant::now() + limit;
        while self.live() > n && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.live()
    }
}

/// A runtime whose spawned tasks are counted; sockets, timers and the
/// spawn itself are the wrapped runtime's.
#[derive(Clone)]
pub struct Counted<R> {
    /// The runtime doing the work.
    pub inner: R,
    /// The count.
    pub tasks: Arc<TaskCount>,
}

impl<R: Runtime> Counted<R> {
    /// Wraps `inner` with a fresh count.
    pub fn new(inner: R) -> Self {
        Counted {
            inner,
            tasks: Arc::default(),
        }
    }
}

/// Decrements the live count when the task ends, however it ends.
struct Tracked {
    task: Pin<Box<dyn Future<Output = ()> + Send>>,
    tasks: Arc<TaskCount>,
}

impl Future for Tracked {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.task.as_mut().poll(cx)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.tasks.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<R: Runtime> Reactor for Counted<R> {
    type Mode = Threaded;
    type Stream = R::Stream;
    type Listener = R::Listener;
    type UnixStream = R::UnixStream;
    type UnixListener = R::UnixListener;
    type Timer = R::Timer;

    fn current() -> io::Result<Self> {
        R::current().map(Counted::new)
    }

    fn resolve(&self, addr: String) -> impl Future<Output = io::Result<Vec<SocketAddr>>> {
        self.inner.resolve(addr)
    }

    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<R::Stream>> {
        self.inner.connect(addr)
    }

    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<R::Listener>> {
        self.inner.bind(addr)
    }

    fn connect_unix(
        &self,
        path: std::path::PathBuf,
    ) -> impl Future<Output = io::Result<R::UnixStream>> {
        self.inner.connect_unix(path)
    }

    fn unix_listener(
        &self,
        listener: std::os::unix::net::UnixListener,
    ) -> io::Result<R::UnixListener> {
        self.inner.unix_listener(listener)
    }

    fn now() -> Instant {
        R::now()
    }

    fn timer(&self, deadline: Instant) -> R::Timer {
        self.inner.timer(deadline)
    }
}

impl<R: Runtime> Runtime for Counted<R> {
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawned.fetch_add(1, Ordering::SeqCst);
        self.tasks.live.fetch_add(1, Ordering::SeqCst);
        self.inner.spawn(Tracked {
            task: Box::pin(task),
            tasks: self.tasks.clone(),
        });
    }
}

/// [`Counted`] for a [`LocalRuntime`] (a thread-per-core runtime: its tasks
/// stay on their thread and need not be `Send`). The count is atomic, so
/// the servers of many threads may share one, read from any thread.
#[derive(Clone)]
pub struct CountedLocal<R> {
    /// The runtime doing the work.
    pub inner: R,
    /// The count.
    pub tasks: Arc<TaskCount>,
}

impl<R: LocalRuntime> CountedLocal<R> {
    /// Wraps `inner`, counting into `tasks`.
    pub fn with_count(inner: R, tasks: Arc<TaskCount>) -> Self {
        CountedLocal { inner, tasks }
    }
}

/// [`Tracked`] for a local task.
struct TrackedLocal {
    task: Pin<Box<dyn Future<Output = ()>>>,
    tasks: Arc<TaskCount>,
}

impl Future for TrackedLocal {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.task.as_mut().poll(cx)
    }
}

impl Drop for TrackedLocal {
    fn drop(&mut self) {
        self.tasks.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<R: LocalRuntime> Reactor for CountedLocal<R> {
    type Mode = Local;
    type Stream = R::Stream;
    type Listener = R::Listener;
    type UnixStream = R::UnixStream;
    type UnixListener = R::UnixListener;
    type Timer = R::Timer;

    fn current() -> io::Result<Self> {
        R::current().map(|r| CountedLocal::with_count(r, Arc::default()))
    }

    fn resolve(&self, addr: String) -> impl Future<Output = io::Result<Vec<SocketAddr>>> {
        self.inner.resolve(addr)
    }

    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<R::Stream>> {
        self.inner.connect(addr)
    }

    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<R::Listener>> {
        self.inner.bind(addr)
    }

    fn connect_unix(
        &self,
        path: std::path::PathBuf,
    ) -> impl Future<Output = io::Result<R::UnixStream>> {
        self.inner.connect_unix(path)
    }

    fn unix_listener(
        &self,
        listener: std::os::unix::net::UnixListener,
    ) -> io::Result<R::UnixListener> {
        self.inner.unix_listener(listener)
    }

    fn now() -> Instant {
        R::now()
    }

    fn timer(&self, deadline: Instant) -> R::Timer {
        self.inner.timer(deadline)
    }
}

impl<R: LocalRuntime> LocalRuntime for CountedLocal<R> {
    fn spawn_local<F>(&self, task: F)
    where
        F: Future<Output = ()> + 'static,
    {
        self.tasks.spawned.fetch_add(1, Ordering::SeqCst);
        self.tasks.live.fetch_add(1, Ordering::SeqCst);
        self.inner.spawn_local(TrackedLocal {
            task: Box::pin(task),
            tasks: self.tasks.clone(),
        });
    }
}
