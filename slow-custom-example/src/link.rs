//! One connection: a non-blocking socket (TCP or Unix, the same to it) and
//! the core that owns its bytes.
//!
//! mio is edge-triggered: an event says "something changed", not "there is
//! data". So the link keeps a readiness cache (`readable`, `writable`) that an
//! event sets and only `WouldBlock` clears, and the loop keeps reading and
//! writing while the cache and the core allow. The socket's own life after
//! the core closes (flush the final GOAWAY, send FIN, wait for the peer's
//! FIN) is the core's [`Teardown`]: the same rules, and the same bounds,
//! as every async runtime's driver.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;

use mio::{Interest, Registry, Token};
use slow_proto::{Connection, Instant, SocketAction, Teardown};

use crate::socket::Stream;

/// Slices per vectored write: enough for a few frames' headers and bodies.
const MAX_SLICES: usize = 64;

/// A socket and its connection core.
pub(crate) struct Link {
    stream: Stream,
    pub(crate) conn: Connection,
    /// The socket may have input: set by an event, cleared by `WouldBlock`.
    readable: bool,
    /// The socket may take output: set by an event, cleared by `WouldBlock`.
    writable: bool,
    /// The peer's FIN arrived, or reading failed.
    read_closed: bool,
    /// Writing failed: the peer is gone.
    write_closed: bool,
    /// Set once the core has closed: what the socket does until it is
    /// dropped.
    teardown: Option<Teardown>,
    /// What the socket is registered for, if it is registered.
    interest: Option<Interest>,
    /// The first socket error, for the application's report.
    error: Option<io::Error>,
}

impl Link {
    /// A link for a connected (or connecting) socket.
    pub(crate) fn new(stream: Stream, conn: Connection) -> Link {
        Link {
            stream,
            conn,
            // Optimistic: the first read or write finds out. A fresh accepted
            // socket often has the HELLO waiting already.
            readable: true,
            writable: true,
            read_closed: false,
            write_closed: false,
            teardown: None,
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
        if self.teardown.is_none() {
            self.conn.handle_timeout(now);
        }
    }

    /// Whether the teardown has the socket read and discard (lingering).
    fn lingering(&self) -> bool {
        self.teardown
            .as_ref()
            .is_some_and(|t| t.is_flushed() && !t.is_done())
    }

    /// Whether the loop wants input now. Back-pressure: while the core's
    /// output is above its high-water mark, `wants_read` is false and the
    /// peer's bytes stay in the kernel, which in time stops the peer.
    fn wants_input(&self) -> bool {
        !self.read_closed
            && match &self.teardown {
                None => self.conn.wants_read(),
                Some(_) => self.lingering(),
            }
    }

    fn wants_output(&self) -> bool {
        !self.write_closed
            && self.conn.transmit_len() > 0
            && self.teardown.as_ref().is_none_or(|t| !t.is_flushed())
    }

    /// Whether a read now could make progress.
    pub(crate) fn can_read(&self) -> bool {
        self.readable && self.wants_input()
    }

    /// One read into the core's receive buffer; once the core is closed
    /// it discards what arrives, and the teardown hears that the peer is
    /// still talking.
    pub(crate) fn read_once(&mut self, now: Instant) {
        match self.stream.read(self.conn.recv_space()) {
            Ok(0) => self.on_read_closed(None, now),
            Ok(n) => {
                self.conn.recv_commit(n, now);
                if let Some(t) = &mut self.teardown {
                    t.on_input(now);
                }
            }
            Err(e) => self.on_read_error(e, now),
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
        match &mut self.teardown {
            None => self.conn.recv_eof(now),
            Some(t) => t.on_eof(),
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
        // Nothing was taken: the bytes handed out need not stay first.
        self.conn.advance_transmit(0);
        match e.kind() {
            // NotConnected: some systems say so for a connect in progress;
            // the writable event after it completes brings us back.
            io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected => self.writable = false,
            io::ErrorKind::Interrupted => {}
            _ => {
                // The peer is gone (reset, broken pipe): nothing more can go
                // either way. The core hears it as the end of the stream.
                self.write_closed = true;
                if let Some(t) = &mut self.teardown {
                    t.on_write_error();
                }
                self.on_read_closed(Some(e), now);
            }
        }
    }

    /// Moves the socket along after the core closed, as its [`Teardown`]
    /// says: flush, FIN, linger, done.
    pub(crate) fn advance(&mut self, now: Instant) {
        if self.teardown.is_none() && self.conn.is_closed() {
            let mut t = self.conn.teardown(now);
            if self.write_closed {
                t.on_write_error();
            } else if self.read_closed {
                t.on_eof();
            }
            self.teardown = Some(t);
        }
        let Some(t) = &mut self.teardown else {
            return;
        };
        while t.poll(self.conn.transmit_len(), now) == SocketAction::Shutdown {
            // An error here means the peer is already gone; reading will
            // tell.
            let _ = self.stream.shutdown(Shutdown::Write);
            t.shutdown_sent(now);
        }
    }

    /// Whether the socket can be dropped.
    pub(crate) fn is_done(&self) -> bool {
        self.teardown.as_ref().is_some_and(Teardown::is_done)
    }

    /// When the loop must call back: the core's next timer while it is
    /// open, the teardown's once it is closed.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match &self.teardown {
            None => self.conn.poll_timeout(),
            Some(t) => t.poll_timeout(),
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
        if let Some(t) = &mut self.teardown {
            t.on_write_error();
        }
        self.on_read_closed(Some(error), now);
        self.advance(now);
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
