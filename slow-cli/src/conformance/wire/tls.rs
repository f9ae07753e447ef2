//! TLS under the raw frames: a blocking rustls client on the check's
//! socket. rustls is sans-IO, so this is the socket loop around it, as
//! blocking as the plaintext one: the same read timeouts, one record per
//! write (a check that cuts its bytes one per write still does), and a
//! clone that writes from another thread (an upload) while this one reads.
//!
//! Two locks: `session` (rustls's state) is held only to encrypt or
//! decrypt, never across a socket call, so a reader is never stuck behind
//! a writer the server has stopped reading from; `writer` is held across
//! encrypting and writing, so records reach the socket in the order rustls
//! numbered them.

use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustls::ClientConnection;

use super::peer::Conn;
use crate::conformance::TargetTls;

/// A TLS connection over a plaintext [`Conn`] (TCP or Unix).
pub(super) struct TlsConn {
    /// This handle's socket, for reading.
    socket: Conn,
    shared: Arc<Shared>,
}

struct Shared {
    session: Mutex<Session>,
    /// The socket writes go through, in record order.
    writer: Mutex<Conn>,
}

struct Session {
    tls: ClientConnection,
    /// Ciphertext read from the socket that rustls has not taken yet.
    unread: Vec<u8>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TlsConn {
    /// Runs the TLS handshake on `socket` within `limit`: a server whose
    /// certificate is not trusted (or not for the name) fails here, with
    /// rustls's reason.
    pub(super) fn handshake(
        mut socket: Conn,
        tls: &TargetTls,
        limit: Duration,
    ) -> io::Result<TlsConn> {
        let mut session = ClientConnection::new(tls.config.clone(), tls.name.clone())
            .map_err(io::Error::other)?;
        // A check's frames may be large (an upload at MAX_MESSAGE_SIZE);
        // each write is sent before the next, so nothing piles up.
        session.set_buffer_limit(None);
        socket.set_read_timeout(Some(limit))?;
        while session.is_handshaking() {
            session.complete_io(&mut socket)?;
        }
        let writer = socket.try_clone()?;
        Ok(TlsConn {
            socket,
            shared: Arc::new(Shared {
                session: Mutex::new(Session {
                    tls: session,
                    unread: Vec::new(),
                }),
                writer: Mutex::new(writer),
            }),
        })
    }

    /// Another handle on the same connection (for a writer thread).
    pub(super) fn try_clone(&self) -> io::Result<TlsConn> {
        Ok(TlsConn {
            socket: self.socket.try_clone()?,
            shared: self.shared.clone(),
        })
    }

    pub(super) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(t)
    }

    pub(super) fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.socket.set_write_timeout(t)
    }

    /// Closing our side's writing sends close_notify first: the server
    /// sees the end of the stream, not a truncated TLS connection.
    pub(super) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if how != Shutdown::Read {
            let mut writer = lock(&self.shared.writer);
            let bytes = {
                let mut session = lock(&self.shared.session);
                session.tls.send_close_notify();
                ciphertext(&mut session.tls)?
            };
            let _ = writer.write_all(&bytes);
        }
        self.socket.shutdown(how)
    }

    /// Moves what was read from the socket into rustls, as far as it takes
    /// it; a TLS error (a bad record, an alert from the server) is an
    /// `InvalidData` error carrying rustls's.
    fn feed(session: &mut Session) -> io::Result<()> {
        while !session.unread.is_empty() {
            let mut unread = &session.unread[..];
            let taken = session.tls.read_tls(&mut unread)?;
            session.unread.drain(..taken);
            session
                .tls
                .process_new_packets()
                .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
            if taken == 0 {
                break;
            }
        }
        Ok(())
    }
}

/// Everything rustls has to send, as bytes.
fn ciphertext(tls: &mut ClientConnection) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    while tls.wants_write() {
        tls.write_tls(&mut out)?;
    }
    Ok(out)
}

impl Read for TlsConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            {
                let mut session = lock(&self.shared.session);
                Self::feed(&mut session)?;
                match session.tls.reader().read(buf) {
                    // Ok(0): close_notify; UnexpectedEof: the socket ended
                    // without one (both: the server closed).
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    other => return other,
                }
            }
            // Nothing decrypted yet: more ciphertext (waits at most the
            // read timeout, as a plaintext read does).
            let n = self.socket.read(&mut chunk)?;
            let mut session = lock(&self.shared.session);
            if n == 0 {
                // rustls takes the end of the stream as a read of nothing.
                session.tls.read_tls(&mut &[][..])?;
            } else {
                session.unread.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

impl Write for TlsConn {
    /// One call, one record (or several for a large `buf`), sent before it
    /// returns.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut writer = lock(&self.shared.writer);
        let bytes = {
            let mut session = lock(&self.shared.session);
            session.tls.writer().write_all(buf)?;
            ciphertext(&mut session.tls)?
        };
        writer.write_all(&bytes)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
