//! What a server's application sees: the [`Handler`] it implements, the
//! [`Request`] it is given, the [`Reply`] it returns, and the [`Peer`] a
//! request came from.
//!
//! Adapters re-export these types and show their docs as they are, so the
//! examples here leave out their `use` lines (hidden) and name nothing of
//! this crate's: they read the same with `use slow_tokio::...` or any other
//! adapter's. A handler completes without a network in most of them, run
//! by a hidden stand-in for your runtime's `block_on`.

use std::future::Future;

use bytes::Bytes;
use slow_proto::{Config, Connection, ErrorCode, Instant, RequestId, Settings, Stats};

use crate::Addr;
use crate::error::Error;
use crate::mode::{Local, Mode, Threaded};
use crate::shared::Shared;

/// An ERROR answer to a request: a code and a message.
///
/// Any error type converts into one (as [`ErrorCode::INTERNAL_ERROR`] with
/// the error's text), so a handler can use `?`:
///
/// ```
/// # use slow_driver::{ErrorCode, ErrorReply, Reply, Request};
/// async fn parse(req: Request) -> Reply {
///     let text = std::str::from_utf8(&req.body)?; // Utf8Error → INTERNAL_ERROR
///     let n: u64 = text
///         .parse()
///         .map_err(|_| ErrorReply::new(0x0100, "not a number"))?;
///     Ok((n * 2).to_string().into())
/// }
///
/// // block_on: your runtime's (a handler needs no connection to run)
/// assert_eq!(block_on(parse(Request::new(1.into(), "21")))?, "42");
/// let bad = block_on(parse(Request::new(2.into(), vec![0xFF]))).unwrap_err();
/// assert_eq!(bad.code, ErrorCode::INTERNAL_ERROR);
/// let nan = block_on(parse(Request::new(3.into(), "many"))).unwrap_err();
/// assert_eq!(nan.code, ErrorCode(0x0100));
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #     }
/// # }
/// # Ok::<(), ErrorReply>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// The code (0x0100 and above are the application's own).
    pub code: ErrorCode,
    /// The message (UTF-8; cut to fit one frame).
    pub message: String,
}

impl ErrorReply {
    /// An ERROR answer with `code` and `message`.
    ///
    /// ```
    /// # use slow_driver::{ErrorCode, ErrorReply};
    /// let quota = ErrorReply::new(0x0101, "quota exceeded");
    /// assert_eq!(quota.code, ErrorCode(0x0101));
    /// assert_eq!(quota.message, "quota exceeded");
    /// ```
    pub fn new(code: impl Into<ErrorCode>, message: impl Into<String>) -> Self {
        ErrorReply {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Any error answers INTERNAL_ERROR with its text, so that `?` works in a
/// handler. Map it yourself where the client should see another code, or
/// where the text is not for the client's eyes.
impl<E: std::error::Error> From<E> for ErrorReply {
    fn from(e: E) -> ErrorReply {
        ErrorReply::new(ErrorCode::INTERNAL_ERROR, e.to_string())
    }
}

/// What a handler answers: a response body or an ERROR.
///
/// ```
/// # use slow_driver::{ErrorReply, Reply, Request};
/// async fn handle(req: Request) -> Reply {
///     match &req.body[..] {
///         b"ping" => Ok("pong".into()),
///         _ => Err(ErrorReply::new(0x0100, "unknown command")),
///     }
/// }
/// ```
pub type Reply = Result<Bytes, ErrorReply>;

/// One request, as a handler sees it. On a
/// [`LocalRuntime`](crate::runtime::LocalRuntime) it is a
/// `Request<Local>` ([`LocalRequest`]), whose peer is not `Send`.
///
/// ```
/// # use slow_driver::{Reply, Request};
/// async fn handle(req: Request) -> Reply {
///     if let Some(deadline) = req.deadline {
///         // The client waits no longer than this; the handler is stopped then.
///         // (On the runtime's clock, `Reactor::now`: the system's here.)
///         let left = deadline.saturating_duration_since(std::time::Instant::now());
///         println!("{} ms left", left.as_millis());
///     }
///     println!("request {} from {}: {} bytes", req.id, req.peer.addr(), req.body.len());
///     Ok(req.body)
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Request<M: Mode = Threaded> {
    /// The request id.
    pub id: RequestId,
    /// The whole body.
    pub body: Bytes,
    /// When the client's DEADLINE runs out, if it set one, on the
    /// runtime's clock ([`Reactor::now`](crate::runtime::Reactor::now)).
    /// The handler is stopped then (the client gets DEADLINE_EXCEEDED).
    pub deadline: Option<std::time::Instant>,
    /// The connection it came on.
    pub peer: Peer<M>,
}

/// A request on a [`LocalRuntime`](crate::runtime::LocalRuntime), as a
/// [`LocalHandler`] sees it.
pub type LocalRequest = Request<Local>;

impl Request {
    /// A request that came on no connection, for testing a handler
    /// without a socket. Its [`peer`](Request::peer) is
    /// [detached](Peer::is_detached): its address is [`Addr::Unknown`], its
    /// settings the protocol's defaults, and notifying it fails with
    /// [`Error::NotProcessed`].
    ///
    /// ```
    /// # use slow_driver::{ErrorReply, Reply, Request};
    /// async fn shout(req: Request) -> Reply {
    ///     Ok(req.body.to_ascii_uppercase().into())
    /// }
    ///
    /// let req = Request::new(1.into(), "hi");
    /// assert!(req.peer.is_detached());
    /// assert_eq!(block_on(shout(req))?, "HI"); // block_on: your runtime's
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #     }
    /// # }
    /// # Ok::<(), ErrorReply>(())
    /// ```
    pub fn new(id: RequestId, body: impl Into<Bytes>) -> Request {
        Request::detached(id, body.into())
    }
}

impl Request<Local> {
    /// A local request that came on no connection, for testing a
    /// [`LocalHandler`] without a socket: as [`Request::new`].
    ///
    /// ```
    /// # use slow_driver::{LocalRequest, Reply};
    /// use std::rc::Rc;
    ///
    /// let name = Rc::new(String::from("local")); // not Send: fine here
    /// let handle = move |req: LocalRequest| {
    ///     let name = name.clone();
    ///     async move { Reply::Ok(format!("{name}: {} bytes", req.body.len()).into()) }
    /// };
    /// let req = LocalRequest::new_local(1.into(), "hi");
    /// assert_eq!(block_on(handle(req))?, "local: 2 bytes"); // block_on: your runtime's
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #     }
    /// # }
    /// # Ok::<(), slow_driver::ErrorReply>(())
    /// ```
    pub fn new_local(id: RequestId, body: impl Into<Bytes>) -> LocalRequest {
        Request::detached(id, body.into())
    }
}

impl<M: Mode> Request<M> {
    fn detached(id: RequestId, body: Bytes) -> Request<M> {
        Request {
            id,
            body,
            deadline: None,
            peer: Peer::detached(),
        }
    }

    /// A request that came on `peer`'s connection.
    pub(crate) fn on(
        peer: Peer<M>,
        id: RequestId,
        body: Bytes,
        deadline: Option<std::time::Instant>,
    ) -> Request<M> {
        Request {
            id,
            body,
            deadline,
            peer,
        }
    }
}

/// A handle on one server-side connection: who it is, and a way to send it
/// notifications or close it. Cheap to clone: keep one to notify the client
/// later, from any task (on a local runtime, a `Peer<Local>`: any task of
/// its thread).
///
/// ```
/// # use slow_driver::{Bytes, Handler, Peer, Reply, Request};
/// use std::sync::{Arc, Mutex};
///
/// /// Every client that asks is told the news from then on.
/// struct Subscribe(Arc<Mutex<Vec<Peer>>>);
///
/// impl Handler for Subscribe {
///     async fn request(&self, req: Request) -> Reply {
///         self.0.lock().unwrap().push(req.peer.clone());
///         Ok("subscribed".into())
///     }
/// }
///
/// /// Notifies every subscriber, forgetting those whose connection is gone.
/// fn publish(subscribers: &Mutex<Vec<Peer>>, news: Bytes) {
///     subscribers.lock().unwrap().retain(|peer| peer.notify(news.clone()).is_ok());
/// }
///
/// let subscribers = Arc::new(Mutex::new(Vec::new()));
/// let handler = Subscribe(subscribers.clone());
/// block_on(handler.request(Request::new(1.into(), "subscribe")))?; // your runtime's block_on
/// assert_eq!(subscribers.lock().unwrap().len(), 1);
/// publish(&subscribers, Bytes::from("news")); // a test's peer has no connection
/// assert!(subscribers.lock().unwrap().is_empty());
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #     }
/// # }
/// # Ok::<(), slow_driver::ErrorReply>(())
/// ```
pub struct Peer<M: Mode = Threaded> {
    addr: Addr,
    pub(crate) shared: Shared<M>,
    detached: bool,
}

impl<M: Mode> Clone for Peer<M> {
    fn clone(&self) -> Self {
        Peer {
            addr: self.addr.clone(),
            shared: self.shared.clone(),
            detached: self.detached,
        }
    }
}

impl<M: Mode> std::fmt::Debug for Peer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("addr", &self.addr)
            .field("detached", &self.detached)
            .finish_non_exhaustive()
    }
}

impl<M: Mode> Peer<M> {
    pub(crate) fn new(addr: Addr, shared: Shared<M>) -> Peer<M> {
        Peer {
            addr,
            shared,
            detached: false,
        }
    }

    /// A peer with no connection behind it (see [`Request::new`]).
    fn detached() -> Peer<M> {
        // A server core that never saw a HELLO: it refuses to notify, and
        // closing it sends nothing anywhere.
        let conn = Connection::server(Config::default(), Instant::ZERO)
            .expect("the default config is valid");
        Peer {
            addr: Addr::Unknown,
            shared: Shared::new(conn, std::time::Instant::now, crate::trace::Span::none()),
            detached: true,
        }
    }

    /// The client's address: a TCP address, a Unix socket (usually
    /// unnamed: connecting clients rarely bind a path), or
    /// [`Addr::Unknown`] for a stream whose listener gave none.
    ///
    /// ```
    /// # use slow_driver::{Addr, Reply, Request};
    /// async fn whoami(req: Request) -> Reply {
    ///     match req.peer.addr() {
    ///         Addr::Tcp(addr) => Ok(format!("you are {}", addr.ip()).into()),
    ///         other => Ok(format!("you came by {other}").into()),
    ///     }
    /// }
    /// ```
    pub fn addr(&self) -> &Addr {
        &self.addr
    }

    /// The client's verified TLS certificate (`tls` feature), on a server
    /// that requires client certificates (mutual TLS); `None` otherwise.
    ///
    /// ```
    /// use slow_driver::{Reply, Request};
    ///
    /// async fn who(req: Request) -> Reply {
    ///     match req.peer.tls_identity() {
    ///         Some(id) => Ok(format!("{} bytes of certificate", id.certificate().len()).into()),
    ///         None => Ok("anonymous".into()),
    ///     }
    /// }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls_identity(&self) -> Option<crate::tls::TlsIdentity> {
        self.shared.lock().tls_identity.clone()
    }

    /// Whether this peer came from [`Request::new`] rather than a
    /// connection.
    ///
    /// ```
    /// # use slow_driver::Request;
    /// let peer = Request::new(1.into(), "hi").peer;
    /// assert!(peer.is_detached());
    /// assert_eq!(peer.addr(), &slow_driver::Addr::Unknown);
    /// ```
    pub fn is_detached(&self) -> bool {
        self.detached
    }

    /// What the client advertised in its HELLO. Handlers only run once the
    /// handshake is complete, so these are always the client's own (a
    /// [detached](Peer::is_detached) peer has the protocol's defaults).
    ///
    /// ```
    /// # use slow_driver::{Peer, Request, Settings};
    /// /// Whether `len` bytes fit in one notification to this client.
    /// fn fits(peer: &Peer, len: usize) -> bool {
    ///     len as u64 <= u64::from(peer.settings().max_frame_size)
    /// }
    ///
    /// let peer = Request::new(1.into(), "").peer;
    /// assert_eq!(peer.settings(), Settings::default());
    /// assert!(fits(&peer, 1024));
    /// ```
    pub fn settings(&self) -> Settings {
        self.shared
            .lock()
            .conn
            .peer_settings()
            .copied()
            .unwrap_or_default()
    }

    /// What this connection has counted so far (the core's [`Stats`], from
    /// the server's side: requests received and how they were answered,
    /// frames and bytes each way, ...). A [detached](Peer::is_detached)
    /// peer has counted nothing: all zeros.
    ///
    /// ```
    /// # use slow_driver::{Reply, Request, Stats};
    /// /// Answers with how many requests this connection has brought so far.
    /// async fn nth(req: Request) -> Reply {
    ///     Ok(req.peer.stats().requests.to_string().into())
    /// }
    ///
    /// let peer = Request::new(1.into(), "").peer;
    /// assert_eq!(peer.stats(), Stats::default());
    /// # let _ = nth;
    /// ```
    pub fn stats(&self) -> Stats {
        if self.detached {
            return Stats::default();
        }
        self.shared.lock().conn.stats()
    }

    /// Sends a notification to this client. Fails with [`Error::TooLarge`]
    /// above the client's MAX_FRAME_SIZE and with [`Error::NotProcessed`]
    /// once the connection is closed (nothing is sent).
    ///
    /// ```
    /// # use slow_driver::{Error, Reply, Request};
    /// async fn long_job(req: Request) -> Reply {
    ///     req.peer.notify("started")?; // ahead of the answer, on the same connection
    ///     Ok(req.body)
    /// }
    ///
    /// // A test's request has no connection to notify.
    /// let peer = Request::new(1.into(), "job").peer;
    /// assert!(matches!(peer.notify("started"), Err(Error::NotProcessed)));
    /// # let _ = long_job;
    /// ```
    pub fn notify(&self, body: impl Into<Bytes>) -> Result<(), Error> {
        if self.detached {
            // No connection: nothing can be sent.
            return Err(Error::NotProcessed);
        }
        let mut st = self.shared.lock();
        let now = st.now();
        let sent = st.conn.notify(body.into(), now);
        st.wake_driver();
        sent.map_err(Error::from)
    }

    /// Closes this connection gracefully now (GOAWAY SHUTTING_DOWN):
    /// requests already received are still answered, newer ones are
    /// refused.
    ///
    /// ```
    /// # use slow_driver::Peer;
    /// /// Asks every connection to finish (say, before a deploy): clients see
    /// /// GOAWAY once their requests are answered, and reconnect elsewhere.
    /// fn drain_all(peers: &mut Vec<Peer>) {
    ///     for peer in peers.drain(..) {
    ///         peer.close();
    ///     }
    /// }
    /// ```
    pub fn close(&self) {
        self.shared
            .lock()
            .close(ErrorCode::SHUTTING_DOWN, "closing");
    }

    /// Closes this connection gracefully (GOAWAY SHUTTING_DOWN) as soon as
    /// request `id` is answered: the client reads the answer first, then
    /// learns of the close. For a request that asks to end the connection.
    ///
    /// ```
    /// # use slow_driver::{Reply, Request};
    /// async fn handle(req: Request) -> Reply {
    ///     if &req.body[..] == b"bye" {
    ///         req.peer.close_after(req.id);
    ///         return Ok("goodbye".into());
    ///     }
    ///     Ok(req.body)
    /// }
    /// # let _ = handle(Request::new(1.into(), "bye"));
    /// ```
    pub fn close_after(&self, id: RequestId) {
        let mut st = self.shared.lock();
        st.span.in_scope(|| crate::trace::close_after(id));
        let now = st.now();
        st.conn
            .close_after(id, ErrorCode::SHUTTING_DOWN, "closing", now);
        st.wake_driver();
    }
}

/// Serves requests. Implemented for any `Fn(Request) -> impl Future<Output
/// = Reply>`; implement it on a type to also receive client notifications.
///
/// ```
/// # use slow_driver::{Bytes, Handler, Peer, Reply, Request};
/// struct Echo;
///
/// impl Handler for Echo {
///     async fn request(&self, request: Request) -> Reply {
///         Ok(request.body)
///     }
///
///     async fn notification(&self, body: Bytes, peer: Peer) {
///         let _ = peer.notify(body); // echo it back
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Answers one request. Runs as its own task, concurrently with the
    /// connection's other requests; dropped if the request is cancelled or
    /// its deadline passes.
    ///
    /// ```
    /// # use slow_driver::{Handler, Reply, Request};
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// /// Answers each request with how many came before it, on any connection.
    /// #[derive(Default)]
    /// struct Counter(AtomicU64);
    ///
    /// impl Handler for Counter {
    ///     async fn request(&self, _req: Request) -> Reply {
    ///         Ok(self.0.fetch_add(1, Ordering::Relaxed).to_string().into())
    ///     }
    /// }
    /// ```
    fn request(&self, request: Request) -> impl Future<Output = Reply> + Send;

    /// A client sent a notification. Ignored unless overridden. One task
    /// per connection calls it, one notification at a time, in the order
    /// they were sent (while a bounded queue of them is full, the
    /// connection stops reading from the client).
    ///
    /// ```
    /// # use slow_driver::{Bytes, Handler, Peer, Reply, Request};
    /// struct Log;
    ///
    /// impl Handler for Log {
    ///     async fn request(&self, req: Request) -> Reply {
    ///         Ok(req.body)
    ///     }
    ///
    ///     async fn notification(&self, body: Bytes, peer: Peer) {
    ///         println!("{} says {}", peer.addr(), String::from_utf8_lossy(&body));
    ///     }
    /// }
    /// ```
    fn notification(&self, body: Bytes, peer: Peer) -> impl Future<Output = ()> + Send {
        let _ = (body, peer);
        async {}
    }
}

impl<F, Fut> Handler for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send,
{
    fn request(&self, request: Request) -> impl Future<Output = Reply> + Send {
        self(request)
    }
}

/// Serves requests on a [`LocalRuntime`](crate::runtime::LocalRuntime):
/// a [`Handler`] without `Send`. Its futures and state stay on the thread
/// that serves the connection, so they may hold `Rc`, `RefCell` and
/// anything else that is not `Send`. Implemented for any
/// `Fn(LocalRequest) -> impl Future<Output = Reply>`.
///
/// ```
/// # use slow_driver::{Bytes, LocalHandler, LocalRequest, Peer, Reply, runtime::Local};
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// /// Counts this thread's requests and notifications, without a lock.
/// #[derive(Default)]
/// struct PerCore {
///     requests: Cell<u64>,
///     notes: Rc<Cell<u64>>,
/// }
///
/// impl LocalHandler for PerCore {
///     async fn request(&self, req: LocalRequest) -> Reply {
///         self.requests.set(self.requests.get() + 1);
///         Ok(req.body)
///     }
///
///     async fn notification(&self, _body: Bytes, _peer: Peer<Local>) {
///         self.notes.set(self.notes.get() + 1);
///     }
/// }
///
/// let handler = PerCore::default();
/// block_on(handler.request(LocalRequest::new_local(1.into(), "hi")))?; // your runtime's block_on
/// assert_eq!(handler.requests.get(), 1);
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #     }
/// # }
/// # Ok::<(), slow_driver::ErrorReply>(())
/// ```
pub trait LocalHandler: 'static {
    /// Answers one request, as [`Handler::request`].
    fn request(&self, request: LocalRequest) -> impl Future<Output = Reply>;

    /// A client sent a notification, as [`Handler::notification`].
    fn notification(&self, body: Bytes, peer: Peer<Local>) -> impl Future<Output = ()> {
        let _ = (body, peer);
        async {}
    }
}

impl<F, Fut> LocalHandler for F
where
    F: Fn(LocalRequest) -> Fut + 'static,
    Fut: Future<Output = Reply>,
{
    fn request(&self, request: LocalRequest) -> impl Future<Output = Reply> {
        self(request)
    }
}

/// A [`Handler`] on a threaded runtime, a [`LocalHandler`] on a local
/// one: what the driver calls, whichever the mode.
pub(crate) trait AnyHandler<M: Mode>: 'static {
    fn request(&self, request: Request<M>) -> impl Future<Output = Reply>;
    fn notification(&self, body: Bytes, peer: Peer<M>) -> impl Future<Output = ()>;
}

impl<H: Handler> AnyHandler<Threaded> for H {
    fn request(&self, request: Request) -> impl Future<Output = Reply> {
        Handler::request(self, request)
    }

    fn notification(&self, body: Bytes, peer: Peer) -> impl Future<Output = ()> {
        Handler::notification(self, body, peer)
    }
}

impl<H: LocalHandler> AnyHandler<Local> for H {
    fn request(&self, request: LocalRequest) -> impl Future<Output = Reply> {
        LocalHandler::request(self, request)
    }

    fn notification(&self, body: Bytes, peer: Peer<Local>) -> impl Future<Output = ()> {
        LocalHandler::notification(self, body, peer)
    }
}
