//! The streams and listeners `connect` and `bind` open from an address
//! (what [`Server`](crate::Server) is by default):
//! `host:port` for TCP, `unix:PATH` for a Unix domain socket. Binding a
//! Unix socket (stale files, a live server already there, removing the
//! file afterwards) is done here once, for every runtime.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::task::{Context, Poll};

use slow_proto::Connection;

use crate::Addr;
use crate::error::Error;
use crate::runtime::io_shape::Io;
use crate::runtime::{Listener, Reactor, Transport};

/// The prefix that makes an address a Unix socket path (`unix:PATH`).
pub(crate) const UNIX_PREFIX: &str = "unix:";

/// The path of a `unix:PATH` address, or `None` for `host:port`.
pub(crate) fn unix_path(addr: &str) -> Option<&Path> {
    addr.strip_prefix(UNIX_PREFIX).map(Path::new)
}

/// A stream a bound server accepted: over TCP or a Unix socket.
pub enum NetStream<T, U> {
    /// Over TCP.
    Tcp(T),
    /// Over a Unix domain socket.
    Unix(U),
}

impl<T: Transport, U: Transport> Io for NetStream<T, U> {
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        conn: &mut Connection,
        now: &mut crate::now::Now,
    ) -> Poll<io::Result<usize>> {
        match self {
            NetStream::Tcp(s) => s.poll_read(cx, conn, now),
            NetStream::Unix(s) => s.poll_read(cx, conn, now),
        }
    }

    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        conn: &mut Connection,
    ) -> Poll<io::Result<usize>> {
        match self {
            NetStream::Tcp(s) => s.poll_write(cx, conn),
            NetStream::Unix(s) => s.poll_write(cx, conn),
        }
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            NetStream::Tcp(s) => s.poll_shutdown(cx),
            NetStream::Unix(s) => s.poll_shutdown(cx),
        }
    }

    #[cfg(feature = "tls")]
    fn tls_identity(&self) -> Option<crate::tls::TlsIdentity> {
        match self {
            NetStream::Tcp(s) => s.tls_identity(),
            NetStream::Unix(s) => s.tls_identity(),
        }
    }
}

/// What `Server::bind` listens on: a TCP listener, or a Unix socket whose
/// file is removed when the listener is dropped (when serving ends).
pub struct NetListener<R: Reactor> {
    inner: Bound<R>,
}

enum Bound<R: Reactor> {
    Tcp(R::Listener),
    Unix(R::UnixListener, SocketFile),
}

impl<R: Reactor> NetListener<R> {
    pub(crate) fn tcp(listener: R::Listener) -> Self {
        NetListener {
            inner: Bound::Tcp(listener),
        }
    }

    /// Binds the Unix socket at `path` and hands it to the runtime. A file
    /// left there by a server that is gone (nothing accepts on it) is
    /// replaced; a live server's is an error (`AddrInUse`), as is a file
    /// that is not a socket.
    pub(crate) fn bind_unix(runtime: &R, path: &Path) -> Result<Self, Error> {
        let error = |source| Error::Unix {
            path: path.to_owned(),
            source,
        };
        let listener = bind_replacing_stale(path).map_err(error)?;
        let file = SocketFile::of(path).map_err(error)?;
        listener.set_nonblocking(true).map_err(error)?;
        let listener = runtime.unix_listener(listener).map_err(error)?;
        Ok(NetListener {
            inner: Bound::Unix(listener, file),
        })
    }
}

impl<R: Reactor> Listener for NetListener<R> {
    type Stream = NetStream<R::Stream, R::UnixStream>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Addr)>> {
        match &mut self.inner {
            Bound::Tcp(l) => l.poll_accept(cx).map_ok(|(s, a)| (NetStream::Tcp(s), a)),
            Bound::Unix(l, _) => l.poll_accept(cx).map_ok(|(s, a)| (NetStream::Unix(s), a)),
        }
    }

    fn local_addr(&self) -> io::Result<Addr> {
        match &self.inner {
            Bound::Tcp(l) => l.local_addr(),
            // The path as given (relative stays relative), as `slow serve`
            // prints it.
            Bound::Unix(_, file) => Ok(Addr::Unix(Some(file.path.clone()))),
        }
    }
}

fn bind_replacing_stale(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::net::{UnixListener, UnixStream};
    match UnixListener::bind(path) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {}
        other => return other,
    }
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the file there is not a socket (not removed)",
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "a server is already listening there",
        )),
        // Nobody accepts: a dead server's file.
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path)?;
            UnixListener::bind(path)
        }
        Err(e) => Err(e),
    }
}

/// A socket file this process made, removed when dropped unless another
/// file has replaced it meanwhile.
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    fn of(path: &Path) -> io::Result<SocketFile> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(SocketFile {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
