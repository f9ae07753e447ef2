//! A completion-based driver (io_uring) hands the kernel what `transmit`
//! returned and learns how much it took later; input may arrive meanwhile
//! and queue a PONG. The bytes handed out must stay first until
//! `advance_transmit`, or the wire repeats or skips bytes and the peer is
//! out of sync for good.

use proptest::prelude::*;

use super::*;

/// A client and a server past their handshake, over a pipe the test moves
/// bytes through.
fn pair() -> (Connection, Connection) {
    let mut c = Connection::client(Config::default(), T0).unwrap();
    let mut s = Connection::server(Config::default(), T0).unwrap();
    exchange(&mut c, &mut s, T0);
    events(&mut c);
    events(&mut s);
    (c, s)
}

/// Everything `from` has to send, delivered to `to` at once.
fn deliver(from: &mut Connection, to: &mut Connection) {
    let bytes: Vec<u8> = from.transmit().flatten().copied().collect();
    from.advance_transmit(bytes.len());
    to.recv(&bytes, T0);
}

/// The server answers every request it has with its own body.
fn answer_all(s: &mut Connection) {
    for event in events(s) {
        if let Event::Request { id, body, .. } = event {
            s.respond(id, body, T0).unwrap();
        }
    }
}

fn body(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

/// A pair whose server has answered a request of `big` (its answer queued,
/// not yet sent).
fn answered(big: Bytes) -> (Connection, Connection, RequestId, Bytes) {
    let (mut c, mut s) = pair();
    let id = c.send_request(big.clone(), None, T0).unwrap();
    deliver(&mut c, &mut s);
    answer_all(&mut s);
    (c, s, id, big)
}

/// The client got request `id`'s whole answer, `big`, and a PONG.
fn assert_response_and_pong(c: &mut Connection, id: RequestId, big: &Bytes) {
    let got = events(c);
    assert!(
        got.iter()
            .any(|e| matches!(e, Event::Response { id: r, body } if *r == id && body == big)),
        "{got:?}"
    );
    assert!(
        got.iter().any(|e| matches!(e, Event::Pong { .. })),
        "{got:?}"
    );
}

#[test]
fn a_pong_queued_while_a_write_is_in_flight_goes_after_it() {
    let (mut c, mut s, id, big) = answered(body(10_000, 7));

    // The driver copies what transmit hands out and submits it.
    let in_flight: Vec<u8> = s.transmit().flatten().copied().collect();
    // Meanwhile a PING arrives and the server queues its PONG.
    c.ping(T0).unwrap();
    deliver(&mut c, &mut s);
    // The write completes: the kernel took all of it.
    s.advance_transmit(in_flight.len());
    c.recv(&in_flight, T0);
    deliver(&mut s, &mut c);

    assert_response_and_pong(&mut c, id, &big);
    assert!(!c.is_closed() && !s.is_closed());
}

#[test]
fn a_partial_completion_keeps_the_rest_first() {
    let (mut c, mut s, id, big) = answered(body(10_000, 3));

    let in_flight: Vec<u8> = s.transmit().flatten().copied().collect();
    c.ping(T0).unwrap();
    deliver(&mut c, &mut s);
    // Only 100 bytes were taken: the rest of the response is next, then
    // the PONG.
    s.advance_transmit(100);
    c.recv(&in_flight[..100], T0);
    let rest: Vec<u8> = s.transmit().flatten().copied().collect();
    assert_eq!(&rest[..in_flight.len() - 100], &in_flight[100..]);
    s.advance_transmit(rest.len());
    c.recv(&rest, T0);

    assert_response_and_pong(&mut c, id, &big);
}

#[test]
fn a_write_that_took_nothing_lets_a_pong_go_first() {
    let (mut c, mut s, _, _) = answered(body(10_000, 1));
    let _offered: Vec<u8> = s.transmit().flatten().copied().collect();
    // A readiness driver's write would block: it says so.
    s.advance_transmit(0);
    c.ping(T0).unwrap();
    deliver(&mut c, &mut s);
    // Nothing was taken, so the PONG jumps the queue.
    let next: Vec<u8> = s.transmit().flatten().copied().collect();
    let first = Header::parse(&next).expect("a frame");
    assert_eq!(first.ty, frame::FrameType::PONG, "{next:?}");
}

/// What happens next on the server's side of a completion-based driver.
#[derive(Debug, Clone)]
enum Op {
    /// Submit what transmit hands out (if no write is in flight).
    Submit,
    /// The write in flight completes, the kernel having taken this share
    /// (per mille) of it.
    Complete(u16),
    /// The client pings (the server queues a PONG).
    Ping,
    /// The client sends a request of this size (the server answers it).
    Request(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Submit),
        3 => (0u16..=1000).prop_map(Op::Complete),
        2 => Just(Op::Ping),
        2 => (0usize..12_000).prop_map(Op::Request),
    ]
}

proptest! {
    /// Whatever the interleaving of submits, partial completions, pings and
    /// requests, the client reads a valid stream: every response whole and
    /// right, every PING answered, no violation.
    #[test]
    fn any_interleaving_keeps_the_stream_in_sync(
        ops in proptest::collection::vec(op(), 1..80),
        owned in any::<bool>(),
    ) {
        let (mut c, mut s) = pair();
        let mut in_flight: Option<Vec<u8>> = None;
        let mut bodies = Vec::new();
        let mut pings = 0usize;
        let mut got = Vec::new();
        for op in ops {
            match op {
                Op::Submit if in_flight.is_none() => {
                    in_flight = Some(if owned {
                        // The owned path: chunks as `Bytes`, up to 8 of them.
                        s.transmit_chunks(8).flat_map(|c| c.to_vec()).collect()
                    } else {
                        s.transmit().flatten().copied().collect()
                    });
                }
                Op::Submit => {}
                Op::Complete(share) => {
                    if let Some(bytes) = in_flight.take() {
                        let n = bytes.len() * usize::from(share) / 1000;
                        s.advance_transmit(n);
                        if owned {
                            // The client's read, into a lent buffer.
                            let mut buf = c.take_recv_buffer();
                            buf.extend_from_slice(&bytes[..n]);
                            c.recv_owned(buf, T0);
                        } else {
                            c.recv(&bytes[..n], T0);
                        }
                    }
                }
                Op::Ping => {
                    c.ping(T0).unwrap();
                    pings += 1;
                    deliver(&mut c, &mut s);
                }
                Op::Request(len) => {
                    let b = body(len, bodies.len() as u8);
                    let id = c.send_request(b.clone(), None, T0).unwrap();
                    bodies.push((id, b));
                    deliver(&mut c, &mut s);
                    answer_all(&mut s);
                }
            }
            got.extend(events(&mut c));
        }
        // Drain: the last write completes whole, then everything else.
        if let Some(bytes) = in_flight.take() {
            s.advance_transmit(bytes.len());
            c.recv(&bytes, T0);
        }
        exchange(&mut c, &mut s, T0);
        got.extend(events(&mut c));

        prop_assert!(!c.is_closed() && !s.is_closed(), "closed: {:?}", got);
        for (id, b) in &bodies {
            prop_assert!(
                got.iter().any(|e| matches!(e, Event::Response { id: r, body } if r == id && body == b)),
                "no response for {}: {:?}", id, got
            );
        }
        // Every PING got its PONG frame (the events report only the answer
        // to the latest PING outstanding).
        prop_assert_eq!(c.stats().pongs_received, pings as u64);
        prop_assert_eq!(s.stats().pings_received, pings as u64);
    }
}

#[test]
fn owned_chunks_hand_large_bodies_out_by_reference() {
    let (mut c, mut s) = pair();
    let big = body(64 * 1024, 9);
    let id = c.send_request(big.clone(), None, T0).unwrap();
    // The client's request body goes out as the application's own bytes.
    let chunks: Vec<Bytes> = c.transmit_chunks(64).collect();
    assert!(
        chunks
            .iter()
            .any(|ch| ch.as_ptr() == big.as_ptr() && ch.len() == big.len()),
        "the body was copied"
    );
    // The server reads into its lent buffer, in two completions.
    let wire: Vec<u8> = chunks.iter().flat_map(|ch| ch.to_vec()).collect();
    c.advance_transmit(wire.len());
    for part in [&wire[..5_000], &wire[5_000..]] {
        let mut buf = s.take_recv_buffer();
        buf.extend_from_slice(part);
        s.recv_owned(buf, T0);
    }
    answer_all(&mut s);
    let answer: Vec<u8> = s.transmit_chunks(64).flat_map(|ch| ch.to_vec()).collect();
    s.advance_transmit(answer.len());
    c.recv(&answer, T0);
    let got = events(&mut c);
    assert!(
        got.iter()
            .any(|e| matches!(e, Event::Response { id: r, body } if *r == id && *body == big)),
        "{got:?}"
    );
}

/// The spare room after `recv_buffer` on a server with `config`, once
/// `buffered` bytes of a frame announcing `len` payload bytes have arrived.
fn room_with(config: Config, len: u32, buffered: usize) -> usize {
    let mut c = Connection::client(Config::default(), T0).unwrap();
    let mut s = Connection::server(config, T0).unwrap();
    exchange(&mut c, &mut s, T0);
    let mut frame = Vec::new();
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&[0x03, 0, 0, 0, 0, 1]); // REQUEST id 1
    frame.resize(buffered, 7);
    s.recv(&frame, T0);
    let buf = s.recv_buffer();
    assert_eq!(buf.len(), buffered, "the unfinished frame stays");
    buf.capacity() - buf.len()
}

fn room_for(len: u32, buffered: usize) -> usize {
    room_with(Config::default(), len, buffered)
}

/// Once a frame's header is in, the buffer (lent or not) has room for the
/// rest of it: a completion driver's next read can take a large body whole.
#[test]
fn a_read_has_room_for_the_rest_of_a_large_frame() {
    let chunk = Config::default().read_chunk;
    // A small frame: the usual room, at least half a chunk.
    assert!(room_for(100, 14) >= chunk / 2);
    // 40,000 bytes announced, 100 here: room for the other 39,910 at once.
    assert!(room_for(40_000, 100) >= 40_010 - 100);
    // The lent buffer has the same room.
    let (_, mut s) = pair();
    let mut head = 40_000u32.to_be_bytes().to_vec();
    head.extend_from_slice(&[0x03, 0, 0, 0, 0, 1]);
    s.recv(&head, T0);
    let buf = s.take_recv_buffer();
    assert!(buf.capacity() - buf.len() >= 40_000);
}
