//! The baseline written with tokio-util's `Framed` codec, as most tokio
//! users would write it: a `Decoder`/`Encoder` for the frame, the server
//! one task per connection answering inline (feeding every answer it can
//! before one flush), the client a writer task that feeds whatever is
//! queued before one flush and a reader task matching ids.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{Decoder, Encoder, Framed};

use super::{Frame, HANDSHAKE, HEADER_LEN, HELLO, REQUEST, RESPONSE, WELCOME};
use super::{check_handshake, closed, header, take_frame};

/// The SLOW frame as a tokio-util codec.
#[derive(Debug, Default, Clone, Copy)]
pub struct Codec;

impl Decoder for Codec {
    type Item = Frame;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Frame>> {
        take_frame(src)
    }
}

impl Encoder<(u8, u32, Bytes)> for Codec {
    type Error = io::Error;

    fn encode(&mut self, (ty, id, body): (u8, u32, Bytes), dst: &mut BytesMut) -> io::Result<()> {
        dst.reserve(HEADER_LEN + body.len());
        dst.put_slice(&header(ty, id, body.len()));
        dst.put_slice(&body);
        Ok(())
    }
}

/// Accepts connections forever, each served by one task.
pub async fn serve(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let _ = connection(stream).await;
        });
    }
}

async fn connection(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut framed = Framed::new(stream, Codec);
    check_handshake(framed.next().await.transpose()?, HELLO)?;
    framed
        .send((WELCOME, 0, Bytes::from_static(HANDSHAKE)))
        .await?;
    while let Some(frame) = framed.next().await {
        answer(&mut framed, frame?).await?;
        // Every frame already decoded is answered before one flush.
        while let Some(Some(frame)) = framed.next().now_or_never() {
            answer(&mut framed, frame?).await?;
        }
        framed.flush().await?;
    }
    Ok(())
}

async fn answer(framed: &mut Framed<TcpStream, Codec>, frame: Frame) -> io::Result<()> {
    if frame.ty == REQUEST {
        framed.feed((RESPONSE, frame.id, frame.payload)).await?;
    }
    Ok(())
}

type Outgoing = (u8, u32, Bytes);
type Pending = Arc<Mutex<HashMap<u32, oneshot::Sender<Bytes>>>>;

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
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut framed = Framed::new(stream, Codec);
        framed
            .send((HELLO, 0, Bytes::from_static(HANDSHAKE)))
            .await?;
        check_handshake(framed.next().await.transpose()?, WELCOME)?;
        let (sink, stream) = framed.split();
        let (tx, rx) = mpsc::unbounded_channel();
        let pending = Pending::default();
        tokio::spawn(writer(sink, rx));
        tokio::spawn(reader(stream, pending.clone()));
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

type Sink = futures_util::stream::SplitSink<Framed<TcpStream, Codec>, Outgoing>;
type Stream = futures_util::stream::SplitStream<Framed<TcpStream, Codec>>;

async fn writer(mut sink: Sink, mut rx: mpsc::UnboundedReceiver<Outgoing>) -> io::Result<()> {
    while let Some(first) = rx.recv().await {
        sink.feed(first).await?;
        while let Ok(next) = rx.try_recv() {
            sink.feed(next).await?;
        }
        sink.flush().await?;
    }
    Ok(())
}

async fn reader(mut stream: Stream, pending: Pending) {
    while let Some(Ok(frame)) = stream.next().await {
        if frame.ty == RESPONSE {
            if let Some(tx) = pending.lock().unwrap().remove(&frame.id) {
                let _ = tx.send(frame.payload);
            }
        }
    }
    // Connection over: every waiting caller gets an error.
    pending.lock().unwrap().clear();
}
