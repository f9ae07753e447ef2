//! TLS on one link: rustls's own sans-IO state machine between the socket
//! and the core (the `tls` feature).
//!
//! Two state machines, composed by the link in one calling order:
//!
//! - in: socket → `read_tls` → `process_new_packets` → `reader()` → the
//!   loop's read buffer (rustls decrypts in place; this is the first copy
//!   of the plaintext) → appended to the core's `recv_buffer` (the second:
//!   two copies of what arrived cost less than zeroing a `recv_space`
//!   window for each) → `handle_input`;
//! - out: the core's `transmit_io_slices` → `writer()` (encrypted into
//!   rustls's record queue) → `advance_transmit`; then `write_tls`, one
//!   vectored write for every queued record.
//!
//! Both report what they want next (`wants_read`, `wants_write`), and the
//! link registers for their union. Plaintext the core writes during the TLS
//! handshake (its HELLO; a refused connection's GOAWAY) is held by rustls
//! until the handshake completes: [`TlsSession::holds_plaintext`] tells the
//! socket's teardown that it is not flushed yet.

use std::io::{self, IoSlice, Read, Write};

use rustls::pki_types::CertificateDer;

/// What [`TlsSession::read_plaintext`] found.
pub(crate) enum Plain {
    /// `n` bytes of plaintext were read.
    Read(usize),
    /// None is decrypted yet: read the socket.
    Empty,
    /// The peer's close_notify: end of stream.
    End,
}

/// One connection's TLS state.
pub(crate) struct TlsSession {
    tls: rustls::Connection,
    /// Plaintext rustls has decrypted and the core has not taken.
    pending: usize,
    /// The peer sent close_notify.
    peer_closed: bool,
    /// Plaintext was written during the handshake: rustls holds it.
    held: bool,
    /// Our close_notify is queued.
    closing: bool,
    /// A TLS error ended it: no more plaintext goes in or out (the alert
    /// rustls queued still goes out).
    failed: bool,
}

impl TlsSession {
    pub(crate) fn new(tls: rustls::Connection) -> TlsSession {
        TlsSession {
            tls,
            pending: 0,
            peer_closed: false,
            held: false,
            closing: false,
            failed: false,
        }
    }

    /// Whether decrypted input waits that no socket event will announce
    /// (edge-triggered: it was read from the socket already).
    pub(crate) fn has_input(&self) -> bool {
        self.pending > 0 || self.peer_closed
    }

    /// Whether rustls has records to write.
    pub(crate) fn wants_write(&self) -> bool {
        self.tls.wants_write()
    }

    /// Whether plaintext written during the handshake is still held: the
    /// handshake must finish before it can go out.
    pub(crate) fn holds_plaintext(&self) -> bool {
        self.held && !self.failed && self.tls.is_handshaking()
    }

    /// Whether TLS failed: no plaintext goes in or out any more.
    pub(crate) fn is_failed(&self) -> bool {
        self.failed
    }

    /// The peer's verified certificate chain, leaf first.
    pub(crate) fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.tls.peer_certificates()
    }

    /// Copies decrypted plaintext into `buf` (the loop's read buffer).
    pub(crate) fn read_plaintext(&mut self, buf: &mut [u8]) -> io::Result<Plain> {
        if self.pending == 0 {
            return Ok(if self.peer_closed {
                Plain::End
            } else {
                Plain::Empty
            });
        }
        match self.tls.reader().read(buf) {
            Ok(0) if !buf.is_empty() => Ok(Plain::End),
            Ok(n) => {
                self.pending = self.pending.saturating_sub(n);
                Ok(Plain::Read(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.pending = 0;
                Ok(Plain::Empty)
            }
            Err(e) => Err(e),
        }
    }

    /// One socket read into rustls (`read_tls`), then processes the
    /// records (`process_new_packets`): `Ok(0)` at the socket's end. A TLS
    /// error (rustls queues an alert for the peer) is `InvalidData` with
    /// the [`rustls::Error`] as its source.
    ///
    /// rustls reads into its own buffer, at most 4 KiB at a time. Reading
    /// larger chunks into a buffer of ours and feeding rustls from it saves
    /// syscalls but costs a copy and a buffer per connection; measured
    /// (examples/tls_bench.rs, 16 KiB bodies) it was no faster, so rustls
    /// reads the socket itself.
    pub(crate) fn read_ciphertext(&mut self, socket: &mut impl Read) -> io::Result<usize> {
        let n = self.tls.read_tls(socket)?;
        if n == 0 {
            if self.tls.is_handshaking() {
                self.failed = true;
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection during the TLS handshake",
                ));
            }
            return Ok(0);
        }
        self.process()?;
        Ok(n)
    }

    fn process(&mut self) -> io::Result<()> {
        match self.tls.process_new_packets() {
            Ok(state) => {
                self.pending = state.plaintext_bytes_to_read();
                self.peer_closed = state.peer_has_closed();
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(io::Error::new(io::ErrorKind::InvalidData, e))
            }
        }
    }

    /// Encrypts what it can of `bufs` (the core's output), returning how
    /// much it took: 0 once rustls's buffer is full (its limit bounds our
    /// memory as the core's high-water mark does).
    pub(crate) fn write_plaintext(&mut self, bufs: &[IoSlice<'_>]) -> usize {
        if self.failed || self.closing {
            return 0;
        }
        // rustls's writer never fails; a full buffer takes 0.
        let n = self.tls.writer().write_vectored(bufs).unwrap_or(0);
        self.held |= n > 0 && self.tls.is_handshaking();
        n
    }

    /// Writes queued records to the socket: one vectored write.
    pub(crate) fn write_ciphertext(&mut self, socket: &mut impl Write) -> io::Result<usize> {
        self.tls.write_tls(socket)
    }

    /// Queues our close_notify (once), unless TLS already failed.
    pub(crate) fn close(&mut self) -> bool {
        if self.closing || self.failed {
            return false;
        }
        self.closing = true;
        self.tls.send_close_notify();
        true
    }

    /// The socket failed or ended: nothing held can go out any more.
    pub(crate) fn on_socket_closed(&mut self) {
        if self.tls.is_handshaking() {
            self.failed = true;
        }
    }
}

/// The [`rustls::Error`] behind a socket error, if TLS failed.
pub(crate) fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref()
}
