//! smol's parts behind slow-driver's four traits.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::BytesMut;
use slow_driver::Addr;
use slow_driver::runtime::{Listener, Reactor, ReadWindow, Runtime, Stream, Threaded, Timer};
use smol::io::{AsyncRead, AsyncWrite};
use smol::{Async, Executor};

/// Where SLOW's tasks run: smol's global executor, or one of yours.
#[derive(Clone, Default)]
pub struct Smol {
    executor: Option<Arc<Executor<'static>>>,
}

impl Smol {
    /// smol's global executor (`smol::spawn`).
    pub fn global() -> Self {
        Smol { executor: None }
    }

    /// Your own executor: every task SLOW spawns runs on it.
    pub fn on(executor: Arc<Executor<'static>>) -> Self {
        Smol {
            executor: Some(executor),
        }
    }
}

impl Reactor for Smol {
    type Mode = Threaded;
    type Stream = SmolStream;
    type Listener = SmolListener;
    type UnixStream = SmolStream<Async<UnixStream>>;
    type UnixListener = SmolUnixListener;
    type Timer = SmolTimer;

    fn current() -> io::Result<Self> {
        Ok(Smol::global())
    }

    async fn resolve(&self, addr: String) -> io::Result<Vec<SocketAddr>> {
        smol::net::resolve(addr).await
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<SmolStream> {
        let stream = Async::<TcpStream>::connect(addr).await?;
        stream.get_ref().set_nodelay(true)?;
        Ok(SmolStream::new(stream))
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<SmolListener> {
        Async::<TcpListener>::bind(addr).map(SmolListener)
    }

    async fn connect_unix(&self, path: PathBuf) -> io::Result<Self::UnixStream> {
        Ok(SmolStream::new(Async::<UnixStream>::connect(path).await?))
    }

    fn unix_listener(&self, listener: UnixListener) -> io::Result<SmolUnixListener> {
        Async::new(listener).map(SmolUnixListener)
    }

    fn timer(&self, deadline: Instant) -> SmolTimer {
        SmolTimer(smol::Timer::at(deadline))
    }
}

impl Runtime for Smol {
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match &self.executor {
            Some(ex) => ex.spawn(task).detach(),
            None => smol::spawn(task).detach(),
        }
    }
}

/// An async-io byte stream: a TCP stream (what `connect` opens), or any
/// other smol stream, such as an `Async<UnixStream>`, to run a connection
/// over with `Client::from_stream` (`From` either).
pub struct SmolStream<T = Async<TcpStream>> {
    io: T,
    window: ReadWindow,
}

impl<T> From<T> for SmolStream<T> {
    fn from(io: T) -> Self {
        SmolStream::new(io)
    }
}

impl<T> SmolStream<T> {
    fn new(io: T) -> Self {
        SmolStream {
            io,
            window: ReadWindow::default(),
        }
    }
}

/// How a stream sends its FIN (shuts down writing, still reading) for
/// `Stream::poll_shutdown`. async-io's `poll_close` only flushes, so a
/// socket in an `Async` is shut down directly; smol's `net` types close
/// with a shutdown already. A stream of another kind (a TLS stream, say)
/// implements this with what its own half-close is.
pub trait HalfClose {
    /// Shuts down the write side.
    fn poll_half_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl HalfClose for Async<TcpStream> {
    fn poll_half_close(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_ref().shutdown(Shutdown::Write))
    }
}

impl HalfClose for Async<UnixStream> {
    fn poll_half_close(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_ref().shutdown(Shutdown::Write))
    }
}

impl HalfClose for smol::net::TcpStream {
    fn poll_half_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self).poll_close(cx)
    }
}

impl HalfClose for smol::net::unix::UnixStream {
    fn poll_half_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self).poll_close(cx)
    }
}

impl<T: AsyncRead + AsyncWrite + HalfClose + Unpin + 'static> Stream for SmolStream<T> {
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        // No readiness check first: async-io's readiness is edge-tracked, and
        // waiting for it before every read cost a reactor round trip per read
        // (64 KiB bodies ran at half speed). The window keeps zeroing small.
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

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_half_close(cx)
    }
}

/// An async-io TCP listener.
pub struct SmolListener(pub Async<TcpListener>);

impl Listener for SmolListener {
    type Stream = SmolStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(SmolStream, Addr)>> {
        loop {
            match self.0.get_ref().accept() {
                Ok((stream, addr)) => {
                    stream.set_nodelay(true)?;
                    let stream = SmolStream::new(Async::new(stream)?);
                    return Poll::Ready(Ok((stream, Addr::Tcp(addr))));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.0.poll_readable(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Addr> {
        self.0.get_ref().local_addr().map(Addr::Tcp)
    }
}

/// An async-io Unix socket listener, to serve with `Server::from_listener`.
/// Its clients' addresses are their socket paths (usually unnamed).
pub struct SmolUnixListener(pub Async<UnixListener>);

impl Listener for SmolUnixListener {
    type Stream = SmolStream<Async<UnixStream>>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Addr)>> {
        loop {
            match self.0.get_ref().accept() {
                Ok((stream, addr)) => {
                    let path = addr.as_pathname().map(Into::into);
                    let stream = SmolStream::new(Async::new(stream)?);
                    return Poll::Ready(Ok((stream, Addr::Unix(path))));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.0.poll_readable(cx))?;
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

/// An async-io timer, reset in place.
pub struct SmolTimer(smol::Timer);

impl Timer for SmolTimer {
    fn reset(&mut self, deadline: Instant) {
        self.0.set_at(deadline);
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}
