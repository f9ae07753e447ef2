//! One connection: a non-blocking socket (TCP or Unix, the same to it) and
//! the core that owns its bytes.
//!
//! mio is edge-triggered: an event says "something changed", not "there is
//! data". So the link keeps a readiness cache (`readable`, `writable`) that an
//! event sets and `WouldBlock` clears, and the loop keeps reading and
//! writing while the cache and the core allow. A read that fills less than
//! the window it was given also clears `readable` (as tokio does on epoll
//! and kqueue): the socket's buffer was empty when it returned, and bytes
//! arriving after that raise a new edge. That saves the read that would
//! only say `WouldBlock`, one system call in three at one request in flight.
//! An end of stream or an error the poller reported stays readable until a
//! read sees it: its edge has been consumed, and no second one comes. The socket's own life after
//! the core closes (flush the final GOAWAY, send FIN, wait for the peer's
//! FIN) is the core's [`Teardown`]: the same rules, and the same bounds,
//! as every async runtime's driver.
//!
//! With TLS (the `tls` feature), a second sans-IO state machine sits
//! between the socket and the core ([`TlsSession`]): ciphertext goes
//! socket ↔ rustls, plaintext rustls ↔ core, and the link asks both what
//! they want next.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;

use mio::{Interest, Registry, Token};
use slow_proto::{Connection, Instant, SocketAction, Teardown};

use crate::clock::Clock;
use crate::socket::Stream;
#[cfg(feature = "tls")]
use crate::tls_session::{Plain, TlsSession};

/// Slices per vectored write: enough for a few frames' headers and bodies.
const MAX_SLICES: usize = 64;

/// Slices tried first: small frames come coalesced in one slice, and only
/// large bodies (by reference) add more, so a few nearly always hold the
/// whole queue; filling (and first zeroing) 64 for every write was a
/// tenth of the loop's own instructions.
const FEW_SLICES: usize = 8;

/// Calls `f` with the core's output as slices: at most [`FEW_SLICES`], or
/// [`MAX_SLICES`] when those are not enough.
fn with_slices<R>(conn: &mut Connection, f: impl FnOnce(&[IoSlice<'_>]) -> R) -> R {
    let mut few = [IoSlice::new(&[]); FEW_SLICES];
    let n = conn.transmit_io_slices(&mut few);
    if n < FEW_SLICES {
        return f(&few[..n]);
    }
    let mut many = [IoSlice::new(&[]); MAX_SLICES];
    let n = conn.transmit_io_slices(&mut many);
    f(&many[..n])
}

/// Whether a short read shows the socket's buffer drained: so with
/// edge-triggered epoll and kqueue, not with a level-triggered poller.
const DRAINED_BY_SHORT_READ: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly",
));

/// The loop's one read buffer, shared by all its links (one link reads at
/// a time): socket reads land here, and what they return is copied onto
/// the end of the core's receive buffer. It is zeroed once, when it grows,
/// and stays initialised, so no read pays for zeroing its window (safe
/// code cannot read into a `BytesMut`'s uninitialised spare capacity).
#[derive(Debug, Default)]
pub(crate) struct ReadBuf(Vec<u8>);

impl ReadBuf {
    /// A window of `len` initialised bytes (at least 1) to read into.
    pub(crate) fn window(&mut self, len: usize) -> &mut [u8] {
        let len = len.max(1);
        if self.0.len() < len {
            self.0.resize(len, 0);
        }
        &mut self.0[..len]
    }
}

/// A socket and its connection core.
pub(crate) struct Link {
    stream: Stream,
    pub(crate) conn: Connection,
    /// The socket may have input: set by an event, cleared by `WouldBlock`
    /// or a short read.
    readable: bool,
    /// The poller reported the peer's FIN or an error: reads go on until
    /// one returns it, short reads notwithstanding.
    hangup_seen: bool,
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
    /// TLS between the socket and the core, if the connection has it.
    #[cfg(feature = "tls")]
    tls: Option<TlsSession>,
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
            hangup_seen: false,
            read_closed: false,
            write_closed: false,
            teardown: None,
            interest: None,
            error: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// A link whose bytes go through TLS: the handshake runs first, and
    /// the core's HELLO waits in rustls until it is done.
    #[cfg(feature = "tls")]
    pub(crate) fn with_tls(stream: Stream, conn: Connection, tls: rustls::Connection) -> Link {
        Link {
            tls: Some(TlsSession::new(tls)),
            ..Link::new(stream, conn)
        }
    }

    /// Who is at the other end, for the connection's span.
    pub(crate) fn peer_label(&self) -> String {
        self.stream.peer_label()
    }

    /// The peer's verified certificate chain (TLS only), leaf first.
    #[cfg(feature = "tls")]
    pub(crate) fn peer_certificates(
        &self,
    ) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.tls.as_ref()?.peer_certificates()
    }

    /// Bytes the teardown must still see go out: the core's, and with TLS
    /// rustls's records and the plaintext it holds until its handshake is
    /// done (a refusal's GOAWAY must not lose the race with close_notify).
    fn unsent(&self) -> usize {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            // After a TLS error only the alert goes; the core's output is lost.
            let core = if tls.is_failed() {
                0
            } else {
                self.conn.transmit_len()
            };
            return core + usize::from(tls.wants_write() || tls.holds_plaintext());
        }
        self.conn.transmit_len()
    }

    /// Whether decrypted input waits in rustls (no event will say so).
    fn has_buffered_input(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.has_input();
        }
        false
    }

    /// Records what a readiness event says. Errors and hang-ups count as
    /// ready: the next read or write reports them.
    pub(crate) fn on_ready(&mut self, event: &mio::event::Event) {
        let failed = event.is_error();
        self.hangup_seen |= event.is_read_closed() || failed;
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
    /// A closed core reads on only to linger, or (TLS) to finish a
    /// handshake that holds its last words.
    fn wants_input(&self) -> bool {
        !self.read_closed
            && match &self.teardown {
                None => self.conn.wants_read(),
                Some(_) => self.lingering() || self.tls_holds_plaintext(),
            }
    }

    fn tls_holds_plaintext(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.holds_plaintext();
        }
        false
    }

    /// Whether there are bytes to write to the socket now. With TLS, the
    /// core's output is encrypted as the flush goes, so only rustls's
    /// records count: core output left over waits for rustls's buffer (or
    /// its handshake), not for the socket.
    fn wants_output(&self) -> bool {
        if self.write_closed || self.teardown.as_ref().is_some_and(Teardown::is_flushed) {
            return false;
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.wants_write();
        }
        self.conn.transmit_len() > 0
    }

    /// Whether a read now could make progress.
    pub(crate) fn can_read(&self) -> bool {
        (self.readable || self.has_buffered_input()) && self.wants_input()
    }

    /// One read into the core's receive buffer; once the core is closed
    /// it discards what arrives, and the teardown hears that the peer is
    /// still talking. Input is handled at a clock reading taken after it
    /// arrived (`now` moves to it): the turn's reading may be older than a
    /// request read later in the turn, whose deadline must not start
    /// before its client sent it.
    pub(crate) fn read_once(&mut self, now: &mut Instant, clock: &Clock, scratch: &mut ReadBuf) {
        // After a TLS failure the socket's input is only discarded
        // (lingering), as raw bytes.
        #[cfg(feature = "tls")]
        if self.tls.as_ref().is_some_and(|tls| !tls.is_failed()) {
            return self.read_once_tls(now, clock, scratch);
        }
        let window = scratch.window(self.read_size());
        match self.stream.read(window) {
            Ok(0) => self.on_read_closed(None, *now),
            Ok(n) => {
                if n < window.len() && !self.hangup_seen && DRAINED_BY_SHORT_READ {
                    self.readable = false;
                }
                *now = clock.now();
                self.on_input(&window[..n], *now)
            }
            Err(e) => self.on_read_error(e, *now),
        }
    }

    /// How much one read asks for: a `read_chunk`, or the room the core's
    /// receive buffer has for the rest of a larger frame in progress (it
    /// reserves that once the frame's header is in), so that a 64 KiB body
    /// takes one read rather than eight (strace: 17 `recvfrom` a round
    /// trip at 64 KiB, the async drivers' 4).
    fn read_size(&mut self) -> usize {
        let buf = self.conn.recv_buffer();
        (buf.capacity() - buf.len()).max(self.conn.config().read_chunk)
    }

    /// Appends `input` to the core's receive buffer and processes it. The
    /// buffer (a `BytesMut`, renewed as the async drivers' is) is grown by
    /// the copy, never zeroed first: a copy of what a read returned costs
    /// far less than zeroing a whole `read_chunk` window before every read
    /// (`recv_space`), which was half the loop's instructions at small
    /// messages.
    fn on_input(&mut self, input: &[u8], now: Instant) {
        self.conn.recv_buffer().extend_from_slice(input);
        self.conn.handle_input(now);
        if let Some(t) = &mut self.teardown {
            t.on_input(now);
        }
    }

    /// One step of input through TLS: plaintext rustls already decrypted
    /// goes to the core first (copied once, into its receive window);
    /// only when there is none is the socket read (`read_tls`, then
    /// `process_new_packets`), and what that decrypted is handed on at
    /// once.
    #[cfg(feature = "tls")]
    fn read_once_tls(&mut self, now: &mut Instant, clock: &Clock, scratch: &mut ReadBuf) {
        let mut socket_read = false;
        loop {
            let size = self.read_size();
            let Some(tls) = &mut self.tls else { return };
            let window = scratch.window(size);
            match tls.read_plaintext(window) {
                Ok(Plain::Read(n)) => {
                    *now = clock.now();
                    return self.on_input(&window[..n], *now);
                }
                Ok(Plain::End) => return self.on_read_closed(None, *now),
                // The socket ended without close_notify after the
                // handshake: as end of stream (SLOW's framing tells a cut
                // frame itself).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return self.on_read_closed(None, *now);
                }
                Err(e) => return self.on_read_closed(Some(e), *now),
                Ok(Plain::Empty) if socket_read => return,
                Ok(Plain::Empty) => {}
            }
            socket_read = true;
            match tls.read_ciphertext(&mut self.stream) {
                Ok(0) => return self.on_read_closed(None, *now),
                Ok(_) => {}
                Err(e) if crate::tls_session::rustls_error(&e).is_some() => {
                    return self.on_tls_error(e, *now);
                }
                Err(e) => return self.on_read_error(e, *now),
            }
        }
    }

    /// TLS failed (rustls has queued its alert): the core ends as on a
    /// lost stream, with the TLS error as the cause. The socket is not
    /// closed for reading: the peer has not closed, and the teardown
    /// discards its input until it does, so that our alert is not lost to
    /// a reset.
    #[cfg(feature = "tls")]
    fn on_tls_error(&mut self, e: io::Error, now: Instant) {
        self.error = self.error.take().or(Some(e));
        if self.teardown.is_none() {
            self.conn.recv_eof(now);
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
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            tls.on_socket_closed();
        }
        match &mut self.teardown {
            None => self.conn.recv_eof(now),
            Some(t) => t.on_eof(),
        }
    }

    /// Writes the core's output, vectored, until it is all out or the socket
    /// would block. True if writing failed for good: the core has heard
    /// that the stream is lost, and has events to hand out (nothing else
    /// in a flush makes any).
    pub(crate) fn flush(&mut self, now: Instant) -> bool {
        let open = !self.write_closed;
        self.write_out(now);
        open && self.write_closed
    }

    fn write_out(&mut self, now: Instant) {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return self.flush_tls(now);
        }
        while self.writable && self.wants_output() {
            let stream = &mut self.stream;
            match with_slices(&mut self.conn, |slices| stream.write_vectored(slices)) {
                Ok(0) => self.on_write_error(io::ErrorKind::WriteZero.into(), now),
                Ok(written) => self.conn.advance_transmit(written),
                Err(e) => self.on_write_error(e, now),
            }
        }
    }

    /// The core's output into rustls (`writer()`: encrypted, a record per
    /// 16 KiB) until rustls's buffer is full or the core has no more, then
    /// every queued record in one vectored `write_tls`; repeat until the
    /// socket would block. During the TLS handshake rustls holds the
    /// plaintext and writes only its handshake records.
    #[cfg(feature = "tls")]
    fn flush_tls(&mut self, now: Instant) {
        loop {
            if self.write_closed || self.teardown.as_ref().is_some_and(Teardown::is_flushed) {
                return;
            }
            let Some(tls) = &mut self.tls else { return };
            while self.conn.transmit_len() > 0 && !tls.is_failed() {
                let taken = with_slices(&mut self.conn, |slices| tls.write_plaintext(slices));
                self.conn.advance_transmit(taken);
                if taken == 0 {
                    break;
                }
            }
            if !self.writable || !tls.wants_write() {
                return;
            }
            match tls.write_ciphertext(&mut self.stream) {
                Ok(0) => self.on_write_error(io::ErrorKind::WriteZero.into(), now),
                Ok(_) => {}
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
        while self.teardown.is_some() {
            let unsent = self.unsent();
            let Some(t) = &mut self.teardown else {
                return;
            };
            if t.poll(unsent, now) != SocketAction::Shutdown {
                return;
            }
            // TLS: close_notify before the FIN (it is output too, so the
            // teardown waits for it like the rest).
            #[cfg(feature = "tls")]
            if self.tls.as_mut().is_some_and(TlsSession::close) {
                self.write_out(now);
                continue;
            }
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
