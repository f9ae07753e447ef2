//! Recording where SLOW's work runs.
//!
//! [`Observed`] wraps any adapter's runtime: every task the driver spawns
//! through it (connection drivers, request handlers, notification handlers)
//! records the name of the thread it is polled on, at every poll. Sockets,
//! timers and the spawn itself are the wrapped runtime's, unchanged.
//!
//! [`Counting`] wraps a [`Handler`] (or a [`LocalHandler`]): it counts
//! requests in flight at the server (a request counts from the moment its
//! handler starts until the handler's future finishes or is dropped) and
//! records the threads handlers run on.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use slow_driver::runtime::{Local, Reactor, Runtime, Threaded};
use slow_driver::{Handler, LocalHandler, LocalRequest, Peer, Reply, Request};

/// Thread name → how many polls (or handler starts) ran there.
#[derive(Default, Debug)]
pub struct ThreadLog {
    seen: Mutex<BTreeMap<String, u64>>,
}

impl ThreadLog {
    /// Records the current thread.
    pub fn record(&self) {
        let name = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_string();
        *self.seen.lock().unwrap().entry(name).or_insert(0) += 1;
    }

    /// What was recorded so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.seen.lock().unwrap().clone()
    }

    /// Total records.
    pub fn total(&self) -> u64 {
        self.seen.lock().unwrap().values().sum()
    }
}

/// A runtime whose spawned tasks record the threads they are polled on.
#[derive(Clone)]
pub struct Observed<R> {
    /// The runtime doing the work.
    pub inner: R,
    /// Where the spawned tasks were polled.
    pub log: Arc<ThreadLog>,
    /// How many tasks were spawned.
    pub spawned: Arc<AtomicUsize>,
}

impl<R: Runtime> Observed<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Observed {
            inner,
            log: Arc::default(),
            spawned: Arc::default(),
        }
    }
}

struct Recording {
    task: Pin<Box<dyn Future<Output = ()> + Send>>,
    log: Arc<ThreadLog>,
}

impl Future for Recording {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.log.record();
        self.task.as_mut().poll(cx)
    }
}

impl<R: Runtime> Reactor for Observed<R> {
    type Mode = Threaded;
    type Stream = R::Stream;
    type Listener = R::Listener;
    type UnixStream = R::UnixStream;
    type UnixListener = R::UnixListener;
    type Timer = R::Timer;

    fn current() -> io::Result<Self> {
        R::current().map(Observed::new)
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

impl<R: Runtime> Runtime for Observed<R> {
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawned.fetch_add(1, Ordering::SeqCst);
        self.inner.spawn(Recording {
            task: Box::pin(task),
            log: self.log.clone(),
        });
    }
}

/// Counters shared between a [`Counting`] handler and the test.
#[derive(Default, Debug)]
pub struct Stats {
    /// Requests whose handler is running now.
    pub in_flight: AtomicUsize,
    /// The most seen at once.
    pub peak: AtomicUsize,
    /// Requests whose handler started, in all.
    pub started: AtomicUsize,
    /// Client notifications handled.
    pub notifications: AtomicUsize,
    /// Threads the handlers started on.
    pub threads: ThreadLog,
}

impl Stats {
    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// A handler that counts and delegates to `inner`.
pub struct Counting<H> {
    inner: H,
    stats: Arc<Stats>,
}

impl<H> Counting<H> {
    /// Wraps `inner` (a [`Handler`], or a [`LocalHandler`] on a local
    /// runtime); the counters are in the returned [`Stats`].
    pub fn new(inner: H) -> (Self, Arc<Stats>) {
        let stats = Arc::new(Stats::default());
        (Counting::with_stats(inner, stats.clone()), stats)
    }

    /// Wraps `inner`, counting into `stats`: the handlers of a server on
    /// many threads, each made on its own thread, count into one.
    pub fn with_stats(inner: H, stats: Arc<Stats>) -> Self {
        Counting { inner, stats }
    }
}

struct InFlight<'a>(&'a Stats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Stats {
    /// A handler starts: counted until the guard is dropped.
    fn start(&self) -> InFlight<'_> {
        self.threads.record();
        self.started.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }
}

impl<H: Handler> Handler for Counting<H> {
    async fn request(&self, request: Request) -> Reply {
        let _guard = self.stats.start();
        self.inner.request(request).await
    }

    async fn notification(&self, body: Bytes, peer: Peer) {
        self.stats.threads.record();
        self.stats.notifications.fetch_add(1, Ordering::SeqCst);
        self.inner.notification(body, peer).await
    }
}

impl<H: LocalHandler> LocalHandler for Counting<H> {
    async fn request(&self, request: LocalRequest) -> Reply {
        let _guard = self.stats.start();
        self.inner.request(request).await
    }

    async fn notification(&self, body: Bytes, peer: Peer<Local>) {
        self.stats.threads.record();
        self.stats.notifications.fetch_add(1, Ordering::SeqCst);
        self.inner.notification(body, peer).await
    }
}
