//! async-std's parts behind slow-driver's four traits.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use async_std::io::{Read, Write};
use async_std::net::{TcpListener, TcpStream, ToSocketAddrs};
use async_std::os::unix::net::{SocketAddr as UnixAddr, UnixListener, UnixStream};
use bytes::BytesMut;
use slow_driver::Addr;
use slow_driver::runtime::{Listener, Reactor, ReadWindow, Runtime, Stream, Threaded, Timer};

/// async-std's global runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStd;

impl Reactor for AsyncStd {
    type Mode = Threaded;
    type Stream = AsyncStdStream;
    type Listener = AsyncStdListener;
    type UnixStream = AsyncStdStream<UnixStream>;
    type UnixListener = AsyncStdUnixListener;
    type Timer = AsyncStdTimer;

    fn current() -> io::Result<Self> {
        Ok(AsyncStd)
    }

    async fn resolve(&self, addr: String) -> io::Result<Vec<SocketAddr>> {
        Ok(addr.to_socket_addrs().await?.collect())
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<AsyncStdStream> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(AsyncStdStream::new(stream))
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<AsyncStdListener> {
        Ok(TcpListener::bind(addr).await?.into())
    }

    async fn connect_unix(&self, path: PathBuf) -> io::Result<Self::UnixStream> {
        Ok(AsyncStdStream::new(UnixStream::connect(path).await?))
    }

    fn unix_listener(
        &self,
        listener: std::os::unix::net::UnixListener,
    ) -> io::Result<AsyncStdUnixListener> {
        Ok(UnixListener::from(listener).into())
    }

    fn timer(&self, deadline: Instant) -> AsyncStdTimer {
        AsyncStdTimer(sleep_until(deadline))
    }
}

impl Runtime for AsyncStd {
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Dropping async-std's JoinHandle detaches the task.
        drop(async_std::task::spawn(task));
    }
}

type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

fn sleep_until(deadline: Instant) -> Sleep {
    Box::pin(async_std::task::sleep(
        deadline.saturating_duration_since(Instant::now()),
    ))
}

/// An async-std byte stream: a TCP stream (what `connect` opens), or any
/// other async-std stream, such as a `UnixStream`, to run a connection over
/// with `Client::from_stream` (`From` either).
pub struct AsyncStdStream<T = TcpStream> {
    io: T,
    window: ReadWindow,
}

impl<T> AsyncStdStream<T> {
    fn new(io: T) -> Self {
        AsyncStdStream {
            io,
            window: ReadWindow::default(),
        }
    }
}

impl<T> From<T> for AsyncStdStream<T> {
    fn from(io: T) -> Self {
        AsyncStdStream::new(io)
    }
}

/// How a stream sends its FIN (shuts down writing, still reading) for
/// `Stream::poll_shutdown`. async-std's `poll_close` on its sockets only
/// flushes (it is async-io's), so they are shut down directly. A stream of
/// another kind (a TLS stream, say) implements this with what its own
/// half-close is.
pub trait HalfClose {
    /// Shuts down the write side.
    fn poll_half_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl HalfClose for TcpStream {
    fn poll_half_close(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}

impl HalfClose for UnixStream {
    fn poll_half_close(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}

impl<T: Read + Write + HalfClose + Unpin + 'static> Stream for AsyncStdStream<T> {
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

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_half_close(cx)
    }
}

type Accept = Pin<Box<dyn Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send>>;

/// An async-std TCP listener (`From` an async-std `TcpListener`, e.g. to
/// serve it with `Server::from_listener`). async-std only offers `accept` as an async
/// fn, so one accept future is kept in flight.
pub struct AsyncStdListener {
    listener: Arc<TcpListener>,
    accepting: Option<Accept>,
}

impl From<TcpListener> for AsyncStdListener {
    fn from(listener: TcpListener) -> Self {
        AsyncStdListener {
            listener: Arc::new(listener),
            accepting: None,
        }
    }
}

impl Listener for AsyncStdListener {
    type Stream = AsyncStdStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(AsyncStdStream, Addr)>> {
        let listener = &self.listener;
        let accepting = self.accepting.get_or_insert_with(|| {
            let listener = listener.clone();
            Box::pin(async move { listener.accept().await })
        });
        let result = ready!(accepting.as_mut().poll(cx));
        self.accepting = None;
        let (stream, addr) = result?;
        stream.set_nodelay(true)?;
        Poll::Ready(Ok((AsyncStdStream::new(stream), Addr::Tcp(addr))))
    }

    fn local_addr(&self) -> io::Result<Addr> {
        self.listener.local_addr().map(Addr::Tcp)
    }
}

/// An async-std Unix socket listener, to serve with
/// `Server::from_listener`. Its clients' addresses are their socket paths
/// (usually unnamed).
pub struct AsyncStdUnixListener {
    listener: Arc<UnixListener>,
    accepting: Option<UnixAccept>,
}

type UnixAccept = Pin<Box<dyn Future<Output = io::Result<(UnixStream, UnixAddr)>> + Send>>;

impl From<UnixListener> for AsyncStdUnixListener {
    fn from(listener: UnixListener) -> Self {
        AsyncStdUnixListener {
            listener: Arc::new(listener),
            accepting: None,
        }
    }
}

impl Listener for AsyncStdUnixListener {
    type Stream = AsyncStdStream<UnixStream>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Addr)>> {
        let listener = &self.listener;
        let accepting = self.accepting.get_or_insert_with(|| {
            let listener = listener.clone();
            Box::pin(async move { listener.accept().await })
        });
        let result = ready!(accepting.as_mut().poll(cx));
        self.accepting = None;
        let (stream, addr) = result?;
        let path = addr.as_pathname().map(Into::into);
        Poll::Ready(Ok((AsyncStdStream::new(stream), Addr::Unix(path))))
    }

    fn local_addr(&self) -> io::Result<Addr> {
        Ok(Addr::Unix(
            self.listener.local_addr()?.as_pathname().map(Into::into),
        ))
    }
}

/// async-std's `sleep`, replaced when the deadline moves earlier (it has no
/// resettable timer; later moves are skipped by the driver).
pub struct AsyncStdTimer(Sleep);

impl Timer for AsyncStdTimer {
    fn reset(&mut self, deadline: Instant) {
        self.0 = sleep_until(deadline);
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}
