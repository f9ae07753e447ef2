//! The driver keeps time only by its runtime: [`Reactor::now`] and the one
//! [`Timer`] per connection the runtime hands out. So a connection runs on
//! whatever clock the runtime keeps, a virtual one included.
//!
//! This file proves it with a tiny single-threaded [`LocalRuntime`] of its
//! own, [`VirtualRt`]: a run queue of local tasks, timers that fire when
//! the test moves time on, in-memory pipes for streams and a listener the
//! test hands pipe ends to. No socket, no thread, no sleep: virtual time
//! moves only when a test calls [`World::advance`], and runs every timer
//! in deadline order, each at its own deadline, so a test knows the exact
//! virtual moment of every event. Whole connections (client, server,
//! handlers) then run on the virtual clock, and the handshake timeout,
//! request deadlines, keepalive and the idle timeout fire at the virtual
//! moment they should, and not before.
//!
//! The virtual clock starts a day ahead of the wall clock (the one wall
//! clock read in this file, an anchor for `std::time::Instant`, which has
//! no other constructor). Were the driver to read the wall clock anywhere
//! instead of `Reactor::now`, it would be a day behind the connection's
//! own time, and these tests would fail.

#![forbid(unsafe_code)]

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
use slow_driver::runtime::{Listener, Local, LocalRuntime, Reactor, Stream, Timer};
use slow_driver::{
    Addr, Client, Config, Error, ErrorCode, ErrorReply, LocalHandler, LocalRequest, Reply, Server,
    Settings, Stats,
};

// ---- the virtual runtime ------------------------------------------------

/// How far ahead of the wall clock the virtual clock starts.
const SKEW: Duration = Duration::from_secs(24 * 60 * 60);
/// `run_until_idle` gives up (panics) after this many polls: a test never
/// hangs, even if something spins.
const MAX_POLLS: usize = 100_000;
/// `advance` gives up after firing timers this many times.
const MAX_FIRINGS: usize = 100_000;

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// One thread's virtual world: its clock, its tasks, its waiting timers.
struct Sim {
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
struct VirtualRt {
    _local: PhantomData<Rc<()>>,
}

/// What this runtime answers when asked for a socket.
fn no_sockets(what: &str) -> io::Error {
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
struct TaskWaker {
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
struct VirtualTimer {
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
struct World {
    rt: VirtualRt,
}

impl World {
    fn start() -> World {
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
    fn rt(&self) -> VirtualRt {
        self.rt.clone()
    }

    /// Virtual time since the world started.
    fn elapsed(&self) -> Duration {
        SIM.with(|s| s.offset.get())
    }

    /// Runs `future` as a task of its own (first polled by the next
    /// `run_until_idle`); its output waits in the returned [`Join`].
    fn spawn<T: 'static>(&self, future: impl Future<Output = T> + 'static) -> Join<T> {
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
    fn run_until_idle(&self) {
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
    fn advance(&self, by: Duration) {
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

    /// Wakes (and forgets) every waiting timer whose deadline has passed.
    fn wake_due_timers(&self) {
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
    fn live_tasks(&self) -> usize {
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
struct Join<T>(Rc<RefCell<Option<T>>>);

impl<T> Join<T> {
    fn is_done(&self) -> bool {
        self.0.borrow().is_some()
    }

    /// The output; panics if the task has not finished.
    fn take(&self) -> T {
        self.0
            .borrow_mut()
            .take()
            .expect("the task has not finished")
    }
}

// ---- in-memory pipes ----------------------------------------------------

/// One direction of a pipe: what was written and not yet read.
#[derive(Default)]
struct Direction {
    data: BytesMut,
    /// Every byte ever written this way (swallowed ones included).
    written: usize,
    /// The writer shut down or dropped its end: end of stream once read.
    eof: bool,
    /// The reader dropped its end: writing fails.
    reader_gone: bool,
    /// Written bytes are counted and dropped, never delivered (a peer that
    /// stopped reading, or a network that lost it).
    swallow: bool,
    reader: Option<Waker>,
}

impl Direction {
    fn wake_reader(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }
}

type Way = Rc<RefCell<Direction>>;

/// One end of an in-memory duplex byte pipe (unbounded buffers).
struct PipeEnd {
    rx: Way,
    tx: Way,
}

/// The test's view of a pipe's wire: bytes counted each way, and a switch
/// to stop delivering to the server.
struct Wire {
    to_server: Way,
    to_client: Way,
}

/// A pipe: (the client's end, the server's end, the wire between them).
fn pipe() -> (PipeEnd, PipeEnd, Wire) {
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
    fn sent_to_server(&self) -> usize {
        self.to_server.borrow().written
    }

    /// Bytes the server has written.
    fn sent_to_client(&self) -> usize {
        self.to_client.borrow().written
    }

    /// From now on the server receives nothing the client writes.
    fn swallow_to_server(&self) {
        self.to_server.borrow_mut().swallow = true;
    }

    /// Whether both sides have shut down their write side (or dropped).
    fn both_shut(&self) -> bool {
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
struct PipeListener(Rc<RefCell<Accepting>>);

#[derive(Default)]
struct Accepting {
    queue: VecDeque<PipeEnd>,
    waker: Option<Waker>,
}

impl PipeListener {
    /// The server accepts `end` next.
    fn hand_over(&self, end: PipeEnd) {
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

// ---- test helpers -------------------------------------------------------

/// A PING or a PONG on the wire: a 10-byte header and 8 opaque bytes.
const PING_LEN: usize = 18;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Starts a server serving `handler` on a [`PipeListener`], hands it one
/// end of a new pipe, and connects a client over the other (handshake done,
/// no virtual time passed).
fn connect<H: LocalHandler>(
    world: &World,
    client_config: Config,
    server_config: Config,
    handler: H,
) -> (Client<VirtualRt>, Wire) {
    let (client_end, server_end, wire) = pipe();
    let listener = PipeListener::default();
    let server = Server::from_listener_on(world.rt(), listener.clone(), server_config)
        .expect("valid server config");
    // The serving task lives until the world ends; nothing waits on it.
    let _ = world.spawn(server.serve(handler));
    listener.hand_over(server_end);
    let connecting = world.spawn(Client::from_stream_on(
        world.rt(),
        client_end,
        client_config,
    ));
    world.run_until_idle();
    assert!(connecting.is_done(), "the handshake takes no time");
    let client = connecting.take().expect("handshake");
    assert_eq!(world.elapsed(), Duration::ZERO);
    (client, wire)
}

/// Answers with the request's body.
async fn echo(req: LocalRequest) -> Reply {
    Ok(req.body)
}

/// Sets its flag when dropped: tells a test a handler's future was dropped.
struct SetOnDrop(Rc<Cell<bool>>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Whether `result` is the connection error `Closed` with `code`.
fn closed_with<T>(result: &Result<T, Error>, code: ErrorCode) -> bool {
    matches!(result, Err(Error::Closed { code: c, .. }) if *c == code)
}

// ---- tests --------------------------------------------------------------

/// The runtime is there only inside a world, and has no sockets.
#[test]
fn the_runtime_is_virtual_and_has_no_sockets() {
    assert!(VirtualRt::current().is_err());
    let world = World::start();
    assert!(VirtualRt::current().is_ok());
    let connecting = world.spawn(Client::<VirtualRt>::connect("127.0.0.1:7000"));
    world.run_until_idle();
    let e = connecting.take().expect_err("no sockets");
    assert!(
        matches!(&e, Error::Io(io) if io.kind() == io::ErrorKind::Unsupported),
        "{e:?}"
    );
    // Time moves only when the test says so.
    world.advance(secs(1.5));
    assert_eq!(world.elapsed(), secs(1.5));
    assert_eq!(VirtualRt::now() - VirtualRt::now(), Duration::ZERO);
    drop(world);
    assert!(VirtualRt::current().is_err());
}

/// A request's deadline runs out on virtual time: the caller fails with
/// `TimedOut` at 5 s, not at 4.9 s, and the server's handler is stopped.
#[test]
fn a_request_times_out_on_virtual_time() {
    let world = World::start();
    let stopped = Rc::new(Cell::new(false));
    // What the handler saw: its deadline minus the runtime's now.
    let budget = Rc::new(Cell::new(None));
    let handler = {
        let (stopped, budget) = (stopped.clone(), budget.clone());
        move |req: LocalRequest| {
            let (stopped, budget) = (stopped.clone(), budget.clone());
            async move {
                if &req.body[..] == b"hang" {
                    budget.set(req.deadline.map(|d| d - VirtualRt::now()));
                    let _flag = SetOnDrop(stopped);
                    std::future::pending::<()>().await;
                }
                Reply::Ok(req.body)
            }
        }
    };
    let (client, _wire) = connect(&world, Config::default(), Config::default(), handler);

    let hang = world.spawn({
        let client = client.clone();
        async move { client.request_timeout("hang", secs(5.0)).await }
    });
    world.run_until_idle();
    assert!(!hang.is_done());
    // The server's deadline is on the same (virtual) clock as its runtime.
    assert_eq!(budget.get(), Some(secs(5.0)));

    world.advance(secs(4.9));
    assert!(!hang.is_done(), "pending at 4.9 s");
    assert!(!stopped.get(), "the handler still runs at 4.9 s");

    world.advance(secs(0.2));
    let outcome = hang.take();
    assert!(matches!(outcome, Err(Error::TimedOut)), "{outcome:?}");
    assert!(stopped.get(), "the handler was stopped at the deadline");

    // The connection outlives the request.
    assert!(client.is_open());
    let again = world.spawn({
        let client = client.clone();
        async move { client.request("still here").await }
    });
    world.run_until_idle();
    assert_eq!(again.take().expect("answered"), "still here");
}

/// Keepalive on virtual time: an idle, healthy connection PINGs every 10 s
/// and stays open for 10 minutes; once the server receives nothing, the
/// client closes with KEEPALIVE_TIMEOUT exactly 5 s after its next PING.
#[test]
fn keepalive_keeps_a_healthy_connection_and_drops_a_dead_one() {
    let world = World::start();
    // No idle timeout either side (0 from both), so idling is allowed.
    let settings = Settings {
        idle_timeout_ms: 0,
        ..Settings::default()
    };
    let client_config = Config {
        settings,
        keepalive_interval: Some(secs(10.0)),
        keepalive_timeout: secs(5.0),
        ..Config::default()
    };
    // The server only answers PINGs: it sends none of its own.
    let server_config = Config {
        settings,
        keepalive_interval: None,
        ..Config::default()
    };
    let (client, wire) = connect(&world, client_config, server_config, echo);
    let (up, down) = (wire.sent_to_server(), wire.sent_to_client());

    // Ten minutes, in half-minute steps.
    for _ in 0..20 {
        world.advance(secs(30.0));
        assert!(client.is_open() && !client.is_closed());
    }
    assert_eq!(world.elapsed(), secs(600.0));
    // A PING at 10 s, 20 s, ... 600 s, each answered by a PONG.
    assert_eq!(wire.sent_to_server() - up, 60 * PING_LEN);
    assert_eq!(wire.sent_to_client() - down, 60 * PING_LEN);

    // The server stops receiving. The last PONG came at 600 s: the next
    // PING goes at 610 s, unanswered; the client gives up at 615 s.
    wire.swallow_to_server();
    let (up, down) = (wire.sent_to_server(), wire.sent_to_client());
    world.advance(secs(14.9));
    assert!(!client.is_closed(), "open at 614.9 s");
    assert_eq!(wire.sent_to_server() - up, PING_LEN, "the PING at 610 s");
    assert_eq!(wire.sent_to_client(), down, "no PONG");

    world.advance(secs(0.2));
    assert!(client.is_closed(), "closed at 615 s");
    let closing = world.spawn({
        let client = client.clone();
        async move { client.close().await }
    });
    world.run_until_idle();
    let outcome = closing.take();
    assert!(
        closed_with(&outcome, ErrorCode::KEEPALIVE_TIMEOUT),
        "{outcome:?}"
    );
}

/// The idle timeout closes gracefully after 3 s without a request, counted
/// from the last one: open at 3.9 s after it, closed at 4.1 s.
#[test]
fn the_idle_timeout_closes_gracefully_on_virtual_time() {
    let world = World::start();
    // The smaller nonzero IDLE_TIMEOUT_MS applies: the client's 3 s.
    let client_config = Config {
        settings: Settings {
            idle_timeout_ms: 3_000,
            ..Settings::default()
        },
        ..Config::default()
    };
    let (client, wire) = connect(&world, client_config, Config::default(), echo);

    // A request at 1 s restarts the idle clock.
    world.advance(secs(1.0));
    let asked = world.spawn({
        let client = client.clone();
        async move { client.request("activity").await }
    });
    world.run_until_idle();
    assert_eq!(asked.take().expect("answered"), "activity");

    world.advance(secs(2.9));
    assert!(client.is_open() && !client.is_closed(), "open at 3.9 s");

    world.advance(secs(0.2));
    assert!(!client.is_open() && client.is_closed(), "closed at 4.1 s");
    // Graceful: closing reports no error, and both sides shut the stream.
    let closing = world.spawn({
        let client = client.clone();
        async move { client.close().await }
    });
    world.run_until_idle();
    assert!(closing.take().is_ok());
    assert!(wire.both_shut());
    // Only the server's accept loop is left: both drivers finished.
    assert_eq!(world.live_tasks(), 1);
    let late = world.spawn({
        let client = client.clone();
        async move { client.request("late").await }
    });
    world.run_until_idle();
    assert!(matches!(late.take(), Err(Error::NotProcessed)));
}

/// A server that never answers HELLO: connecting fails with
/// HANDSHAKE_TIMEOUT after the handshake timeout, not before.
#[test]
fn the_handshake_times_out_on_virtual_time() {
    let world = World::start();
    let (client_end, _silent_end, wire) = pipe();
    let config = Config {
        handshake_timeout: secs(3.0),
        ..Config::default()
    };
    let connecting = world.spawn(Client::from_stream_on(world.rt(), client_end, config));
    world.run_until_idle();
    assert!(wire.sent_to_server() > 0, "HELLO went out");
    assert!(!connecting.is_done());

    world.advance(secs(2.9));
    assert!(!connecting.is_done(), "still waiting at 2.9 s");

    world.advance(secs(0.2));
    assert!(connecting.is_done(), "given up at 3 s");
    let outcome = connecting.take();
    assert!(
        closed_with(&outcome, ErrorCode::HANDSHAKE_TIMEOUT),
        "{outcome:?}"
    );
}

/// The core's counters through the driver on a local runtime: the
/// client's, a handler's [`Peer`]'s and the server's totals (a
/// `ServerStats<Local>`), each request counted once on each side and the
/// bytes exactly those on the wire, also once the connection is over.
///
/// [`Peer`]: slow_driver::Peer
#[test]
fn stats_on_both_sides_and_the_server_totals() {
    let world = World::start();
    let (client_end, server_end, wire) = pipe();
    let listener = PipeListener::default();
    let server = Server::from_listener_on(world.rt(), listener.clone(), Config::default())
        .expect("valid server config");
    let served = server.stats_handle();
    assert_eq!(
        (served.connections(), served.totals()),
        (0, Stats::default())
    );
    // What the handler's peer had counted when each request came.
    let seen = Rc::new(RefCell::new(Vec::new()));
    let handler = {
        let seen = seen.clone();
        move |req: LocalRequest| {
            let seen = seen.clone();
            async move {
                seen.borrow_mut().push(req.peer.stats().requests);
                match &req.body[..] {
                    b"fail" => Err(ErrorReply::new(0x0100, "as asked")),
                    b"hang" => std::future::pending().await,
                    _ => Ok(req.body),
                }
            }
        }
    };
    let _ = world.spawn(server.serve(handler));
    listener.hand_over(server_end);
    let connecting = world.spawn(Client::from_stream_on(
        world.rt(),
        client_end,
        Config::default(),
    ));
    world.run_until_idle();
    let client = connecting.take().expect("handshake");
    assert_eq!((served.connections(), served.open()), (1, 1));

    let asked = world.spawn({
        let client = client.clone();
        async move {
            let ok = client.request("ok").await;
            let failed = client.request("fail").await;
            let hung = client.request_timeout("hang", secs(1.0)).await;
            (ok, failed, hung)
        }
    });
    world.run_until_idle();
    world.advance(secs(1.5));
    let (ok, failed, hung) = asked.take();
    assert_eq!(ok.expect("answered"), "ok");
    assert!(matches!(failed, Err(Error::Server { .. })), "{failed:?}");
    assert!(matches!(hung, Err(Error::TimedOut)), "{hung:?}");
    assert_eq!(*seen.borrow(), [1, 2, 3]);

    let mine = client.stats();
    assert_eq!(
        (mine.requests, mine.responses, mine.failed, mine.expired),
        (3, 1, 1, 1)
    );
    assert_eq!(mine.errors_received.application(), 1);
    let theirs = served.totals();
    assert_eq!(
        (theirs.requests, theirs.responses, theirs.failed),
        (3, 1, 1)
    );
    // The client's CANCEL and the server's own deadline come at the same
    // virtual moment: the server counts one or the other.
    assert_eq!(theirs.expired + theirs.cancelled, 1, "{theirs:?}");
    assert_eq!(mine.bytes_sent, wire.sent_to_server() as u64);
    assert_eq!(theirs.bytes_received, wire.sent_to_server() as u64);
    assert_eq!(theirs.bytes_sent, wire.sent_to_client() as u64);
    assert_eq!(mine.frames_sent, theirs.frames_received);

    // Over: the connection's final counts stay in the totals.
    let closing = world.spawn({
        let client = client.clone();
        async move { client.close().await }
    });
    world.run_until_idle();
    assert!(closing.take().is_ok());
    assert_eq!(world.live_tasks(), 1, "both drivers finished");
    assert_eq!((served.connections(), served.open()), (1, 0));
    let (mine, theirs) = (client.stats(), served.totals());
    assert_eq!(theirs.requests, 3);
    assert_eq!(mine.goaways_sent.get(ErrorCode::NO_ERROR), 1);
    assert_eq!(theirs.goaways_received.get(ErrorCode::NO_ERROR), 1);
    assert_eq!(mine.bytes_sent, wire.sent_to_server() as u64);
    assert_eq!(theirs.bytes_sent, wire.sent_to_client() as u64);
    assert_eq!(theirs.bytes_received, mine.bytes_sent);
    assert_eq!(mine.bytes_received, theirs.bytes_sent);
}
