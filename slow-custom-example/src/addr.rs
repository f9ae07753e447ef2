//! Where a server listens: a TCP address or a Unix socket path, and the
//! transport markers that let [`Server`](crate::Server) say which one it
//! has in its type.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// What a [`Server`](crate::Server) listens on, whatever its transport:
/// what [`Server::listen_addr`](crate::Server::listen_addr) returns and the
/// binary prints after `listening on`.
///
/// Displayed as `HOST:PORT` for TCP and `unix:PATH` for a Unix socket, the
/// same form `--addr` takes.
///
/// ```
/// use slow_custom_example::ListenAddr;
/// use std::net::SocketAddr;
///
/// let tcp = ListenAddr::from("127.0.0.1:7000".parse::<SocketAddr>().unwrap());
/// assert_eq!(tcp.to_string(), "127.0.0.1:7000");
/// assert_eq!(tcp.tcp().map(|a| a.port()), Some(7000));
///
/// let unix = ListenAddr::Unix("/run/slow.sock".into());
/// assert_eq!(unix.to_string(), "unix:/run/slow.sock");
/// assert_eq!(unix.unix_path(), Some(std::path::Path::new("/run/slow.sock")));
/// assert_eq!(unix.tcp(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    /// A TCP address (with the real port when bound to port 0).
    Tcp(SocketAddr),
    /// A Unix domain socket's path, as it was given to
    /// [`Server::bind_unix`](crate::Server::bind_unix) (a relative path
    /// stays relative).
    Unix(PathBuf),
}

impl ListenAddr {
    /// The TCP address, if this is one.
    ///
    /// ```
    /// # use slow_custom_example::ListenAddr;
    /// assert!(ListenAddr::Unix("s.sock".into()).tcp().is_none());
    /// ```
    pub fn tcp(&self) -> Option<SocketAddr> {
        match self {
            ListenAddr::Tcp(addr) => Some(*addr),
            ListenAddr::Unix(_) => None,
        }
    }

    /// The Unix socket path, if this is one.
    ///
    /// ```
    /// # use slow_custom_example::ListenAddr;
    /// let addr = ListenAddr::Unix("slow.sock".into());
    /// assert_eq!(addr.unix_path(), Some(std::path::Path::new("slow.sock")));
    /// ```
    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            ListenAddr::Tcp(_) => None,
            ListenAddr::Unix(path) => Some(path),
        }
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> ListenAddr {
        ListenAddr::Tcp(addr)
    }
}

impl From<PathBuf> for ListenAddr {
    fn from(path: PathBuf) -> ListenAddr {
        ListenAddr::Unix(path)
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => addr.fmt(f),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// The transport a [`Server`](crate::Server) or
/// [`ServerThread`](crate::ServerThread) listens on, in its type:
/// [`Tcp`] (the default) or [`Unix`]. It decides only what `local_addr`
/// returns (a [`SocketAddr`] or a [`PathBuf`]); everything else is the
/// same for both. Sealed: these two are the only ones.
///
/// ```
/// use slow_custom_example::{ListenAddr, Server, Transport};
///
/// /// Works for a server of either transport.
/// fn announce<T: Transport>(server: &Server<T>) -> String {
///     format!("listening on {}", server.listen_addr())
/// }
///
/// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
/// assert!(announce(&server).starts_with("listening on 127.0.0.1:"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Transport: sealed::Sealed + fmt::Debug + Send + 'static {
    /// What `local_addr` returns: [`SocketAddr`] for [`Tcp`], [`PathBuf`]
    /// for [`Unix`].
    type Addr: Clone + fmt::Debug + Send + Into<ListenAddr> + 'static;
}

/// TCP: [`Server::bind`](crate::Server::bind); `local_addr` is a
/// [`SocketAddr`]. A type-level marker, never constructed.
///
/// ```
/// use slow_custom_example::{Server, Tcp};
/// use std::net::SocketAddr;
///
/// let server: Server<Tcp> = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
/// let addr: SocketAddr = server.local_addr();
/// assert_ne!(addr.port(), 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub enum Tcp {}

/// A Unix domain socket: [`Server::bind_unix`](crate::Server::bind_unix);
/// `local_addr` is the socket's path. A type-level marker, never
/// constructed.
///
/// ```
/// use slow_custom_example::{Server, Unix};
///
/// let dir = std::env::temp_dir().join(format!("slow-doc-unix-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("marker.sock");
/// let server: Server<Unix> = Server::bind_unix(&path, Default::default())?;
/// assert_eq!(server.local_addr(), path);
/// drop(server); // removes the socket file
/// assert!(!path.exists());
/// # std::fs::remove_dir(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub enum Unix {}

impl Transport for Tcp {
    type Addr = SocketAddr;
}

impl Transport for Unix {
    type Addr = PathBuf;
}

impl sealed::Sealed for Tcp {}
impl sealed::Sealed for Unix {}

mod sealed {
    /// Keeps [`Transport`](super::Transport) to this crate's two.
    pub trait Sealed {}
}
