//! Bytes in and bytes out: the receive buffer, end of stream, the transmit
//! queue as slices for vectored writes, and back-pressure.

use bytes::{Bytes, BytesMut};

use super::{Connection, Event, Phase, Role};
use crate::error::ConnectionError;
use crate::frame;
use crate::time::Instant;

impl Connection {
    // ---- input ---------------------------------------------------------

    /// The receive buffer, with room for a read: at least half of
    /// `read_chunk` bytes of spare capacity (see
    /// [`take_recv_buffer`](Connection::take_recv_buffer) for why not
    /// always a whole chunk). Append received bytes to it (e.g. with a
    /// `read_buf`-style call), then call
    /// [`handle_input`](Connection::handle_input). Frame payloads are
    /// handed out as slices of this buffer, without copying.
    pub fn recv_buffer(&mut self) -> &mut BytesMut {
        self.drop_scratch();
        self.make_read_room();
        &mut self.rx
    }

    /// A zeroed window at the end of the receive buffer, for readers that
    /// need a `&mut [u8]`: the buffer's spare room, at most `read_chunk`
    /// and at least half of it. Read into it, then call
    /// [`recv_commit`](Connection::recv_commit) with the count read. A
    /// window that is never committed is discarded by the next call.
    pub fn recv_space(&mut self) -> &mut [u8] {
        self.drop_scratch();
        self.make_read_room();
        let len = self.rx.len();
        let window = (self.rx.capacity() - len).min(self.config.read_chunk);
        self.rx.resize(len + window, 0);
        self.rx_scratch = window;
        &mut self.rx[len..]
    }

    /// Renews the receive buffer's spare room when less than half of
    /// `read_chunk` is left. Frames are handed out as slices of the
    /// buffer, so while any is alive the buffer is shared and cannot grow
    /// in place: asking for a whole chunk before every read would allocate
    /// a new buffer for nearly every read (twice per round trip at one
    /// request in flight). Renewed this way, a buffer serves reads until
    /// half of it is used, and is reclaimed in place, without allocating,
    /// once its payloads are gone.
    fn make_read_room(&mut self) {
        let chunk = self.config.read_chunk;
        if self.rx.capacity() - self.rx.len() < chunk.div_ceil(2) {
            self.rx.reserve(chunk);
        }
    }

    /// Accepts `n` bytes read into [`recv_space`](Connection::recv_space)
    /// and processes the input.
    pub fn recv_commit(&mut self, n: usize, now: Instant) {
        let n = n.min(self.rx_scratch);
        self.rx_scratch -= n;
        self.handle_input(now);
    }

    /// Lends the receive buffer out, for completion-based IO (io_uring),
    /// where the kernel owns the buffer while a read is in flight: what is
    /// buffered (an unfinished frame) stays at its front, and spare
    /// capacity follows for the read to fill: room for the whole rest of
    /// the frame once its header is in, and otherwise at least half of
    /// `read_chunk` (a whole chunk when the room is renewed; renewing it
    /// before every read would allocate a new buffer each time one of its
    /// payloads is still alive).
    /// Give it back, with what was read appended, to
    /// [`recv_owned`](Connection::recv_owned); meanwhile the connection
    /// takes no other input. Frame payloads are slices of it, without a
    /// copy, as with [`recv_buffer`](Connection::recv_buffer).
    ///
    /// ```
    /// use slow_proto::{Config, Connection, Instant};
    ///
    /// let mut client = Connection::client(Config::default(), Instant::ZERO).unwrap();
    /// let mut server = Connection::server(Config::default(), Instant::ZERO).unwrap();
    /// let hello: Vec<u8> = client.transmit().flatten().copied().collect();
    /// client.advance_transmit(hello.len());
    ///
    /// let mut buf = server.take_recv_buffer(); // submitted with a read...
    /// assert!(buf.capacity() - buf.len() >= Config::default().read_chunk / 2);
    /// buf.extend_from_slice(&hello); // ...which the kernel completes
    /// server.recv_owned(buf, Instant::ZERO);
    /// assert!(server.transmit_len() > 0); // the WELCOME
    /// ```
    #[must_use]
    pub fn take_recv_buffer(&mut self) -> BytesMut {
        self.drop_scratch();
        self.make_read_room();
        core::mem::take(&mut self.rx)
    }

    /// Takes back the buffer [`take_recv_buffer`](Connection::take_recv_buffer)
    /// lent, with the bytes read appended (none: end of stream is
    /// [`recv_eof`](Connection::recv_eof)), and processes the input.
    pub fn recv_owned(&mut self, buf: BytesMut, now: Instant) {
        debug_assert!(
            self.rx.is_empty(),
            "input arrived while the receive buffer was lent out"
        );
        self.rx = buf;
        self.handle_input(now);
    }

    /// Copies `data` into the receive buffer and processes it. Convenient,
    /// but [`recv_buffer`](Connection::recv_buffer) avoids the copy.
    pub fn recv(&mut self, data: &[u8], now: Instant) {
        self.drop_scratch();
        self.rx.extend_from_slice(data);
        self.handle_input(now);
    }

    /// Processes every whole frame in the receive buffer. Request deadlines
    /// due at `now` expire first, as if the timer had fired in time.
    pub fn handle_input(&mut self, now: Instant) {
        self.set_time(now);
        self.drop_scratch();
        // What arrived since input was last processed (what was left then,
        // an unfinished frame, is counted already).
        let fresh = self.rx.len().saturating_sub(self.rx_seen);
        self.stats.bytes_received += fresh as u64;
        if self.phase.is_closed() {
            // After a connection error, received bytes are ignored.
            self.rx.clear();
            self.rx_seen = 0;
            return;
        }
        // A deadline that passed before this input was handled has passed:
        // the caller gets its timeout, and late answers are dropped.
        self.expire_requests(now);
        if self.rx.len() > self.rx_seen {
            self.last_rx = now;
            self.keepalive_ping_at = None;
        }
        if self.phase == Phase::Handshake {
            self.note_first_bytes();
        }
        while !self.phase.is_closed() {
            let limit = self.local_frame_limit();
            match frame::decode(&mut self.rx, limit) {
                Ok(Some(frame)) => {
                    // Each type is counted where it is accepted.
                    self.stats.frames_received += 1;
                    self.on_frame(frame)
                }
                Ok(None) => break,
                Err(e) if self.phase == Phase::Handshake && !self.first_bytes.looks_like_slow() => {
                    self.fail_not_slow(e.code, e.reason)
                }
                Err(e) => self.fail(e.code, e.reason),
            }
        }
        if self.phase.is_closed() {
            self.rx.clear();
        }
        self.rx_seen = self.rx.len();
    }

    /// The peer closed its side of the stream. Unless the connection was
    /// already closed (a graceful close closes before the peer's end of
    /// stream arrives), whatever is outstanding fails as connection lost.
    pub fn recv_eof(&mut self, now: Instant) {
        self.set_time(now);
        // A stranger that said something short and hung up (a TLS server's
        // alert to a plaintext client: 7 bytes, less than a header) is
        // named as such, not as a lost SLOW peer.
        if self.phase == Phase::Handshake
            && self.first_bytes.len() > 0
            && !self.first_bytes.looks_like_slow()
        {
            return self.fail_not_slow(crate::ErrorCode::PROTOCOL_ERROR, "not SLOW/1");
        }
        self.close_with(Some(ConnectionError::Lost));
    }

    // ---- output --------------------------------------------------------

    /// The bytes to send, in order, as slices for a vectored write. Report
    /// what was written with [`advance_transmit`](Connection::advance_transmit)
    /// after every write attempt, with 0 when nothing was taken: until then
    /// the bytes handed out stay first, and frames the core must send at
    /// once (a PONG) go after them. So a driver whose write is in flight
    /// while input arrives (a completion-based one: io_uring) never sees
    /// the queue change under the bytes it submitted.
    pub fn transmit(&mut self) -> impl Iterator<Item = &[u8]> {
        self.tx.slices(usize::MAX)
    }

    /// Fills `dst` with [`transmit`](Connection::transmit)'s slices, for
    /// `write_vectored`; returns how many it filled.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn transmit_io_slices<'a>(&'a mut self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut n = 0;
        let max = dst.len();
        for (slot, chunk) in dst.iter_mut().zip(self.tx.slices(max)) {
            *slot = std::io::IoSlice::new(chunk);
            n += 1;
        }
        n
    }

    /// The bytes to send as at most `max` owned chunks, in order, for
    /// completion-based IO that hands the kernel buffers it owns: small
    /// frames come coalesced, a large body (1 KiB and more) as the very
    /// `Bytes` the application gave (by reference, not copied). Handed out
    /// as [`transmit`](Connection::transmit)'s: they stay first until
    /// [`advance_transmit`](Connection::advance_transmit) reports what the
    /// kernel took.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use slow_proto::{Config, Connection, Instant};
    ///
    /// # let now = Instant::ZERO;
    /// # let mut client = Connection::client(Config::default(), now).unwrap();
    /// # let mut server = Connection::server(Config::default(), now).unwrap();
    /// # for _ in 0..2 {
    /// #     let b: Vec<u8> = client.transmit().flatten().copied().collect();
    /// #     client.advance_transmit(b.len());
    /// #     server.recv(&b, now);
    /// #     let b: Vec<u8> = server.transmit().flatten().copied().collect();
    /// #     server.advance_transmit(b.len());
    /// #     client.recv(&b, now);
    /// # }
    /// let body = Bytes::from(vec![7u8; 64 * 1024]);
    /// client.send_request(body.clone(), None, now).unwrap();
    /// let chunks: Vec<Bytes> = client.transmit_chunks(64).collect();
    /// // The body goes out as the application's own bytes, not a copy.
    /// assert!(chunks.iter().any(|c| c.as_ptr() == body.as_ptr() && c.len() == body.len()));
    /// let written: usize = chunks.iter().map(Bytes::len).sum();
    /// client.advance_transmit(written); // the write completed
    /// assert_eq!(client.transmit_len(), 0);
    /// ```
    pub fn transmit_chunks(&mut self, max: usize) -> impl Iterator<Item = Bytes> + '_ {
        self.tx.chunks(max)
    }

    /// Marks `n` bytes of [`transmit`](Connection::transmit) as written (0
    /// when a write took nothing, as `WouldBlock`).
    pub fn advance_transmit(&mut self, n: usize) {
        self.stats.bytes_sent += n.min(self.tx.len()) as u64;
        self.tx.advance(n);
    }

    /// How many bytes wait to be written.
    #[must_use]
    pub fn transmit_len(&self) -> usize {
        self.tx.len()
    }

    /// Whether the adapter should read from the socket now (back-pressure).
    ///
    /// Reading stops once the unsent bytes *owed to the peer* pass
    /// `send_high_water`, so a peer that sends but never reads cannot grow
    /// our memory: a server owes everything it sends (answers to what it
    /// read); a client owes only PONGs, since its requests are its own
    /// application's and it must keep reading responses while it sends them
    /// — else two correct peers with large bodies would each wait for the
    /// other to read. False once the connection is closed.
    #[must_use]
    pub fn wants_read(&self) -> bool {
        let owed = match self.role {
            Role::Server => self.tx.len(),
            Role::Client => self.tx.urgent_len(),
        };
        !self.phase.is_closed() && owed < self.config.send_high_water
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}
