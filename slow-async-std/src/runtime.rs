//! async-std's parts behind slow-driver's four traits.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use async_std::io::{Read, Write};
use async_std::net::{TcpListener, TcpStream, ToSocketAddrs};
use bytes::BytesMut;
use slow_driver::runtime::{Listener, ReadWindow, Runtime, Stream, Timer};

/// async-std's global runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStd;

impl Runtime for AsyncStd {
    type Stream = AsyncStdStream;
    type Listener = AsyncStdListener;
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
        let listener = TcpListener::bind(addr).await?;
        Ok(AsyncStdListener {
            listener: Arc::new(listener),
            accepting: None,
        })
    }

    fn timer(&self, deadline: Instant) -> AsyncStdTimer {
        AsyncStdTimer(sleep_until(deadline))
    }

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

/// An async-std TCP stream.
pub struct AsyncStdStream {
    io: TcpStream,
    window: ReadWindow,
}

impl AsyncStdStream {
    fn new(io: TcpStream) -> Self {
        AsyncStdStream {
            io,
            window: ReadWindow::default(),
        }
    }
}

impl Stream for AsyncStdStream {
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
        Pin::new(&mut self.io).poll_close(cx)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.peer_addr()
    }
}

type Accept = Pin<Box<dyn Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send>>;

/// An async-std TCP listener. async-std only offers `accept` as an async
/// fn, so one accept future is kept in flight.
pub struct AsyncStdListener {
    listener: Arc<TcpListener>,
    accepting: Option<Accept>,
}

impl Listener for AsyncStdListener {
    type Stream = AsyncStdStream;

    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(AsyncStdStream, SocketAddr)>> {
        let listener = &self.listener;
        let accepting = self.accepting.get_or_insert_with(|| {
            let listener = listener.clone();
            Box::pin(async move { listener.accept().await })
        });
        let result = ready!(accepting.as_mut().poll(cx));
        self.accepting = None;
        let (stream, addr) = result?;
        stream.set_nodelay(true)?;
        Poll::Ready(Ok((AsyncStdStream::new(stream), addr)))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
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
