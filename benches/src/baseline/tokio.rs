//! The baselines on tokio: `tokio::net`, `tokio::spawn`, an unbounded mpsc
//! channel per connection writer, a oneshot per request; the server either
//! answers from a task per request ([`serve`]) or inline, pipelined
//! ([`serve_pipelined`]).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::pipelined::{Out, answer_all};
use super::{Frame, check_handshake, closed, header, take_frame};
use super::{HANDSHAKE, HELLO, READ_CHUNK, REQUEST, RESPONSE, WELCOME, WRITE_BUFFER};

type Outgoing = (u8, u32, Bytes);
type Pending = Arc<Mutex<HashMap<u32, oneshot::Sender<Bytes>>>>;

/// Accepts connections forever, each served by its own tasks.
pub async fn serve(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let _ = connection(stream).await;
        });
    }
}

/// Accepts connections forever, each served by one task that answers
/// every request in its read buffer inline and writes the answers in one
/// vectored write per read (see [`super::pipelined`]).
pub async fn serve_pipelined(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let _ = pipelined_connection(stream).await;
        });
    }
}

async fn pipelined_connection(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = Out::default();
    loop {
        buf.reserve(READ_CHUNK);
        if stream.read_buf(&mut buf).await? == 0 {
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
        buf.reserve(READ_CHUNK);
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

async fn connection(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (mut rd, wr) = stream.into_split();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    check_handshake(read_frame(&mut rd, &mut buf).await?, HELLO)?;
    let (tx, rx) = mpsc::unbounded_channel::<Outgoing>();
    tx.send((WELCOME, 0, Bytes::from_static(HANDSHAKE)))
        .map_err(|_| closed())?;
    tokio::spawn(writer(wr, rx));
    while let Some(frame) = read_frame(&mut rd, &mut buf).await? {
        if frame.ty != REQUEST {
            continue;
        }
        let tx = tx.clone();
        // The handler: an echo, in its own task.
        tokio::spawn(async move {
            let _ = tx.send((RESPONSE, frame.id, frame.payload));
        });
    }
    Ok(())
}

async fn read_frame(rd: &mut OwnedReadHalf, buf: &mut BytesMut) -> io::Result<Option<Frame>> {
    loop {
        if let Some(frame) = take_frame(buf)? {
            return Ok(Some(frame));
        }
        buf.reserve(READ_CHUNK);
        if rd.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

async fn writer(wr: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Outgoing>) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, wr);
    while let Some(first) = rx.recv().await {
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
    tx: mpsc::UnboundedSender<Outgoing>,
    pending: Pending,
    next_id: AtomicU32,
}

impl Client {
    /// Connects and completes the handshake.
    pub async fn connect(addr: SocketAddr) -> io::Result<Client> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        stream.write_all(&header(HELLO, 0, HANDSHAKE.len())).await?;
        stream.write_all(HANDSHAKE).await?;
        let (mut rd, wr) = stream.into_split();
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        check_handshake(read_frame(&mut rd, &mut buf).await?, WELCOME)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let pending = Pending::default();
        tokio::spawn(writer(wr, rx));
        tokio::spawn(reader(rd, buf, pending.clone()));
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
        let (tx, rx) = oneshot::channel();
        self.inner.pending.lock().unwrap().insert(id, tx);
        if self.inner.tx.send((REQUEST, id, body)).is_err() {
            self.inner.pending.lock().unwrap().remove(&id);
            return Err(closed());
        }
        rx.await.map_err(|_| closed())
    }
}

async fn reader(mut rd: OwnedReadHalf, mut buf: BytesMut, pending: Pending) {
    while let Ok(Some(frame)) = read_frame(&mut rd, &mut buf).await {
        if frame.ty == RESPONSE {
            if let Some(tx) = pending.lock().unwrap().remove(&frame.id) {
                let _ = tx.send(frame.payload);
            }
        }
    }
    // Connection over: every waiting caller gets an error.
    pending.lock().unwrap().clear();
}
