//! The sockets the loop drives, over TCP or a Unix domain socket: a
//! [`Stream`] for each connection and a [`Listener`] for the server.
//!
//! Plain enums with a `match` per call, so the hot path (`read`,
//! `write_vectored`) costs one branch: no boxing, no dynamic dispatch.
//! Everything above them (the link, the reactor, the core) is the same
//! for both transports.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::path::Path;

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use crate::socket_file::{self, SocketFile};

/// A connected (or connecting) non-blocking stream.
#[derive(Debug)]
pub(crate) enum Stream {
    /// Over TCP.
    Tcp(TcpStream),
    /// Over a Unix domain socket.
    Unix(UnixStream),
}

impl Stream {
    /// A TCP stream, with Nagle off: frames are written whole, and Nagle
    /// would only delay them.
    pub(crate) fn tcp(stream: TcpStream) -> Stream {
        // A failure only costs latency.
        let _ = stream.set_nodelay(true);
        Stream::Tcp(stream)
    }

    /// Starts connecting to the Unix socket at `path`. Unlike TCP, this
    /// completes or fails at once: a missing file, nobody listening
    /// (`ConnectionRefused`), a full backlog (`WouldBlock`) and a path too
    /// long for `sockaddr_un` are errors here, each naming the path.
    pub(crate) fn connect_unix(path: &Path) -> io::Result<Stream> {
        UnixStream::connect(path)
            .map(Stream::Unix)
            .map_err(|e| socket_file::path_error(path, e))
    }

    /// Who is at the other end, for the connection's span: a TCP address,
    /// or `unix:PATH` (`unix:(unnamed)` for a client that bound no path).
    pub(crate) fn peer_label(&self) -> String {
        match self {
            Stream::Tcp(s) => s
                .peer_addr()
                .map_or_else(|_| "unknown".to_owned(), |a| a.to_string()),
            Stream::Unix(s) => match s.peer_addr() {
                Ok(addr) => match addr.as_pathname() {
                    Some(path) => format!("unix:{}", path.display()),
                    None => "unix:(unnamed)".to_owned(),
                },
                Err(_) => "unix:(unknown)".to_owned(),
            },
        }
    }

    /// Shuts down one or both halves (the loop sends its FIN with
    /// [`Shutdown::Write`]).
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
        }
    }
}

impl Read for Stream {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    #[inline]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read_vectored(bufs),
            Stream::Unix(s) => s.read_vectored(bufs),
        }
    }
}

impl Write for Stream {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    /// Forwarded, not `Write`'s default (which would write only the first
    /// non-empty slice): the link writes many frames per call.
    #[inline]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

impl Source for Stream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(registry, token, interest),
            Stream::Unix(s) => s.register(registry, token, interest),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(registry, token, interest),
            Stream::Unix(s) => s.reregister(registry, token, interest),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(registry),
            Stream::Unix(s) => s.deregister(registry),
        }
    }
}

/// A server's listening socket. A Unix one owns its socket file, removed
/// when the listener is dropped: when the server stops accepting
/// (shutdown), or when it is dropped without ever running.
#[derive(Debug)]
pub(crate) enum Listener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix socket listener and the file it made, held only to be
    /// dropped with it.
    Unix {
        listener: UnixListener,
        _file: SocketFile,
    },
}

impl Listener {
    /// Binds the Unix socket at `path`, replacing a stale file (see
    /// [`socket_file::bind`]).
    pub(crate) fn bind_unix(path: &Path) -> io::Result<Listener> {
        let (listener, file) = socket_file::bind(path)?;
        Ok(Listener::Unix {
            listener: UnixListener::from_std(listener),
            _file: file,
        })
    }

    /// Accepts one connection (non-blocking: `WouldBlock` once the backlog
    /// is empty).
    pub(crate) fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| Stream::tcp(s)),
            Listener::Unix { listener: l, .. } => l.accept().map(|(s, _)| Stream::Unix(s)),
        }
    }
}

impl Source for Listener {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.register(registry, token, interest),
            Listener::Unix { listener: l, .. } => l.register(registry, token, interest),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.reregister(registry, token, interest),
            Listener::Unix { listener: l, .. } => l.reregister(registry, token, interest),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.deregister(registry),
            Listener::Unix { listener: l, .. } => l.deregister(registry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectored writes reach the peer whole over either transport (the
    /// default `write_vectored` would send only the first slice).
    #[test]
    fn write_vectored_sends_every_slice() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut a = Stream::Unix(UnixStream::from_std(a));
        let slices = [IoSlice::new(b"ab"), IoSlice::new(b"cd"), IoSlice::new(b"e")];
        assert_eq!(a.write_vectored(&slices).unwrap(), 5);
        a.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        let mut b = b;
        b.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"abcde");

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut client = Stream::tcp(TcpStream::from_std(client));
        assert_eq!(client.write_vectored(&slices).unwrap(), 5);
        client.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"abcde");
    }

    #[test]
    fn connecting_to_a_missing_socket_names_the_path() {
        let path = Path::new("/nonexistent-slow-dir/x.sock");
        let e = Stream::connect_unix(path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(
            e.to_string().contains("/nonexistent-slow-dir/x.sock"),
            "{e}"
        );
    }
}
