//! Connections over a completion-based stream ([`CompletionStream`] in
//! [`Completion`]), on the virtual runtime of `common`: a read or write is
//! submitted with a buffer the "kernel" owns until it completes, and the
//! test decides when writes complete and how much of them.
//!
//! What must hold: bytes handed to a write in flight stay first until it
//! completes (a PONG queued meanwhile goes after them), a partial completion
//! resumes where the kernel stopped, a large body reaches the kernel as the
//! application's own buffer, and payloads are slices of the buffer the
//! connection lent to a read.

#![forbid(unsafe_code)]

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use slow_driver::runtime::{Completion, CompletionStream, Local, Stream};
use slow_driver::{Client, Config, LocalRequest, Reply, Server, ServerStats};

use common::*;

/// What the test's "kernel" does with one end's writes, and what it saw.
#[derive(Default)]
struct Kernel {
    /// Writes stay in flight until released.
    hold: bool,
    /// At most this many bytes are taken per write.
    limit: Option<usize>,
    /// A write in flight waiting for release.
    waiting: Option<Waker>,
    /// Every chunk submitted: (address, length).
    chunks: Vec<(usize, usize)>,
    /// Every receive buffer lent to a read: (address, capacity).
    lent: Vec<(usize, usize)>,
    writes: usize,
}

/// One end of a pipe with completion semantics.
#[derive(Clone)]
struct Uring {
    end: Rc<RefCell<PipeEnd>>,
    kernel: Rc<RefCell<Kernel>>,
}

impl Uring {
    fn new(end: PipeEnd) -> Uring {
        Uring {
            end: Rc::new(RefCell::new(end)),
            kernel: Rc::default(),
        }
    }

    fn hold(&self, hold: bool) {
        let mut k = self.kernel.borrow_mut();
        k.hold = hold;
        if !hold && let Some(w) = k.waiting.take() {
            w.wake();
        }
    }

    fn limit(&self, limit: Option<usize>) {
        self.kernel.borrow_mut().limit = limit;
    }
}

struct Read {
    end: Rc<RefCell<PipeEnd>>,
    buf: Option<BytesMut>,
}

impl Future for Read {
    type Output = (io::Result<usize>, BytesMut);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let end = self.end.clone();
        let end = end.borrow();
        let mut rx = end.rx.borrow_mut();
        let buf = self.buf.as_mut().expect("polled after completion");
        // The kernel fills the spare capacity of the buffer it was given,
        // in place, and no more.
        let room = buf.capacity() - buf.len();
        let n = room.min(rx.data.len());
        if n > 0 {
            let before = (buf.as_ptr(), buf.capacity());
            buf.extend_from_slice(&rx.data.split_to(n));
            assert_eq!((buf.as_ptr(), buf.capacity()), before);
        } else if !rx.eof {
            rx.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready((Ok(n), self.buf.take().expect("just used")))
    }
}

struct Write {
    uring: Uring,
    bufs: Option<Vec<Bytes>>,
}

impl Future for Write {
    type Output = (io::Result<usize>, Vec<Bytes>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kernel = self.uring.kernel.borrow_mut();
        if kernel.hold {
            kernel.waiting = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let limit = kernel.limit.unwrap_or(usize::MAX);
        drop(kernel);
        let bufs = self.bufs.take().expect("polled after completion");
        let mut left = limit;
        let slices: Vec<IoSlice<'_>> = bufs
            .iter()
            .map(|b| {
                let take = b.len().min(left);
                left -= take;
                IoSlice::new(&b[..take])
            })
            .filter(|s| !s.is_empty())
            .collect();
        let result = match self.uring.end.borrow_mut().poll_write_vectored(cx, &slices) {
            Poll::Ready(result) => result,
            Poll::Pending => unreachable!("pipes take every write"),
        };
        drop(slices);
        Poll::Ready((result, bufs))
    }
}

struct Shutdown(Rc<RefCell<PipeEnd>>);

impl Future for Shutdown {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.borrow_mut().poll_shutdown(cx)
    }
}

impl CompletionStream for Uring {
    type Read = Read;
    type Write = Write;
    type Shutdown = Shutdown;

    fn read(&mut self, buf: BytesMut) -> Read {
        self.kernel
            .borrow_mut()
            .lent
            .push((buf.as_ptr() as usize, buf.capacity()));
        Read {
            end: self.end.clone(),
            buf: Some(buf),
        }
    }

    fn write(&mut self, bufs: Vec<Bytes>) -> Write {
        let mut k = self.kernel.borrow_mut();
        k.writes += 1;
        k.chunks
            .extend(bufs.iter().map(|b| (b.as_ptr() as usize, b.len())));
        drop(k);
        Write {
            uring: self.clone(),
            bufs: Some(bufs),
        }
    }

    fn shutdown(&mut self) -> Shutdown {
        Shutdown(self.end.clone())
    }
}

/// Answers with the request's body.
async fn echo(req: LocalRequest) -> Reply {
    Ok(req.body)
}

/// A server (over `server_end`, either shape) serving `handler`, and a
/// client over a completion end; the handshake done.
fn connect_over(
    world: &World,
    client: Uring,
    server_end: impl slow_driver::runtime::Transport,
    server_config: Config,
    handler: impl slow_driver::LocalHandler,
) -> (Client<VirtualRt>, ServerStats<Local>) {
    let listener = Handing::new(server_end);
    let server = Server::from_listener_on(world.rt(), listener, server_config).expect("config");
    let stats = server.stats_handle();
    let _ = world.spawn(server.serve(handler));
    let connecting = world.spawn(Client::from_stream_on(
        world.rt(),
        Completion::new(client),
        Config::default(),
    ));
    world.run_until_idle();
    (connecting.take().expect("handshake"), stats)
}

/// A listener that accepts one given stream, then waits for ever.
struct Handing<S>(Option<S>);

impl<S> Handing<S> {
    fn new(stream: S) -> Self {
        Handing(Some(stream))
    }
}

impl<S: slow_driver::runtime::Transport> slow_driver::runtime::Listener for Handing<S> {
    type Stream = S;

    fn poll_accept(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<(S, slow_driver::Addr)>> {
        match self.0.take() {
            Some(s) => Poll::Ready(Ok((s, slow_driver::Addr::Unknown))),
            None => Poll::Pending,
        }
    }

    fn local_addr(&self) -> io::Result<slow_driver::Addr> {
        Ok(slow_driver::Addr::Unknown)
    }
}

#[test]
fn a_pong_waits_for_the_write_in_flight() {
    let world = World::start();
    let (client_end, server_end, _wire) = pipe();
    let client_io = Uring::new(client_end);
    let server_config = Config {
        keepalive_interval: Some(Duration::from_secs(1)),
        keepalive_timeout: Duration::from_secs(30),
        ..Config::default()
    };
    let (client, server) = connect_over(&world, client_io.clone(), server_end, server_config, echo);

    // The request's frames are submitted and stay in flight.
    client_io.hold(true);
    let before = client_io.kernel.borrow().writes;
    let body = Bytes::from((0..100_000u32).map(|i| i as u8).collect::<Vec<u8>>());
    let answer = {
        let client = client.clone();
        let body = body.clone();
        world.spawn(async move { client.request(body).await })
    };
    world.run_until_idle();
    assert_eq!(
        client_io.kernel.borrow().writes,
        before + 1,
        "one write in flight"
    );
    // Meanwhile the server, hearing nothing, PINGs; the client reads it
    // and owes a PONG while its write is in flight.
    world.advance(Duration::from_millis(1_500));
    assert!(!answer.is_done());

    // The kernel takes the submitted bytes a few at a time.
    client_io.limit(Some(4_093));
    client_io.hold(false);
    world.run_until_idle();
    assert_eq!(answer.take().expect("answered intact"), body);
    assert!(client.stats().pings_received >= 1, "{:?}", client.stats());
    // Every PING was answered, and the PONGs arrived whole after the
    // request's bytes.
    let server = server.totals();
    assert_eq!(server.pongs_received, server.pings_sent, "{server:?}");
    assert_eq!(server.requests, 1);
    assert!(
        client_io.kernel.borrow().writes > 100_000 / 4_093,
        "partial completions"
    );
}

#[test]
fn partial_writes_resume_where_the_kernel_stopped() {
    let world = World::start();
    let (client_end, server_end, _wire) = pipe();
    let client_io = Uring::new(client_end);
    let (client, _) = connect_over(
        &world,
        client_io.clone(),
        server_end,
        Config::default(),
        echo,
    );
    client_io.limit(Some(7));
    let answers: Vec<_> = (0..20usize)
        .map(|i| {
            let client = client.clone();
            let body = Bytes::from(vec![i as u8; i * 301]);
            world.spawn(async move { (client.request(body.clone()).await, body) })
        })
        .collect();
    world.run_until_idle();
    for answer in answers {
        let (got, sent) = answer.take();
        assert_eq!(got.expect("answered"), sent);
    }
}

#[test]
fn a_large_body_reaches_the_kernel_by_reference() {
    let world = World::start();
    let (client_end, server_end, _wire) = pipe();
    let client_io = Uring::new(client_end);
    let (client, _) = connect_over(
        &world,
        client_io.clone(),
        server_end,
        Config::default(),
        echo,
    );
    let body = Bytes::from(vec![9u8; 64 * 1024]);
    let answer = {
        let (client, body) = (client.clone(), body.clone());
        world.spawn(async move { client.request(body).await })
    };
    world.run_until_idle();
    assert_eq!(answer.take().expect("answered"), body);
    let chunks = &client_io.kernel.borrow().chunks;
    assert!(
        chunks.contains(&(body.as_ptr() as usize, body.len())),
        "the body was copied: {chunks:?}"
    );
}

#[test]
fn payloads_are_slices_of_the_lent_buffer() {
    let world = World::start();
    let (client_end, server_end, _wire) = pipe();
    let server_io = Uring::new(server_end);
    let seen: Rc<RefCell<Vec<(usize, usize)>>> = Rc::default();
    let handler = {
        let seen = seen.clone();
        move |req: LocalRequest| {
            seen.borrow_mut()
                .push((req.body.as_ptr() as usize, req.body.len()));
            async move { Ok(req.body) }
        }
    };
    // The server reads over the completion end; the client over a pipe.
    let listener = Handing::new(Completion::new(server_io.clone()));
    let server = Server::from_listener_on(world.rt(), listener, Config::default()).expect("config");
    let _ = world.spawn(server.serve(handler));
    let connecting = world.spawn(Client::from_stream_on(
        world.rt(),
        client_end,
        Config::default(),
    ));
    world.run_until_idle();
    let client = connecting.take().expect("handshake");
    for len in [10, 3_000, 40_000] {
        let client = client.clone();
        let answer = world.spawn(async move { client.request(vec![5u8; len]).await });
        world.run_until_idle();
        assert_eq!(answer.take().expect("answered").len(), len);
    }
    let lent = &server_io.kernel.borrow().lent;
    for &(at, len) in seen.borrow().iter() {
        assert!(
            lent.iter()
                .any(|&(base, cap)| at >= base && at + len <= base + cap),
            "a payload of {len} bytes at {at:#x} is not in a lent buffer: {lent:?}"
        );
    }
    assert_eq!(seen.borrow().len(), 3);
}

#[test]
fn end_of_stream_and_shutdown_over_completion() {
    let world = World::start();
    let (client_end, server_end, wire) = pipe();
    let client_io = Uring::new(client_end);
    let (client, _) = connect_over(&world, client_io, server_end, Config::default(), echo);
    let closing = {
        let client = client.clone();
        world.spawn(async move { client.close().await })
    };
    world.run_until_idle();
    closing.take().expect("closed gracefully");
    assert!(wire.both_shut(), "each side sent its FIN");
}
