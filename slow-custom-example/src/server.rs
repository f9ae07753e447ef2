//! The INTEROP server: accept, enforce the connection limit, serve each
//! connection, shut down gracefully; over TCP or a Unix domain socket.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use mio::net::TcpListener;
use mio::{Interest, Token, Waker};
use slow_proto::limit::Admission;
use slow_proto::{Config, ConnectionError, ConnectionLimit, ErrorCode, Event, RequestId, Stats};

use crate::addr::{ListenAddr, Tcp, Transport, Unix};
use crate::background::ServerThread;
use crate::link::Link;
use crate::reactor::{App, Cx, LISTENER, Reactor, WAKER};
use crate::service::{self, Sleeps};
use crate::shutdown::ShutdownHandle;
use crate::socket::{Listener, Stream};
use crate::stats::ServerStats;

/// The connection limit unless [`Server::set_max_connections`] says
/// otherwise (INTEROP.md's `--max-connections` default), the core's
/// [`ConnectionLimit::DEFAULT_MAX`].
pub const DEFAULT_MAX_CONNECTIONS: usize = ConnectionLimit::DEFAULT_MAX;

/// After `accept` fails for want of resources (file descriptors, memory),
/// try again this soon: the backlog's edge has been consumed, so no event
/// would come for the connections still waiting in it.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// A SLOW server running the INTEROP service on a single-threaded mio loop.
///
/// Bind it, read [`local_addr`](Server::local_addr), keep a
/// [`shutdown_handle`](Server::shutdown_handle), then [`run`](Server::run)
/// it on a thread of your choice (or [`spawn`](Server::spawn) one).
///
/// Two ways to bind, one server: [`Server::bind`] listens on TCP,
/// [`Server::bind_unix`] on a Unix domain socket. The transport is in the
/// type, `Server<Tcp>` (the default, so plain `Server` is the TCP one) or
/// `Server<Unix>`, only so that [`local_addr`](Server::local_addr) can
/// return what that transport has: a [`SocketAddr`], or the socket's path.
/// [`listen_addr`](Server::listen_addr) says either, as a [`ListenAddr`];
/// everything else is the same for both.
///
/// ```no_run
/// use slow_custom_example::Server;
///
/// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
/// println!("listening on {}", server.local_addr());
/// let handle = server.shutdown_handle();
/// let thread = std::thread::spawn(move || server.run());
/// // ... later, from any thread:
/// handle.shutdown()?;
/// thread.join().expect("server thread panicked")?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Server<T: Transport = Tcp> {
    reactor: Reactor<Interop>,
    /// `None` once shutting down: new connections are refused by the OS
    /// (and a Unix socket's file is gone).
    listener: Option<Listener>,
    local_addr: T::Addr,
    config: Config,
    shutdown: ShutdownHandle,
    accept_retry: bool,
    /// Serve over TLS with this config ([`Server::tls`]).
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

/// The server's [`App`]: the INTEROP service on every connection, and the
/// connection limit (the core's rule: refused connections still closing do
/// not count).
struct Interop {
    limit: ConnectionLimit,
    /// The admitted connections' counts, added up as each finishes.
    stats: ServerStats,
}

/// One server connection's state.
struct Peer {
    sleeps: Sleeps,
    /// Answered GOAWAY CONNECTION_LIMIT at once.
    refused: bool,
}

impl App for Interop {
    const ROLE: &'static str = "server";

    type State = Peer;

    fn on_event(&mut self, cx: &mut Cx<'_>, peer: &mut Peer, event: Event) {
        service::on_event(cx, &mut peer.sleeps, event);
    }

    fn on_closed(
        &mut self,
        _: &mut Cx<'_>,
        _: &mut Peer,
        _: Option<ConnectionError>,
        _: Option<io::Error>,
    ) {
        // Its requests were abandoned (and their sleeps cancelled) just
        // before; a server has nobody else to tell.
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, peer: &mut Peer, key: u32) {
        service::on_timer(cx, &mut peer.sleeps, RequestId::new(key));
    }

    fn on_dropped(&mut self, _: Token, peer: Peer) {
        if !peer.refused {
            self.limit.release();
        }
    }

    fn on_finished(&mut self, peer: &Peer, stats: Stats) {
        if !peer.refused {
            self.stats.finished(stats);
        }
    }
}

impl Server<Tcp> {
    /// Listens on TCP at `addr` (port 0 picks a free port). Every
    /// connection uses `config`; an invalid config is
    /// [`io::ErrorKind::InvalidInput`].
    ///
    /// ```
    /// use slow_custom_example::Server;
    ///
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// assert_ne!(server.local_addr().port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(addr: SocketAddr, config: Config) -> io::Result<Server<Tcp>> {
        validate(&config)?;
        let listener = TcpListener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        Server::new(Listener::Tcp(listener), local_addr, config)
    }
}

impl Server<Unix> {
    /// Listens on the Unix domain socket at `path`. Every connection uses
    /// `config`; an invalid config is [`io::ErrorKind::InvalidInput`] (and
    /// touches no file).
    ///
    /// The socket file follows the same rules as the async adapters':
    ///
    /// - a file left by a server that is gone (nothing accepts on it) is
    ///   removed and bound afresh;
    /// - a live server's socket is [`io::ErrorKind::AddrInUse`] ("a server
    ///   is already listening there"), and stays;
    /// - a file that is not a socket is [`io::ErrorKind::AlreadyExists`],
    ///   and is not removed;
    /// - the file is removed when the server stops accepting (at shutdown)
    ///   or is dropped, unless another server has replaced it meanwhile.
    ///
    /// Every error names the path, and carries it as a
    /// [`UnixSocketError`](crate::UnixSocketError): a missing directory is
    /// `NotFound`, a path too long for `sockaddr_un` (over 107 bytes)
    /// `InvalidInput`.
    ///
    /// ```
    /// use slow_custom_example::{BlockingClient, Server};
    /// use std::time::Duration;
    ///
    /// let dir = std::env::temp_dir().join(format!("slow-doc-bind-unix-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("slow.sock");
    /// let server = Server::bind_unix(&path, Default::default())?;
    /// assert_eq!(server.listen_addr().to_string(), format!("unix:{}", path.display()));
    /// let server = server.spawn()?;
    ///
    /// let mut client = BlockingClient::connect_unix(&path).unwrap();
    /// assert_eq!(client.request("hi", Some(Duration::from_secs(5))).unwrap(), "hi");
    /// client.close(Duration::from_secs(5)).unwrap();
    ///
    /// server.shutdown()?;
    /// assert!(!path.exists(), "the socket file is removed");
    /// # std::fs::remove_dir(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_unix(path: impl AsRef<Path>, config: Config) -> io::Result<Server<Unix>> {
        validate(&config)?;
        let path = path.as_ref();
        let listener = Listener::bind_unix(path)?;
        Server::new(listener, path.to_owned(), config)
    }
}

/// A config every connection can use, or `InvalidInput`; checked before
/// anything is bound.
fn validate(config: &Config) -> io::Result<()> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

impl<T: Transport> Server<T> {
    fn new(mut listener: Listener, local_addr: T::Addr, config: Config) -> io::Result<Server<T>> {
        let reactor = Reactor::new(Interop {
            limit: ConnectionLimit::new(DEFAULT_MAX_CONNECTIONS),
            stats: ServerStats::default(),
        })?;
        reactor
            .registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let shutdown = ShutdownHandle::new(Waker::new(reactor.registry(), WAKER)?);
        Ok(Server {
            reactor,
            listener: Some(listener),
            local_addr,
            config,
            shutdown,
            accept_retry: false,
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// Serves over TLS with `config` (`tls` feature), on TCP or a Unix
    /// socket alike: every accepted socket gets a `rustls::ServerConnection`
    /// between it and its core. The TLS handshake runs in the loop like
    /// everything else (the accept never waits for it) and counts against
    /// the connection's handshake timeout: a peer that opens the socket and
    /// never finishes TLS is closed then, as one that never sends HELLO is.
    /// The connection limit and the graceful shutdown are the same; a
    /// refused connection's GOAWAY CONNECTION_LIMIT waits for its TLS
    /// handshake, so that the client hears why.
    ///
    /// A config that requires client certificates (a
    /// `WebPkiClientVerifier`) makes it mutual TLS. See
    /// [`tls::server_config`](crate::tls::server_config) to load one from
    /// PEM files.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("slow-doc-server-tls-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let pki = tests_common::pki::Pki::new();
    /// # let files = pki.write_to(&dir)?;
    /// use slow_custom_example::{BlockingClient, Server, tls};
    /// use rustls::pki_types::ServerName;
    /// use std::time::Duration;
    ///
    /// let config = tls::server_config(&files.server_cert, &files.server_key, None)?;
    /// let server = Server::bind("127.0.0.1:0".parse()?, Default::default())?.tls(config).spawn()?;
    ///
    /// let client_config = tls::client_config(&files.ca, None)?;
    /// let name = ServerName::try_from("localhost")?;
    /// let mut client = BlockingClient::connect_tls(server.local_addr(), client_config, name)?;
    /// assert_eq!(client.request("hi", Some(Duration::from_secs(5)))?, "hi");
    /// client.close(Duration::from_secs(5))?;
    /// server.shutdown()?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: std::sync::Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// The link for an accepted socket: over TLS if the server has it.
    /// `None` if rustls will not start a connection (it has nothing to
    /// say but that its config is broken).
    fn link(&self, stream: Stream, conn: slow_proto::Connection) -> Option<Link> {
        #[cfg(feature = "tls")]
        if let Some(config) = &self.tls {
            let tls = rustls::ServerConnection::new(config.clone()).ok()?;
            return Some(Link::with_tls(stream, conn, tls.into()));
        }
        Some(Link::new(stream, conn))
    }

    /// The address the server listens on: for TCP, a [`SocketAddr`] with
    /// the real port when bound to port 0; for a Unix socket, its path as
    /// given to [`bind_unix`](Server::bind_unix).
    ///
    /// ```
    /// use slow_custom_example::Server;
    ///
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// assert!(server.local_addr().ip().is_loopback());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> T::Addr {
        self.local_addr.clone()
    }

    /// The address the server listens on, whatever its transport:
    /// displayed `HOST:PORT` or `unix:PATH`, as the binary prints it.
    ///
    /// ```
    /// use slow_custom_example::{ListenAddr, Server};
    ///
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// assert_eq!(server.listen_addr(), ListenAddr::Tcp(server.local_addr()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn listen_addr(&self) -> ListenAddr {
        self.local_addr().into()
    }

    /// The configuration every connection uses.
    ///
    /// ```
    /// use slow_custom_example::Server;
    /// use slow_proto::Config;
    ///
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Config::default())?;
    /// assert_eq!(server.config(), &Config::default());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Caps the connections served at once (default
    /// [`DEFAULT_MAX_CONNECTIONS`]). A connection beyond it is answered
    /// GOAWAY CONNECTION_LIMIT at once and closed; draining connections
    /// count, refused ones do not.
    ///
    /// ```
    /// use slow_custom_example::Server;
    ///
    /// let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// server.set_max_connections(100);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_max_connections(&mut self, n: usize) {
        self.reactor.app.limit.set_max(n);
    }

    /// A handle to shut the server down from another thread.
    ///
    /// ```
    /// use slow_custom_example::Server;
    ///
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// let handle = server.shutdown_handle();
    /// handle.shutdown()?; // before `run`: it returns at once
    /// server.run()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// A handle on what the server serves: the [`Stats`] of its
    /// connections, added up as each finishes, readable from any thread
    /// (see [`ServerStats`]). Take it before [`run`](Server::run).
    ///
    /// ```
    /// use slow_custom_example::Server;
    ///
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?;
    /// let stats = server.stats_handle();
    /// server.shutdown_handle().shutdown()?;
    /// server.run()?;
    /// assert_eq!(stats.connections(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stats_handle(&self) -> ServerStats {
        self.reactor.app.stats.clone()
    }

    /// Serves on the calling thread until shut down through a
    /// [`ShutdownHandle`] and every connection has drained (each bounded by
    /// the config's drain timeout). Fails only if the event loop itself
    /// fails; a failing connection only ends that connection. A Unix
    /// socket's file is removed as soon as the shutdown begins.
    ///
    /// See [`Server`] for an example.
    pub fn run(mut self) -> io::Result<()> {
        loop {
            if self.shutdown.is_requested() && self.listener.is_some() {
                self.begin_shutdown();
            }
            if self.listener.is_none() && self.reactor.is_empty() {
                return Ok(());
            }
            let woken = self
                .reactor
                .turn(self.accept_retry.then_some(ACCEPT_RETRY))?;
            if woken.listener || self.accept_retry {
                self.accept();
            }
        }
    }

    /// Runs the server on a new thread; see [`ServerThread`].
    ///
    /// ```
    /// use slow_custom_example::Server;
    ///
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?.spawn()?;
    /// server.shutdown()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn(self) -> io::Result<ServerThread<T>> {
        ServerThread::spawn(self)
    }

    /// Accepts until the backlog is empty (edge-triggered: it must be).
    fn accept(&mut self) {
        self.accept_retry = false;
        while let Some(listener) = &self.listener {
            match listener.accept() {
                Ok(stream) => self.admit(stream),
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => return,
                    // This connection failed, not the listener: next.
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => {}
                    _ => {
                        self.accept_retry = true;
                        return;
                    }
                },
            }
        }
    }

    /// Serves a new connection, or refuses it with CONNECTION_LIMIT.
    fn admit(&mut self, stream: Stream) {
        let now = self.reactor.now();
        // The config was validated in `bind`; this cannot fail.
        let Ok((conn, admission)) = self.reactor.app.limit.accept(self.config.clone(), now) else {
            return;
        };
        let refused = admission == Admission::Refused;
        let Some(link) = self.link(stream, conn) else {
            if !refused {
                self.reactor.app.limit.release();
            }
            return;
        };
        if !refused {
            self.reactor.app.stats.admitted();
        }
        self.reactor.add(
            link,
            Peer {
                sleeps: Sleeps::default(),
                refused,
            },
        );
    }

    /// Stops accepting (a Unix socket's file goes with the listener) and
    /// sends GOAWAY SHUTTING_DOWN everywhere; `run` returns once every
    /// connection has drained.
    fn begin_shutdown(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.reactor.registry().deregister(&mut listener);
        }
        self.reactor.for_each(|cx, _| {
            cx.conn
                .close(ErrorCode::SHUTTING_DOWN, "server shutting down", cx.now);
        });
    }
}
