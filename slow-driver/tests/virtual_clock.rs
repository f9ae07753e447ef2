//! The driver keeps time only by its runtime: [`Reactor::now`] and the one
//! [`Timer`] per connection the runtime hands out. So a connection runs on
//! whatever clock the runtime keeps, a virtual one included.
//!
//! This file proves it with a tiny single-threaded [`LocalRuntime`] of its
//! own, [`VirtualRt`]: a run queue of local tasks, timers that fire when
//! the test moves time on, in-memory pipes for streams and a listener the
//! test hands pipe ends to. No socket, no thread, no sleep: virtual time
//! moves only when a test calls [`World::advance`], and runs every timer
//! in deadline order, each at its own deadline, so a test knows the exact
//! virtual moment of every event. Whole connections (client, server,
//! handlers) then run on the virtual clock, and the handshake timeout,
//! request deadlines, keepalive and the idle timeout fire at the virtual
//! moment they should, and not before.
//!
//! The virtual clock starts a day ahead of the wall clock (the one wall
//! clock read in this file, an anchor for `std::time::Instant`, which has
//! no other constructor). Were the driver to read the wall clock anywhere
//! instead of `Reactor::now`, it would be a day behind the connection's
//! own time, and these tests would fail.

#![forbid(unsafe_code)]

mod common;

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use slow_driver::runtime::Reactor;
use slow_driver::{
    Client, Config, Error, ErrorCode, ErrorReply, LocalHandler, LocalRequest, Reply, Server,
    Settings, Stats,
};

use common::*;
// ---- test helpers -------------------------------------------------------

/// A PING or a PONG on the wire: a 10-byte header and 8 opaque bytes.
const PING_LEN: usize = 18;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Starts a server serving `handler` on a [`PipeListener`], hands it one
/// end of a new pipe, and connects a client over the other (handshake done,
/// no virtual time passed).
fn connect<H: LocalHandler>(
    world: &World,
    client_config: Config,
    server_config: Config,
    handler: H,
) -> (Client<VirtualRt>, Wire) {
    let (client_end, server_end, wire) = pipe();
    let listener = PipeListener::default();
    let server = Server::from_listener_on(world.rt(), listener.clone(), server_config)
        .expect("valid server config");
    // The serving task lives until the world ends; nothing waits on it.
    let _ = world.spawn(server.serve(handler));
    listener.hand_over(server_end);
    let connecting = world.spawn(Client::from_stream_on(
        world.rt(),
        client_end,
        client_config,
    ));
    world.run_until_idle();
    assert!(connecting.is_done(), "the handshake takes no time");
    let client = connecting.take().expect("handshake");
    assert_eq!(world.elapsed(), Duration::ZERO);
    (client, wire)
}

/// Answers with the request's body.
async fn echo(req: LocalRequest) -> Reply {
    Ok(req.body)
}

/// Sets its flag when dropped: tells a test a handler's future was dropped.
struct SetOnDrop(Rc<Cell<bool>>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Whether `result` is the connection error `Closed` with `code`.
fn closed_with<T>(result: &Result<T, Error>, code: ErrorCode) -> bool {
    matches!(result, Err(Error::Closed { code: c, .. }) if *c == code)
}

// ---- tests --------------------------------------------------------------

/// The runtime is there only inside a world, and has no sockets.
#[test]
fn the_runtime_is_virtual_and_has_no_sockets() {
    assert!(VirtualRt::current().is_err());
    let world = World::start();
    assert!(VirtualRt::current().is_ok());
    let connecting = world.spawn(Client::<VirtualRt>::connect("127.0.0.1:7000"));
    world.run_until_idle();
    let e = connecting.take().expect_err("no sockets");
    assert!(
        matches!(&e, Error::Io(io) if io.kind() == io::ErrorKind::Unsupported),
        "{e:?}"
    );
    // Time moves only when the test says so.
    world.advance(secs(1.5));
    assert_eq!(world.elapsed(), secs(1.5));
    assert_eq!(VirtualRt::now() - VirtualRt::now(), Duration::ZERO);
    drop(world);
    assert!(VirtualRt::current().is_err());
}

/// A request's deadline runs out on virtual time: the caller fails with
/// `TimedOut` at 5 s, not at 4.9 s, and the server's handler is stopped.
#[test]
fn a_request_times_out_on_virtual_time() {
    let world = World::start();
    let stopped = Rc::new(Cell::new(false));
    // What the handler saw: its deadline minus the runtime's now.
    let budget = Rc::new(Cell::new(None));
    let handler = {
        let (stopped, budget) = (stopped.clone(), budget.clone());
        move |req: LocalRequest| {
            let (stopped, budget) = (stopped.clone(), budget.clone());
            async move {
                if &req.body[..] == b"hang" {
                    budget.set(req.deadline.map(|d| d - VirtualRt::now()));
                    let _flag = SetOnDrop(stopped);
                    std::future::pending::<()>().await;
                }
                Reply::Ok(req.body)
            }
        }
    };
    let (client, _wire) = connect(&world, Config::default(), Config::default(), handler);

    let hang = world.spawn({
        let client = client.clone();
        async move { client.request_timeout("hang", secs(5.0)).await }
    });
    world.run_until_idle();
    assert!(!hang.is_done());
    // The server's deadline is on the same (virtual) clock as its runtime.
    assert_eq!(budget.get(), Some(secs(5.0)));

    world.advance(secs(4.9));
    assert!(!hang.is_done(), "pending at 4.9 s");
    assert!(!stopped.get(), "the handler still runs at 4.9 s");

    world.advance(secs(0.2));
    let outcome = hang.take();
    assert!(matches!(outcome, Err(Error::TimedOut)), "{outcome:?}");
    assert!(stopped.get(), "the handler was stopped at the deadline");

    // The connection outlives the request.
    assert!(client.is_open());
    let again = world.spawn({
        let client = client.clone();
        async move { client.request("still here").await }
    });
    world.run_until_idle();
    assert_eq!(again.take().expect("answered"), "still here");
}

/// Keepalive on virtual time: an idle, healthy connection PINGs every 10 s
/// and stays open for 10 minutes; once the server receives nothing, the
/// client closes with KEEPALIVE_TIMEOUT exactly 5 s after its next PING.
#[test]
fn keepalive_keeps_a_healthy_connection_and_drops_a_dead_one() {
    let world = World::start();
    // No idle timeout either side (0 from both), so idling is allowed.
    let settings = Settings {
        idle_timeout_ms: 0,
        ..Settings::default()
    };
    let client_config = Config {
        settings,
        keepalive_interval: Some(secs(10.0)),
        keepalive_timeout: secs(5.0),
        ..Config::default()
    };
    // The server only answers PINGs: it sends none of its own.
    let server_config = Config {
        settings,
        keepalive_interval: None,
        ..Config::default()
    };
    let (client, wire) = connect(&world, client_config, server_config, echo);
    let (up, down) = (wire.sent_to_server(), wire.sent_to_client());

    // Ten minutes, in half-minute steps.
    for _ in 0..20 {
        world.advance(secs(30.0));
        assert!(client.is_open() && !client.is_closed());
    }
    assert_eq!(world.elapsed(), secs(600.0));
    // A PING at 10 s, 20 s, ... 600 s, each answered by a PONG.
    assert_eq!(wire.sent_to_server() - up, 60 * PING_LEN);
    assert_eq!(wire.sent_to_client() - down, 60 * PING_LEN);

    // The server stops receiving. The last PONG came at 600 s: the next
    // PING goes at 610 s, unanswered; the client gives up at 615 s.
    wire.swallow_to_server();
    let (up, down) = (wire.sent_to_server(), wire.sent_to_client());
    world.advance(secs(14.9));
    assert!(!client.is_closed(), "open at 614.9 s");
    assert_eq!(wire.sent_to_server() - up, PING_LEN, "the PING at 610 s");
    assert_eq!(wire.sent_to_client(), down, "no PONG");

    world.advance(secs(0.2));
    assert!(client.is_closed(), "closed at 615 s");
    let closing = world.spawn({
        let client = client.clone();
        async move { client.close().await }
    });
    world.run_until_idle();
    let outcome = closing.take();
    assert!(
        closed_with(&outcome, ErrorCode::KEEPALIVE_TIMEOUT),
        "{outcome:?}"
    );
}

/// The idle timeout closes gracefully after 3 s without a request, counted
/// from the last one: open at 3.9 s after it, closed at 4.1 s.
#[test]
fn the_idle_timeout_closes_gracefully_on_virtual_time() {
    let world = World::start();
    // The smaller nonzero IDLE_TIMEOUT_MS applies: the client's 3 s.
    let client_config = Config {
        settings: Settings {
            idle_timeout_ms: 3_000,
            ..Settings::default()
        },
        ..Config::default()
    };
    let (client, wire) = connect(&world, client_config, Config::default(), echo);

    // A request at 1 s restarts the idle clock.
    world.advance(secs(1.0));
    let asked = world.spawn({
        let client = client.clone();
        async move { client.request("activity").await }
    });
    world.run_until_idle();
    assert_eq!(asked.take().expect("answered"), "activity");

    world.advance(secs(2.9));
    assert!(client.is_open() && !client.is_closed(), "open at 3.9 s");

    world.advance(secs(0.2));
    assert!(!client.is_open() && client.is_closed(), "closed at 4.1 s");
    // Graceful: closing reports no error, and both sides shut the stream.
    let closing = world.spawn({
        let client = client.clone();
        async move { client.close().await }
    });
    world.run_until_idle();
    assert!(closing.take().is_ok());
    assert!(wire.both_shut());
    // Only the server's accept loop is left: both drivers finished.
    assert_eq!(world.live_tasks(), 1);
    let late = world.spawn({
        let client = client.clone();
        async move { client.request("late").await }
    });
    world.run_until_idle();
    assert!(matches!(late.take(), Err(Error::NotProcessed)));
}

/// A server that never answers HELLO: connecting fails with
/// HANDSHAKE_TIMEOUT after the handshake timeout, not before.
#[test]
fn the_handshake_times_out_on_virtual_time() {
    let world = World::start();
    let (client_end, _silent_end, wire) = pipe();
    let config = Config {
        handshake_timeout: secs(3.0),
        ..Config::default()
    };
    let connecting = world.spawn(Client::from_stream_on(world.rt(), client_end, config));
    world.run_until_idle();
    assert!(wire.sent_to_server() > 0, "HELLO went out");
    assert!(!connecting.is_done());

    world.advance(secs(2.9));
    assert!(!connecting.is_done(), "still waiting at 2.9 s");

    world.advance(secs(0.2));
    assert!(connecting.is_done(), "given up at 3 s");
    let outcome = connecting.take();
    assert!(
        closed_with(&outcome, ErrorCode::HANDSHAKE_TIMEOUT),
        "{outcome:?}"
    );
}

/// The core's counters through the driver on a local runtime: the
/// client's, a handler's [`Peer`]'s and the server's totals (a
/// `ServerStats<Local>`), each request counted once on each side and the
/// bytes exactly those on the wire, also once the connection is over.
///
/// [`Peer`]: slow_driver::Peer
#[test]
fn stats_on_both_sides_and_the_server_totals() {
    let world = World::start();
    let (client_end, server_end, wire) = pipe();
    let listener = PipeListener::default();
    let server = Server::from_listener_on(world.rt(), listener.clone(), Config::default())
        .expect("valid server config");
    let served = server.stats_handle();
    assert_eq!(
        (served.connections(), served.totals()),
        (0, Stats::default())
    );
    // What the handler's peer had counted when each request came.
    let seen = Rc::new(RefCell::new(Vec::new()));
    let handler = {
        let seen = seen.clone();
        move |req: LocalRequest| {
            let seen = seen.clone();
            async move {
                seen.borrow_mut().push(req.peer.stats().requests);
                match &req.body[..] {
                    b"fail" => Err(ErrorReply::new(0x0100, "as asked")),
                    b"hang" => std::future::pending().await,
                    _ => Ok(req.body),
                }
            }
        }
    };
    let _ = world.spawn(server.serve(handler));
    listener.hand_over(server_end);
    let connecting = world.spawn(Client::from_stream_on(
        world.rt(),
        client_end,
        Config::default(),
    ));
    world.run_until_idle();
    let client = connecting.take().expect("handshake");
    assert_eq!((served.connections(), served.open()), (1, 1));

    let asked = world.spawn({
        let client = client.clone();
        async move {
            let ok = client.request("ok").await;
            let failed = client.request("fail").await;
            let hung = client.request_timeout("hang", secs(1.0)).await;
            (ok, failed, hung)
        }
    });
    world.run_until_idle();
    world.advance(secs(1.5));
    let (ok, failed, hung) = asked.take();
    assert_eq!(ok.expect("answered"), "ok");
    assert!(matches!(failed, Err(Error::Server { .. })), "{failed:?}");
    assert!(matches!(hung, Err(Error::TimedOut)), "{hung:?}");
    assert_eq!(*seen.borrow(), [1, 2, 3]);

    let mine = client.stats();
    assert_eq!(
        (mine.requests, mine.responses, mine.failed, mine.expired),
        (3, 1, 1, 1)
    );
    assert_eq!(mine.errors_received.application(), 1);
    let theirs = served.totals();
    assert_eq!(
        (theirs.requests, theirs.responses, theirs.failed),
        (3, 1, 1)
    );
    // The client's CANCEL and the server's own deadline come at the same
    // virtual moment: the server counts one or the other.
    assert_eq!(theirs.expired + theirs.cancelled, 1, "{theirs:?}");
    assert_eq!(mine.bytes_sent, wire.sent_to_server() as u64);
    assert_eq!(theirs.bytes_received, wire.sent_to_server() as u64);
    assert_eq!(theirs.bytes_sent, wire.sent_to_client() as u64);
    assert_eq!(mine.frames_sent, theirs.frames_received);

    // Over: the connection's final counts stay in the totals.
    let closing = world.spawn({
        let client = client.clone();
        async move { client.close().await }
    });
    world.run_until_idle();
    assert!(closing.take().is_ok());
    assert_eq!(world.live_tasks(), 1, "both drivers finished");
    assert_eq!((served.connections(), served.open()), (1, 0));
    let (mine, theirs) = (client.stats(), served.totals());
    assert_eq!(theirs.requests, 3);
    assert_eq!(mine.goaways_sent.get(ErrorCode::NO_ERROR), 1);
    assert_eq!(theirs.goaways_received.get(ErrorCode::NO_ERROR), 1);
    assert_eq!(mine.bytes_sent, wire.sent_to_server() as u64);
    assert_eq!(theirs.bytes_sent, wire.sent_to_client() as u64);
    assert_eq!(theirs.bytes_received, mine.bytes_sent);
    assert_eq!(mine.bytes_received, theirs.bytes_sent);
}

/// A server stream that, on the first read finding nothing after `arm`,
/// lets 150 ms pass and returns a REQUEST with a 200 ms DEADLINE, as if a
/// client sent it just then: the driver read the clock when it woke, the
/// request came later in the same wake-up.
struct LateRequest {
    inner: PipeEnd,
    armed: Rc<Cell<bool>>,
}

impl slow_driver::runtime::Stream for LateRequest {
    fn poll_read_buf(
        &mut self,
        cx: &mut std::task::Context<'_>,
        buf: &mut bytes::BytesMut,
    ) -> std::task::Poll<io::Result<usize>> {
        let read = self.inner.poll_read_buf(cx, buf);
        if read.is_pending() && self.armed.replace(false) {
            World::skip(secs(0.15));
            let before = buf.len();
            slow_proto::frame::Frame::Request {
                id: slow_proto::RequestId::new(1),
                more: false,
                timeout_ms: Some(200),
                body: bytes::Bytes::from_static(b"late"),
            }
            .encode(buf);
            return std::task::Poll::Ready(Ok(buf.len() - before));
        }
        read
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        self.inner.poll_write_vectored(cx, bufs)
    }

    fn poll_shutdown(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        self.inner.poll_shutdown(cx)
    }
}

/// Accepts one stream, once.
struct AcceptOnce(Option<LateRequest>);

impl slow_driver::runtime::Listener for AcceptOnce {
    type Stream = LateRequest;

    fn poll_accept(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<(LateRequest, slow_driver::Addr)>> {
        match self.0.take() {
            Some(s) => std::task::Poll::Ready(Ok((s, slow_driver::Addr::Unknown))),
            None => std::task::Poll::Pending,
        }
    }

    fn local_addr(&self) -> io::Result<slow_driver::Addr> {
        Ok(slow_driver::Addr::Unknown)
    }
}

/// A request's deadline starts when the server received it, not when its
/// driver last read the clock: input read later in one wake-up is stamped
/// after it arrived (the server's budget never ends before the client's).
#[test]
fn a_request_read_late_in_a_wake_up_gets_its_whole_budget() {
    let world = World::start();
    let (client_end, server_end, _wire) = pipe();
    let armed = Rc::new(Cell::new(true));
    let listener = AcceptOnce(Some(LateRequest {
        inner: server_end,
        armed,
    }));
    let budget = Rc::new(Cell::new(None));
    let handler = {
        let budget = budget.clone();
        move |req: LocalRequest| {
            let budget = budget.clone();
            async move {
                budget.set(req.deadline.map(|d| d - VirtualRt::now()));
                Reply::Ok(req.body)
            }
        }
    };
    // The raw client: a HELLO, then (from the stream) the late request.
    let mut hello = bytes::BytesMut::new();
    slow_proto::frame::Frame::Hello(slow_proto::frame::Handshake::new(
        slow_proto::frame::VERSION,
        &Settings::default(),
    ))
    .encode(&mut hello);
    let mut client_end = client_end;
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let io = std::io::IoSlice::new(&hello);
    assert!(
        slow_driver::runtime::Stream::poll_write_vectored(&mut client_end, &mut cx, &[io])
            .is_ready()
    );
    let server = Server::from_listener_on(world.rt(), listener, Config::default())
        .expect("valid server config");
    let _ = world.spawn(server.serve(handler));
    world.run_until_idle();
    // The handler ran 150 ms after the wake-up's first reading, at once
    // after the request arrived: it has all of its 200 ms.
    assert_eq!(budget.get(), Some(secs(0.2)));
    drop(client_end);
}
