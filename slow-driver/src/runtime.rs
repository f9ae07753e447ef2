//! The four small traits an adapter implements for its runtime.
//!
//! Like quinn's `Runtime`, these are the only places a runtime shows
//! through: a TCP stream, a listener, one timer, and a way to spawn. Each
//! adapter implements them in a few dozen lines with its runtime's own types.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;

/// A boxed task, as handed to [`Runtime::spawn`].
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// An async runtime: where tasks run, how TCP is opened, how time is kept.
pub trait Runtime: Clone + Send + Sync + Unpin + 'static {
    /// A connected TCP stream.
    type Stream: Stream;
    /// A bound TCP listener.
    type Listener: Listener<Stream = Self::Stream>;
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
    /// A timer that fires at `deadline`.
    fn timer(&self, deadline: Instant) -> Self::Timer;
    /// Runs `task` on this runtime, detached.
    fn spawn(&self, task: Task);
}

/// A connected, non-blocking TCP stream.
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
    /// Shuts down the write side.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// The peer's address.
    fn peer_addr(&self) -> io::Result<SocketAddr>;
}

/// A bound TCP listener.
pub trait Listener: Send + 'static {
    /// The stream type it accepts.
    type Stream: Stream;
    /// Accepts the next connection.
    fn poll_accept(&mut self, cx: &mut Context<'_>)
    -> Poll<io::Result<(Self::Stream, SocketAddr)>>;
    /// The address it is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// One resettable timer (a connection needs exactly one).
pub trait Timer: Send + Unpin + 'static {
    /// Moves the deadline.
    fn reset(&mut self, deadline: Instant);
    /// Ready once the deadline has passed.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// Reads from a `&mut [u8]`-style reader into `buf`'s spare capacity, for
/// runtimes whose streams implement `futures_io::AsyncRead`-like reads. The
/// window is zeroed first (safe code cannot read into uninitialised memory).
pub fn read_into(
    buf: &mut BytesMut,
    window: usize,
    read: impl FnOnce(&mut [u8]) -> Poll<io::Result<usize>>,
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    buf.resize(len + window, 0);
    let result = read(&mut buf[len..]);
    let n = match &result {
        Poll::Ready(Ok(n)) => (*n).min(window),
        _ => 0,
    };
    buf.truncate(len + n);
    result
}
