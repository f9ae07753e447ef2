//! The baselines on smol: async-io sockets, tasks on a smol `Executor`, an
//! unbounded async-channel per connection writer, a bounded(1) channel as
//! the oneshot per request; the server either answers from a task per
//! request ([`serve`]) or inline, pipelined ([`serve_pipelined`]).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use smol::Executor;
use smol::channel::{self, Receiver, Sender};
use smol::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use smol::net::{TcpListener, TcpStream};

use super::pipelined::{Out, answer_all};
use super::{Frame, check_handshake, closed, header, take_frame};
use super::{HANDSHAKE, HELLO, READ_CHUNK, REQUEST, RESPONSE, WELCOME, WRITE_BUFFER};

type Outgoing = (u8, u32, Bytes);
type Pending = Arc<Mutex<HashMap<u32, Sender<Bytes>>>>;

/// Accepts connections forever; every task runs on `ex`.
pub async fn serve(listener: TcpListener, ex: Arc<Executor<'static>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let spawner = ex.clone();
        ex.spawn(async move {
            let _ = connection(stream, spawner).await;
        })
        .detach();
    }
}

/// Accepts connections forever, each served by one task on `ex` that
/// answers every request in its read buffer inline and writes the answers
/// in one vectored write per read (see [`super::pipelined`]).
pub async fn serve_pipelined(listener: TcpListener, ex: Arc<Executor<'static>>) {
    while let Ok((stream, _)) = listener.accept().await {
        ex.spawn(async move {
            let _ = pipelined_connection(stream).await;
        })
        .detach();
    }
}

async fn pipelined_connection(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
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

async fn connection(stream: TcpStream, ex: Arc<Executor<'static>>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut rd = stream.clone();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    check_handshake(read_frame(&mut rd, &mut buf).await?, HELLO)?;
    let (tx, rx) = channel::unbounded::<Outgoing>();
    tx.try_send((WELCOME, 0, Bytes::from_static(HANDSHAKE)))
        .map_err(|_| closed())?;
    ex.spawn(writer(stream, rx)).detach();
    while let Some(frame) = read_frame(&mut rd, &mut buf).await? {
        if frame.ty != REQUEST {
            continue;
        }
        let tx = tx.clone();
        // The handler: an echo, in its own task.
        ex.spawn(async move {
            let _ = tx.try_send((RESPONSE, frame.id, frame.payload));
        })
        .detach();
    }
    Ok(())
}

async fn read_frame(rd: &mut TcpStream, buf: &mut BytesMut) -> io::Result<Option<Frame>> {
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
async fn read_some(rd: &mut TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    buf.reserve(READ_CHUNK);
    let len = buf.len();
    let window = buf.capacity() - len;
    buf.resize(len + window, 0);
    let n = rd.read(&mut buf[len..]).await;
    buf.truncate(len + *n.as_ref().unwrap_or(&0));
    n
}

async fn writer(stream: TcpStream, rx: Receiver<Outgoing>) -> io::Result<()> {
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
    /// Connects and completes the handshake; its tasks run on `ex`.
    pub async fn connect(addr: SocketAddr, ex: &Executor<'static>) -> io::Result<Client> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        stream.write_all(&header(HELLO, 0, HANDSHAKE.len())).await?;
        stream.write_all(HANDSHAKE).await?;
        let mut rd = stream.clone();
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        check_handshake(read_frame(&mut rd, &mut buf).await?, WELCOME)?;
        let (tx, rx) = channel::unbounded();
        let pending = Pending::default();
        ex.spawn(writer(stream, rx)).detach();
        ex.spawn(reader(rd, buf, pending.clone())).detach();
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

async fn reader(mut rd: TcpStream, mut buf: BytesMut, pending: Pending) {
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
