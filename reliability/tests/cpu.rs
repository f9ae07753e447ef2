//! A hostile peer must not make us burn CPU out of proportion to what it
//! sends: answering n PINGs from a peer that does not read must cost O(n),
//! not O(n^2). Checked on the sans-IO core directly (no sockets, no
//! scheduler) by structure, not by the clock (this machine is noisy): the
//! PONGs must pile up as a bounded number of output chunks, since it was a
//! chunk per PONG, each inserted after a scan of the others, that made it
//! quadratic. The times are printed as a figure for the record.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use slow_proto::frame::Frame;
use slow_proto::{Config, Connection, Instant as CoreInstant};

fn pump(from: &mut Connection, to: &mut Connection) {
    let bytes: Vec<u8> = from.transmit().flatten().copied().collect();
    from.advance_transmit(bytes.len());
    to.recv(&bytes, CoreInstant::ZERO);
}

/// How long a connected client takes to take in `n` PINGs whose PONGs
/// nobody reads (best of 3).
fn absorb(n: usize) -> Duration {
    let mut pings = BytesMut::new();
    for i in 0..n {
        Frame::Ping {
            data: (i as u64).to_be_bytes(),
        }
        .encode(&mut pings);
    }
    (0..3)
        .map(|_| {
            // A high water above what n PONGs need: every PING is answered.
            let config = Config {
                send_high_water: 64 << 20,
                ..Config::default()
            };
            let mut client = Connection::client(config, CoreInstant::ZERO).expect("client");
            let mut server =
                Connection::server(Config::default(), CoreInstant::ZERO).expect("server");
            pump(&mut client, &mut server);
            pump(&mut server, &mut client);
            assert!(client.is_established());
            let t = Instant::now();
            client.recv(&pings, CoreInstant::ZERO);
            let took = t.elapsed();
            assert_eq!(client.transmit_len(), n * 18, "every PING answered");
            let chunks = client.transmit().count();
            assert!(chunks <= 2, "{n} PONGs queued as {chunks} chunks");
            took
        })
        .min()
        .expect("three runs")
}

#[test]
fn answering_pings_costs_linear_time() {
    let n = 2_000;
    let (small, large) = (absorb(n), absorb(8 * n));
    let ratio = large.as_secs_f64() / small.as_secs_f64().max(1e-9);
    println!(
        "figure: {n} PINGs absorbed in {small:?}, {} in {large:?}: ratio {ratio:.1} (linear ~8, quadratic ~64)",
        8 * n
    );
}
