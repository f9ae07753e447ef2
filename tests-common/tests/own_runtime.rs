//! The runtime `docs/RUNTIMES.md` builds, step by step, and the shared
//! scenario tests run on it, so that the guide cannot rot: if a trait
//! changes, this file stops compiling; if a guarantee the guide states is
//! not what the driver needs, a scenario fails.
//!
//! `Mini` is a deliberately small runtime of our own: one worker thread
//! running a queue of `Send` tasks (the executor, 35 lines), async-io for
//! sockets and timers (the reactor). Everything SLOW needs from it is the
//! impls of steps 1 to 5.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker, ready};
use std::time::{Duration, Instant};

use async_io::Async;
use futures_lite::{AsyncRead, AsyncWrite};
use slow_driver::Addr;
use slow_driver::runtime::{
    BytesMut, Listener, Reactor, ReadWindow, Runtime, Stream, Threaded, Timer,
};

// ---- Step 0: the executor (yours already exists) -----------------------

/// A spawned task: its future, and the queue that runs it when woken.
struct Task {
    future: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
    queue: Sender<Arc<Task>>,
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        let queue = self.queue.clone();
        let _ = queue.send(self);
    }
}

/// Our runtime: a handle on the queue one worker thread runs.
#[derive(Clone)]
struct Mini {
    queue: Sender<Arc<Task>>,
}

impl Mini {
    /// The process's one `Mini`, its worker started on first use.
    fn global() -> Mini {
        static GLOBAL: OnceLock<Mini> = OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let (queue, tasks) = mpsc::channel::<Arc<Task>>();
                std::thread::Builder::new()
                    .name("mini-worker".into())
                    .spawn(move || {
                        for task in tasks {
                            let waker = Waker::from(task.clone());
                            let mut cx = Context::from_waker(&waker);
                            let mut slot = task.future.lock().unwrap();
                            // A task that panics ends (it is dropped), the
                            // others go on.
                            let done = slot.as_mut().is_some_and(|future| {
                                catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)))
                                    .map_or(true, |poll| poll.is_ready())
                            });
                            if done {
                                *slot = None;
                            }
                        }
                    })
                    .expect("worker thread");
                Mini { queue }
            })
            .clone()
    }
}

// ---- Step 1: a stream --------------------------------------------------

/// A connected async-io socket (TCP or Unix).
struct MiniStream<T> {
    io: Async<T>,
    /// futures-io reads take `&mut [u8]`: the window zeroes only what reads
    /// need.
    window: ReadWindow,
}

impl<T> MiniStream<T> {
    fn new(io: Async<T>) -> Self {
        MiniStream {
            io,
            window: ReadWindow::default(),
        }
    }
}

/// The sockets a `MiniStream` holds, and how each sends its FIN.
trait Socket {
    fn shutdown_write(&self) -> io::Result<()>;
}

impl Socket for TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl Socket for UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl<T: Socket + 'static> Stream for MiniStream<T>
where
    Async<T>: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        let io = &mut self.io;
        self.window.read(buf, |dst| Pin::new(io).poll_read(cx, dst))
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A FIN: `shutdown(Write)` on the socket itself (async-io's
        // `poll_close` only flushes, and the peer would never read end of
        // stream).
        Poll::Ready(self.io.get_ref().shutdown_write())
    }
}

// ---- Step 2: listeners -------------------------------------------------

struct MiniListener(Async<TcpListener>);

impl Listener for MiniListener {
    type Stream = MiniStream<TcpStream>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Addr)>> {
        loop {
            match self.0.get_ref().accept() {
                Ok((stream, addr)) => {
                    stream.set_nodelay(true)?;
                    let stream = MiniStream::new(Async::new(stream)?);
                    return Poll::Ready(Ok((stream, Addr::Tcp(addr))));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.0.poll_readable(cx))?
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Addr> {
        self.0.get_ref().local_addr().map(Addr::Tcp)
    }
}

struct MiniUnixListener(Async<UnixListener>);

impl Listener for MiniUnixListener {
    type Stream = MiniStream<UnixStream>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Addr)>> {
        loop {
            match self.0.get_ref().accept() {
                Ok((stream, addr)) => {
                    let path = addr.as_pathname().map(Into::into);
                    let stream = MiniStream::new(Async::new(stream)?);
                    return Poll::Ready(Ok((stream, Addr::Unix(path))));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.0.poll_readable(cx))?
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Addr> {
        let addr = self.0.get_ref().local_addr()?;
        Ok(Addr::Unix(addr.as_pathname().map(Into::into)))
    }
}

// ---- Step 3: a timer ---------------------------------------------------

struct MiniTimer(async_io::Timer);

impl Timer for MiniTimer {
    fn reset(&mut self, deadline: Instant) {
        self.0.set_at(deadline);
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

// ---- Step 4: the reactor -----------------------------------------------

impl Reactor for Mini {
    type Mode = Threaded;
    type Stream = MiniStream<TcpStream>;
    type Listener = MiniListener;
    type UnixStream = MiniStream<UnixStream>;
    type UnixListener = MiniUnixListener;
    type Timer = MiniTimer;

    fn current() -> io::Result<Self> {
        Ok(Mini::global())
    }

    async fn resolve(&self, addr: String) -> io::Result<Vec<SocketAddr>> {
        // A literal address needs no lookup; a name blocks this task (a
        // real runtime resolves off its executor, as smol's `unblock`).
        match addr.parse() {
            Ok(addr) => Ok(vec![addr]),
            Err(_) => Ok(addr.to_socket_addrs()?.collect()),
        }
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        let stream = Async::<TcpStream>::connect(addr).await?;
        stream.get_ref().set_nodelay(true)?;
        Ok(MiniStream::new(stream))
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<MiniListener> {
        Async::<TcpListener>::bind(addr).map(MiniListener)
    }

    async fn connect_unix(&self, path: PathBuf) -> io::Result<Self::UnixStream> {
        Ok(MiniStream::new(Async::<UnixStream>::connect(path).await?))
    }

    fn unix_listener(&self, listener: UnixListener) -> io::Result<MiniUnixListener> {
        Async::new(listener).map(MiniUnixListener)
    }

    fn timer(&self, deadline: Instant) -> MiniTimer {
        MiniTimer(async_io::Timer::at(deadline))
    }
}

// ---- Step 5: spawning --------------------------------------------------

impl Runtime for Mini {
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Queued, never polled here: the driver spawns while it holds a
        // connection's state.
        let task = Arc::new(Task {
            future: Mutex::new(Some(Box::pin(task))),
            queue: self.queue.clone(),
        });
        let _ = self.queue.send(task);
    }
}

// ---- Step 6: the shared scenarios --------------------------------------

struct MiniTest;

impl tests_common::TestRuntime for MiniTest {
    type Runtime = Mini;
    type Raw = tests_common::ReadinessIo;

    fn block_on(f: impl Future<Output = ()>) {
        async_io::block_on(f)
    }

    async fn sleep(d: Duration) {
        async_io::Timer::after(d).await;
    }
}

tests_common::scenario_tests!(MiniTest);
