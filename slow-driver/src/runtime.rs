//! The four small traits an adapter implements for its runtime.
//!
//! Like quinn's `Runtime`, these are the only places a runtime shows
//! through: a TCP stream, a listener, one timer, a clock and a way to
//! spawn. Each adapter implements them in a few dozen lines with its
//! runtime's own types.
//!
//! [`Stream`] and [`Listener`] are separate from the runtime: any byte
//! stream that implements [`Stream`] (a Unix socket, a TLS stream, an
//! in-memory pipe) carries a connection (`Client::from_stream`), and any
//! source of accepted streams that implements [`Listener`] feeds a server
//! (`Server::from_listener`). The runtime's own are what `connect` and
//! `bind` open.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;

use crate::Addr;

/// An async runtime: where tasks run, how TCP is opened, how time is kept.
pub trait Runtime: Clone + Send + Sync + Unpin + 'static {
    /// A connected TCP stream.
    type Stream: Stream;
    /// A bound TCP listener.
    type Listener: Listener<Stream = Self::Stream>;
    /// A connected Unix domain socket stream.
    type UnixStream: Stream;
    /// A bound Unix domain socket listener.
    type UnixListener: Listener<Stream = Self::UnixStream>;
    /// A resettable one-shot timer.
    type Timer: Timer;

    /// The runtime the caller is running on (e.g. tokio's current handle).
    fn current() -> io::Result<Self>;
    /// Resolves `host:port` with the runtime's own resolver.
    fn resolve(&self, addr: String) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;
    /// Opens a TCP connection.
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    /// Binds a TCP listener.
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// Connects to the Unix socket at `path`.
    fn connect_unix(
        &self,
        path: PathBuf,
    ) -> impl Future<Output = io::Result<Self::UnixStream>> + Send;
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
    /// `Runtime::now`). A connection's driver reads it once per wake-up.
    fn now() -> Instant {
        Instant::now()
    }
    /// Runs `task` on this runtime, detached. Generic rather than boxed, so
    /// the runtime's own task allocation is the only one.
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static;
}

/// A connected, non-blocking byte stream: a runtime's TCP stream, or any
/// other that carries SLOW (a Unix socket, a TLS stream, a pipe).
pub trait Stream: Send + Unpin + 'static {
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
}

/// A source of accepted streams: a runtime's TCP listener, or any other
/// (a Unix listener, a channel of streams handed out by an acceptor).
pub trait Listener: Send + 'static {
    /// The stream type it accepts.
    type Stream: Stream;
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
pub trait Timer: Send + Unpin + 'static {
    /// Moves the deadline.
    fn reset(&mut self, deadline: Instant);
    /// Ready once the deadline has passed.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// Reads into a `BytesMut` for streams whose reads take a `&mut [u8]`
/// (futures-io style). Safe code cannot read into uninitialised memory, so
/// the window is zeroed before each read; it adapts to what reads return
/// (doubling when a read fills it, down to what the last read needed), so a
/// connection of small messages zeroes hundreds of bytes a read, not 16 KiB.
#[derive(Debug, Clone)]
pub struct ReadWindow {
    size: usize,
}

impl ReadWindow {
    /// The smallest window offered.
    pub const MIN: usize = 512;
    /// The largest window offered.
    pub const MAX: usize = 16 * 1024;

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
