//! The INTEROP server: accept, enforce the connection limit, serve each
//! connection, shut down gracefully.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Token, Waker};
use slow_proto::limit::Admission;
use slow_proto::{Config, ConnectionError, ConnectionLimit, ErrorCode, Event, RequestId};

use crate::background::ServerThread;
use crate::reactor::{App, Cx, LISTENER, Reactor, WAKER};
use crate::service::{self, Sleeps};
use crate::shutdown::ShutdownHandle;

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
pub struct Server {
    reactor: Reactor<Interop>,
    /// `None` once shutting down: new connections are refused by the OS.
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    config: Config,
    shutdown: ShutdownHandle,
    accept_retry: bool,
}

/// The server's [`App`]: the INTEROP service on every connection, and the
/// connection limit (the core's rule: refused connections still closing do
/// not count).
struct Interop {
    limit: ConnectionLimit,
}

/// One server connection's state.
struct Peer {
    sleeps: Sleeps,
    /// Answered GOAWAY CONNECTION_LIMIT at once.
    refused: bool,
}

impl App for Interop {
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
}

impl Server {
    /// Listens on `addr` (port 0 picks a free port). Every connection uses
    /// `config`; an invalid config is [`io::ErrorKind::InvalidInput`].
    pub fn bind(addr: SocketAddr, config: Config) -> io::Result<Server> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut listener = TcpListener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        let reactor = Reactor::new(Interop {
            limit: ConnectionLimit::new(DEFAULT_MAX_CONNECTIONS),
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
        })
    }

    /// The address the server listens on (with the real port when bound to
    /// port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The configuration every connection uses.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Caps the connections served at once (default
    /// [`DEFAULT_MAX_CONNECTIONS`]). A connection beyond it is answered
    /// GOAWAY CONNECTION_LIMIT at once and closed; draining connections
    /// count, refused ones do not.
    pub fn set_max_connections(&mut self, n: usize) {
        self.reactor.app.limit.set_max(n);
    }

    /// A handle to shut the server down from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Serves on the calling thread until shut down through a
    /// [`ShutdownHandle`] and every connection has drained (each bounded by
    /// the config's drain timeout). Fails only if the event loop itself
    /// fails; a failing connection only ends that connection.
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
    pub fn spawn(self) -> io::Result<ServerThread> {
        ServerThread::spawn(self)
    }

    /// Accepts until the backlog is empty (edge-triggered: it must be).
    fn accept(&mut self) {
        self.accept_retry = false;
        while let Some(listener) = &self.listener {
            match listener.accept() {
                Ok((stream, _)) => self.admit(stream),
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
    fn admit(&mut self, stream: TcpStream) {
        // Frames are written whole; Nagle would only delay them.
        let _ = stream.set_nodelay(true);
        let now = self.reactor.now();
        // The config was validated in `bind`; this cannot fail.
        let Ok((conn, admission)) = self.reactor.app.limit.accept(self.config.clone(), now) else {
            return;
        };
        let refused = admission == Admission::Refused;
        self.reactor.add(
            stream,
            conn,
            Peer {
                sleeps: Sleeps::default(),
                refused,
            },
        );
    }

    /// Stops accepting and sends GOAWAY SHUTTING_DOWN everywhere; `run`
    /// returns once every connection has drained.
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
