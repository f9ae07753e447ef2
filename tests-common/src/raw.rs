//! Raw peers, for peers that misbehave on purpose (a client that never
//! cancels, a server that dies mid-request): hand-encoded frames over the
//! adapter's own `slow_driver::runtime` sockets (with TLS on them over the
//! TLS [`Wire`]), independently of the protocol core, read and written as
//! [`TestRuntime::Raw`] (or the wire) says.

use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};
use slow_driver::runtime::{Completion, CompletionStream, Listener, Reactor, Stream};

use crate::runner::{Join, TestRuntime, TestRuntimeExt};
use crate::wire::Wire;

/// How the raw peers (and the half-close scenario) read, write and shut
/// down a runtime's own streams `S`, whatever their shape:
/// [`ReadinessIo`] or [`CompletionIo`].
pub trait RawIo<S> {
    /// Reads into `buf`, appending; 0 is end of stream.
    fn read(stream: &mut S, buf: &mut BytesMut) -> impl Future<Output = io::Result<usize>>;
    /// Writes from `bytes`, returning how many were taken.
    fn write(stream: &mut S, bytes: &[u8]) -> impl Future<Output = io::Result<usize>>;
    /// Shuts down the write side.
    fn shutdown(stream: &mut S) -> impl Future<Output = io::Result<()>>;
}

/// Raw IO on readiness [`Stream`]s, with their poll methods.
#[derive(Debug)]
pub enum ReadinessIo {}

impl<S: Stream> RawIo<S> for ReadinessIo {
    async fn read(stream: &mut S, buf: &mut BytesMut) -> io::Result<usize> {
        poll_fn(|cx| stream.poll_read_buf(cx, buf)).await
    }

    async fn write(stream: &mut S, bytes: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| stream.poll_write_vectored(cx, &[IoSlice::new(bytes)])).await
    }

    async fn shutdown(stream: &mut S) -> io::Result<()> {
        poll_fn(|cx| stream.poll_shutdown(cx)).await
    }
}

/// Raw IO on [`Completion`] streams: each operation is submitted on a
/// clone of the stream (a shared handle on its socket), with an owned
/// buffer.
#[derive(Debug)]
pub enum CompletionIo {}

impl<S: CompletionStream + Clone> RawIo<Completion<S>> for CompletionIo {
    async fn read(stream: &mut Completion<S>, buf: &mut BytesMut) -> io::Result<usize> {
        // A completion read fills spare capacity only.
        if buf.capacity() == buf.len() {
            buf.reserve(64 * 1024);
        }
        let (result, back) = stream.get_ref().clone().read(std::mem::take(buf)).await;
        *buf = back;
        result
    }

    async fn write(stream: &mut Completion<S>, bytes: &[u8]) -> io::Result<usize> {
        let chunks = vec![Bytes::copy_from_slice(bytes)];
        stream.get_ref().clone().write(chunks).await.0
    }

    async fn shutdown(stream: &mut Completion<S>) -> io::Result<()> {
        stream.get_ref().clone().shutdown().await
    }
}

pub(crate) const HELLO: u8 = 0x01;
pub(crate) const WELCOME: u8 = 0x02;
pub(crate) const REQUEST: u8 = 0x03;
pub(crate) const RESPONSE: u8 = 0x04;
pub(crate) const ERROR: u8 = 0x05;
pub(crate) const CANCEL: u8 = 0x06;
/// The DEADLINE flag of a REQUEST: its payload begins with a u32 `timeout_ms`.
pub(crate) const DEADLINE: u8 = 0x02;

/// One frame as read off the wire.
pub(crate) struct RawFrame {
    pub(crate) ty: u8,
    pub(crate) id: u32,
    pub(crate) payload: Bytes,
}

/// One frame, encoded.
pub(crate) fn frame(ty: u8, flags: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + payload.len());
    out.put_u32(payload.len() as u32);
    out.put_u8(ty);
    out.put_u8(flags);
    out.put_u32(id);
    out.put_slice(payload);
    out
}

/// A peer over the adapter's own socket type (TLS on it, over the TLS
/// wire), writing and reading hand-encoded frames.
pub(crate) struct Raw<T: TestRuntime, W: Wire<T>> {
    stream: W::RawStream,
    buf: BytesMut,
}

impl<T: TestRuntime, W: Wire<T>> Raw<T, W> {
    pub(crate) async fn connect(addr: SocketAddr) -> Raw<T, W> {
        let runtime = T::Runtime::current().expect("runtime");
        let stream = T::bounded("raw connect", runtime.connect(addr))
            .await
            .expect("raw connect");
        Raw {
            stream: W::raw_client(stream),
            buf: BytesMut::new(),
        }
    }

    pub(crate) async fn write(&mut self, bytes: &[u8]) {
        let mut at = 0;
        while at < bytes.len() {
            let n = W::Io::write(&mut self.stream, &bytes[at..])
                .await
                .expect("raw write");
            assert!(n > 0, "raw write wrote nothing");
            at += n;
        }
    }

    /// The next frame; `None` at end of stream.
    pub(crate) async fn read(&mut self) -> Option<RawFrame> {
        loop {
            if self.buf.len() >= 10 {
                let len = u32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
                if self.buf.len() >= 10 + len {
                    let head = self.buf.split_to(10);
                    let payload = self.buf.split_to(len).freeze();
                    let id = u32::from_be_bytes(head[6..10].try_into().unwrap());
                    return Some(RawFrame {
                        ty: head[4],
                        id,
                        payload,
                    });
                }
            }
            self.buf.reserve(64 * 1024);
            let n = T::bounded("raw read", W::Io::read(&mut self.stream, &mut self.buf))
                .await
                .ok()?;
            if n == 0 {
                return None;
            }
        }
    }

    /// The next frame of type `ty`, skipping others (PING, NOTIFY, ...).
    pub(crate) async fn read_type(&mut self, ty: u8) -> RawFrame {
        loop {
            let f = self
                .read()
                .await
                .expect("stream ended before the expected frame");
            if f.ty == ty {
                return f;
            }
        }
    }

    /// Client side of the handshake.
    pub(crate) async fn hello(&mut self) {
        self.write(&frame(HELLO, 0, 0, b"SLOW\x01")).await;
        self.read_type(WELCOME).await;
    }

    /// Server side of the handshake.
    pub(crate) async fn welcome(&mut self) {
        let hello = self.read().await.expect("HELLO");
        assert_eq!(hello.ty, HELLO);
        self.write(&frame(WELCOME, 0, 0, b"SLOW\x01")).await;
    }
}

/// A listener that is no SLOW server: `serve` gets each accepted socket.
pub(crate) async fn raw_server<T, W, F, Fut>(serve: F) -> (SocketAddr, Join<()>)
where
    T: TestRuntime,
    W: Wire<T>,
    F: FnOnce(Raw<T, W>) -> Fut + 'static,
    Fut: Future<Output = ()>,
{
    let runtime = T::Runtime::current().expect("runtime");
    let mut listener = runtime
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("raw bind");
    let addr = listener
        .local_addr()
        .expect("raw local_addr")
        .tcp()
        .expect("a TCP address");
    let task = T::spawn_join(async move {
        let (stream, _) = poll_fn(|cx| listener.poll_accept(cx))
            .await
            .expect("raw accept");
        serve(Raw {
            stream: W::raw_server(stream),
            buf: BytesMut::new(),
        })
        .await;
        // The listener and the socket are dropped here: the server "dies".
    });
    (addr, task)
}
