//! One direction of the simulated network.

use alloc::collections::VecDeque;
use bytes::{Bytes, BytesMut};
use core::time::Duration;

use super::Rng;
use crate::time::Instant;

/// One direction of an in-memory byte stream, like one half of a TCP
/// connection: ordered and lossless, with latency, optional jitter, a
/// bounded capacity and random fragmentation on the reading side.
///
/// Bytes written at `now` arrive at `now + latency (+ jitter)`, never before
/// bytes written earlier. Each [`read`](Pipe::read) hands out between 1 and
/// `max_fragment` of the bytes that have arrived, chosen by the [`Rng`].
///
/// ```
/// use core::time::Duration;
/// use slow_proto::Instant;
/// use slow_proto::sim::{Pipe, Rng};
///
/// let mut rng = Rng::new(1);
/// let mut pipe = Pipe::new(Duration::from_millis(5), Duration::ZERO, 4, usize::MAX);
/// assert_eq!(pipe.write(b"hello", Instant::ZERO, &mut rng), 5);
/// assert_eq!(pipe.readable(Instant::from_millis(4)), 0); // still on the way
/// let now = Instant::from_millis(5);
/// let mut got = Vec::new();
/// while pipe.readable(now) > 0 {
///     let part = pipe.read(now, usize::MAX, &mut rng);
///     assert!((1..=4).contains(&part.len()));
///     got.extend_from_slice(&part);
/// }
/// assert_eq!(got, b"hello");
/// ```
#[derive(Debug, Clone)]
pub struct Pipe {
    latency: Duration,
    jitter: Duration,
    max_fragment: usize,
    capacity: usize,
    /// Written, not yet arrived: (arrival time, bytes), in arrival order.
    in_flight: VecDeque<(Instant, Bytes)>,
    in_flight_len: usize,
    /// Arrived, not yet read.
    arrived: BytesMut,
    /// Arrival of the last write, so that jitter never reorders the stream.
    last_arrival: Instant,
    /// When the writer's end-of-stream arrives, once it shut down.
    fin_at: Option<Instant>,
    /// The reader is gone: writes are accepted and dropped.
    broken: bool,
    written: u64,
    read: u64,
}

impl Pipe {
    /// A pipe whose bytes take `latency` plus up to `jitter` to arrive, whose
    /// reads hand out at most `max_fragment` bytes, and which holds at most
    /// `capacity` bytes written but not yet read (`usize::MAX`: unbounded).
    /// `max_fragment` and `capacity` are raised to at least 1.
    pub fn new(latency: Duration, jitter: Duration, max_fragment: usize, capacity: usize) -> Pipe {
        Pipe {
            latency,
            jitter,
            max_fragment: max_fragment.max(1),
            capacity: capacity.max(1),
            in_flight: VecDeque::new(),
            in_flight_len: 0,
            arrived: BytesMut::new(),
            last_arrival: Instant::ZERO,
            fin_at: None,
            broken: false,
            written: 0,
            read: 0,
        }
    }

    /// How many more bytes a write can take now (back-pressure on the writer).
    pub fn room(&self) -> usize {
        if self.broken {
            return usize::MAX;
        }
        self.capacity.saturating_sub(self.buffered())
    }

    /// Bytes written and not yet read, in flight or arrived.
    pub fn buffered(&self) -> usize {
        self.in_flight_len + self.arrived.len()
    }

    /// Total bytes accepted by [`write`](Pipe::write) and handed out by
    /// [`read`](Pipe::read) so far.
    pub fn totals(&self) -> (u64, u64) {
        (self.written, self.read)
    }

    /// Writes as much of `data` as there is [`room`](Pipe::room) for, at
    /// `now`; returns how many bytes were taken. Nothing is taken after
    /// [`shutdown`](Pipe::shutdown); everything is taken (and dropped) once
    /// the pipe is [`broken`](Pipe::break_pipe).
    pub fn write(&mut self, data: &[u8], now: Instant, rng: &mut Rng) -> usize {
        if self.broken {
            return data.len();
        }
        if self.fin_at.is_some() {
            return 0;
        }
        let n = data.len().min(self.room());
        if n == 0 {
            return 0;
        }
        let at = self.arrival(now, rng);
        self.in_flight
            .push_back((at, Bytes::copy_from_slice(&data[..n])));
        self.in_flight_len += n;
        self.written += n as u64;
        n
    }

    /// The writer closes its end: after the bytes already written, the
    /// reader sees end of stream. Idempotent.
    pub fn shutdown(&mut self, now: Instant, rng: &mut Rng) {
        if self.fin_at.is_none() {
            self.fin_at = Some(self.arrival(now, rng));
        }
    }

    /// Whether the writer has shut down its end.
    pub fn is_shut_down(&self) -> bool {
        self.fin_at.is_some()
    }

    /// The reader went away: drop everything buffered, and drop whatever is
    /// written from now on (a real socket would answer with a reset).
    pub fn break_pipe(&mut self) {
        self.broken = true;
        self.in_flight.clear();
        self.in_flight_len = 0;
        self.arrived.clear();
    }

    /// Whether the reader went away ([`break_pipe`](Pipe::break_pipe)).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// How many bytes have arrived by `now` and wait to be read.
    pub fn readable(&mut self, now: Instant) -> usize {
        self.settle(now);
        self.arrived.len()
    }

    /// Reads between 1 and `min(limit, max_fragment)` of the bytes that have
    /// arrived by `now`, as chosen by `rng`; empty when none has arrived or
    /// `limit` is 0.
    pub fn read(&mut self, now: Instant, limit: usize, rng: &mut Rng) -> Bytes {
        self.settle(now);
        let most = self.arrived.len().min(limit).min(self.max_fragment);
        if most == 0 {
            return Bytes::new();
        }
        let n = rng.range_usize(1, most);
        self.read += n as u64;
        self.arrived.split_to(n).freeze()
    }

    /// Whether the reader has reached end of stream at `now`: the writer shut
    /// down, its end-of-stream has arrived and every byte has been read.
    pub fn at_eof(&mut self, now: Instant) -> bool {
        self.settle(now);
        !self.broken
            && self.fin_at.is_some_and(|fin| fin <= now)
            && self.in_flight.is_empty()
            && self.arrived.is_empty()
    }

    /// The next moment after `now` at which bytes or the end of stream
    /// arrive, if any are on the way.
    pub fn next_arrival(&self, now: Instant) -> Option<Instant> {
        if self.broken {
            return None;
        }
        let data = self
            .in_flight
            .iter()
            .map(|&(at, _)| at)
            .find(|&at| at > now);
        let fin = self.fin_at.filter(|&at| at > now);
        data.into_iter().chain(fin).min()
    }

    /// When bytes written at `now` arrive: latency plus jitter, but never
    /// before earlier bytes (the stream stays ordered).
    fn arrival(&mut self, now: Instant, rng: &mut Rng) -> Instant {
        let jitter = if self.jitter.is_zero() {
            Duration::ZERO
        } else {
            rng.duration(Duration::ZERO, self.jitter)
        };
        let at = (now + self.latency + jitter).max(self.last_arrival);
        self.last_arrival = at;
        at
    }

    /// Moves everything that has arrived by `now` to the readable buffer.
    fn settle(&mut self, now: Instant) {
        while let Some((at, _)) = self.in_flight.front() {
            if *at > now {
                break;
            }
            if let Some((_, bytes)) = self.in_flight.pop_front() {
                self.in_flight_len -= bytes.len();
                self.arrived.extend_from_slice(&bytes);
            }
        }
    }
}
