//! The small traits an adapter implements for its runtime.
//!
//! Like quinn's `Runtime`, these are the only places a runtime shows
//! through: a stream, a listener, one timer, a clock and a way to spawn.
//! [`Reactor`] is what every runtime provides (sockets, timers, the
//! clock); how tasks run is the one thing that differs, so it is said by
//! one of two traits on top:
//!
//! - [`Runtime`]: tasks are `Send` and may run on any thread (tokio, smol,
//!   async-std). A connection's state is shared under a `Mutex`.
//! - [`LocalRuntime`]: tasks stay on the thread that spawned them
//!   (thread-per-core executors: async-executor's `LocalExecutor`,
//!   glommio, monoio). Nothing is required to be `Send`, and a
//!   connection's state is shared with `Rc`/`RefCell`, no lock.
//!
//! The same `Client` and `Server` run on both; whether their futures are
//! `Send` follows from the types they hold. `docs/RUNTIMES.md` shows how
//! to bring a runtime of your own in.
//!
//! [`Stream`] and [`Listener`] are separate from the runtime: any byte
//! stream that implements [`Stream`] (a Unix socket, a TLS stream, an
//! in-memory pipe) carries a connection (`Client::from_stream`), and any
//! source of accepted streams that implements [`Listener`] feeds a server
//! (`Server::from_listener`). The runtime's own are what `connect` and
//! `bind` open.
//!
//! Streams come in the two shapes IO has: *readiness* ([`Stream`]: poll,
//! then read into or write from borrowed memory; epoll, kqueue) and
//! *completion* ([`CompletionStream`]: submit a buffer the kernel owns
//! until the operation completes; io_uring, IOCP). Either is a
//! [`Transport`], which is what the driver runs a connection over; a
//! completion stream becomes one wrapped in [`Completion`].

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::Addr;
#[doc(hidden)]
pub use crate::mode::Lock;
pub use crate::mode::{Local, Mode, Threaded};
pub use crate::spawn::{RunsClient, RunsHandlers, RunsServer};
use bytes::Bytes;
/// The receive buffer [`Stream::poll_read_buf`] appends to (`bytes`'s,
/// re-exported so that a runtime's crate need not depend on `bytes`).
pub use bytes::BytesMut;
use slow_proto::Connection;

/// What every runtime provides: TCP and Unix sockets, a timer, a clock.
/// A runtime implements this and one of [`Runtime`] (its tasks are
/// `Send`) or [`LocalRuntime`] (they stay on their thread).
///
/// Its futures need not be `Send`: a local runtime's sockets are often
/// not.
pub trait Reactor: Clone + Unpin + 'static {
    /// [`Threaded`] for a [`Runtime`], [`Local`] for a [`LocalRuntime`]:
    /// how a connection's state is shared between its tasks.
    type Mode: Mode;
    /// A connected TCP stream.
    type Stream: Transport;
    /// A bound TCP listener.
    type Listener: Listener<Stream = Self::Stream>;
    /// A connected Unix domain socket stream.
    type UnixStream: Transport;
    /// A bound Unix domain socket listener.
    type UnixListener: Listener<Stream = Self::UnixStream>;
    /// A resettable one-shot timer.
    type Timer: Timer;

    /// The runtime the caller is running on (e.g. tokio's current handle).
    fn current() -> io::Result<Self>;
    /// Resolves `host:port` with the runtime's own resolver.
    fn resolve(&self, addr: String) -> impl Future<Output = io::Result<Vec<SocketAddr>>>;
    /// Opens a TCP connection.
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>>;
    /// Binds a TCP listener.
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>>;
    /// Connects to the Unix socket at `path`.
    fn connect_unix(&self, path: PathBuf) -> impl Future<Output = io::Result<Self::UnixStream>>;
    /// Takes over a bound, listening std Unix listener (the driver binds
    /// it, so that stale socket files and errors are handled once for
    /// every runtime).
    fn unix_listener(
        &self,
        listener: std::os::unix::net::UnixListener,
    ) -> io::Result<Self::UnixListener>;
    /// A timer that fires at `deadline`.
    fn timer(&self, deadline: Instant) -> Self::Timer;
    /// The time on this runtime's clock: the same clock its timers keep
    /// (a runtime with a virtual clock for tests returns that; quinn's
    /// `Runtime::now`). A connection's driver reads it once per wake-up,
    /// and again after a read that brought input or when its timer fired.
    fn now() -> Instant {
        Instant::now()
    }
}

/// A runtime whose tasks are `Send` and may run on any of its threads.
/// Its streams, listeners and timer are `Send` too, so that a connection's
/// driver task is.
///
/// ```
/// use slow_driver::runtime::Runtime;
/// use slow_driver::{Client, Error};
///
/// /// A request from a task of its own, on any multi-threaded runtime.
/// fn in_background<R: Runtime>(runtime: &R, client: Client<R>) {
///     runtime.spawn(async move {
///         let _: Result<_, Error> = client.request("ping").await;
///     });
/// }
/// ```
pub trait Runtime:
    Reactor<
        Mode = Threaded,
        Stream: Send,
        Listener: Send,
        UnixStream: Send,
        UnixListener: Send,
        Timer: Send,
    > + Send
    + Sync
{
    /// Runs `task` on this runtime, detached. Generic rather than boxed, so
    /// the runtime's own task allocation is the only one.
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static;
}

/// A runtime whose tasks stay on the thread that spawned them: a
/// thread-per-core executor, one per thread. Nothing it runs needs to be
/// `Send`; handlers are [`LocalHandler`](crate::LocalHandler)s and may hold
/// `Rc` state.
///
/// ```
/// use std::rc::Rc;
/// use slow_driver::runtime::LocalRuntime;
/// use slow_driver::{Client, Error};
///
/// /// Two requests from local tasks sharing an `Rc`.
/// fn both<R: LocalRuntime>(runtime: &R, client: Client<R>) {
///     let seen = Rc::new(std::cell::Cell::new(0));
///     for body in ["one", "two"] {
///         let (client, seen) = (client.clone(), seen.clone());
///         runtime.spawn_local(async move {
///             let _: Result<_, Error> = client.request(body).await;
///             seen.set(seen.get() + 1);
///         });
///     }
/// }
/// ```
pub trait LocalRuntime: Reactor<Mode = Local> {
    /// Runs `task` on this thread's executor, detached.
    fn spawn_local<F>(&self, task: F)
    where
        F: Future<Output = ()> + 'static;
}

/// A connected, non-blocking byte stream: a runtime's TCP stream, or any
/// other that carries SLOW (a Unix socket, a TLS stream, a pipe).
pub trait Stream: Unpin + 'static {
    /// Reads into the spare capacity of `buf` (appending), returning how
    /// many bytes were read; 0 is end of stream.
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>>;
    /// Writes from `bufs` in order, returning how many bytes were taken.
    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;
    /// Shuts down the write side (a TCP FIN): the peer reads end of stream,
    /// and this side may still read what it sends.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Who the peer is, for a stream that authenticates it (TLS: the
    /// certificates it presented and that were verified). Asked once the
    /// SLOW handshake is done; `None` by default.
    #[cfg(feature = "tls")]
    fn tls_identity(&self) -> Option<crate::tls::TlsIdentity> {
        None
    }
}

/// A connected stream with completion-based IO (io_uring, IOCP): a read or
/// a write is *submitted* with a buffer that the kernel owns until the
/// operation completes, and the future returns it. Poll-based IO traits
/// (`AsyncRead`) cannot say this; the driver needs no more than it.
///
/// The connection hands reads its own receive buffer (the payloads of the
/// frames read are slices of it, not copies) and writes its queued bytes as
/// `Bytes` (a large body is the application's own, by reference). At most
/// one read and one write are in flight at a time, so the futures must not
/// borrow the stream: hold the file descriptor by a shared handle.
/// Dropping a future cancels its operation. Wrap the stream in
/// [`Completion`] to run a connection over it.
///
/// ```
/// use std::future::{Ready, ready};
/// use std::io;
/// use slow_driver::Bytes;
/// use slow_driver::runtime::{BytesMut, Completion, CompletionStream, Transport};
///
/// /// A stream that reads end of stream and takes every write whole.
/// struct Sink;
///
/// impl CompletionStream for Sink {
///     type Read = Ready<(io::Result<usize>, BytesMut)>;
///     type Write = Ready<(io::Result<usize>, Vec<Bytes>)>;
///     type Shutdown = Ready<io::Result<()>>;
///
///     fn read(&mut self, buf: BytesMut) -> Self::Read {
///         ready((Ok(0), buf))
///     }
///     fn write(&mut self, bufs: Vec<Bytes>) -> Self::Write {
///         let n = bufs.iter().map(Bytes::len).sum();
///         ready((Ok(n), bufs))
///     }
///     fn shutdown(&mut self) -> Self::Shutdown {
///         ready(Ok(()))
///     }
/// }
///
/// fn carries(_: impl Transport) {}
/// carries(Completion::new(Sink));
/// ```
pub trait CompletionStream: 'static {
    /// A read in flight: the count read into the spare capacity of the
    /// buffer (0 is end of stream), and the buffer back with those bytes
    /// appended.
    type Read: Future<Output = (io::Result<usize>, BytesMut)> + Unpin + 'static;
    /// A write in flight: how many bytes of the chunks, in order, the
    /// kernel took, and the chunks back (their vector is reused).
    type Write: Future<Output = (io::Result<usize>, Vec<Bytes>)> + Unpin + 'static;
    /// A shutdown of the write side (a FIN) in flight.
    type Shutdown: Future<Output = io::Result<()>> + Unpin + 'static;

    /// Submits a read into the spare capacity of `buf`.
    fn read(&mut self, buf: BytesMut) -> Self::Read;
    /// Submits a (vectored) write of `bufs`, in order.
    fn write(&mut self, bufs: Vec<Bytes>) -> Self::Write;
    /// Submits a shutdown of the write side: the peer reads end of stream,
    /// and this side may still read what it sends.
    fn shutdown(&mut self) -> Self::Shutdown;
}

/// At most this many chunks per completion write (as the readiness path's
/// slices per vectored write).
const MAX_CHUNKS: usize = 64;

/// A [`CompletionStream`] as a [`Transport`]: keeps its operations in
/// flight across the driver's wake-ups and lends them the connection's
/// buffers.
pub struct Completion<S: CompletionStream> {
    stream: S,
    read: Option<S::Read>,
    write: Option<S::Write>,
    shutdown: Option<S::Shutdown>,
    /// The vector chunks are submitted in, kept between writes.
    chunks: Vec<Bytes>,
}

impl<S: CompletionStream> Completion<S> {
    /// Wraps `stream`.
    pub fn new(stream: S) -> Self {
        Completion {
            stream,
            read: None,
            write: None,
            shutdown: None,
            chunks: Vec::new(),
        }
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }
}

impl<S: CompletionStream> From<S> for Completion<S> {
    fn from(stream: S) -> Self {
        Completion::new(stream)
    }
}

impl<S: CompletionStream + std::fmt::Debug> std::fmt::Debug for Completion<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("stream", &self.stream)
            .field("reading", &self.read.is_some())
            .field("writing", &self.write.is_some())
            .finish()
    }
}

/// What a connection runs over: any [`Stream`], or a [`CompletionStream`]
/// in [`Completion`]. Sealed: it follows from those two.
pub trait Transport: io_shape::Io + Unpin + 'static {}

impl<T: io_shape::Io + Unpin + 'static> Transport for T {}

pub(crate) mod io_shape {
    use super::*;

    /// The three things the driver does with a stream, whatever its shape.
    pub trait Io {
        /// Reads into the connection and processes the input. `Ok(0)` is end
        /// of stream (the connection is left to the caller).
        fn poll_read(
            &mut self,
            cx: &mut Context<'_>,
            conn: &mut Connection,
            now: &mut crate::now::Now,
        ) -> Poll<io::Result<usize>>;
        /// Writes from the connection's queue and advances it by what was
        /// taken; `Ok(0)` is a write that took nothing.
        fn poll_write(
            &mut self,
            cx: &mut Context<'_>,
            conn: &mut Connection,
        ) -> Poll<io::Result<usize>>;
        /// Shuts down the write side.
        fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
        /// The peer's verified identity, if the stream has one.
        #[cfg(feature = "tls")]
        fn tls_identity(&self) -> Option<crate::tls::TlsIdentity> {
            None
        }
    }

    impl<S: Stream> Io for S {
        fn poll_read(
            &mut self,
            cx: &mut Context<'_>,
            conn: &mut Connection,
            now: &mut crate::now::Now,
        ) -> Poll<io::Result<usize>> {
            let result = self.poll_read_buf(cx, conn.recv_buffer());
            if let Poll::Ready(Ok(1..)) = result {
                conn.handle_input(now.input());
            }
            result
        }

        fn poll_write(
            &mut self,
            cx: &mut Context<'_>,
            conn: &mut Connection,
        ) -> Poll<io::Result<usize>> {
            let mut slices = [IoSlice::new(&[]); MAX_CHUNKS];
            let n = conn.transmit_io_slices(&mut slices);
            let result = self.poll_write_vectored(cx, &slices[..n]);
            // Pending: nothing was taken, and the bytes handed out need not
            // stay first (a PONG may go ahead of them next time).
            let written = match result {
                Poll::Ready(Ok(n)) => n,
                _ => 0,
            };
            conn.advance_transmit(written);
            result
        }

        fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Stream::poll_shutdown(self, cx)
        }

        #[cfg(feature = "tls")]
        fn tls_identity(&self) -> Option<crate::tls::TlsIdentity> {
            Stream::tls_identity(self)
        }
    }

    impl<S: CompletionStream> Io for Completion<S> {
        fn poll_read(
            &mut self,
            cx: &mut Context<'_>,
            conn: &mut Connection,
            now: &mut crate::now::Now,
        ) -> Poll<io::Result<usize>> {
            let read = self
                .read
                .get_or_insert_with(|| self.stream.read(conn.take_recv_buffer()));
            let Poll::Ready((result, buf)) = Pin::new(read).poll(cx) else {
                return Poll::Pending;
            };
            self.read = None;
            // The buffer comes back whatever happened; what was read (if
            // anything) is processed.
            conn.recv_owned(buf, now.input());
            Poll::Ready(result)
        }

        fn poll_write(
            &mut self,
            cx: &mut Context<'_>,
            conn: &mut Connection,
        ) -> Poll<io::Result<usize>> {
            let write = match &mut self.write {
                Some(write) => write,
                None => {
                    let mut chunks = std::mem::take(&mut self.chunks);
                    chunks.extend(conn.transmit_chunks(MAX_CHUNKS));
                    self.write.insert(self.stream.write(chunks))
                }
            };
            // In flight, the bytes handed out stay first (no advance).
            let Poll::Ready((result, mut chunks)) = Pin::new(write).poll(cx) else {
                return Poll::Pending;
            };
            self.write = None;
            chunks.clear();
            self.chunks = chunks;
            conn.advance_transmit(*result.as_ref().unwrap_or(&0));
            Poll::Ready(result)
        }

        fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let shutdown = self.shutdown.get_or_insert_with(|| self.stream.shutdown());
            let result = std::task::ready!(Pin::new(shutdown).poll(cx));
            self.shutdown = None;
            Poll::Ready(result)
        }
    }
}

/// A source of accepted streams: a runtime's TCP listener, or any other
/// (a Unix listener, a channel of streams handed out by an acceptor).
pub trait Listener: 'static {
    /// The stream type it accepts.
    type Stream: Transport;
    /// Accepts the next connection, with its peer's address
    /// ([`Addr::Unknown`] when there is none to tell).
    ///
    /// An error ends serving unless it is about the one connection
    /// (`ConnectionAborted`, `ConnectionReset`, `Interrupted`: the next is
    /// taken) or about resources (out of file descriptors, `WouldBlock`:
    /// accepting pauses 100 ms). A listener that will never yield another
    /// stream returns a `ConnectionAborted`-free error such as
    /// `BrokenPipe`, ending `serve` with it.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Addr)>>;
    /// The address it listens on ([`Addr::Unknown`] if it has none).
    fn local_addr(&self) -> io::Result<Addr>;
}

/// One resettable timer (a connection needs exactly one).
pub trait Timer: Unpin + 'static {
    /// Moves the deadline.
    fn reset(&mut self, deadline: Instant);
    /// Ready once the deadline has passed.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// Reads into a `BytesMut` for streams whose reads take a `&mut [u8]`
/// (futures-io style). Safe code cannot read into uninitialised memory, so
/// the window is zeroed before each read; it adapts to what reads return
/// (doubling when a read fills it, down to what the last read needed), so a
/// connection of small messages zeroes hundreds of bytes a read, not 64 KiB,
/// and a large body (up to the default MAX_FRAME_SIZE, 64 KiB) takes one
/// read, not four (16 KiB windows: 8.7 `recvfrom` a round trip at 64 KiB
/// bodies, 2.9 now).
#[derive(Debug, Clone)]
pub struct ReadWindow {
    size: usize,
}

impl ReadWindow {
    /// The smallest window offered.
    pub const MIN: usize = 512;
    /// The largest window offered.
    pub const MAX: usize = 64 * 1024;

    /// Appends what `read` reads to `buf`.
    pub fn read(
        &mut self,
        buf: &mut BytesMut,
        read: impl FnOnce(&mut [u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let window = self.size;
        let len = buf.len();
        buf.resize(len + window, 0);
        let result = read(&mut buf[len..]);
        let n = match &result {
            Poll::Ready(Ok(n)) => (*n).min(window),
            _ => 0,
        };
        buf.truncate(len + n);
        if let Poll::Ready(Ok(_)) = result {
            self.size = if n == window { window * 2 } else { n * 2 }.clamp(Self::MIN, Self::MAX);
        }
        result
    }
}

impl Default for ReadWindow {
    fn default() -> Self {
        ReadWindow { size: Self::MIN }
    }
}
