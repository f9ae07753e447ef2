//! A blocking client on top of [`ClientLoop`]: one connection, one request
//! at a time, the loop running on the calling thread while it waits.

use std::collections::VecDeque;
use std::io;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use slow_proto::{Config, ConnectionError, ErrorCode, RequestError, SendError, Settings, Stats};

use crate::client::{ClientLoop, Completion, ConnId};
use crate::error::{ClientError, ConnError};

/// One SLOW connection with blocking calls, for tests and small tools.
///
/// Notifications that arrive while it waits for something else are kept for
/// [`next_notification`](BlockingClient::next_notification). Dropping it
/// closes the socket without a GOAWAY; call
/// [`close`](BlockingClient::close) for a graceful close.
pub struct BlockingClient {
    lp: ClientLoop,
    conn: ConnId,
    peer: Settings,
    notifications: VecDeque<Bytes>,
    /// Set once the connection is over: how it ended.
    closed: Option<Option<ConnError>>,
    /// The counts last read from the loop, for when the connection has
    /// left it.
    last_stats: Stats,
}

impl BlockingClient {
    /// Connects over TCP with the default [`Config`] and waits for the
    /// handshake.
    ///
    /// ```
    /// use slow_custom_example::{BlockingClient, Server};
    ///
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?.spawn()?;
    /// let client = BlockingClient::connect(server.local_addr()).unwrap();
    /// let defaults = slow_proto::Settings::default();
    /// assert_eq!(client.peer_settings().max_frame_size, defaults.max_frame_size);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect(addr: impl ToSocketAddrs) -> Result<BlockingClient, ConnError> {
        BlockingClient::connect_with(addr, Config::default())
    }

    /// Connects over TCP with `config` and waits for the handshake (bounded
    /// by the config's handshake timeout). Fails with the server's GOAWAY
    /// code (e.g. CONNECTION_LIMIT) if it refuses the connection.
    ///
    /// ```
    /// use slow_custom_example::{BlockingClient, Server};
    /// use slow_proto::Config;
    ///
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?.spawn()?;
    /// let client = BlockingClient::connect_with(server.local_addr(), Config::default());
    /// assert!(client.is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_with(
        addr: impl ToSocketAddrs,
        config: Config,
    ) -> Result<BlockingClient, ConnError> {
        let no_address = || io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to");
        let addr = addr.to_socket_addrs()?.next().ok_or_else(no_address)?;
        let mut lp = ClientLoop::new()?;
        let conn = lp.connect(addr, config).map_err(not_started)?;
        BlockingClient::handshake(lp, conn)
    }

    /// Connects to the Unix domain socket at `path` with the default
    /// [`Config`] and waits for the handshake.
    ///
    /// ```
    /// use slow_custom_example::{BlockingClient, Server};
    /// use std::time::Duration;
    ///
    /// let dir = std::env::temp_dir().join(format!("slow-doc-blocking-unix-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("slow.sock");
    /// let server = Server::bind_unix(&path, Default::default())?.spawn()?;
    /// let mut client = BlockingClient::connect_unix(&path).unwrap();
    /// assert_eq!(client.request("!notify hi", Some(Duration::from_secs(5))).unwrap(), "notified");
    /// assert_eq!(client.next_notification(Duration::from_secs(5))?.unwrap(), "hi");
    /// client.close(Duration::from_secs(5)).unwrap();
    /// server.shutdown()?;
    /// # std::fs::remove_dir(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_unix(path: impl AsRef<Path>) -> Result<BlockingClient, ConnError> {
        BlockingClient::connect_unix_with(path, Config::default())
    }

    /// Connects to the Unix domain socket at `path` with `config` and waits
    /// for the handshake, as [`connect_with`](BlockingClient::connect_with)
    /// does over TCP. A socket that cannot be reached is [`ConnError::Io`]
    /// naming the path (see [`ClientLoop::connect_unix`]).
    ///
    /// ```
    /// use slow_custom_example::{BlockingClient, ConnError, UnixSocketError};
    /// use slow_proto::Config;
    ///
    /// let path = "/no/such/dir/slow.sock";
    /// match BlockingClient::connect_unix_with(path, Config::default()) {
    ///     Err(ConnError::Io(e)) => {
    ///         assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    ///         assert_eq!(UnixSocketError::of(&e).unwrap().path.to_str(), Some(path));
    ///     }
    ///     _ => panic!("connected to nothing"),
    /// }
    /// ```
    pub fn connect_unix_with(
        path: impl AsRef<Path>,
        config: Config,
    ) -> Result<BlockingClient, ConnError> {
        let mut lp = ClientLoop::new()?;
        let conn = lp.connect_unix(path, config).map_err(not_started)?;
        BlockingClient::handshake(lp, conn)
    }

    /// Connects over TLS (`tls` feature) with the default [`Config`],
    /// verifying the server's certificate for `name` with `tls`, and waits
    /// for both handshakes, TLS's then SLOW's. A TLS failure is
    /// [`ConnError::Tls`] with rustls's error.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("slow-doc-blocking-tls-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let files = tests_common::pki::Pki::new().write_to(&dir)?;
    /// use slow_custom_example::{BlockingClient, ConnError, Server, tls};
    /// use rustls::pki_types::ServerName;
    ///
    /// let config = tls::server_config(&files.server_cert, &files.server_key, None)?;
    /// let server = Server::bind("127.0.0.1:0".parse()?, Default::default())?.tls(config).spawn()?;
    /// let trusted = tls::client_config(&files.ca, None)?;
    ///
    /// // The certificate is for localhost, not for another name.
    /// let wrong = ServerName::try_from("example.com")?;
    /// let e = BlockingClient::connect_tls(server.local_addr(), trusted.clone(), wrong).err().unwrap();
    /// assert!(matches!(e, ConnError::Tls { .. }), "{e}");
    ///
    /// let name = ServerName::try_from("localhost")?;
    /// let client = BlockingClient::connect_tls(server.local_addr(), trusted, name)?;
    /// assert!(client.peer_certificates().is_some());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn connect_tls(
        addr: impl ToSocketAddrs,
        tls: std::sync::Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
    ) -> Result<BlockingClient, ConnError> {
        BlockingClient::connect_tls_with(addr, Config::default(), tls, name)
    }

    /// As [`connect_tls`](BlockingClient::connect_tls), with `config`.
    ///
    /// ```
    /// use slow_custom_example::BlockingClient;
    /// use rustls::pki_types::ServerName;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("slow-doc-blocking-tlsw-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let files = tests_common::pki::Pki::new().write_to(&dir)?;
    /// let tls = slow_custom_example::tls::client_config(&files.ca, None)?;
    /// let name = ServerName::try_from("localhost")?;
    /// // Nothing listens on port 9 here: the connect is refused.
    /// let e = BlockingClient::connect_tls_with("127.0.0.1:9", Default::default(), tls, name);
    /// assert!(e.is_err());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn connect_tls_with(
        addr: impl ToSocketAddrs,
        config: Config,
        tls: std::sync::Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
    ) -> Result<BlockingClient, ConnError> {
        let no_address = || io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to");
        let addr = addr.to_socket_addrs()?.next().ok_or_else(no_address)?;
        let mut lp = ClientLoop::new()?;
        let conn = lp
            .connect_tls(addr, config, tls, name)
            .map_err(tls_not_started)?;
        BlockingClient::handshake(lp, conn)
    }

    /// Over TLS to the Unix domain socket at `path` (`tls` feature), with
    /// `config`: as [`connect_unix_with`](BlockingClient::connect_unix_with)
    /// with the TLS of [`connect_tls`](BlockingClient::connect_tls).
    ///
    /// ```
    /// use slow_custom_example::{BlockingClient, ConnError};
    /// use rustls::pki_types::ServerName;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("slow-doc-blocking-utls-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let files = tests_common::pki::Pki::new().write_to(&dir)?;
    /// let tls = slow_custom_example::tls::client_config(&files.ca, None)?;
    /// let name = ServerName::try_from("localhost")?;
    /// let e = BlockingClient::connect_unix_tls(dir.join("none.sock"), Default::default(), tls, name);
    /// assert!(matches!(e, Err(ConnError::Io(_))));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn connect_unix_tls(
        path: impl AsRef<Path>,
        config: Config,
        tls: std::sync::Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
    ) -> Result<BlockingClient, ConnError> {
        let mut lp = ClientLoop::new()?;
        let conn = lp
            .connect_unix_tls(path, config, tls, name)
            .map_err(tls_not_started)?;
        BlockingClient::handshake(lp, conn)
    }

    /// The server's verified certificate chain, leaf first (`tls`
    /// feature); `None` without TLS, or once the connection has left the
    /// loop. See [`connect_tls`](BlockingClient::connect_tls) for an
    /// example.
    #[cfg(feature = "tls")]
    pub fn peer_certificates(&self) -> Option<Vec<rustls::pki_types::CertificateDer<'static>>> {
        self.lp.peer_certificates(self.conn)
    }

    /// Runs the loop until connection `conn` completes its handshake, or
    /// ends first.
    fn handshake(mut lp: ClientLoop, conn: ConnId) -> Result<BlockingClient, ConnError> {
        loop {
            match lp.next_completion(None)? {
                Some(Completion::Connected { peer, .. }) => {
                    return Ok(BlockingClient {
                        lp,
                        conn,
                        peer,
                        notifications: VecDeque::new(),
                        closed: None,
                        last_stats: Stats::default(),
                    });
                }
                Some(Completion::Closed { error, .. }) => {
                    return Err(error.unwrap_or(ConnError::ClosedBeforeHandshake));
                }
                Some(_) => {}
                None => return Err(ConnError::ClosedBeforeHandshake),
            }
        }
    }

    /// What the server advertised.
    pub fn peer_settings(&self) -> &Settings {
        &self.peer
    }

    /// What the connection has counted so far (the core's [`Stats`]).
    /// Once the connection is over and its socket closed, the counts as
    /// the client last saw them.
    ///
    /// ```
    /// use slow_custom_example::{BlockingClient, Server};
    /// use std::time::Duration;
    ///
    /// let server = Server::bind("127.0.0.1:0".parse().unwrap(), Default::default())?.spawn()?;
    /// let mut client = BlockingClient::connect(server.local_addr()).unwrap();
    /// client.request("hi", Some(Duration::from_secs(5))).unwrap();
    /// assert!(client.request("!error 300 no", Some(Duration::from_secs(5))).is_err());
    /// let stats = client.stats();
    /// assert_eq!((stats.requests, stats.responses, stats.failed), (2, 1, 1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.lp.stats(self.conn).unwrap_or(self.last_stats)
    }

    /// The next completion from the loop, keeping the counts up to date.
    fn next_completion(&mut self, timeout: Option<Duration>) -> io::Result<Option<Completion>> {
        let next = self.lp.next_completion(timeout);
        if let Some(stats) = self.lp.stats(self.conn) {
            self.last_stats = stats;
        }
        next
    }

    /// Sends a request and waits for its outcome. With a `timeout`, the
    /// request carries a DEADLINE and fails with [`RequestError::TimedOut`]
    /// when it passes. A request the connection refuses before sending is
    /// [`RequestError::TooLarge`] or [`RequestError::NotProcessed`].
    pub fn request(
        &mut self,
        body: impl Into<Bytes>,
        timeout: Option<Duration>,
    ) -> Result<Bytes, RequestError> {
        let id = self.lp.request(self.conn, body, timeout).map_err(refused)?;
        loop {
            match self.next_completion(None).map_err(loop_failed)? {
                Some(Completion::Response { id: done, body, .. }) if done == id => return Ok(body),
                Some(Completion::Failed {
                    id: done, error, ..
                }) if done == id => return Err(error),
                Some(other) => self.keep(other),
                // The core fails every request before the connection ends,
                // so this is only a safety net.
                None => return Err(RequestError::Connection(ConnectionError::Lost)),
            }
        }
    }

    /// Sends a notification.
    pub fn notify(&mut self, body: impl Into<Bytes>) -> Result<(), SendError> {
        self.lp.notify(self.conn, body).map_err(|e| match e {
            ClientError::Send(e) => e,
            _ => SendError::Closed,
        })
    }

    /// The next notification from the server, waiting at most `timeout`;
    /// `None` if none came (or the connection is over).
    pub fn next_notification(&mut self, timeout: Duration) -> io::Result<Option<Bytes>> {
        self.wait(timeout, |client| client.notifications.pop_front())
    }

    /// Waits at most `timeout` for the connection to end: `None` if it is
    /// still open, `Some(Ok(()))` after a clean close, the reason otherwise
    /// (including the event loop's own failure).
    pub fn wait_closed(&mut self, timeout: Duration) -> Option<Result<(), &ConnError>> {
        if let Err(e) = self.wait(timeout, |client| client.closed.is_some().then_some(())) {
            self.closed = Some(Some(ConnError::Io(e)));
        }
        self.closed
            .as_ref()
            .map(|how| how.as_ref().map_or(Ok(()), Err))
    }

    /// Closes gracefully (GOAWAY NO_ERROR) and waits at most `timeout` for
    /// the close to complete.
    pub fn close(mut self, timeout: Duration) -> Result<(), ConnError> {
        // An unknown connection is already over; `wait_closed` reports how.
        let _ = self.lp.close(self.conn);
        let _ = self.wait_closed(timeout);
        match self.closed.take() {
            Some(None) => Ok(()),
            Some(Some(e)) => Err(e),
            None => Err(ConnError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "close did not complete",
            ))),
        }
    }

    /// Runs the loop until `ready` finds something, for at most `timeout`.
    fn wait<T>(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut(&mut Self) -> Option<T>,
    ) -> io::Result<Option<T>> {
        let deadline = std::time::Instant::now().checked_add(timeout);
        loop {
            if let Some(found) = ready(self) {
                return Ok(Some(found));
            }
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            if left.is_some_and(|left| left.is_zero()) {
                return Ok(None);
            }
            match self.next_completion(left)? {
                Some(completion) => self.keep(completion),
                None => return Ok(ready(self)),
            }
        }
    }

    /// Keeps a completion that nobody is waiting for yet.
    fn keep(&mut self, completion: Completion) {
        match completion {
            Completion::Notification { body, .. } => self.notifications.push_back(body),
            Completion::Closed { error, .. } => self.closed = Some(error),
            // Outcomes of requests nobody waits for any more.
            _ => {}
        }
    }
}

/// A connection that could not even start: the socket could not be opened,
/// or the config is not valid.
fn not_started(e: ClientError) -> io::Error {
    match e {
        ClientError::Io(e) => e,
        e => io::Error::new(io::ErrorKind::InvalidInput, e),
    }
}

/// As [`not_started`], keeping rustls's refusal typed.
#[cfg(feature = "tls")]
fn tls_not_started(e: ClientError) -> ConnError {
    match e {
        ClientError::Tls(source) => ConnError::Tls { source },
        e => ConnError::Io(not_started(e)),
    }
}

/// A request the connection would not send.
fn refused(e: ClientError) -> RequestError {
    match e {
        ClientError::Send(SendError::TooLarge { size, limit }) => {
            RequestError::TooLarge { size, limit }
        }
        // Closing, closed, ids exhausted: never sent, safe to retry
        // elsewhere (the core says which refusals those are).
        ClientError::Send(e) if e.is_retryable() => RequestError::NotProcessed,
        // A connection that is over is as good as closed.
        ClientError::UnknownConnection(_) => RequestError::NotProcessed,
        // Anything else would be a mistake in this file, not a reason to
        // retry: report it as such.
        e => RequestError::Connection(ConnectionError::Local {
            code: ErrorCode::INTERNAL_ERROR,
            reason: format!("request refused: {e}"),
        }),
    }
}

/// The event loop itself failed (the OS refused to poll): nothing on this
/// client can progress.
fn loop_failed(e: io::Error) -> RequestError {
    RequestError::Connection(ConnectionError::Local {
        code: ErrorCode::INTERNAL_ERROR,
        reason: format!("event loop failed: {e}"),
    })
}
