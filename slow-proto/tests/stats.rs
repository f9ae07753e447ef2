//! `Connection::stats`, counter by counter: a client and a server core
//! driven through the simulation harness (`slow_proto::sim`), with exact
//! counts on both sides, and a property that what one side sent is what
//! the other received.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use slow_proto::frame::{Frame, Handshake, VERSION};
use slow_proto::sim::{Side, Sim, SimConfig};
use slow_proto::{Config, ErrorCode, Event, Instant, RequestError, RequestId, Settings, Stats};

const STEPS: usize = 200_000;

/// No keepalive and no idle timeout: nothing happens unless a test says so.
fn quiet() -> Config {
    Config {
        settings: Settings {
            idle_timeout_ms: 0,
            ..Settings::default()
        },
        keepalive_interval: None,
        ..Config::default()
    }
}

fn sim_with(client: Config, server: Config, echo: bool) -> Sim {
    Sim::new(SimConfig {
        seed: 7,
        client,
        server,
        echo,
        ..SimConfig::default()
    })
    .expect("valid configs")
}

fn sim(echo: bool) -> Sim {
    sim_with(quiet(), quiet(), echo)
}

/// Whether nothing is on its way: both sides have written everything and
/// both pipes have been read dry.
fn quiescent(sim: &Sim) -> bool {
    [Side::Client, Side::Server]
        .iter()
        .all(|&side| sim.connection(side).transmit_len() == 0 && sim.pipe(side).buffered() == 0)
}

/// Steps until everything sent has been delivered.
fn settle(sim: &mut Sim) {
    sim.run_until(STEPS, quiescent).expect("settles");
}

fn stats(sim: &Sim) -> (Stats, Stats) {
    (
        sim.connection(Side::Client).stats(),
        sim.connection(Side::Server).stats(),
    )
}

fn request(sim: &mut Sim, body: &'static str, timeout: Option<Duration>) -> RequestId {
    let now = sim.now();
    sim.client()
        .send_request(Bytes::from_static(body.as_bytes()), timeout, now)
        .expect("sent")
}

/// The requests the server has been handed so far.
fn delivered(sim: &mut Sim) -> Vec<RequestId> {
    sim.take_events(Side::Server)
        .into_iter()
        .filter_map(|e| match e {
            Event::Request { id, .. } => Some(id),
            _ => None,
        })
        .collect()
}

fn len(frame: &Frame) -> u64 {
    let mut out = BytesMut::new();
    frame.encode(&mut out);
    out.len() as u64
}

/// Every request on the wire is outstanding or ended exactly one way.
fn assert_adds_up(sim: &Sim) {
    for side in [Side::Client, Side::Server] {
        let conn = sim.connection(side);
        let s = conn.stats();
        assert_eq!(
            s.requests,
            s.responses
                + s.failed
                + s.cancelled
                + s.expired
                + s.interrupted
                + conn.outstanding() as u64,
            "{side:?}: {s:?}"
        );
    }
}

#[test]
fn requests_and_responses() {
    let mut sim = sim(true);
    for body in ["one", "two", "three"] {
        request(&mut sim, body, None);
    }
    settle(&mut sim);
    let (c, s) = stats(&sim);
    assert_eq!((c.requests, c.responses), (3, 3));
    assert_eq!((s.requests, s.responses), (3, 3));
    for st in [c, s] {
        assert_eq!(
            (st.failed, st.cancelled, st.expired, st.interrupted),
            (0, 0, 0, 0)
        );
    }
    assert_adds_up(&sim);
}

#[test]
fn frames_and_bytes_exactly() {
    let mut sim = sim(true);
    let bodies = ["one", "two", "three"];
    for body in bodies {
        request(&mut sim, body, None);
    }
    settle(&mut sim);
    let (c, s) = stats(&sim);
    // HELLO and three REQUESTs up; WELCOME and three RESPONSEs down.
    assert_eq!((c.frames_sent, s.frames_received), (4, 4));
    assert_eq!((s.frames_sent, c.frames_received), (4, 4));
    let settings = quiet().settings;
    let mut up = len(&Frame::Hello(Handshake::new(VERSION, &settings)));
    let mut down = len(&Frame::Welcome(Handshake::new(VERSION, &settings)));
    for (n, body) in bodies.iter().enumerate() {
        let id = RequestId::new(n as u32 + 1);
        let body = Bytes::from_static(body.as_bytes());
        up += len(&Frame::Request {
            id,
            more: false,
            timeout_ms: None,
            body: body.clone(),
        });
        down += len(&Frame::Response {
            id,
            more: false,
            body,
        });
    }
    assert_eq!((c.bytes_sent, s.bytes_received), (up, up));
    assert_eq!((s.bytes_sent, c.bytes_received), (down, down));
}

/// A message split into frames is one request and many frames.
#[test]
fn a_split_message_is_one_request_of_many_frames() {
    let small = Config {
        settings: Settings {
            max_frame_size: 1024,
            ..quiet().settings
        },
        ..quiet()
    };
    let mut sim = sim_with(small.clone(), small, true);
    let now = sim.now();
    sim.client()
        .send_request(Bytes::from(vec![b'x'; 5_000]), None, now)
        .expect("sent");
    settle(&mut sim);
    let (c, s) = stats(&sim);
    // HELLO, then 5,000 bytes in frames of at most 1,024: five.
    assert_eq!((c.frames_sent, s.frames_received), (6, 6));
    assert_eq!((s.frames_sent, c.frames_received), (6, 6));
    assert_eq!(
        (c.requests, c.responses, s.requests, s.responses),
        (1, 1, 1, 1)
    );
    assert_eq!(
        (c.bytes_sent, s.bytes_sent),
        (s.bytes_received, c.bytes_received)
    );
}

#[test]
fn error_answers_are_failed_with_their_codes() {
    let mut sim = sim(false);
    request(&mut sim, "a", None);
    request(&mut sim, "b", None);
    request(&mut sim, "c", None);
    settle(&mut sim);
    let ids = delivered(&mut sim);
    let now = sim.now();
    let server = sim.server();
    server
        .respond_error(ids[0], ErrorCode(0x0100), "app", now)
        .unwrap();
    server
        .respond_error(ids[1], ErrorCode::TOO_MANY_REQUESTS, "busy", now)
        .unwrap();
    server
        .respond(ids[2], Bytes::from_static(b"c"), now)
        .unwrap();
    settle(&mut sim);
    let (c, s) = stats(&sim);
    assert_eq!((c.failed, c.responses), (2, 1));
    assert_eq!((s.failed, s.responses), (2, 1));
    assert_eq!(s.errors_sent.get(ErrorCode::TOO_MANY_REQUESTS), 1);
    assert_eq!(s.errors_sent.application(), 1);
    assert_eq!(s.errors_sent.total(), 2);
    assert_eq!(c.errors_received, s.errors_sent);
    assert_eq!(c.errors_sent.total() + s.errors_received.total(), 0);
    assert_adds_up(&sim);
}

/// A response too large for the client is the core's ERROR
/// MESSAGE_TOO_LARGE: failed on both sides.
#[test]
fn a_response_too_large_for_the_client_is_failed() {
    let client = Config {
        settings: Settings {
            max_message_size: 1024,
            ..quiet().settings
        },
        ..quiet()
    };
    let mut sim = sim_with(client, quiet(), false);
    request(&mut sim, "big?", None);
    settle(&mut sim);
    let id = delivered(&mut sim)[0];
    let now = sim.now();
    let refused = sim.server().respond(id, Bytes::from(vec![0; 2048]), now);
    assert!(refused.is_err());
    settle(&mut sim);
    let (c, s) = stats(&sim);
    assert_eq!((c.failed, s.failed, s.responses), (1, 1, 0));
    assert_eq!(c.errors_received.get(ErrorCode::MESSAGE_TOO_LARGE), 1);
    assert_adds_up(&sim);
}

#[test]
fn a_cancel_is_cancelled_on_both_sides() {
    let mut sim = sim(false);
    let id = request(&mut sim, "slow", None);
    settle(&mut sim);
    let now = sim.now();
    sim.client().cancel(id, now).unwrap();
    settle(&mut sim);
    let (c, s) = stats(&sim);
    assert_eq!((c.requests, c.cancelled), (1, 1));
    assert_eq!((s.requests, s.cancelled), (1, 1));
    assert_adds_up(&sim);
}

/// A request cancelled while it waits in the client's queue never reached
/// the wire: counted nowhere.
#[test]
fn a_queued_request_that_never_went_out_is_not_counted() {
    let one_at_a_time = Config {
        settings: Settings {
            max_concurrent_requests: 1,
            ..quiet().settings
        },
        ..quiet()
    };
    let mut sim = sim_with(quiet(), one_at_a_time, false);
    request(&mut sim, "first", None);
    let queued = request(&mut sim, "second", None);
    settle(&mut sim);
    assert_eq!(sim.client().queued(), 1);
    let now = sim.now();
    sim.client().cancel(queued, now).unwrap();
    settle(&mut sim);
    let (c, s) = stats(&sim);
    assert_eq!((c.requests, c.cancelled), (1, 0));
    assert_eq!((s.requests, s.cancelled), (1, 0));
    assert_adds_up(&sim);
}

/// The client's deadline passes first: expired here; its CANCEL reaches
/// the server before the server's own deadline (which the client rounds
/// up to the next millisecond), so the server counts a cancel.
#[test]
fn a_client_timeout_is_expired_there_and_cancelled_at_the_server() {
    let mut sim = sim(false);
    settle(&mut sim); // the handshake, so the request goes out at once
    request(&mut sim, "slow", Some(Duration::from_micros(100_500)));
    sim.run_for(Duration::from_secs(1), STEPS).unwrap();
    settle(&mut sim);
    let (c, s) = stats(&sim);
    assert_eq!((c.requests, c.expired, c.cancelled), (1, 1, 0));
    assert_eq!((s.requests, s.cancelled, s.expired), (1, 1, 0));
    assert_eq!(s.errors_sent.total(), 0);
    assert_adds_up(&sim);
}

/// With whole milliseconds, the server's deadline (the request's arrival
/// plus its budget) passes as the client's CANCEL arrives: the server
/// expires it first, as on any input, and answers DEADLINE_EXCEEDED,
/// which reaches a client that had already given up.
#[test]
fn a_server_deadline_is_expired_on_both_sides() {
    for seed in 0..8 {
        let mut sim = Sim::new(SimConfig {
            seed,
            client: quiet(),
            server: quiet(),
            ..SimConfig::default()
        })
        .unwrap();
        settle(&mut sim);
        request(&mut sim, "slow", Some(Duration::from_millis(100)));
        sim.run_for(Duration::from_secs(1), STEPS).unwrap();
        settle(&mut sim);
        let (c, s) = stats(&sim);
        assert_eq!(
            (c.expired, s.expired, s.cancelled),
            (1, 1, 0),
            "seed {seed}"
        );
        assert_eq!(s.errors_sent.get(ErrorCode::DEADLINE_EXCEEDED), 1);
        // Counted as a frame received, not as a second end of the request.
        assert_eq!(c.errors_received.get(ErrorCode::DEADLINE_EXCEEDED), 1);
        assert_eq!(c.failed, 0);
        assert_adds_up(&sim);
    }
}

/// An application's own DEADLINE_EXCEEDED answer counts as expired on
/// both sides, like the core's.
#[test]
fn a_deadline_exceeded_answer_is_expired() {
    let mut sim = sim(false);
    request(&mut sim, "late", None);
    settle(&mut sim);
    let id = delivered(&mut sim)[0];
    let now = sim.now();
    sim.server()
        .respond_error(id, ErrorCode::DEADLINE_EXCEEDED, "too late", now)
        .unwrap();
    settle(&mut sim);
    let (c, s) = stats(&sim);
    assert_eq!((c.expired, c.failed, s.expired, s.failed), (1, 0, 1, 0));
    assert_adds_up(&sim);
}

#[test]
fn keepalive_pings_and_pongs() {
    let client = Config {
        keepalive_interval: Some(Duration::from_secs(1)),
        keepalive_timeout: Duration::from_secs(1),
        ..quiet()
    };
    let mut sim = sim_with(client, quiet(), false);
    // WELCOME arrives at 2 ms; a PING each second after the last input
    // (its PONG, 2 ms later): at 1.002 s, 2.004 s and 3.006 s.
    sim.run_until_time(Instant::from_millis(3_500), STEPS)
        .unwrap();
    let (c, s) = stats(&sim);
    assert_eq!(
        (c.pings_sent, s.pings_received, c.pongs_received),
        (3, 3, 3)
    );
    assert_eq!(
        (s.pings_sent, c.pings_received, s.pongs_received),
        (0, 0, 0)
    );
    assert_eq!(c.frames_sent, s.frames_received);

    // An application's PING counts the same, from either side.
    let now = sim.now();
    sim.client().ping(now).unwrap();
    sim.server().ping(now).unwrap();
    settle(&mut sim);
    let (c, s) = stats(&sim);
    assert_eq!(
        (c.pings_sent, s.pings_received, c.pongs_received),
        (4, 4, 4)
    );
    assert_eq!(
        (s.pings_sent, c.pings_received, s.pongs_received),
        (1, 1, 1)
    );
}

#[test]
fn notifications_both_ways() {
    let mut sim = sim(false);
    settle(&mut sim);
    let now = sim.now();
    for _ in 0..2 {
        sim.client().notify(Bytes::from_static(b"up"), now).unwrap();
    }
    sim.server()
        .notify(Bytes::from_static(b"down"), now)
        .unwrap();
    settle(&mut sim);
    let (c, s) = stats(&sim);
    assert_eq!((c.notifications_sent, s.notifications_received), (2, 2));
    assert_eq!((s.notifications_sent, c.notifications_received), (1, 1));
    assert_eq!(c.requests + s.requests, 0);
}

/// Both sides close gracefully at once, a request outstanding: each
/// GOAWAY reaches a side still draining, and both sides record the code
/// they sent and the one they received. (When one side closes first, the
/// other answers with its GOAWAY only once drained, and the first, already
/// closed, no longer decodes it.)
#[test]
fn graceful_goaways_are_recorded_on_both_sides() {
    let mut sim = sim(false);
    request(&mut sim, "last", None);
    settle(&mut sim);
    let id = delivered(&mut sim)[0];
    let now = sim.now();
    sim.client().close(ErrorCode::NO_ERROR, "done", now);
    sim.server().close(ErrorCode::SHUTTING_DOWN, "bye", now);
    settle(&mut sim);
    let now = sim.now();
    sim.server()
        .respond(id, Bytes::from_static(b"ok"), now)
        .unwrap();
    sim.run_until(STEPS, Sim::is_finished).unwrap();
    let (c, s) = stats(&sim);
    assert_eq!(c.goaways_sent.get(ErrorCode::NO_ERROR), 1);
    assert_eq!(s.goaways_received.get(ErrorCode::NO_ERROR), 1);
    assert_eq!(s.goaways_sent.get(ErrorCode::SHUTTING_DOWN), 1);
    assert_eq!(c.goaways_received.get(ErrorCode::SHUTTING_DOWN), 1);
    for st in [c, s] {
        assert_eq!(
            (st.goaways_sent.total(), st.goaways_received.total()),
            (1, 1)
        );
        assert_eq!((st.requests, st.responses), (1, 1));
    }
}

/// A close with an error code: the code on both sides, and the request
/// outstanding then interrupted on both.
#[test]
fn an_error_goaway_is_recorded_and_interrupts() {
    let mut sim = sim(false);
    request(&mut sim, "doomed", None);
    settle(&mut sim);
    let now = sim.now();
    sim.server().close(ErrorCode::INTERNAL_ERROR, "broken", now);
    sim.run_until(STEPS, Sim::is_finished).unwrap();
    let (c, s) = stats(&sim);
    assert_eq!(s.goaways_sent.get(ErrorCode::INTERNAL_ERROR), 1);
    assert_eq!(c.goaways_received.get(ErrorCode::INTERNAL_ERROR), 1);
    assert_eq!((c.goaways_sent.total(), s.goaways_received.total()), (0, 0));
    assert_eq!((c.interrupted, s.interrupted), (1, 1));
    assert_adds_up(&sim);
}

/// A request crossing the server's GOAWAY SHUTTING_DOWN: the server
/// refuses it (ERROR SHUTTING_DOWN, failed there); the client learns from
/// the GOAWAY's last id first that it was not processed (interrupted), and
/// the late ERROR is only a frame received.
#[test]
fn a_request_crossing_a_shutdown() {
    let mut sim = sim(false);
    request(&mut sim, "first", None);
    settle(&mut sim);
    let first = delivered(&mut sim)[0];
    let crossing = request(&mut sim, "second", None);
    let now = sim.now();
    sim.server().close(ErrorCode::SHUTTING_DOWN, "bye", now);
    settle(&mut sim);
    let failed = sim.take_events(Side::Client).into_iter().any(|e| {
        e == Event::RequestFailed {
            id: crossing,
            error: RequestError::NotProcessed,
        }
    });
    assert!(failed);
    let now = sim.now();
    sim.server()
        .respond(first, Bytes::from_static(b"done"), now)
        .unwrap();
    sim.run_until(STEPS, Sim::is_finished).unwrap();
    let (c, s) = stats(&sim);
    assert_eq!(
        (c.requests, c.responses, c.interrupted, c.failed),
        (2, 1, 1, 0)
    );
    assert_eq!((s.requests, s.responses, s.failed), (2, 1, 1));
    assert_eq!(s.errors_sent.get(ErrorCode::SHUTTING_DOWN), 1);
    assert_eq!(c.errors_received.get(ErrorCode::SHUTTING_DOWN), 1);
    assert_eq!(c.goaways_received.get(ErrorCode::SHUTTING_DOWN), 1);
    assert_adds_up(&sim);
}

#[test]
fn a_lost_connection_interrupts_on_both_sides() {
    let mut sim = sim(false);
    request(&mut sim, "in flight", None);
    settle(&mut sim);
    sim.disconnect();
    let (c, s) = stats(&sim);
    assert_eq!((c.requests, c.interrupted), (1, 1));
    assert_eq!((s.requests, s.interrupted), (1, 1));
    assert_eq!(sim.connection(Side::Client).outstanding(), 0);
    assert_adds_up(&sim);
}

/// Bytes handed in after the connection closed are counted as received
/// (they were read) but not decoded.
#[test]
fn bytes_after_the_close_are_received_not_decoded() {
    let mut sim = sim(false);
    settle(&mut sim);
    let now = sim.now();
    let server = sim.server();
    server.close(ErrorCode::PROTOCOL_ERROR, "test", now);
    let before = server.stats();
    server.recv(b"late bytes", now);
    let after = server.stats();
    assert_eq!(after.bytes_received, before.bytes_received + 10);
    assert_eq!(after.frames_received, before.frames_received);
}

/// What the socket did not take is not counted as sent.
#[test]
fn bytes_sent_are_what_the_socket_took() {
    let now = Instant::ZERO;
    let mut client = slow_proto::Connection::client(quiet(), now).unwrap();
    let queued = client.transmit_len() as u64;
    assert_eq!(client.stats().bytes_sent, 0);
    client.advance_transmit(5);
    assert_eq!(client.stats().bytes_sent, 5);
    client.advance_transmit(queued as usize - 5);
    assert_eq!(client.stats().bytes_sent, queued);
    assert_eq!(client.stats().frames_sent, 1); // the HELLO
}

// ---- the property ----------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Request { size: usize },
    Notify { from_client: bool, size: usize },
    Ping { from_client: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..6_000usize).prop_map(|size| Op::Request { size }),
        1 => (any::<bool>(), 0..900usize)
            .prop_map(|(from_client, size)| Op::Notify { from_client, size }),
        1 => any::<bool>().prop_map(|from_client| Op::Ping { from_client }),
    ]
}

fn config(max_frame_size: u32) -> Config {
    Config {
        settings: Settings {
            max_frame_size,
            ..quiet().settings
        },
        ..quiet()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        rng_seed: RngSeed::Fixed(0x57A7_5EED),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever is sent, however the network cuts it up: once everything
    /// is delivered, each side received exactly the frames and bytes the
    /// other sent, and every request was answered once, on both sides.
    #[test]
    fn what_one_side_sent_the_other_received(
        seed in any::<u64>(),
        frames in (1_024..=4_096u32, 1_024..=4_096u32),
        max_fragment in 1..3_000usize,
        max_write in prop_oneof![Just(usize::MAX), 1..3_000usize],
        ops in prop::collection::vec(op(), 1..20),
    ) {
        let mut sim = Sim::new(SimConfig {
            seed,
            max_fragment,
            max_write,
            client: config(frames.0),
            server: config(frames.1),
            echo: true,
            ..SimConfig::default()
        })
        .unwrap();
        settle(&mut sim);
        let mut requests = 0;
        for op in ops {
            let now = sim.now();
            match op {
                Op::Request { size } => {
                    sim.client().send_request(Bytes::from(vec![1; size]), None, now).unwrap();
                    requests += 1;
                }
                Op::Notify { from_client, size } => {
                    let side = if from_client { Side::Client } else { Side::Server };
                    sim.connection_mut(side).notify(Bytes::from(vec![2; size]), now).unwrap();
                }
                Op::Ping { from_client } => {
                    let side = if from_client { Side::Client } else { Side::Server };
                    sim.connection_mut(side).ping(now).unwrap();
                }
            }
            // Sometimes let the network move before the next command.
            if seed % 3 == 0 {
                sim.step();
            }
        }
        settle(&mut sim);
        let (c, s) = stats(&sim);
        prop_assert_eq!(c.bytes_sent, s.bytes_received);
        prop_assert_eq!(s.bytes_sent, c.bytes_received);
        prop_assert_eq!(c.frames_sent, s.frames_received);
        prop_assert_eq!(s.frames_sent, c.frames_received);
        prop_assert_eq!((c.pings_sent, c.pongs_received), (s.pings_received, c.pings_sent));
        prop_assert_eq!((s.pings_sent, s.pongs_received), (c.pings_received, s.pings_sent));
        prop_assert_eq!(c.notifications_sent, s.notifications_received);
        prop_assert_eq!(s.notifications_sent, c.notifications_received);
        prop_assert_eq!((c.requests, c.responses), (requests, requests));
        prop_assert_eq!((s.requests, s.responses), (requests, requests));
        // And the bytes are those the pipes carried.
        prop_assert_eq!(c.bytes_sent, sim.pipe(Side::Client).totals().0);
        prop_assert_eq!(s.bytes_sent, sim.pipe(Side::Server).totals().0);
    }
}
