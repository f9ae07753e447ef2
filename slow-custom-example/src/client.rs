//! A client on the same loop, with a completion-queue API as a custom
//! runtime would expose: submit commands, then collect what completed.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use mio::Token;
use mio::net::TcpStream;
use slow_proto::{
    Config, Connection, ConnectionError, ErrorCode, Event, Instant, RequestError, RequestId,
    SendError, Settings, Stats,
};

use crate::error::{ClientError, ConnError};
use crate::link::Link;
use crate::reactor::{App, Cx, Reactor};
use crate::socket::Stream;

/// Identifies one connection of a [`ClientLoop`]. Never reused, so a stale
/// id cannot reach a newer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(usize);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Something that finished on a [`ClientLoop`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Completion {
    /// The handshake completed.
    Connected {
        /// The connection.
        conn: ConnId,
        /// What the server advertised.
        peer: Settings,
    },
    /// A request's whole response arrived.
    Response {
        /// The connection.
        conn: ConnId,
        /// The request.
        id: RequestId,
        /// The reassembled body.
        body: Bytes,
    },
    /// A request ended without a response: server ERROR, timeout,
    /// cancelled, not processed (safe to retry), connection ended.
    Failed {
        /// The connection.
        conn: ConnId,
        /// The request.
        id: RequestId,
        /// How it ended.
        error: RequestError,
    },
    /// The server sent a notification.
    Notification {
        /// The connection.
        conn: ConnId,
        /// Its body.
        body: Bytes,
    },
    /// The connection is over; always its last completion, after every
    /// request has completed. `None` for a clean, graceful close. Its socket
    /// may still be finishing its close in the loop (at most a couple of
    /// seconds), during which commands on it fail with
    /// [`SendError::Closed`](slow_proto::SendError::Closed).
    Closed {
        /// The connection.
        conn: ConnId,
        /// Why, when it was not clean.
        error: Option<ConnError>,
    },
}

impl Completion {
    /// The connection this completion belongs to.
    pub fn conn(&self) -> ConnId {
        match self {
            Completion::Connected { conn, .. }
            | Completion::Response { conn, .. }
            | Completion::Failed { conn, .. }
            | Completion::Notification { conn, .. }
            | Completion::Closed { conn, .. } => *conn,
        }
    }
}

/// SLOW client connections on a single-threaded mio loop that runs on the
/// caller's thread, only while the caller runs it
/// ([`run_once`](ClientLoop::run_once),
/// [`next_completion`](ClientLoop::next_completion)).
///
/// Commands ([`connect`](ClientLoop::connect),
/// [`request`](ClientLoop::request), ...) return at once; their outcomes
/// arrive as [`Completion`]s. Dropping the loop closes every socket at once,
/// without GOAWAY; [`close`](ClientLoop::close) first for a graceful end.
///
/// ```
/// use slow_custom_example::{ClientLoop, Completion, Server};
/// use std::time::Duration;
///
/// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?.spawn()?;
/// let mut client = ClientLoop::new()?;
/// let conn = client.connect(server.local_addr(), Default::default()).unwrap();
/// // Queued in the core until the handshake completes.
/// let id = client.request(conn, "hello", Some(Duration::from_secs(5))).unwrap();
/// loop {
///     match client.next_completion(Some(Duration::from_secs(5)))? {
///         Some(Completion::Response { id: done, body, .. }) if done == id => {
///             assert_eq!(&body[..], b"hello");
///             break;
///         }
///         Some(_) => continue, // Connected
///         None => panic!("no response in time"),
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ClientLoop {
    reactor: Reactor<Completions>,
}

/// The client's [`App`]: turns core events into completions.
struct Completions {
    queue: VecDeque<Completion>,
}

/// One client connection's state: nothing beyond what the core keeps.
struct Client;

impl App for Completions {
    const ROLE: &'static str = "client";

    type State = Client;

    fn on_event(&mut self, cx: &mut Cx<'_>, _: &mut Client, event: Event) {
        let conn = ConnId(cx.token.0);
        let completion = match event {
            Event::Connected { peer } => Completion::Connected { conn, peer },
            Event::Response { id, body } => Completion::Response { conn, id, body },
            Event::RequestFailed { id, error } => Completion::Failed { conn, id, error },
            Event::Notify { body } => Completion::Notification { conn, body },
            // GOAWAY's outcome reaches each request and `Closed`; PONGs
            // answer keepalives; the rest are server events.
            _ => return,
        };
        self.queue.push_back(completion);
    }

    fn on_closed(
        &mut self,
        cx: &mut Cx<'_>,
        _: &mut Client,
        error: Option<ConnectionError>,
        socket_error: Option<io::Error>,
    ) {
        let error = close_error(error, socket_error);
        self.queue.push_back(Completion::Closed {
            conn: ConnId(cx.token.0),
            error,
        });
    }

    fn on_timer(&mut self, _: &mut Cx<'_>, _: &mut Client, _: u32) {}

    fn on_dropped(&mut self, _: Token, _: Client) {}
}

/// How a connection ended, from the core's report and the socket's error:
/// the socket error says more than the core's "connection lost".
fn close_error(
    error: Option<ConnectionError>,
    socket_error: Option<io::Error>,
) -> Option<ConnError> {
    match (error, socket_error) {
        (None, _) => None,
        (Some(ConnectionError::Lost), Some(e)) => Some(ConnError::from_socket(e)),
        (Some(e), _) => Some(ConnError::Connection(e)),
    }
}

impl ClientLoop {
    /// An empty loop.
    pub fn new() -> io::Result<ClientLoop> {
        Ok(ClientLoop {
            reactor: Reactor::new(Completions {
                queue: VecDeque::new(),
            })?,
        })
    }

    /// Starts connecting to `addr` over TCP. Returns at once: requests can
    /// be made right away (they wait in the core for the handshake), and
    /// [`Completion::Connected`] or [`Completion::Closed`] follows. The
    /// config's handshake timeout also bounds the TCP connect.
    ///
    /// See [`ClientLoop`] for an example.
    pub fn connect(&mut self, addr: SocketAddr, config: Config) -> Result<ConnId, ClientError> {
        let conn = Connection::client(config, self.reactor.now())?;
        let stream = Stream::tcp(TcpStream::connect(addr)?);
        Ok(self.add(Link::new(stream, conn)))
    }

    /// Starts connecting to `addr` over TLS (`tls` feature), verifying the
    /// server's certificate for `name` with `tls`; otherwise the same as
    /// [`connect`](ClientLoop::connect). The TLS handshake runs first, in
    /// the loop, bounded by the config's handshake timeout with the rest;
    /// the core's HELLO (and any request made meanwhile) waits in rustls
    /// until it is done. A TLS failure (an untrusted, expired or
    /// wrong-name certificate, the server refusing ours) ends the
    /// connection with [`ConnError::Tls`](crate::ConnError::Tls).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("slow-doc-loop-tls-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let files = tests_common::pki::Pki::new().write_to(&dir)?;
    /// use slow_custom_example::{ClientLoop, Completion, Server, tls};
    /// use rustls::pki_types::ServerName;
    /// use std::time::Duration;
    ///
    /// let config = tls::server_config(&files.server_cert, &files.server_key, None)?;
    /// let server = Server::bind("127.0.0.1:0".parse()?, Default::default())?.tls(config).spawn()?;
    ///
    /// let mut client = ClientLoop::new()?;
    /// let tls = tls::client_config(&files.ca, None)?;
    /// let name = ServerName::try_from("localhost")?;
    /// let conn = client.connect_tls(server.local_addr(), Default::default(), tls, name)?;
    /// let id = client.request(conn, "hello", Some(Duration::from_secs(5)))?;
    /// loop {
    ///     match client.next_completion(Some(Duration::from_secs(5)))? {
    ///         Some(Completion::Response { id: done, body, .. }) if done == id => {
    ///             assert_eq!(&body[..], b"hello");
    ///             break;
    ///         }
    ///         Some(_) => continue, // Connected
    ///         None => panic!("no response in time"),
    ///     }
    /// }
    /// // The server's verified chain, leaf first.
    /// assert_eq!(client.peer_certificates(conn).map(|c| c.len()), Some(1));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn connect_tls(
        &mut self,
        addr: SocketAddr,
        config: Config,
        tls: std::sync::Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
    ) -> Result<ConnId, ClientError> {
        let conn = Connection::client(config, self.reactor.now())?;
        let session = rustls::ClientConnection::new(tls, name)?;
        let stream = Stream::tcp(TcpStream::connect(addr)?);
        Ok(self.add(Link::with_tls(stream, conn, session.into())))
    }

    /// Over TLS to the Unix domain socket at `path` (`tls` feature): as
    /// [`connect_unix`](ClientLoop::connect_unix) with the TLS of
    /// [`connect_tls`](ClientLoop::connect_tls).
    ///
    /// ```
    /// use slow_custom_example::ClientLoop;
    /// use rustls::pki_types::ServerName;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("slow-doc-loop-utls-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let files = tests_common::pki::Pki::new().write_to(&dir)?;
    /// let tls = slow_custom_example::tls::client_config(&files.ca, None)?;
    /// let mut client = ClientLoop::new()?;
    /// let name = ServerName::try_from("localhost")?;
    /// // Nobody listens there: a Unix connect fails at once.
    /// assert!(client.connect_unix_tls(dir.join("none.sock"), Default::default(), tls, name).is_err());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn connect_unix_tls(
        &mut self,
        path: impl AsRef<Path>,
        config: Config,
        tls: std::sync::Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
    ) -> Result<ConnId, ClientError> {
        let conn = Connection::client(config, self.reactor.now())?;
        let session = rustls::ClientConnection::new(tls, name)?;
        let stream = Stream::connect_unix(path.as_ref())?;
        Ok(self.add(Link::with_tls(stream, conn, session.into())))
    }

    /// The certificate chain the server presented and rustls verified,
    /// leaf first (DER; parse it with an X.509 crate of your choice); `None`
    /// before the TLS handshake is done, without TLS, or once the
    /// connection has left the loop. See
    /// [`connect_tls`](ClientLoop::connect_tls) for an example.
    #[cfg(feature = "tls")]
    pub fn peer_certificates(
        &self,
        conn: ConnId,
    ) -> Option<Vec<rustls::pki_types::CertificateDer<'static>>> {
        let chain = self.reactor.link(Token(conn.0))?.peer_certificates()?;
        Some(chain.to_vec())
    }

    /// Starts connecting to the Unix domain socket at `path`; otherwise the
    /// same as [`connect`](ClientLoop::connect), with the same completions.
    ///
    /// A Unix connect completes or fails at once, so what a TCP connect
    /// reports later as [`Completion::Closed`] is an error from this call
    /// here: [`ClientError::Io`] whose message names the path and which
    /// carries a [`UnixSocketError`](crate::UnixSocketError) (`NotFound`
    /// for a missing file or directory, `ConnectionRefused` when nothing
    /// listens, `InvalidInput` for a path too long for `sockaddr_un`,
    /// `WouldBlock` when the server's backlog is full).
    ///
    /// ```
    /// use slow_custom_example::{ClientLoop, Completion, Server};
    /// use std::time::Duration;
    ///
    /// let dir = std::env::temp_dir().join(format!("slow-doc-loop-unix-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("slow.sock");
    /// let server = Server::bind_unix(&path, Default::default())?.spawn()?;
    ///
    /// let mut client = ClientLoop::new()?;
    /// let conn = client.connect_unix(&path, Default::default()).unwrap();
    /// let id = client.request(conn, "!bytes 3", Some(Duration::from_secs(5))).unwrap();
    /// loop {
    ///     match client.next_completion(Some(Duration::from_secs(5)))? {
    ///         Some(Completion::Response { id: done, body, .. }) if done == id => {
    ///             assert_eq!(&body[..], [0, 1, 2]);
    ///             break;
    ///         }
    ///         Some(_) => continue, // Connected
    ///         None => panic!("no response in time"),
    ///     }
    /// }
    /// drop(client);
    /// server.shutdown()?;
    /// # std::fs::remove_dir(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_unix(
        &mut self,
        path: impl AsRef<Path>,
        config: Config,
    ) -> Result<ConnId, ClientError> {
        let conn = Connection::client(config, self.reactor.now())?;
        let stream = Stream::connect_unix(path.as_ref())?;
        Ok(self.add(Link::new(stream, conn)))
    }

    fn add(&mut self, link: Link) -> ConnId {
        ConnId(self.reactor.add(link, Client).0)
    }

    /// Sends a request; its outcome arrives as [`Completion::Response`] or
    /// [`Completion::Failed`]. With a `timeout`, the request carries a
    /// DEADLINE and fails with [`RequestError::TimedOut`] locally when it
    /// passes (a CANCEL goes out).
    pub fn request(
        &mut self,
        conn: ConnId,
        body: impl Into<Bytes>,
        timeout: Option<Duration>,
    ) -> Result<RequestId, ClientError> {
        let body = body.into();
        // A deadline counts from now; without one, the latest reading of
        // the loop's clock serves: nothing the request starts is timed
        // from it (the idle timer waits while a request is open), and a
        // clock read per request was 3 % of the loop's time at 64 in
        // flight.
        let now = match timeout {
            Some(_) => self.reactor.now(),
            None => self.reactor.last(),
        };
        self.command_at(conn, now, |cx| cx.conn.send_request(body, timeout, cx.now))
    }

    /// Cancels a request: it completes as [`RequestError::Cancelled`] and the
    /// server is told to stop.
    pub fn cancel(&mut self, conn: ConnId, id: RequestId) -> Result<(), ClientError> {
        self.command(conn, |cx| cx.conn.cancel(id, cx.now))
    }

    /// Sends a notification (after the handshake; it must fit one frame of
    /// the server's MAX_FRAME_SIZE).
    pub fn notify(&mut self, conn: ConnId, body: impl Into<Bytes>) -> Result<(), ClientError> {
        let body = body.into();
        self.command(conn, |cx| cx.conn.notify(body, cx.now))
    }

    /// Closes gracefully: GOAWAY NO_ERROR, outstanding requests finish,
    /// queued ones fail as not processed, then [`Completion::Closed`].
    pub fn close(&mut self, conn: ConnId) -> Result<(), ClientError> {
        self.command(conn, |cx| {
            cx.conn.close(ErrorCode::NO_ERROR, "", cx.now);
            Ok(())
        })
    }

    /// What the server advertised, once connected.
    pub fn peer_settings(&self, conn: ConnId) -> Option<Settings> {
        self.reactor.conn(Token(conn.0))?.peer_settings().copied()
    }

    /// What connection `conn` has counted so far (the core's [`Stats`]);
    /// `None` once it has left the loop (its socket closed, after
    /// [`Completion::Closed`]).
    ///
    /// ```
    /// use slow_custom_example::{ClientLoop, Completion, Server};
    /// use std::time::Duration;
    ///
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?.spawn()?;
    /// let mut client = ClientLoop::new()?;
    /// let conn = client.connect(server.local_addr(), Default::default()).unwrap();
    /// client.request(conn, "hello", Some(Duration::from_secs(5))).unwrap();
    /// loop {
    ///     match client.next_completion(Some(Duration::from_secs(5)))? {
    ///         Some(Completion::Response { .. }) => break,
    ///         Some(_) => continue, // Connected
    ///         None => panic!("no response in time"),
    ///     }
    /// }
    /// let stats = client.stats(conn).expect("still in the loop");
    /// assert_eq!((stats.requests, stats.responses), (1, 1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stats(&self, conn: ConnId) -> Option<Stats> {
        self.reactor.conn(Token(conn.0)).map(Connection::stats)
    }

    /// How many connections the loop holds, including closed ones whose
    /// sockets are still finishing their close.
    pub fn connections(&self) -> usize {
        self.reactor.len()
    }

    /// The next completion already available, without running the loop.
    pub fn poll_completion(&mut self) -> Option<Completion> {
        self.reactor.app.queue.pop_front()
    }

    /// Runs one turn of the loop: waits for IO or a timer, at most
    /// `timeout` (`None`: until something happens), and handles what
    /// happened. Completions are then available from
    /// [`poll_completion`](ClientLoop::poll_completion).
    pub fn run_once(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.reactor.turn(timeout).map(|_| ())
    }

    /// Runs the loop until a completion is available and returns it, or
    /// returns `None` after `timeout` (`None`: no limit), or at once when the
    /// loop holds no connection and nothing is left to report.
    pub fn next_completion(&mut self, timeout: Option<Duration>) -> io::Result<Option<Completion>> {
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        loop {
            if let Some(completion) = self.poll_completion() {
                return Ok(Some(completion));
            }
            if self.reactor.is_empty() {
                return Ok(None);
            }
            let wait = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    Some(left)
                }
                None => None,
            };
            self.run_once(wait)?;
        }
    }

    /// Runs command `f` on `conn` at a fresh reading of the clock.
    fn command<R>(
        &mut self,
        conn: ConnId,
        f: impl FnOnce(&mut Cx<'_>) -> Result<R, SendError>,
    ) -> Result<R, ClientError> {
        let now = self.reactor.now();
        self.command_at(conn, now, f)
    }

    /// Runs command `f` on `conn` at `now`, a reading of the loop's clock.
    fn command_at<R>(
        &mut self,
        conn: ConnId,
        now: Instant,
        f: impl FnOnce(&mut Cx<'_>) -> Result<R, SendError>,
    ) -> Result<R, ClientError> {
        let result = self.reactor.with_conn_at(Token(conn.0), now, |cx, _| f(cx));
        Ok(result.ok_or(ClientError::UnknownConnection(conn))??)
    }
}
