//! The client: one multiplexed connection shared by any number of tasks.

use std::fmt::{self, Display};
use std::future::poll_fn;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use slow_proto::{Config, Connection, ErrorCode, Event, Settings, Stats};

use crate::driver::{Dispatch, Driver};
use crate::error::Error;
use crate::mailbox::Ticket;
use crate::mode::{Mode, Threaded};
use crate::net::{self, NetStream};
use crate::runtime::{Reactor, Transport};
use crate::shared::{Shared, State};
use crate::spawn::RunsClient;

/// A SLOW client: one connection, multiplexed. Cheap to clone; every clone
/// uses the same connection, from any task or thread (on a
/// [`LocalRuntime`](crate::runtime::LocalRuntime), any task of the thread
/// it was made on: it is then not `Send`, and takes no lock). The
/// connection closes gracefully when the last clone is dropped.
///
/// Applications use their adapter's `Client` (`slow_tokio::Client`, ...),
/// which wraps this type on one runtime and documents it with examples that
/// run there. Name this one in code generic over the runtime; an adapter's
/// client converts into it (`into()`, `into_inner()`, `as_ref()`) and back
/// (`from()`):
///
/// ```
/// use slow_driver::runtime::Runtime;
/// use slow_driver::{Client, Error};
///
/// /// Asks twice on one connection, from two clones.
/// async fn twice<R: Runtime>(client: &Client<R>) -> Result<(), Error> {
///     let other = client.clone();
///     assert_eq!(client.request("one").await?, "one");
///     assert_eq!(other.request("two").await?, "two");
///     Ok(())
/// }
/// ```
pub struct Client<R: Reactor> {
    inner: <R::Mode as Mode>::Ptr<ClientInner<R>>,
}

impl<R: Reactor> Clone for Client<R> {
    fn clone(&self) -> Self {
        Client {
            inner: self.inner.clone(),
        }
    }
}

impl<R: Reactor> fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("peer_settings", &self.inner.peer)
            .finish_non_exhaustive()
    }
}

struct ClientInner<R: Reactor> {
    shared: Shared<R::Mode>,
    /// What the server advertised in its WELCOME (a client exists only
    /// once the handshake is complete).
    peer: Settings,
    _runtime: R,
}

impl<R: Reactor> Drop for ClientInner<R> {
    fn drop(&mut self) {
        // After the requests already made: they are still answered.
        self.shared
            .lock_applied()
            .close(ErrorCode::NO_ERROR, "client dropped");
    }
}

/// What a client connection's driver does with the events it does not
/// handle itself: queue notifications.
pub struct ClientDispatch;

impl<M: Mode> Dispatch<M> for ClientDispatch {
    fn event(&mut self, state: &mut State, _shared: &Shared<M>, event: Event) {
        if let Event::Notify { body } = event {
            state.push_notification(body);
        }
    }
}

impl<R: Reactor> Client<R> {
    /// Connects to `addr` (`host:port`, or `unix:PATH` for a Unix domain
    /// socket) with the default [`Config`] and
    /// completes the handshake, on the runtime the caller is on
    /// ([`Reactor::current`]).
    ///
    /// ```
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Client, Error};
    ///
    /// async fn hello<R: Runtime>(addr: &str) -> Result<(), Error> {
    ///     let client = Client::<R>::connect(addr).await?;
    ///     assert_eq!(client.request("hello").await?, "hello");
    ///     client.close().await
    /// }
    /// ```
    pub async fn connect(addr: impl Display) -> Result<Self, Error>
    where
        R: RunsClient<
                NetStream<<R as Reactor>::Stream, <R as Reactor>::UnixStream>,
                <R as Reactor>::Mode,
            >,
    {
        Self::connect_with(addr, Config::default()).await
    }

    /// Connects to `addr` with `config`.
    ///
    /// ```
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Client, Config, Error};
    ///
    /// async fn quiet<R: Runtime>(addr: &str) -> Result<Client<R>, Error> {
    ///     let config = Config { keepalive_interval: None, ..Config::default() };
    ///     Client::connect_with(addr, config).await
    /// }
    /// ```
    pub async fn connect_with(addr: impl Display, config: Config) -> Result<Self, Error>
    where
        R: RunsClient<
                NetStream<<R as Reactor>::Stream, <R as Reactor>::UnixStream>,
                <R as Reactor>::Mode,
            >,
    {
        Self::connect_on(R::current()?, addr, config).await
    }

    /// Connects on the given runtime (e.g. a smol executor of your own): the
    /// connection's driver task is spawned there.
    ///
    /// ```
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Client, Config, Error};
    ///
    /// async fn connect<R: Runtime>(runtime: R, addr: &str) -> Result<Client<R>, Error> {
    ///     Client::connect_on(runtime, addr, Config::default()).await
    /// }
    /// ```
    pub async fn connect_on(runtime: R, addr: impl Display, config: Config) -> Result<Self, Error>
    where
        R: RunsClient<
                NetStream<<R as Reactor>::Stream, <R as Reactor>::UnixStream>,
                <R as Reactor>::Mode,
            >,
    {
        config.validate()?;
        let addr = addr.to_string();
        if let Some(path) = net::unix_path(&addr) {
            let stream = runtime
                .connect_unix(path.to_owned())
                .await
                .map_err(|source| Error::Unix {
                    path: path.to_owned(),
                    source,
                })?;
            return Self::start(runtime, NetStream::Unix(stream), config, &addr).await;
        }
        let stream = connect_any(&runtime, addr.clone()).await?;
        Self::start(runtime, NetStream::Tcp(stream), config, &addr).await
    }

    /// Runs a connection over a stream you already have, with `config`,
    /// on the runtime the caller is on: a Unix socket, a TLS stream, an
    /// in-memory pipe, anything that implements
    /// [`Stream`](crate::runtime::Stream) or, for completion-based IO,
    /// [`CompletionStream`](crate::runtime::CompletionStream) wrapped in
    /// [`Completion`](crate::runtime::Completion) (and is `Send`, on a
    /// threaded [`Runtime`](crate::runtime::Runtime)). The handshake
    /// is completed before this returns; the stream is shut down and
    /// dropped when the connection is over.
    ///
    /// ```
    /// use slow_driver::runtime::{Runtime, Stream};
    /// use slow_driver::{Client, Config, Error};
    ///
    /// /// SLOW over a stream opened some other way.
    /// async fn over<R: Runtime>(stream: impl Stream + Send) -> Result<Client<R>, Error> {
    ///     Client::from_stream(stream, Config::default()).await
    /// }
    /// ```
    pub async fn from_stream<S: Transport>(stream: S, config: Config) -> Result<Self, Error>
    where
        R: RunsClient<S, <R as Reactor>::Mode>,
    {
        Self::from_stream_on(R::current()?, stream, config).await
    }

    /// Runs a connection over `stream` on the given runtime: its driver
    /// task is spawned there and its timer is the runtime's.
    ///
    /// ```
    /// use slow_driver::runtime::{Runtime, Stream};
    /// use slow_driver::{Client, Config, Error};
    ///
    /// async fn over<R: Runtime>(runtime: R, stream: impl Stream + Send) -> Result<Client<R>, Error> {
    ///     Client::from_stream_on(runtime, stream, Config::default()).await
    /// }
    /// ```
    pub async fn from_stream_on<S: Transport>(
        runtime: R,
        stream: S,
        config: Config,
    ) -> Result<Self, Error>
    where
        R: RunsClient<S, <R as Reactor>::Mode>,
    {
        Self::start(runtime, stream, config, &"(own stream)").await
    }

    /// Runs the connection over `stream` to `peer` (for its span).
    async fn start<S: Transport>(
        runtime: R,
        stream: S,
        config: Config,
        peer: &(dyn Display + Sync),
    ) -> Result<Self, Error>
    where
        R: RunsClient<S, <R as Reactor>::Mode>,
    {
        let conn = Connection::client(config, slow_proto::Instant::ZERO)?;
        let span =
            crate::trace::Span::connection("client", peer, crate::trace::runtime_name::<R>());
        let shared = Shared::new(conn, R::now, span);
        let driver = Driver::new(shared.clone(), stream, runtime.clone(), ClientDispatch);
        runtime.spawn_client(driver);
        let peer = wait_established(&shared).await?;
        Ok(Client {
            inner: R::Mode::ptr(ClientInner {
                shared,
                peer,
                _runtime: runtime,
            }),
        })
    }

    pub(crate) fn shared(&self) -> &Shared<R::Mode> {
        &self.inner.shared
    }

    /// Sends a request and waits for its response. Dropping the returned
    /// future cancels the request (CANCEL goes to the server).
    ///
    /// ```
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Bytes, Client, Error};
    ///
    /// async fn get<R: Runtime>(client: &Client<R>, key: &str) -> Result<Bytes, Error> {
    ///     client.request(format!("GET {key}")).await
    /// }
    /// ```
    pub async fn request(&self, body: impl Into<Bytes>) -> Result<Bytes, Error> {
        self.send(body.into(), None).await
    }

    /// Like [`request`](Client::request), with a deadline `timeout` from
    /// now: sent to the server as DEADLINE and enforced here, failing with
    /// [`Error::TimedOut`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Bytes, Client, Error};
    ///
    /// /// The status, or `None` when the server does not answer within a second.
    /// async fn status<R: Runtime>(client: &Client<R>) -> Result<Option<Bytes>, Error> {
    ///     match client.request_timeout("status", Duration::from_secs(1)).await {
    ///         Ok(body) => Ok(Some(body)),
    ///         Err(Error::TimedOut) => Ok(None), // the server was told to stop
    ///         Err(e) => Err(e),
    ///     }
    /// }
    /// ```
    pub async fn request_timeout(
        &self,
        body: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Bytes, Error> {
        self.send(body.into(), Some(timeout)).await
    }

    async fn send(&self, body: Bytes, timeout: Option<Duration>) -> Result<Bytes, Error> {
        let mut call = Call {
            shared: self.shared(),
            state: CallState::Unsent(body, timeout),
        };
        poll_fn(|cx| call.poll(cx)).await
    }

    /// Sends a notification (one frame, no answer).
    ///
    /// ```
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Client, Error};
    ///
    /// fn invalidate<R: Runtime>(client: &Client<R>, key: &str) -> Result<(), Error> {
    ///     client.notify(format!("invalidate {key}"))
    /// }
    /// ```
    pub fn notify(&self, body: impl Into<Bytes>) -> Result<(), Error> {
        // On the wire after the requests made before it.
        let mut st = self.shared().lock_applied();
        let now = st.now();
        st.conn.notify(body.into(), now)?;
        st.wake_driver();
        Ok(())
    }

    /// The server's notifications, from now on. Until this is called they
    /// are discarded; after it, they queue (a bounded queue: when it is full
    /// the connection stops reading from the server until you catch up).
    ///
    /// ```
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Bytes, Client, Error};
    ///
    /// /// Subscribes, then collects notifications until the connection closes.
    /// async fn watch<R: Runtime>(client: &Client<R>) -> Result<Vec<Bytes>, Error> {
    ///     let mut notes = client.notifications(); // before asking, to miss none
    ///     client.request("subscribe").await?;
    ///     let mut seen = Vec::new();
    ///     while let Some(note) = notes.recv().await {
    ///         seen.push(note);
    ///     }
    ///     Ok(seen)
    /// }
    /// ```
    pub fn notifications(&self) -> Notifications<R::Mode> {
        self.shared()
            .lock()
            .notifications
            .get_or_insert_with(Default::default);
        Notifications {
            shared: self.shared().clone(),
        }
    }

    /// What the server advertised in its WELCOME: the limits this client
    /// is held to (a `Client` exists only once the handshake is complete).
    ///
    /// ```
    /// use slow_driver::Client;
    /// use slow_driver::runtime::Runtime;
    ///
    /// /// Whether `body` is small enough for this server to take as one request.
    /// fn fits<R: Runtime>(client: &Client<R>, body: &[u8]) -> bool {
    ///     body.len() as u64 <= u64::from(client.peer_settings().max_message_size)
    /// }
    /// ```
    pub fn peer_settings(&self) -> Settings {
        self.inner.peer
    }

    /// What this connection has counted so far (the core's [`Stats`]):
    /// frames and bytes each way, the requests sent and how they ended
    /// (answered, failed, cancelled, expired, interrupted), notifications,
    /// pings, and the codes of the ERROR and GOAWAY frames. A copy, taken
    /// under the connection's lock; it keeps its last counts once the
    /// connection is closed.
    ///
    /// ```
    /// use slow_driver::Client;
    /// use slow_driver::runtime::Runtime;
    ///
    /// /// How many of this client's requests timed out, as a share of all.
    /// fn timeout_rate<R: Runtime>(client: &Client<R>) -> f64 {
    ///     let stats = client.stats();
    ///     stats.expired as f64 / stats.requests.max(1) as f64
    /// }
    /// ```
    pub fn stats(&self) -> Stats {
        // The requests made so far are counted.
        self.shared().lock_applied().conn.stats()
    }

    /// Whether new requests are still accepted: false once either side
    /// has begun a graceful close (GOAWAY) or the connection is over.
    /// Requests already sent may still be answered while it drains.
    ///
    /// ```
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Client, Error};
    ///
    /// /// Replaces a client that takes no more requests (the old one drains
    /// /// on its own).
    /// async fn refresh<R: Runtime>(client: &mut Client<R>, addr: &str) -> Result<(), Error> {
    ///     if !client.is_open() {
    ///         *client = Client::connect(addr).await?;
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn is_open(&self) -> bool {
        let st = self.shared().lock();
        st.closed.is_none() && !st.conn.is_draining()
    }

    /// Whether the connection is over: every request has its outcome and
    /// nothing more will arrive. While it drains this is still false.
    ///
    /// ```
    /// use slow_driver::Client;
    /// use slow_driver::runtime::Runtime;
    ///
    /// fn state<R: Runtime>(client: &Client<R>) -> &'static str {
    ///     match (client.is_open(), client.is_closed()) {
    ///         (true, _) => "open",
    ///         (false, false) => "draining",
    ///         (false, true) => "closed",
    ///     }
    /// }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared().lock().closed.is_some()
    }

    /// Closes gracefully: GOAWAY, outstanding requests finish, then the
    /// connection closes. Requests made after this fail as not processed.
    ///
    /// ```
    /// use slow_driver::runtime::Runtime;
    /// use slow_driver::{Client, Error};
    ///
    /// async fn finish<R: Runtime>(client: Client<R>) -> Result<(), Error> {
    ///     client.close().await?; // every request sent before has its outcome
    ///     assert!(client.is_closed());
    ///     assert!(matches!(client.request("late").await, Err(Error::NotProcessed)));
    ///     Ok(())
    /// }
    /// ```
    pub async fn close(&self) -> Result<(), Error> {
        // The GOAWAY goes after the requests already made.
        self.shared().lock_applied().close(ErrorCode::NO_ERROR, "");
        poll_fn(|cx| {
            self.shared().lock().poll_watch(cx, |st| {
                st.driver_done.then(|| match st.close_error() {
                    Some(error) => Err(error),
                    None => Ok(()),
                })
            })
        })
        .await
    }
}

/// One call of [`Client::request`]: submitted at its first poll (with the
/// caller's waker, in one hold of the mailbox's lock), then waiting for its
/// outcome. Dropped before the end, it cancels the request.
struct Call<'a, M: Mode> {
    shared: &'a Shared<M>,
    state: CallState,
}

enum CallState {
    /// Not submitted yet: the body and timeout.
    Unsent(Bytes, Option<Duration>),
    /// Submitted: its slot in the mailbox.
    Waiting(Ticket),
    /// The outcome was handed out (or the submission refused).
    Done,
}

impl<M: Mode> Call<'_, M> {
    fn poll(&mut self, cx: &Context<'_>) -> Poll<Result<Bytes, Error>> {
        match std::mem::replace(&mut self.state, CallState::Done) {
            CallState::Unsent(body, timeout) => {
                match self.shared.submit(body, timeout, Some(cx.waker())) {
                    Ok(ticket) => {
                        self.state = CallState::Waiting(ticket);
                        Poll::Pending
                    }
                    Err(e) => Poll::Ready(Err(e)),
                }
            }
            CallState::Waiting(ticket) => {
                let outcome = self.shared.poll_outcome(ticket, cx);
                if outcome.is_pending() {
                    self.state = CallState::Waiting(ticket);
                }
                outcome
            }
            // `poll_fn` polls no further once Ready.
            CallState::Done => Poll::Ready(Err(Error::NotProcessed)),
        }
    }
}

impl<M: Mode> Drop for Call<'_, M> {
    fn drop(&mut self) {
        if let CallState::Waiting(ticket) = self.state {
            self.shared.abandon(ticket);
        }
    }
}

/// The server's notifications to a client, in order, from the client's
/// `notifications()` (on a local runtime, `Notifications<Local>`).
///
/// ```
/// # use slow_driver::Notifications;
/// async fn log(mut notes: Notifications) {
///     while let Some(body) = notes.recv().await {
///         println!("the server says {}", String::from_utf8_lossy(&body));
///     }
///     // The connection is closed and every notification was read.
/// }
/// ```
pub struct Notifications<M: Mode = Threaded> {
    shared: Shared<M>,
}

impl<M: Mode> fmt::Debug for Notifications<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifications").finish_non_exhaustive()
    }
}

impl<M: Mode> Notifications<M> {
    /// The next notification, or `None` once the connection is closed and
    /// none are left.
    ///
    /// ```
    /// # use slow_driver::{Bytes, Notifications};
    /// async fn next_two(notes: &mut Notifications) -> Option<(Bytes, Bytes)> {
    ///     Some((notes.recv().await?, notes.recv().await?))
    /// }
    /// ```
    pub async fn recv(&mut self) -> Option<Bytes> {
        poll_fn(|cx| self.shared.lock().poll_notification(cx)).await
    }
}

/// The stream a TLS client connects over: TCP or a Unix socket, TLS on it.
#[cfg(feature = "tls")]
pub type TlsNetStream<R> = NetStream<
    crate::tls::TlsStream<<R as Reactor>::Stream>,
    crate::tls::TlsStream<<R as Reactor>::UnixStream>,
>;

#[cfg(feature = "tls")]
impl<R> Client<R>
where
    R: Reactor<Stream: crate::runtime::Stream, UnixStream: crate::runtime::Stream>,
{
    /// Connects to `addr` over TLS (`tls` feature), on the runtime the
    /// caller is on, with the default [`Config`]. The server's certificate
    /// must be valid for the name `tls` sets, else the host of `addr` (a
    /// DNS name or an IP address; `localhost` for `unix:PATH`). A failed
    /// handshake is an [`Error::Tls`] saying why (an untrusted or expired
    /// certificate, a wrong name, a client certificate the server
    /// refused); the connection's handshake timeout covers TLS and HELLO.
    ///
    /// ```
    /// use slow_driver::runtime::{Runtime, Stream};
    /// use slow_driver::tls::ClientTls;
    /// use slow_driver::{Client, Error};
    ///
    /// async fn secure<R>(addr: &str, ca_pem: &[u8]) -> Result<Client<R>, Error>
    /// where
    ///     R: Runtime<Stream: Stream, UnixStream: Stream>,
    /// {
    ///     let tls = ClientTls::from_ca_pem(ca_pem)?;
    ///     Client::connect_tls(addr, &tls).await
    /// }
    /// ```
    pub async fn connect_tls(addr: impl Display, tls: &crate::tls::ClientTls) -> Result<Self, Error>
    where
        R: RunsClient<TlsNetStream<R>, <R as Reactor>::Mode>,
    {
        Self::connect_tls_on(R::current()?, addr, tls, Config::default()).await
    }

    /// Connects over TLS on the given runtime with `config`.
    ///
    /// ```
    /// use slow_driver::runtime::{Runtime, Stream};
    /// use slow_driver::tls::ClientTls;
    /// use slow_driver::{Client, Config, Error};
    ///
    /// async fn secure<R>(runtime: R, addr: &str, tls: &ClientTls) -> Result<Client<R>, Error>
    /// where
    ///     R: Runtime<Stream: Stream, UnixStream: Stream>,
    /// {
    ///     Client::connect_tls_on(runtime, addr, tls, Config::default()).await
    /// }
    /// ```
    pub async fn connect_tls_on(
        runtime: R,
        addr: impl Display,
        tls: &crate::tls::ClientTls,
        config: Config,
    ) -> Result<Self, Error>
    where
        R: RunsClient<TlsNetStream<R>, <R as Reactor>::Mode>,
    {
        config.validate()?;
        let addr = addr.to_string();
        if let Some(path) = net::unix_path(&addr) {
            let name = tls.name_for("localhost")?;
            let stream = runtime
                .connect_unix(path.to_owned())
                .await
                .map_err(|source| Error::Unix {
                    path: path.to_owned(),
                    source,
                })?;
            let stream = tls.connect(stream, name)?;
            return Self::start(runtime, NetStream::Unix(stream), config, &addr).await;
        }
        let host = addr
            .rsplit_once(':')
            .map_or(addr.as_str(), |(host, _)| host);
        let name = tls.name_for(host)?;
        let stream = connect_any(&runtime, addr.clone()).await?;
        let stream = tls.connect(stream, name)?;
        Self::start(runtime, NetStream::Tcp(stream), config, &addr).await
    }

    /// The server's verified certificate chain (`tls` feature; `None` on a
    /// connection without TLS).
    pub fn tls_identity(&self) -> Option<crate::tls::TlsIdentity> {
        self.shared().lock().tls_identity.clone()
    }
}

async fn connect_any<R: Reactor>(runtime: &R, addr: String) -> Result<R::Stream, Error> {
    let mut last = None;
    for a in runtime.resolve(addr.clone()).await? {
        match runtime.connect(a).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Io(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no address found for {addr}"),
        )
    })))
}

/// Waits for the handshake: the server's settings, or why it failed.
async fn wait_established<M: Mode>(shared: &Shared<M>) -> Result<Settings, Error> {
    poll_fn(|cx| {
        shared.lock().poll_watch(cx, |st| {
            if st.closed.is_some() {
                // Closed cleanly before WELCOME: the server said no at once.
                return Some(Err(st.close_error().unwrap_or(Error::NotProcessed)));
            }
            st.conn.peer_settings().copied().map(Ok)
        })
    })
    .await
}
