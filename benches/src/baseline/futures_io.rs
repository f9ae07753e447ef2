//! What the baselines on futures-io runtimes (smol, async-std) share: the
//! pipelined server ([`serve_pipelined`]) and the client ([`Client`]),
//! written once over the runtime's TCP stream ([`Tcp`]) and the way it
//! spawns a task ([`Runtime`]). An unbounded async-channel feeds each
//! connection's writer, a bounded(1) one is the oneshot per request (the
//! channels and futures-lite's I/O helpers, taken through smol's
//! re-exports, run on any runtime).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use smol::channel::{self, Receiver, Sender};
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};

use super::pipelined::{Out, answer_all};
use super::{Frame, check_handshake, closed, header, take_frame};
use super::{HANDSHAKE, HELLO, READ_CHUNK, REQUEST, RESPONSE, WELCOME, WRITE_BUFFER};

/// A frame queued for a connection's writer: type, id, body.
pub(super) type Outgoing = (u8, u32, Bytes);
type Pending = Arc<Mutex<HashMap<u32, Sender<Bytes>>>>;

/// A runtime's TCP stream, through futures-io; a clone is another handle
/// on the same socket (one for the reader, one for the writer).
pub trait Tcp: AsyncRead + AsyncWrite + Clone + Unpin + Send + 'static {
    /// The listener that accepts it.
    type Listener: Send + 'static;
    /// Connects to `addr`.
    fn connect_to(addr: SocketAddr) -> impl Future<Output = io::Result<Self>> + Send;
    /// The next connection on `listener`.
    fn accept_on(listener: &Self::Listener) -> impl Future<Output = io::Result<Self>> + Send;
    /// Sets TCP_NODELAY.
    fn nodelay(&self) -> io::Result<()>;
}

/// Implements [`Tcp`] for a runtime's `TcpStream` and `TcpListener`, which
/// smol and async-std spell alike.
macro_rules! tcp {
    ($stream:ty, $listener:ty) => {
        impl $crate::baseline::futures_io::Tcp for $stream {
            type Listener = $listener;

            async fn connect_to(addr: ::std::net::SocketAddr) -> ::std::io::Result<Self> {
                <$stream>::connect(addr).await
            }

            async fn accept_on(listener: &$listener) -> ::std::io::Result<Self> {
                Ok(listener.accept().await?.0)
            }

            fn nodelay(&self) -> ::std::io::Result<()> {
                self.set_nodelay(true)
            }
        }
    };
}
pub(super) use tcp;

/// A runtime the baselines run on: its TCP stream and how it spawns a
/// task.
pub trait Runtime: Send + Sync + 'static {
    /// Its TCP stream.
    type Stream: Tcp;
    /// Runs `f` as a task of its own, detached (its output is dropped).
    fn spawn_detached<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static);
}

/// Accepts connections forever, each served by one task on `rt` that
/// answers every request in its read buffer inline and writes the answers
/// in one vectored write per read (see [`super::pipelined`]).
pub async fn serve_pipelined<R: Runtime>(listener: <R::Stream as Tcp>::Listener, rt: R) {
    while let Ok(stream) = R::Stream::accept_on(&listener).await {
        rt.spawn_detached(async move {
            let _ = pipelined_connection(stream).await;
        });
    }
}

async fn pipelined_connection<S: Tcp>(mut stream: S) -> io::Result<()> {
    stream.nodelay()?;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = Out::default();
    loop {
        if read_some(&mut stream, &mut buf).await? == 0 {
            return Ok(());
        }
        if let Some(hello) = take_frame(&mut buf)? {
            check_handshake(Some(hello), HELLO)?;
            out.frame(WELCOME, 0, Bytes::from_static(HANDSHAKE));
            break;
        }
    }
    loop {
        answer_all(&mut buf, &mut out)?;
        while !out.is_empty() {
            let n = stream.write_vectored(&out.slices()).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            out.advance(n);
        }
        if read_some(&mut stream, &mut buf).await? == 0 {
            return Ok(());
        }
    }
}

/// The next whole frame, reading as needed; `None` at end of stream.
pub(super) async fn read_frame(
    rd: &mut (impl AsyncRead + Unpin),
    buf: &mut BytesMut,
) -> io::Result<Option<Frame>> {
    loop {
        if let Some(frame) = take_frame(buf)? {
            return Ok(Some(frame));
        }
        if read_some(rd, buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// One read onto the end of `buf`. futures-io reads into a `&mut [u8]`:
/// zero a window, read, trim.
async fn read_some(rd: &mut (impl AsyncRead + Unpin), buf: &mut BytesMut) -> io::Result<usize> {
    buf.reserve(READ_CHUNK);
    let len = buf.len();
    let window = buf.capacity() - len;
    buf.resize(len + window, 0);
    let n = rd.read(&mut buf[len..]).await;
    buf.truncate(len + *n.as_ref().unwrap_or(&0));
    n
}

/// A connection's writer: writes whatever is queued through a
/// `BufWriter`, flushed once the channel is empty.
pub(super) async fn writer(
    stream: impl AsyncWrite + Unpin,
    rx: Receiver<Outgoing>,
) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, stream);
    while let Ok(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some((ty, id, body)) = next {
            w.write_all(&header(ty, id, body.len())).await?;
            w.write_all(&body).await?;
            next = rx.try_recv().ok();
        }
        w.flush().await?;
    }
    Ok(())
}

/// A client: one connection, any number of requests in flight.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    tx: Sender<Outgoing>,
    pending: Pending,
    next_id: AtomicU32,
}

impl Client {
    /// Connects and completes the handshake; its tasks run on `rt`.
    pub async fn connect<R: Runtime>(addr: SocketAddr, rt: &R) -> io::Result<Client> {
        let mut stream = R::Stream::connect_to(addr).await?;
        stream.nodelay()?;
        stream.write_all(&header(HELLO, 0, HANDSHAKE.len())).await?;
        stream.write_all(HANDSHAKE).await?;
        let mut rd = stream.clone();
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        check_handshake(read_frame(&mut rd, &mut buf).await?, WELCOME)?;
        let (tx, rx) = channel::unbounded();
        let pending = Pending::default();
        rt.spawn_detached(writer(stream, rx));
        rt.spawn_detached(reader(rd, buf, pending.clone()));
        Ok(Client {
            inner: Arc::new(Inner {
                tx,
                pending,
                next_id: AtomicU32::new(1),
            }),
        })
    }

    /// Sends `body` and waits for the response.
    pub async fn request(&self, body: Bytes) -> io::Result<Bytes> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = channel::bounded(1);
        self.inner.pending.lock().unwrap().insert(id, tx);
        if self.inner.tx.try_send((REQUEST, id, body)).is_err() {
            self.inner.pending.lock().unwrap().remove(&id);
            return Err(closed());
        }
        rx.recv().await.map_err(|_| closed())
    }
}

async fn reader(mut rd: impl AsyncRead + Unpin, mut buf: BytesMut, pending: Pending) {
    while let Ok(Some(frame)) = read_frame(&mut rd, &mut buf).await {
        if frame.ty == RESPONSE {
            if let Some(tx) = pending.lock().unwrap().remove(&frame.id) {
                let _ = tx.try_send(frame.payload);
            }
        }
    }
    // Connection over: every waiting caller gets an error.
    pending.lock().unwrap().clear();
}
