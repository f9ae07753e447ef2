//! SLOW over plain blocking `std::net`: no async runtime, no event loop
//! library, just threads and sockets.
//!
//! A server accepts connections on 127.0.0.1 (one thread per connection) and
//! echoes every request; a body starting with `slow:` is answered only after
//! a second, which lets the client show a per-request timeout. The client
//! sends a few requests, prints what comes back, closes gracefully, and the
//! program exits 0 once both ends report a clean close.
//!
//! The whole adapter is the [`Blocking`] type below, about eighty lines: it
//! follows the calling order of `slow_proto::connection` (read while
//! `wants_read`, drain events, write vectored, sleep no longer than
//! `poll_timeout`). The blocking read's timeout stands in for a timer.
//!
//! Run it with `cargo run -p slow-proto --example blocking`.

use std::collections::BTreeMap;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use slow_proto::{Config, Connection, ErrorCode, Event, Instant, RequestId};

/// How long the server sits on a `slow:` request before answering.
const SLOW_ANSWER: Duration = Duration::from_secs(1);
/// The client's timeout for its `slow:` request: well below `SLOW_ANSWER`.
const SLOW_TIMEOUT: Duration = Duration::from_millis(150);

/// One connection core driven over one blocking socket.
struct Blocking {
    stream: TcpStream,
    conn: Connection,
    /// The `std` instant taken as the core's `Instant::ZERO`.
    origin: std::time::Instant,
    /// Read buffer. Reading straight into `Connection::recv_space` would
    /// save a copy, but `turn` fires due timers between the read and handing
    /// the bytes over, and nothing may come between those two calls.
    buf: Vec<u8>,
}

impl Blocking {
    fn new(stream: TcpStream, conn: Connection, origin: std::time::Instant) -> io::Result<Self> {
        // Frames are written whole; waiting for more to coalesce only adds latency.
        stream.set_nodelay(true)?;
        let buf = vec![0; conn.config().read_chunk];
        Ok(Blocking {
            stream,
            conn,
            origin,
            buf,
        })
    }

    /// The current time on the core's timeline (the only clock read, here at
    /// the edge).
    fn now(&self) -> Instant {
        Instant::from_std(self.origin, std::time::Instant::now())
    }

    /// Writes everything the core has queued, vectored, reporting each
    /// partial write. Blocking writes empty the queue, so `wants_read` only
    /// stays false once the connection is closed.
    fn flush(&mut self) -> io::Result<()> {
        while self.conn.transmit_len() > 0 {
            let mut slices = [IoSlice::new(&[]); 16];
            let n = self.conn.transmit_io_slices(&mut slices);
            let written = self.stream.write_vectored(&slices[..n])?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.conn.advance_transmit(written);
        }
        Ok(())
    }

    /// One turn of the loop: write, then wait for input no later than
    /// `wake` (the core's next timer, or an earlier one of the caller's),
    /// then fire whatever timers are due. Events are left for the caller.
    fn turn(&mut self, wake: Option<Instant>) -> io::Result<()> {
        self.flush()?;
        if self.conn.wants_read() {
            let wait = wake.map(|at| at.saturating_duration_since(self.now()));
            // A zero wait means a timer is already due: skip the read.
            if wait != Some(Duration::ZERO) {
                self.stream.set_read_timeout(wait)?;
                match self.stream.read(&mut self.buf) {
                    Ok(0) => self.conn.recv_eof(self.now()),
                    Ok(n) => {
                        // Whatever came due while we were blocked happened
                        // before these bytes were seen: fire it first, so that
                        // e.g. our own request timeout beats a late answer.
                        let now = self.now();
                        self.conn.handle_timeout(now);
                        self.conn.recv(&self.buf[..n], now);
                    }
                    // The read timeout is our timer firing (WouldBlock on Unix,
                    // TimedOut on Windows).
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.conn.handle_timeout(self.now());
        Ok(())
    }
}

// ---- server ------------------------------------------------------------

/// Serves one connection until it closes; returns how it ended.
fn serve(stream: TcpStream) -> io::Result<Option<slow_proto::ConnectionError>> {
    let origin = std::time::Instant::now();
    let conn = Connection::server(Config::default(), Instant::ZERO).map_err(io::Error::other)?;
    let mut io = Blocking::new(stream, conn, origin)?;
    // `slow:` requests waiting for their answer time: the application's own
    // timers, merged with the core's into the one read timeout.
    let mut later: BTreeMap<RequestId, (Instant, Bytes)> = BTreeMap::new();
    let mut outcome = None;
    while !io.conn.is_closed() {
        let own_timer = later.values().map(|&(at, _)| at).min();
        let wake = [io.conn.poll_timeout(), own_timer]
            .into_iter()
            .flatten()
            .min();
        io.turn(wake)?;

        let now = io.now();
        let due: Vec<RequestId> = later
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            if let Some((_, body)) = later.remove(&id) {
                answer(&mut io.conn, id, body, now);
            }
        }
        while let Some(event) = io.conn.poll_event() {
            match event {
                Event::Request { id, body, .. } if body.starts_with(b"slow:") => {
                    later.insert(id, (now + SLOW_ANSWER, body));
                }
                Event::Request { id, body, .. } => answer(&mut io.conn, id, body, now),
                Event::RequestAbandoned { id, reason } => {
                    later.remove(&id);
                    println!("server: request {id} abandoned ({reason:?})");
                }
                Event::Closed { error } => outcome = error,
                _ => {}
            }
        }
    }
    // The final GOAWAY. The peer may already be gone; nothing is lost then.
    let _ = io.flush();
    Ok(outcome)
}

fn answer(conn: &mut Connection, id: RequestId, body: Bytes, now: Instant) {
    if let Err(e) = conn.respond(id, body, now) {
        println!("server: cannot answer request {id}: {e}");
    }
}

// ---- client ------------------------------------------------------------

fn main() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let done = done_tx.clone();
            match stream {
                Ok(stream) => {
                    thread::spawn(move || {
                        let _ = done.send(serve(stream));
                    });
                }
                Err(e) => println!("server: accept failed: {e}"),
            }
        }
    });
    println!("server listening on {addr}");

    let origin = std::time::Instant::now();
    let conn = Connection::client(Config::default(), Instant::ZERO).map_err(io::Error::other)?;
    let mut io = Blocking::new(TcpStream::connect(addr)?, conn, origin)?;

    // Requests made before the handshake completes wait inside the core.
    let now = io.now();
    let big = Bytes::from(
        (0..100_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    let requests: Vec<(Bytes, Option<Duration>)> = vec![
        (Bytes::from_static(b"hello"), None),
        (Bytes::from_static(b"world"), Some(Duration::from_secs(2))),
        (big, None), // larger than one frame: goes out as several
        (
            Bytes::from_static(b"slow: answered after a second"),
            Some(SLOW_TIMEOUT),
        ),
    ];
    let mut pending = BTreeMap::new();
    for (body, timeout) in requests {
        let id = io
            .conn
            .send_request(body.clone(), timeout, now)
            .map_err(io::Error::other)?;
        pending.insert(id, body);
    }

    let mut echoed = 0;
    let mut timed_out = 0;
    while !pending.is_empty() && !io.conn.is_closed() {
        io.turn(io.conn.poll_timeout())?;
        while let Some(event) = io.conn.poll_event() {
            match event {
                Event::Connected { peer } => println!(
                    "client: connected (server accepts {} concurrent requests)",
                    peer.max_concurrent_requests
                ),
                Event::Response { id, body } => {
                    let sent = pending.remove(&id).unwrap_or_default();
                    println!("client: request {id}: {}", show(&body));
                    if body != sent {
                        return Err(io::Error::other(format!("request {id}: echo differs")));
                    }
                    echoed += 1;
                }
                Event::RequestFailed { id, error } => {
                    pending.remove(&id);
                    println!("client: request {id} failed: {error}");
                    if error == slow_proto::RequestError::TimedOut {
                        timed_out += 1;
                    }
                }
                Event::Closed { error } => println!("client: closed early: {error:?}"),
                _ => {}
            }
        }
    }

    // Graceful close: with nothing outstanding the core closes at once and
    // leaves its GOAWAY to write.
    io.conn.close(ErrorCode::NO_ERROR, "done", io.now());
    let mut clean = false;
    while let Some(event) = io.conn.poll_event() {
        if let Event::Closed { error } = event {
            clean = error.is_none();
        }
    }
    io.flush()?;
    // Half-close, then read the server's own GOAWAY until its end of stream,
    // so that neither side resets the connection.
    io.stream.shutdown(Shutdown::Write)?;
    io.stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut rest = Vec::new();
    let _ = io.stream.read_to_end(&mut rest);

    let server = done_rx
        .recv_timeout(Duration::from_secs(2))
        .map_err(|_| io::Error::other("server did not finish"))??;
    println!(
        "client closed {}, server closed {}",
        if clean { "cleanly" } else { "with an error" },
        match &server {
            None => "cleanly".to_string(),
            Some(e) => format!("with {e}"),
        }
    );
    if echoed != 3 || timed_out != 1 || !clean || server.is_some() {
        return Err(io::Error::other("unexpected outcome"));
    }
    Ok(())
}

/// A body for printing: short UTF-8 as text, anything else by its size.
fn show(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text) if text.len() <= 40 => format!("{text:?}"),
        _ => format!("{} bytes", body.len()),
    }
}
