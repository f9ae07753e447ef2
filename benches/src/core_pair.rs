//! A client core and a server core joined in memory: no sockets, no
//! threads, a virtual clock.
//!
//! Bytes move the way an adapter moves them (see the calling order in
//! `slow_proto::connection`): the reader asks for
//! [`recv_buffer`](Connection::recv_buffer), takes at most its spare
//! capacity from the writer's [`transmit`](Connection::transmit) slices
//! (the one copy a socket read would make), reports it with
//! [`advance_transmit`](Connection::advance_transmit) and calls
//! [`handle_input`](Connection::handle_input), and reads only while
//! [`wants_read`](Connection::wants_read). The server answers every request
//! with its own body (an echo), as soon as its event is drained.

use core::time::Duration;

use bytes::Bytes;
use slow_proto::{Config, Connection, Event, Instant};

/// A client and a server core, past the handshake.
pub struct CorePair {
    /// The client core.
    pub client: Connection,
    /// The server core.
    pub server: Connection,
    now: Instant,
}

impl Default for CorePair {
    fn default() -> Self {
        CorePair::new(Config::default())
    }
}

impl CorePair {
    /// Both cores with `config`, handshake done.
    pub fn new(config: Config) -> CorePair {
        let now = Instant::ZERO;
        let client = Connection::client(config.clone(), now).expect("valid config");
        let server = Connection::server(config, now).expect("valid config");
        let mut pair = CorePair {
            client,
            server,
            now,
        };
        pump(&mut pair.client, &mut pair.server, now); // HELLO
        while pair.server.poll_event().is_some() {}
        pump(&mut pair.server, &mut pair.client, now); // WELCOME
        while pair.client.poll_event().is_some() {}
        assert!(pair.client.is_established() && pair.server.is_established());
        pair
    }

    /// Runs one batch: `in_flight` requests of `body` sent at once, each
    /// echoed by the server; returns when every response is in. Returns the
    /// response bytes received. The clock moves 1 µs per batch.
    pub fn round_trips(&mut self, body: &Bytes, in_flight: usize) -> usize {
        self.now = self.now + Duration::from_micros(1);
        let now = self.now;
        for _ in 0..in_flight {
            self.client
                .send_request(body.clone(), None, now)
                .expect("request accepted");
        }
        let mut answered = 0;
        let mut received = 0;
        while answered < in_flight {
            pump(&mut self.client, &mut self.server, now);
            while let Some(event) = self.server.poll_event() {
                if let Event::Request { id, body, .. } = event {
                    self.server.respond(id, body, now).expect("respond");
                }
            }
            pump(&mut self.server, &mut self.client, now);
            while let Some(event) = self.client.poll_event() {
                match event {
                    Event::Response { body, .. } => {
                        answered += 1;
                        received += body.len();
                    }
                    other => panic!("unexpected client event {other:?}"),
                }
            }
        }
        received
    }
}

/// Moves bytes from `from`'s transmit queue into `to`'s receive buffer, one
/// "read" (at most the buffer's spare capacity) at a time, processing each
/// read, until `from` has nothing left or `to` stops reading. Returns the
/// bytes moved.
pub fn pump(from: &mut Connection, to: &mut Connection, now: Instant) -> usize {
    let mut moved = 0;
    while from.transmit_len() > 0 && to.wants_read() {
        let buf = to.recv_buffer();
        let room = buf.capacity() - buf.len();
        let mut n = 0;
        for slice in from.transmit() {
            let take = slice.len().min(room - n);
            buf.extend_from_slice(&slice[..take]);
            n += take;
            if n == room {
                break;
            }
        }
        from.advance_transmit(n);
        to.handle_input(now);
        moved += n;
    }
    moved
}
