//! Where a connection's other end is: a TCP address, a Unix socket path,
//! or nothing known (a stream you brought yourself).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The address of one end of a connection, as a server reports its
/// clients ([`Peer::addr`](crate::Peer::addr)) and where it listens.
///
/// It displays as the `slow` tool writes addresses: `127.0.0.1:7000`,
/// `unix:/run/slow.sock`, `unix:(unnamed)` for a Unix socket without a
/// name (what a connecting client usually is), and `unknown` for a stream
/// of your own whose other end was not given.
///
/// ```
/// use slow_driver::Addr;
///
/// let tcp = Addr::from("127.0.0.1:7000".parse::<std::net::SocketAddr>().unwrap());
/// assert_eq!(tcp.to_string(), "127.0.0.1:7000");
/// assert_eq!(tcp.tcp().map(|a| a.port()), Some(7000));
///
/// let unix = Addr::Unix(Some("/run/slow.sock".into()));
/// assert_eq!(unix.to_string(), "unix:/run/slow.sock");
/// assert_eq!(unix.tcp(), None);
/// assert_eq!(Addr::Unix(None).to_string(), "unix:(unnamed)");
/// assert_eq!(Addr::Unknown.to_string(), "unknown");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Addr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix domain socket: its path, or `None` when it has none (an
    /// unbound client socket, an abstract or unnamed one).
    Unix(Option<PathBuf>),
    /// Not known: the stream was handed over without an address.
    Unknown,
}

impl Addr {
    /// The TCP address, if this is one.
    ///
    /// ```
    /// # use slow_driver::Addr;
    /// assert!(Addr::Unknown.tcp().is_none());
    /// ```
    pub fn tcp(&self) -> Option<SocketAddr> {
        match self {
            Addr::Tcp(addr) => Some(*addr),
            _ => None,
        }
    }

    /// The Unix socket path, if this is a named Unix socket.
    ///
    /// ```
    /// # use slow_driver::Addr;
    /// let addr = Addr::Unix(Some("slow.sock".into()));
    /// assert_eq!(addr.unix_path(), Some(std::path::Path::new("slow.sock")));
    /// ```
    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            Addr::Unix(Some(path)) => Some(path),
            _ => None,
        }
    }
}

impl From<SocketAddr> for Addr {
    fn from(addr: SocketAddr) -> Addr {
        Addr::Tcp(addr)
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Tcp(addr) => addr.fmt(f),
            Addr::Unix(Some(path)) => write!(f, "unix:{}", path.display()),
            Addr::Unix(None) => f.write_str("unix:(unnamed)"),
            Addr::Unknown => f.write_str("unknown"),
        }
    }
}
