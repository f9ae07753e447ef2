//! One connection: a non-blocking socket and the core that owns its bytes.
//!
//! mio is edge-triggered: an event says "something changed", not "there is
//! data". So the link keeps a readiness cache (`readable`, `writable`) that an
//! event sets and only `WouldBlock` clears, and the loop keeps reading and
//! writing while the cache and the core allow. The socket's own life after
//! the core closes (flush the final GOAWAY, send FIN, wait for the peer's
//! FIN) is [`SocketState`]: flushing is bounded by the config's drain
//! timeout (a peer that never reads), the wait for the FIN by [`LINGER`].

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use slow_proto::{Connection, Instant};

/// Slices per vectored write: enough for a few frames' headers and bodies.
const MAX_SLICES: usize = 64;

/// How long to wait for the peer's FIN after ours. Only a courtesy against
/// the reset (the GOAWAY is already out), so much shorter than the drain
/// timeout: a peer that is not running its loop must not hold the socket.
const LINGER: Duration = Duration::from_secs(2);

/// Where the socket is, beside the core's own phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SocketState {
    /// The core is running: read and write as it asks.
    Open,
    /// The core is closed: write out what it left (the final GOAWAY).
    Flushing { give_up_at: Instant },
    /// Our FIN is sent. Read and discard until the peer's FIN (at most
    /// [`LINGER`]): closing a socket with unread input makes the kernel send
    /// RST, which can destroy a GOAWAY the peer has not read yet.
    Lingering { give_up_at: Instant },
    /// Nothing more to do: drop the socket.
    Done,
}

/// A socket and its connection core.
pub(crate) struct Link {
    stream: TcpStream,
    pub(crate) conn: Connection,
    /// The socket may have input: set by an event, cleared by `WouldBlock`.
    readable: bool,
    /// The socket may take output: set by an event, cleared by `WouldBlock`.
    writable: bool,
    /// The peer's FIN arrived, or reading failed.
    read_closed: bool,
    /// Writing failed: the peer is gone.
    write_closed: bool,
    state: SocketState,
    /// What the socket is registered for, if it is registered.
    interest: Option<Interest>,
    /// The first socket error, for the application's report.
    error: Option<io::Error>,
}

impl Link {
    /// A link for a connected (or connecting) socket.
    pub(crate) fn new(stream: TcpStream, conn: Connection) -> Link {
        Link {
            stream,
            conn,
            // Optimistic: the first read or write finds out. A fresh accepted
            // socket often has the HELLO waiting already.
            readable: true,
            writable: true,
            read_closed: false,
            write_closed: false,
            state: SocketState::Open,
            interest: None,
            error: None,
        }
    }

    /// Records what a readiness event says. Errors and hang-ups count as
    /// ready: the next read or write reports them.
    pub(crate) fn on_ready(&mut self, event: &mio::event::Event) {
        let failed = event.is_error();
        self.readable |= event.is_readable() || event.is_read_closed() || failed;
        self.writable |= event.is_writable() || event.is_write_closed() || failed;
    }

    /// The link's timer fired: let the core run its timers. (The socket's
    /// own close deadline is checked by [`Link::advance`].)
    pub(crate) fn on_timeout(&mut self, now: Instant) {
        if self.state == SocketState::Open {
            self.conn.handle_timeout(now);
        }
    }

    /// Whether the loop wants input now. Back-pressure: while the core's
    /// output is above its high-water mark, `wants_read` is false and the
    /// peer's bytes stay in the kernel, which in time stops the peer.
    fn wants_input(&self) -> bool {
        !self.read_closed
            && match self.state {
                SocketState::Open => self.conn.wants_read(),
                SocketState::Flushing { .. } | SocketState::Lingering { .. } => true,
                SocketState::Done => false,
            }
    }

    fn wants_output(&self) -> bool {
        !self.write_closed
            && self.conn.transmit_len() > 0
            && matches!(self.state, SocketState::Open | SocketState::Flushing { .. })
    }

    /// Whether a read now could make progress.
    pub(crate) fn can_read(&self) -> bool {
        self.readable && self.wants_input()
    }

    /// One read: into the core's receive buffer while it is open, into a
    /// scratch buffer (discarded) once it is closed.
    pub(crate) fn read_once(&mut self, now: Instant) {
        if self.state == SocketState::Open {
            match self.stream.read(self.conn.recv_space()) {
                Ok(0) => self.on_read_closed(None, now),
                Ok(n) => self.conn.recv_commit(n, now),
                Err(e) => self.on_read_error(e, now),
            }
        } else {
            let mut sink = [0u8; 4096];
            match self.stream.read(&mut sink) {
                Ok(0) => self.on_read_closed(None, now),
                Ok(_) => {}
                Err(e) => self.on_read_error(e, now),
            }
        }
    }

    fn on_read_error(&mut self, e: io::Error, now: Instant) {
        match e.kind() {
            io::ErrorKind::WouldBlock => self.readable = false,
            io::ErrorKind::Interrupted => {}
            _ => self.on_read_closed(Some(e), now),
        }
    }

    /// End of input. While the core is open, that is `recv_eof`: a clean
    /// end after a graceful GOAWAY, "connection lost" otherwise.
    fn on_read_closed(&mut self, error: Option<io::Error>, now: Instant) {
        self.read_closed = true;
        self.error = self.error.take().or(error);
        if self.state == SocketState::Open {
            self.conn.recv_eof(now);
        }
    }

    /// Writes the core's output, vectored, until it is all out or the socket
    /// would block.
    pub(crate) fn flush(&mut self, now: Instant) {
        while self.writable && self.wants_output() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = self.conn.transmit_io_slices(&mut slices);
            match self.stream.write_vectored(&slices[..n]) {
                Ok(0) => self.on_write_error(io::ErrorKind::WriteZero.into(), now),
                Ok(written) => self.conn.advance_transmit(written),
                Err(e) => self.on_write_error(e, now),
            }
        }
    }

    fn on_write_error(&mut self, e: io::Error, now: Instant) {
        match e.kind() {
            // NotConnected: some systems say so for a connect in progress;
            // the writable event after it completes brings us back.
            io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected => self.writable = false,
            io::ErrorKind::Interrupted => {}
            _ => {
                // The peer is gone (reset, broken pipe): nothing more can go
                // either way. The core hears it as the end of the stream.
                self.write_closed = true;
                self.on_read_closed(Some(e), now);
            }
        }
    }

    /// Moves the socket along after the core closed: flush, FIN, linger,
    /// done; each step bounded by the drain timeout from the close.
    pub(crate) fn advance(&mut self, now: Instant) {
        if self.state == SocketState::Open && self.conn.is_closed() {
            let give_up_at = now + self.conn.config().drain_timeout;
            self.state = SocketState::Flushing { give_up_at };
        }
        if let SocketState::Flushing { give_up_at } = self.state {
            if !self.wants_output() {
                // An error here means the peer is already gone; reading
                // will tell.
                let _ = self.stream.shutdown(Shutdown::Write);
                let give_up_at = give_up_at.min(now + LINGER);
                self.state = SocketState::Lingering { give_up_at };
            }
        }
        self.state = match self.state {
            SocketState::Lingering { .. } if self.read_closed => SocketState::Done,
            SocketState::Flushing { give_up_at } | SocketState::Lingering { give_up_at }
                if now >= give_up_at =>
            {
                SocketState::Done
            }
            state => state,
        };
    }

    /// Whether the socket can be dropped.
    pub(crate) fn is_done(&self) -> bool {
        self.state == SocketState::Done
    }

    /// When the loop must call back: the core's next timer while it is open,
    /// the give-up deadline once it is closed.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.state {
            SocketState::Open => self.conn.poll_timeout(),
            SocketState::Flushing { give_up_at } | SocketState::Lingering { give_up_at } => {
                Some(give_up_at)
            }
            SocketState::Done => None,
        }
    }

    /// Registers for what the link needs now: READABLE only while it wants
    /// input (back-pressure), WRITABLE only while output waits. Changing the
    /// registration re-arms the edge, so nothing is missed meanwhile.
    pub(crate) fn update_interest(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let wanted = match (self.wants_input(), self.wants_output()) {
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        };
        match (self.interest, wanted) {
            (old, new) if old == new => return Ok(()),
            (None, Some(new)) => registry.register(&mut self.stream, token, new)?,
            (Some(_), Some(new)) => registry.reregister(&mut self.stream, token, new)?,
            (Some(_), None) => registry.deregister(&mut self.stream)?,
            (None, None) => {}
        }
        self.interest = wanted;
        Ok(())
    }

    /// The socket cannot be watched (registration failed): end the
    /// connection as lost and drop the socket.
    pub(crate) fn abort(&mut self, error: io::Error, now: Instant) {
        self.write_closed = true;
        self.on_read_closed(Some(error), now);
        self.state = SocketState::Done;
    }

    /// Unregisters the socket before it is dropped.
    pub(crate) fn deregister(&mut self, registry: &Registry) {
        if self.interest.take().is_some() {
            // Dropping the socket unregisters it anyway; this only keeps the
            // registry's bookkeeping exact.
            let _ = registry.deregister(&mut self.stream);
        }
    }

    /// The first socket error seen, if any.
    pub(crate) fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}
