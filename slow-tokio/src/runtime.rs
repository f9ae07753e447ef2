//! tokio's parts behind slow-driver's four traits.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::BytesMut;
use slow_driver::Addr;
use slow_driver::runtime::{Listener, Reactor, Runtime, Stream, Threaded, Timer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::runtime::Handle;
use tokio::time::Sleep;

/// A tokio runtime, by its handle.
#[derive(Clone, Debug)]
pub struct Tokio(pub Handle);

impl Reactor for Tokio {
    type Mode = Threaded;
    type Stream = TokioStream;
    type Listener = TokioListener;
    type UnixStream = TokioStream<UnixStream>;
    type UnixListener = TokioUnixListener;
    type Timer = TokioTimer;

    fn current() -> io::Result<Self> {
        Handle::try_current().map(Tokio).map_err(io::Error::other)
    }

    async fn resolve(&self, addr: String) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host(addr).await?.collect())
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TokioStream> {
        // On our runtime's reactor, even when called from outside it.
        let stream = self
            .0
            .spawn(TcpStream::connect(addr))
            .await
            .map_err(io::Error::other)??;
        stream.set_nodelay(true)?;
        Ok(TokioStream(stream))
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<TokioListener> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let _guard = self.0.enter();
        TcpListener::from_std(listener).map(TokioListener)
    }

    async fn connect_unix(&self, path: PathBuf) -> io::Result<TokioStream<UnixStream>> {
        let stream = self.0.spawn(UnixStream::connect(path));
        Ok(TokioStream(stream.await.map_err(io::Error::other)??))
    }

    fn unix_listener(
        &self,
        listener: std::os::unix::net::UnixListener,
    ) -> io::Result<TokioUnixListener> {
        let _guard = self.0.enter();
        UnixListener::from_std(listener).map(TokioUnixListener)
    }

    fn timer(&self, deadline: Instant) -> TokioTimer {
        let _guard = self.0.enter();
        TokioTimer(Box::pin(tokio::time::sleep_until(deadline.into())))
    }

    /// tokio's clock, the one its timers keep (paused and advanced by
    /// `tokio::time::pause` in tests; otherwise the system's).
    fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

impl Runtime for Tokio {
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.spawn(task);
    }
}

/// A tokio byte stream: a TCP stream (what `connect` opens), or any other
/// tokio stream, such as a `UnixStream`, to run a connection over with
/// `Client::from_stream`.
pub struct TokioStream<T = TcpStream>(pub T);

impl<T: AsyncRead + AsyncWrite + Unpin + 'static> Stream for TokioStream<T> {
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        // Straight into the core's receive buffer, no copy, no zeroing.
        // Through `AsyncRead` (the `read_buf` future holds no state, so a
        // fresh one per poll is the same as `poll_read`) rather than
        // `try_read_buf`: tokio clears the socket's readiness after a short
        // read, so the next read waits for epoll instead of making a
        // `recvfrom` that fails with EAGAIN (one per wake-up otherwise).
        pin!(self.0.read_buf(buf)).poll(cx)
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A tokio TCP listener.
pub struct TokioListener(pub TcpListener);

impl Listener for TokioListener {
    type Stream = TokioStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(TokioStream, Addr)>> {
        let (stream, addr) = ready!(self.0.poll_accept(cx))?;
        stream.set_nodelay(true)?;
        Poll::Ready(Ok((TokioStream(stream), Addr::Tcp(addr))))
    }

    fn local_addr(&self) -> io::Result<Addr> {
        self.0.local_addr().map(Addr::Tcp)
    }
}

/// A tokio Unix socket listener, to serve with `Server::from_listener`.
/// Its clients' addresses are their socket paths (usually unnamed).
pub struct TokioUnixListener(pub UnixListener);

impl Listener for TokioUnixListener {
    type Stream = TokioStream<UnixStream>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Addr)>> {
        let (stream, addr) = ready!(self.0.poll_accept(cx))?;
        let path = addr.as_pathname().map(Into::into);
        Poll::Ready(Ok((TokioStream(stream), Addr::Unix(path))))
    }

    fn local_addr(&self) -> io::Result<Addr> {
        Ok(Addr::Unix(
            self.0.local_addr()?.as_pathname().map(Into::into),
        ))
    }
}

/// A tokio `Sleep`, reset in place.
pub struct TokioTimer(Pin<Box<Sleep>>);

impl Timer for TokioTimer {
    fn reset(&mut self, deadline: Instant) {
        self.0.as_mut().reset(deadline.into());
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}
