//! The core's costs that are deterministic, asserted: heap allocations per
//! small round trip, and zero payload copies for a 64 KiB body.
//!
//! Allocation counts come from a counting global allocator, per thread (a
//! core pair runs on one thread, so tests running beside it do not disturb
//! the count). Nothing here is timed.
//!
//! The codec's own zero-copy test is `payload_is_a_slice_of_the_receive_buffer`
//! in `slow-proto/src/frame.rs`, and the server core's is
//! `received_payloads_are_slices_of_the_receive_buffer` in
//! `slow-proto/src/connection/tests/push_poll.rs`; the test here follows one
//! 64 KiB body through both cores with only the public API.

use benches::alloc_count::{CountingAlloc, count_thread_allocs};
use benches::core_pair::CorePair;
use bytes::Bytes;
use slow_proto::frame::HEADER_LEN;
use slow_proto::{Event, Instant};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Steady state: warm up, then count over this many round trips.
const ROUND_TRIPS: usize = 10_000;

fn allocations_per_round_trip(len: usize, in_flight: usize) -> f64 {
    let mut pair = CorePair::default();
    let body = benches::body(len);
    let batches = ROUND_TRIPS / in_flight;
    for _ in 0..100 {
        pair.round_trips(&body, in_flight);
    }
    let (allocs, ()) = count_thread_allocs(|| {
        for _ in 0..batches {
            pair.round_trips(&body, in_flight);
        }
    });
    allocs as f64 / (batches * in_flight) as f64
}

#[test]
fn counting_allocator_counts() {
    let (n, v) = count_thread_allocs(|| vec![1u8; 100]);
    assert_eq!(n, 1);
    drop(v);
}

#[test]
fn small_round_trip_allocates_at_most_twice_in_the_cores() {
    let per = allocations_per_round_trip(benches::SMALL, 1);
    assert!(
        per <= 2.0,
        "{per} heap allocations per 64 B round trip (client and server cores), target ≤ 2"
    );
}

#[test]
fn small_round_trips_64_in_flight_allocate_at_most_twice_each() {
    let per = allocations_per_round_trip(benches::SMALL, 64);
    assert!(
        per <= 2.0,
        "{per} heap allocations per 64 B round trip at 64 in flight, target ≤ 2"
    );
}

#[test]
fn a_64_kib_body_crosses_both_cores_without_a_payload_copy() {
    let mut pair = CorePair::default();
    let now = Instant::from_micros(1);
    let sent = benches::body(benches::LARGE);
    pair.client.send_request(sent.clone(), None, now).unwrap();

    // Client → server, one "socket read" into the server's receive buffer.
    let total: usize = pair.client.transmit().map(<[u8]>::len).sum();
    let buf = pair.server.recv_buffer();
    buf.reserve(total);
    let server_rx = buf.as_ptr() as usize;
    // The request body goes out by reference: the client's transmit slices
    // include the caller's own bytes.
    let slices: Vec<&[u8]> = pair.client.transmit().collect();
    assert!(slices.iter().any(|s| s.as_ptr() == sent.as_ptr()));
    for s in slices {
        buf.extend_from_slice(s);
    }
    pair.client.advance_transmit(total);
    pair.server.handle_input(now);
    let Some(Event::Request { id, body, .. }) = pair.server.poll_event() else {
        panic!("no request");
    };
    assert_eq!(body.len(), benches::LARGE);
    assert_eq!(
        body.as_ptr() as usize,
        server_rx + HEADER_LEN,
        "request body copied"
    );

    // The echo goes out by reference to the received bytes.
    let echoed = body.as_ptr();
    pair.server.respond(id, body, now).unwrap();
    assert!(
        pair.server.transmit().any(|s| s.as_ptr() == echoed),
        "response body copied"
    );

    // Server → client, one read into the client's receive buffer.
    let total: usize = pair.server.transmit().map(<[u8]>::len).sum();
    let buf = pair.client.recv_buffer();
    buf.reserve(total);
    let client_rx = buf.as_ptr() as usize;
    for s in pair.server.transmit() {
        buf.extend_from_slice(s);
    }
    pair.server.advance_transmit(total);
    pair.client.handle_input(now);
    let Some(Event::Response { body, .. }) = pair.client.poll_event() else {
        panic!("no response");
    };
    assert_eq!(body, Bytes::from_static(&[b'x'; benches::LARGE]));
    assert_eq!(
        body.as_ptr() as usize,
        client_rx + HEADER_LEN,
        "response body copied"
    );

    // The pair still works afterwards.
    assert_eq!(pair.round_trips(&sent, 1), benches::LARGE);
}
