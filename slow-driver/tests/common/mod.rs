//! The virtual runtime and in-memory pipes the driver's integration tests
//! run whole connections on (see `virtual_clock.rs` for what it is).
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io::{self, IoSlice};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use slow_driver::Addr;
use slow_driver::runtime::{Listener, Local, LocalRuntime, Reactor, Stream, Timer};

// ---- the virtual runtime ------------------------------------------------

/// How far ahead of the wall clock the virtual clock starts.
pub const SKEW: Duration = Duration::from_secs(24 * 60 * 60);
/// `run_until_idle` gives up (panics) after this many polls: a test never
/// hangs, even if something spins.
pub const MAX_POLLS: usize = 100_000;
/// `advance` gives up after firing timers this many times.
pub const MAX_FIRINGS: usize = 100_000;

pub type Task = Pin<Box<dyn Future<Output = ()>>>;

/// One thread's virtual world: its clock, its tasks, its waiting timers.
pub struct Sim {
    /// Whether a [`World`] is running on this thread (for `current()`).
    installed: Cell<bool>,
    /// Virtual time elapsed since [`BASE`]; only [`World::advance`] moves it.
    offset: Cell<Duration>,
    /// Every task spawned, by id; `None` once finished (or while polled).
    tasks: RefCell<Vec<Option<Task>>>,
    /// Ids of the tasks woken since they were last polled. Wakers are
    /// `Send + Sync` (std's contract), hence the `Arc<Mutex<..>>`.
    ready: Arc<Mutex<VecDeque<usize>>>,
    /// Timers waiting to fire: id → (deadline, who to wake).
    timers: RefCell<BTreeMap<u64, (Instant, Waker)>>,
    next_timer: Cell<u64>,
}

thread_local! {
    /// The virtual clock's zero: captured once per thread.
    static BASE: Instant = Instant::now() + SKEW;
    static SIM: Sim = Sim {
        installed: Cell::new(false),
        offset: Cell::new(Duration::ZERO),
        tasks: RefCell::new(Vec::new()),
        ready: Arc::new(Mutex::new(VecDeque::new())),
        timers: RefCell::new(BTreeMap::new()),
        next_timer: Cell::new(0),
    };
}

/// The virtual runtime: local tasks, virtual time, no sockets (streams come
/// from [`pipe`], given to `Client::from_stream_on` and, through a
/// [`PipeListener`], to `Server::from_listener_on`). Only a [`World`] makes
/// one; like any local runtime's handle it is not `Send`.
#[derive(Debug, Clone)]
pub struct VirtualRt {
    _local: PhantomData<Rc<()>>,
}

/// What this runtime answers when asked for a socket.
pub fn no_sockets(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("VirtualRt has no sockets ({what}): bring a pipe"),
    )
}

impl Reactor for VirtualRt {
    type Mode = Local;
    type Stream = PipeEnd;
    type Listener = PipeListener;
    type UnixStream = PipeEnd;
    type UnixListener = PipeListener;
    type Timer = VirtualTimer;

    fn current() -> io::Result<Self> {
        if SIM.with(|s| s.installed.get()) {
            Ok(VirtualRt {
                _local: PhantomData,
            })
        } else {
            Err(io::Error::other(
                "no VirtualRt on this thread (start a World)",
            ))
        }
    }

    async fn resolve(&self, _addr: String) -> io::Result<Vec<SocketAddr>> {
        Err(no_sockets("resolve"))
    }

    async fn connect(&self, _addr: SocketAddr) -> io::Result<PipeEnd> {
        Err(no_sockets("connect"))
    }

    async fn bind(&self, _addr: SocketAddr) -> io::Result<PipeListener> {
        Err(no_sockets("bind"))
    }

    async fn connect_unix(&self, _path: PathBuf) -> io::Result<PipeEnd> {
        Err(no_sockets("connect_unix"))
    }

    fn unix_listener(&self, _listener: UnixListener) -> io::Result<PipeListener> {
        Err(no_sockets("unix_listener"))
    }

    fn timer(&self, deadline: Instant) -> VirtualTimer {
        let id = SIM.with(|s| {
            let id = s.next_timer.get();
            s.next_timer.set(id + 1);
            id
        });
        VirtualTimer { id, deadline }
    }

    /// The virtual time: [`BASE`] plus what the test advanced.
    fn now() -> Instant {
        BASE.with(|base| *base) + SIM.with(|s| s.offset.get())
    }
}

impl LocalRuntime for VirtualRt {
    /// Queues the task; it first runs in the next `run_until_idle` (never
    /// inline: the driver spawns while it holds its connection's state).
    fn spawn_local<F>(&self, task: F)
    where
        F: Future<Output = ()> + 'static,
    {
        SIM.with(|s| {
            let mut tasks = s.tasks.borrow_mut();
            tasks.push(Some(Box::pin(task)));
            s.ready.lock().unwrap().push_back(tasks.len() - 1);
        });
    }
}

/// Wakes a task by putting its id back on the run queue.
pub struct TaskWaker {
    id: usize,
    ready: Arc<Mutex<VecDeque<usize>>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.lock().unwrap().push_back(self.id);
    }
}

/// A timer on the virtual clock: expired once virtual now reaches its
/// deadline; until then its waker waits in [`Sim::timers`], woken by
/// [`World::advance`].
pub struct VirtualTimer {
    id: u64,
    deadline: Instant,
}

impl Timer for VirtualTimer {
    fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        SIM.with(|s| {
            if let Some(waiting) = s.timers.borrow_mut().get_mut(&self.id) {
                waiting.0 = deadline;
            }
        });
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        SIM.with(|s| {
            let mut timers = s.timers.borrow_mut();
            if VirtualRt::now() >= self.deadline {
                timers.remove(&self.id);
                Poll::Ready(())
            } else {
                timers.insert(self.id, (self.deadline, cx.waker().clone()));
                Poll::Pending
            }
        })
    }
}

impl Drop for VirtualTimer {
    fn drop(&mut self) {
        // `try_with`: harmless if the thread's world is already gone.
        let _ = SIM.try_with(|s| s.timers.borrow_mut().remove(&self.id));
    }
}

/// A test's virtual world: installs [`VirtualRt`] on this thread with the
/// clock at zero, and drops every task left when it goes (so that nothing
/// outlives the test, and the next test on the thread starts afresh).
pub struct World {
    rt: VirtualRt,
}

impl World {
    pub fn start() -> World {
        SIM.with(|s| {
            assert!(!s.installed.get(), "one World at a time per thread");
            s.installed.set(true);
            s.offset.set(Duration::ZERO);
        });
        World {
            rt: VirtualRt::current().expect("just installed"),
        }
    }

    /// The runtime, to hand to the driver.
    pub fn rt(&self) -> VirtualRt {
        self.rt.clone()
    }

    /// Virtual time since the world started.
    pub fn elapsed(&self) -> Duration {
        SIM.with(|s| s.offset.get())
    }

    /// Runs `future` as a task of its own (first polled by the next
    /// `run_until_idle`); its output waits in the returned [`Join`].
    pub fn spawn<T: 'static>(&self, future: impl Future<Output = T> + 'static) -> Join<T> {
        let slot = Rc::new(RefCell::new(None));
        let out = slot.clone();
        self.rt.spawn_local(async move {
            let value = future.await;
            *out.borrow_mut() = Some(value);
        });
        Join(slot)
    }

    /// Polls woken tasks until none is left to poll. Virtual time does not
    /// move meanwhile.
    pub fn run_until_idle(&self) {
        let ready = SIM.with(|s| s.ready.clone());
        for _ in 0..MAX_POLLS {
            let Some(id) = ready.lock().unwrap().pop_front() else {
                return;
            };
            // Taken out while polled, so that it may spawn (and be woken).
            let Some(mut task) = SIM.with(|s| s.tasks.borrow_mut()[id].take()) else {
                continue; // finished, or woken twice
            };
            let waker = Waker::from(Arc::new(TaskWaker {
                id,
                ready: ready.clone(),
            }));
            if task
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
            {
                SIM.with(|s| s.tasks.borrow_mut()[id] = Some(task));
            }
        }
        panic!("still busy after {MAX_POLLS} polls: something spins");
    }

    /// Moves virtual time `by` forward, firing every timer due meanwhile in
    /// deadline order, each with the clock at its own deadline, and runs
    /// what they wake until idle (as a real clock would, only instantly).
    pub fn advance(&self, by: Duration) {
        let target = self.elapsed() + by;
        let base = BASE.with(|base| *base);
        for _ in 0..MAX_FIRINGS {
            let next = SIM.with(|s| s.timers.borrow().values().map(|t| t.0).min());
            let Some(next) = next.filter(|&d| d <= base + target) else {
                SIM.with(|s| s.offset.set(target));
                self.run_until_idle();
                return;
            };
            let at = next.saturating_duration_since(base).max(self.elapsed());
            SIM.with(|s| s.offset.set(at));
            self.wake_due_timers();
            self.run_until_idle();
        }
        panic!("timers still firing after {MAX_FIRINGS} rounds");
    }

    /// Moves virtual time `by` forward and nothing else: time passing while
    /// a task runs (a thread preempted, a long computation).
    pub fn skip(by: Duration) {
        SIM.with(|s| s.offset.set(s.offset.get() + by));
    }

    /// Wakes (and forgets) every waiting timer whose deadline has passed.
    pub fn wake_due_timers(&self) {
        let now = VirtualRt::now();
        let due: Vec<Waker> = SIM.with(|s| {
            let mut timers = s.timers.borrow_mut();
            let ids: Vec<u64> = timers
                .iter()
                .filter(|(_, t)| t.0 <= now)
                .map(|(&id, _)| id)
                .collect();
            ids.iter()
                .filter_map(|id| timers.remove(id))
                .map(|t| t.1)
                .collect()
        });
        due.into_iter().for_each(Waker::wake);
    }

    /// Tasks spawned and not finished (waiting, most likely).
    pub fn live_tasks(&self) -> usize {
        SIM.with(|s| s.tasks.borrow().iter().flatten().count())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Dropped outside the borrow: a task's drop may wake others.
        let tasks = SIM.with(|s| s.tasks.take());
        drop(tasks);
        SIM.with(|s| {
            s.tasks.borrow_mut().clear();
            s.ready.lock().unwrap().clear();
            s.timers.borrow_mut().clear();
            s.installed.set(false);
        });
    }
}

/// The output of a task [`World::spawn`] started, once it has finished.
pub struct Join<T>(Rc<RefCell<Option<T>>>);

impl<T> Join<T> {
    pub fn is_done(&self) -> bool {
        self.0.borrow().is_some()
    }

    /// The output; panics if the task has not finished.
    pub fn take(&self) -> T {
        self.0
            .borrow_mut()
            .take()
            .expect("the task has not finished")
    }
}

// ---- in-memory pipes ----------------------------------------------------

/// One direction of a pipe: what was written and not yet read.
#[derive(Default)]
pub struct Direction {
    pub data: BytesMut,
    /// Every byte ever written this way (swallowed ones included).
    pub written: usize,
    /// The writer shut down or dropped its end: end of stream once read.
    pub eof: bool,
    /// The reader dropped its end: writing fails.
    pub reader_gone: bool,
    /// Written bytes are counted and dropped, never delivered (a peer that
    /// stopped reading, or a network that lost it).
    pub swallow: bool,
    pub reader: Option<Waker>,
}

impl Direction {
    pub fn wake_reader(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }
}

pub type Way = Rc<RefCell<Direction>>;

/// One end of an in-memory duplex byte pipe (unbounded buffers).
pub struct PipeEnd {
    pub rx: Way,
    pub tx: Way,
}

/// The test's view of a pipe's wire: bytes counted each way, and a switch
/// to stop delivering to the server.
pub struct Wire {
    to_server: Way,
    to_client: Way,
}

/// A pipe: (the client's end, the server's end, the wire between them).
pub fn pipe() -> (PipeEnd, PipeEnd, Wire) {
    let to_server = Way::default();
    let to_client = Way::default();
    let client = PipeEnd {
        rx: to_client.clone(),
        tx: to_server.clone(),
    };
    let server = PipeEnd {
        rx: to_server.clone(),
        tx: to_client.clone(),
    };
    (
        client,
        server,
        Wire {
            to_server,
            to_client,
        },
    )
}

impl Wire {
    /// Bytes the client has written.
    pub fn sent_to_server(&self) -> usize {
        self.to_server.borrow().written
    }

    /// Bytes the server has written.
    pub fn sent_to_client(&self) -> usize {
        self.to_client.borrow().written
    }

    /// From now on the server receives nothing the client writes.
    pub fn swallow_to_server(&self) {
        self.to_server.borrow_mut().swallow = true;
    }

    /// Whether both sides have shut down their write side (or dropped).
    pub fn both_shut(&self) -> bool {
        self.to_server.borrow().eof && self.to_client.borrow().eof
    }
}

impl Stream for PipeEnd {
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        let mut rx = self.rx.borrow_mut();
        if !rx.data.is_empty() {
            let n = rx.data.len();
            buf.extend_from_slice(&rx.data.split());
            return Poll::Ready(Ok(n));
        }
        if rx.eof {
            return Poll::Ready(Ok(0));
        }
        rx.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_write_vectored(
        &mut self,
        _cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut tx = self.tx.borrow_mut();
        if tx.eof || tx.reader_gone {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let n = bufs.iter().map(|b| b.len()).sum();
        tx.written += n;
        if !tx.swallow {
            for b in bufs {
                tx.data.extend_from_slice(b);
            }
            tx.wake_reader();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_shutdown(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut tx = self.tx.borrow_mut();
        tx.eof = true;
        tx.wake_reader();
        Poll::Ready(Ok(()))
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut tx = self.tx.borrow_mut();
        tx.eof = true;
        tx.wake_reader();
        self.rx.borrow_mut().reader_gone = true;
    }
}

/// A listener that accepts the pipe ends the test hands it. Clones share
/// the queue: the server gets one, the test keeps one.
#[derive(Clone, Default)]
pub struct PipeListener(Rc<RefCell<Accepting>>);

#[derive(Default)]
pub struct Accepting {
    queue: VecDeque<PipeEnd>,
    waker: Option<Waker>,
}

impl PipeListener {
    /// The server accepts `end` next.
    pub fn hand_over(&self, end: PipeEnd) {
        let mut a = self.0.borrow_mut();
        a.queue.push_back(end);
        if let Some(w) = a.waker.take() {
            w.wake();
        }
    }
}

impl Listener for PipeListener {
    type Stream = PipeEnd;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(PipeEnd, Addr)>> {
        let mut a = self.0.borrow_mut();
        match a.queue.pop_front() {
            Some(end) => Poll::Ready(Ok((end, Addr::Unknown))),
            None => {
                a.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn local_addr(&self) -> io::Result<Addr> {
        Ok(Addr::Unknown)
    }
}
