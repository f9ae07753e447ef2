//! The pipelined baseline on compio: what a performance-minded compio user
//! would write for this wire format, on its completion API (io_uring).
//!
//! compio is thread-per-core: a connection's tasks all run on one thread,
//! so nothing here is `Send` and nothing needs a lock. What the readiness
//! baselines do with a `Mutex` and an mpsc channel, this one does with one
//! `RefCell` per client connection: the pending map, and the output
//! waiting for the writer, which a request queues its frame on before it
//! wakes the writer (no channel, nor a node per frame). The one-shot per
//! request is futures-channel's (compio has none of its own; the same is
//! already built into this workspace for async-std).
//!
//! IO is completion-based: a read lends the connection's `BytesMut` to
//! the kernel and gets it back filled (payloads are then `Bytes` slices of
//! it, as elsewhere), and a write hands over the output's pieces as
//! `Vec<Bytes>` (small frames copied together, large bodies by reference:
//! [`super::pipelined::Out`]) in one vectored write, the `Vec` reused.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};

use bytes::{Bytes, BytesMut};
use compio::BufResult;
use compio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use compio::net::{TcpListener, TcpStream};
use futures_channel::oneshot;

use super::pipelined::{Out, answer_all};
use super::{Frame, check_handshake, closed, header, take_frame};
use super::{HANDSHAKE, HELLO, READ_CHUNK, REQUEST, RESPONSE, WELCOME};

/// Accepts connections forever, each served by one task on this thread's
/// runtime that answers every request in its read buffer inline and
/// writes the answers in one vectored write per read (see
/// [`super::pipelined`]).
pub async fn serve_pipelined(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        compio::runtime::spawn(async move {
            let _ = pipelined_connection(stream).await;
        })
        .detach();
    }
}

async fn pipelined_connection(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = Out::default();
    // The pieces of one write; the kernel hands the `Vec` back with them.
    let mut pieces = Vec::new();
    check_handshake(read_frame(&mut stream, &mut buf).await?, HELLO)?;
    out.frame(WELCOME, 0, Bytes::from_static(HANDSHAKE));
    loop {
        answer_all(&mut buf, &mut out)?;
        while !out.is_empty() {
            out.take(&mut pieces);
            write_pieces(&mut stream, &mut pieces).await?;
        }
        if read_some(&mut stream, &mut buf).await? == 0 {
            return Ok(());
        }
    }
}

/// The next whole frame, reading as needed; `None` at end of stream.
async fn read_frame(stream: &mut TcpStream, buf: &mut BytesMut) -> io::Result<Option<Frame>> {
    loop {
        if let Some(frame) = take_frame(buf)? {
            return Ok(Some(frame));
        }
        if read_some(stream, buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// One read onto the end of `buf`, into its spare capacity (no zeroing:
/// the kernel writes it).
async fn read_some(stream: &mut TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    buf.reserve(READ_CHUNK);
    // The kernel owns the buffer while the read is in flight: lend it, and
    // take it back with the result.
    let BufResult(n, filled) = stream.append(std::mem::take(buf)).await;
    *buf = filled;
    n
}

/// Writes all of `pieces` (one vectored write unless the kernel takes
/// less), then empties it for the next write, keeping its capacity.
async fn write_pieces(stream: &mut TcpStream, pieces: &mut Vec<Bytes>) -> io::Result<()> {
    let BufResult(written, back) = stream.write_vectored_all(std::mem::take(pieces)).await;
    *pieces = back;
    pieces.clear();
    written
}

/// What a client connection's caller, writer and reader share, on one
/// thread.
#[derive(Default)]
struct State {
    /// Requests waiting for the writer.
    out: Out,
    /// The writer, while it waits for output; a request takes and wakes it.
    writer: Option<Waker>,
    /// Each request's one-shot, by id, until its response arrives.
    pending: HashMap<u32, oneshot::Sender<Bytes>>,
    next_id: u32,
    /// The connection is over (or every `Client` is gone): no new requests.
    closed: bool,
}

type Shared = Rc<RefCell<State>>;

/// Ends the connection for its callers: later requests fail, every waiting
/// one gets an error (its one-shot dropped), and the writer, if it waits,
/// finishes.
fn close(state: &Shared) {
    let (pending, writer) = {
        let mut s = state.borrow_mut();
        s.closed = true;
        (std::mem::take(&mut s.pending), s.writer.take())
    };
    // Outside the borrow: dropping a one-shot or waking a task runs no
    // code of ours now, but nothing here depends on that.
    drop(pending);
    if let Some(w) = writer {
        w.wake();
    }
}

/// A client: one connection, any number of requests in flight, on this
/// thread's compio runtime (its handles are not `Send`).
#[derive(Clone)]
pub struct Client {
    handle: Rc<Handle>,
}

/// The callers' side of the connection: when the last [`Client`] clone
/// goes, the writer writes what is left, shuts the socket's write side
/// and ends (the server then closes, and so the reader ends).
struct Handle(Shared);

impl Drop for Handle {
    fn drop(&mut self) {
        close(&self.0);
    }
}

impl Client {
    /// Connects and completes the handshake; its writer and reader run as
    /// tasks on this thread's runtime.
    pub async fn connect(addr: SocketAddr) -> io::Result<Client> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut hello = Vec::with_capacity(HANDSHAKE.len() + 10);
        hello.extend_from_slice(&header(HELLO, 0, HANDSHAKE.len()));
        hello.extend_from_slice(HANDSHAKE);
        stream.write_all(hello).await.0?;
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        check_handshake(read_frame(&mut stream, &mut buf).await?, WELCOME)?;
        let state = Shared::new(RefCell::new(State {
            next_id: 1,
            ..State::default()
        }));
        // A compio stream's clone is another handle on the same socket.
        compio::runtime::spawn(writer(stream.clone(), state.clone())).detach();
        compio::runtime::spawn(reader(stream, buf, state.clone())).detach();
        Ok(Client {
            handle: Rc::new(Handle(state)),
        })
    }

    /// Sends `body` and waits for the response.
    pub async fn request(&self, body: Bytes) -> io::Result<Bytes> {
        let (tx, rx) = oneshot::channel();
        let writer = {
            let mut s = self.handle.0.borrow_mut();
            if s.closed {
                return Err(closed());
            }
            let id = s.next_id;
            s.next_id = id.wrapping_add(1);
            s.pending.insert(id, tx);
            s.out.frame(REQUEST, id, body);
            s.writer.take()
        };
        // Only a parked writer needs waking; a busy one finds this request
        // queued when its write completes.
        if let Some(w) = writer {
            w.wake();
        }
        rx.await.map_err(|_| closed())
    }
}

/// A connection's writer: whatever requests are queued when it runs go
/// out in one vectored write.
async fn writer(mut stream: TcpStream, state: Shared) {
    let mut pieces = Vec::new();
    loop {
        let open = poll_fn(|cx| {
            let mut s = state.borrow_mut();
            if !s.out.is_empty() {
                s.out.take(&mut pieces);
                Poll::Ready(true)
            } else if s.closed {
                Poll::Ready(false)
            } else {
                s.writer = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        if !open || write_pieces(&mut stream, &mut pieces).await.is_err() {
            break;
        }
    }
    // Done writing (the callers are gone, or the socket failed): the
    // server sees the end of the stream and closes.
    let _ = stream.shutdown().await;
    close(&state);
}

/// A connection's reader: hands each response to its caller's one-shot.
async fn reader(mut stream: TcpStream, mut buf: BytesMut, state: Shared) {
    while let Ok(Some(frame)) = read_frame(&mut stream, &mut buf).await {
        if frame.ty == RESPONSE {
            let tx = state.borrow_mut().pending.remove(&frame.id);
            if let Some(tx) = tx {
                let _ = tx.send(frame.payload);
            }
        }
    }
    // Connection over: every waiting caller gets an error.
    close(&state);
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;

    /// Runs `f` on a compio runtime; skipped (saying why) without io_uring.
    fn block_on(f: impl Future<Output = ()>) {
        match slow_compio::runtime() {
            Ok(rt) => rt.block_on(f),
            Err(why) => eprintln!("skipped: {why}"),
        }
    }

    /// The pipelined server's address, serving on this thread's runtime.
    async fn server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        compio::runtime::spawn(serve_pipelined(listener)).detach();
        addr
    }

    #[test]
    fn requests_in_flight_are_answered_each_to_its_caller() {
        block_on(async {
            let client = Client::connect(server().await).await.unwrap();
            // Small bodies copied together and large ones by reference, all
            // queued before the writer runs.
            let bodies: Vec<Bytes> = (0..40u8)
                .map(|i| Bytes::from(vec![i; if i % 4 == 0 { 65_536 } else { 1 + i as usize }]))
                .collect();
            let calls: Vec<_> = bodies
                .iter()
                .map(|b| {
                    let (client, b) = (client.clone(), b.clone());
                    compio::runtime::spawn(async move { client.request(b).await.unwrap() })
                })
                .collect();
            for (call, body) in calls.into_iter().zip(&bodies) {
                assert_eq!(&call.await.unwrap(), body);
            }
        });
    }

    #[test]
    fn a_closed_connection_fails_waiting_and_later_requests() {
        block_on(async {
            // A peer that takes the handshake, answers WELCOME, reads one
            // request and closes without answering.
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            compio::runtime::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = BytesMut::new();
                read_frame(&mut stream, &mut buf).await.unwrap().unwrap();
                let mut welcome = header(WELCOME, 0, HANDSHAKE.len()).to_vec();
                welcome.extend_from_slice(HANDSHAKE);
                stream.write_all(welcome).await.0.unwrap();
                read_frame(&mut stream, &mut buf).await.unwrap().unwrap();
            })
            .detach();
            let client = Client::connect(addr).await.unwrap();
            let err = client.request(Bytes::from_static(b"x")).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
            let err = client.request(Bytes::from_static(b"y")).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        });
    }
}
