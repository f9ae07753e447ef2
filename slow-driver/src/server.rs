//! The server: accepts connections, runs one handler task per request.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use bytes::Bytes;
use slow_proto::{Config, Connection, ErrorCode, Event, Instant, RequestId, SendError};

use crate::driver::{Dispatch, Driver};
use crate::error::Error;
use crate::runtime::{Listener, Runtime, Timer};
use crate::shared::{AbortHandle, NOTIFICATION_QUEUE, Shared, State};

/// The default limit on concurrent connections (INTEROP.md).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// An ERROR answer to a request: a code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// The code (0x0100 and above are the application's own).
    pub code: ErrorCode,
    /// The message (UTF-8; cut to fit one frame).
    pub message: String,
}

impl ErrorReply {
    /// An ERROR answer with `code` and `message`.
    pub fn new(code: impl Into<ErrorCode>, message: impl Into<String>) -> Self {
        ErrorReply {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// What a handler answers: a response body or an ERROR.
pub type Reply = Result<Bytes, ErrorReply>;

/// One request, as a handler sees it.
pub struct Request {
    /// The request id.
    pub id: RequestId,
    /// The whole body.
    pub body: Bytes,
    /// When the client's DEADLINE runs out, if it set one. The handler is
    /// stopped then (the client gets DEADLINE_EXCEEDED).
    pub deadline: Option<std::time::Instant>,
    /// The connection it came on.
    pub peer: Peer,
}

/// A handle on one server-side connection: who it is, and a way to send it
/// notifications or close it.
#[derive(Clone)]
pub struct Peer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Peer {
    /// The client's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the client advertised in its HELLO.
    pub fn settings(&self) -> slow_proto::Settings {
        self.shared
            .lock()
            .conn
            .peer_settings()
            .copied()
            .unwrap_or_default()
    }

    /// Sends a notification to this client. Fails with [`Error::TooLarge`]
    /// above the client's MAX_FRAME_SIZE (nothing is sent).
    pub fn notify(&self, body: impl Into<Bytes>) -> Result<(), Error> {
        let mut st = self.shared.lock();
        let now = st.now();
        let sent = st.conn.notify(body.into(), now);
        st.wake_driver();
        sent.map_err(Error::from)
    }

    /// Closes this connection gracefully (GOAWAY SHUTTING_DOWN): requests
    /// already received are still answered.
    pub fn close(&self) {
        let mut st = self.shared.lock();
        let now = st.now();
        st.conn.close(ErrorCode::SHUTTING_DOWN, "closing", now);
        st.wake_driver();
    }
}

/// Serves requests. Implemented for any `Fn(Request) -> impl Future<Output
/// = Reply>`; implement it on a type to also receive client notifications.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request. Runs as its own task, concurrently with the
    /// connection's other requests; dropped if the request is cancelled or
    /// its deadline passes.
    fn request(&self, request: Request) -> impl Future<Output = Reply> + Send;

    /// A client sent a notification. Ignored unless overridden.
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

/// A SLOW server bound to a TCP address.
pub struct Server<R: Runtime> {
    runtime: R,
    listener: R::Listener,
    config: Config,
    max_connections: usize,
}

impl<R: Runtime> Server<R> {
    /// Binds to `addr` (`host:port`; port 0 picks a free one) with the
    /// default [`Config`].
    pub async fn bind(addr: impl Display) -> Result<Self, Error> {
        Self::bind_with(addr, Config::default()).await
    }

    /// Binds with `config`, which every connection uses.
    pub async fn bind_with(addr: impl Display, config: Config) -> Result<Self, Error> {
        Self::bind_on(R::current()?, addr, config).await
    }

    /// Binds on the given runtime: every task the server spawns runs there.
    pub async fn bind_on(runtime: R, addr: impl Display, config: Config) -> Result<Self, Error> {
        config.validate()?;
        let addr = addr.to_string();
        let mut last = None;
        for a in runtime.resolve(addr.clone()).await? {
            match runtime.bind(a).await {
                Ok(listener) => {
                    return Ok(Server {
                        runtime,
                        listener,
                        config,
                        max_connections: DEFAULT_MAX_CONNECTIONS,
                    });
                }
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

    /// The address the server is bound to.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.listener.local_addr()?)
    }

    /// Limits concurrent connections (default 10,000). A connection beyond
    /// the limit is answered GOAWAY CONNECTION_LIMIT and closed.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Serves forever (until accepting fails).
    pub async fn serve(self, handler: impl Handler) -> Result<(), Error> {
        self.serve_with_shutdown(handler, std::future::pending())
            .await
    }

    /// Serves until `signal` completes, then shuts down gracefully: GOAWAY
    /// SHUTTING_DOWN to every connection, outstanding requests finish (within
    /// the drain timeout), then this returns.
    pub async fn serve_with_shutdown(
        mut self,
        handler: impl Handler,
        signal: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let handler = Arc::new(handler);
        let registry = Arc::new(Mutex::new(Registry::default()));
        let mut signal = pin!(signal);
        // While out of file descriptors, accepting waits on this timer
        // instead of spinning on the same error.
        let mut backoff: Option<R::Timer> = None;
        let accepted = poll_fn(|cx| {
            if signal.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            loop {
                if let Some(timer) = &mut backoff {
                    if timer.poll_expired(cx).is_pending() {
                        return Poll::Pending;
                    }
                    backoff = None;
                }
                match self.listener.poll_accept(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok((stream, addr))) => {
                        self.start(stream, addr, &handler, &registry)
                    }
                    // The connection died before we took it: take the next.
                    Poll::Ready(Err(e)) if is_per_connection(&e) => {}
                    // Out of file descriptors and the like: keep serving the
                    // connections we have, and try again a little later.
                    Poll::Ready(Err(e)) if is_resource_exhaustion(&e) => {
                        let later = std::time::Instant::now() + ACCEPT_BACKOFF;
                        backoff = Some(self.runtime.timer(later));
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Io(e))),
                }
            }
        })
        .await;
        shutdown(&registry).await;
        accepted
    }

    fn start<H: Handler>(
        &self,
        stream: R::Stream,
        addr: SocketAddr,
        handler: &Arc<H>,
        registry: &Arc<Mutex<Registry>>,
    ) {
        let origin = std::time::Instant::now();
        let Ok(mut conn) = Connection::server(self.config.clone(), Instant::ZERO) else {
            return; // validated in bind_on
        };
        let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
        let full = reg.conns.len() >= self.max_connections;
        if full {
            // Refused connections do not count; the driver just says why.
            conn.close(
                ErrorCode::CONNECTION_LIMIT,
                "connection limit",
                Instant::ZERO,
            );
        }
        let shared = Shared::new(conn, origin);
        let key = (!full).then(|| reg.insert(shared.clone()));
        drop(reg);
        let dispatch = ServerDispatch {
            runtime: self.runtime.clone(),
            handler: handler.clone(),
            peer: Peer {
                addr,
                shared: shared.clone(),
            },
            registry: key.map(|k| (registry.clone(), k)),
        };
        let driver = Driver::new(shared, stream, self.runtime.clone(), dispatch);
        self.runtime.spawn(driver);
    }
}

/// How long accepting pauses when the process is out of descriptors.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted)
}

fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    // ENFILE, EMFILE, ENOBUFS, ENOMEM on Linux; WouldBlock should not reach
    // here, but if it does, waiting is the right answer too.
    e.kind() == std::io::ErrorKind::WouldBlock
        || e.raw_os_error()
            .is_some_and(|c| matches!(c, 23 | 24 | 105 | 12))
}

/// The live connections of one server, for graceful shutdown.
#[derive(Default)]
struct Registry {
    conns: HashMap<u64, Arc<Shared>>,
    next: u64,
    /// Woken when the last connection is gone.
    empty: Option<Waker>,
}

impl Registry {
    fn insert(&mut self, shared: Arc<Shared>) -> u64 {
        self.next += 1;
        self.conns.insert(self.next, shared);
        self.next
    }
}

async fn shutdown(registry: &Arc<Mutex<Registry>>) {
    let conns: Vec<Arc<Shared>> = registry
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .conns
        .values()
        .cloned()
        .collect();
    for shared in conns {
        let mut st = shared.lock();
        let now = st.now();
        st.conn
            .close(ErrorCode::SHUTTING_DOWN, "server shutting down", now);
        st.wake_driver();
    }
    poll_fn(|cx| {
        let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
        if reg.conns.is_empty() {
            Poll::Ready(())
        } else {
            reg.empty = Some(cx.waker().clone());
            Poll::Pending
        }
    })
    .await
}

struct ServerDispatch<R, H> {
    runtime: R,
    handler: Arc<H>,
    peer: Peer,
    registry: Option<(Arc<Mutex<Registry>>, u64)>,
}

impl<R: Runtime, H: Handler> Dispatch for ServerDispatch<R, H> {
    fn event(&mut self, state: &mut State, shared: &Arc<Shared>, event: Event) {
        match event {
            Event::Request { id, body, deadline } => {
                let abort = AbortHandle::new();
                state.handlers.insert(id, abort.clone());
                let request = Request {
                    id,
                    body,
                    deadline: deadline.map(|d| state.to_std(d)),
                    peer: self.peer.clone(),
                };
                let handler = self.handler.clone();
                let shared = shared.clone();
                self.runtime.spawn(async move {
                    // Answers INTERNAL_ERROR if the handler panics.
                    let _guard = Unanswered {
                        shared: &shared,
                        id,
                    };
                    let mut work = pin!(handler.request(request));
                    let reply = poll_fn(|cx| match abort.poll_aborted(cx) {
                        Poll::Ready(()) => Poll::Ready(None),
                        Poll::Pending => work.as_mut().poll(cx).map(Some),
                    });
                    if let Some(reply) = reply.await {
                        answer(&shared, id, reply);
                    }
                });
            }
            // Cancelled, expired or closed: the handler stops either way.
            Event::RequestAbandoned { id, .. } => {
                if let Some(h) = state.handlers.remove(&id) {
                    h.abort();
                }
            }
            Event::Notify { body } => {
                // One task at a time drains the connection's notifications,
                // so the handler sees them in the order they were sent.
                state
                    .notifications
                    .get_or_insert_with(Default::default)
                    .push_back(body);
                if !state.notification_task {
                    state.notification_task = true;
                    let handler = self.handler.clone();
                    let peer = self.peer.clone();
                    self.runtime.spawn(deliver_notifications(handler, peer));
                }
            }
            _ => {}
        }
    }

    fn finished(&mut self) {
        if let Some((registry, key)) = self.registry.take() {
            let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
            reg.conns.remove(&key);
            if reg.conns.is_empty() {
                if let Some(w) = reg.empty.take() {
                    w.wake();
                }
            }
        }
    }
}

/// Drains one connection's notifications into the handler, in order.
async fn deliver_notifications<H: Handler>(handler: Arc<H>, peer: Peer) {
    loop {
        let next = {
            let mut st = peer.shared.lock();
            let next = st.notifications.as_mut().and_then(|q| q.pop_front());
            if next.is_none() {
                st.notification_task = false;
            } else if st
                .notifications
                .as_ref()
                .is_some_and(|q| q.len() + 1 == NOTIFICATION_QUEUE)
            {
                st.wake_driver(); // it may have stopped reading
            }
            next
        };
        match next {
            Some(body) => handler.notification(body, peer.clone()).await,
            None => return,
        }
    }
}

/// A handler task that ends without answering and without being stopped
/// (it panicked) still owes its request an answer.
struct Unanswered<'a> {
    shared: &'a Arc<Shared>,
    id: RequestId,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        // Answered or abandoned requests are no longer registered.
        if st.handlers.remove(&self.id).is_some() {
            let now = st.now();
            let _ =
                st.conn
                    .respond_error(self.id, ErrorCode::INTERNAL_ERROR, "handler failed", now);
            st.wake_driver();
        }
    }
}

fn answer(shared: &Arc<Shared>, id: RequestId, reply: Reply) {
    let mut st = shared.lock();
    st.handlers.remove(&id);
    let now = st.now();
    let sent = match reply {
        Ok(body) => st.conn.respond(id, body, now),
        Err(e) => st.conn.respond_error(id, e.code, &e.message, now),
    };
    // UnknownRequest: cancelled or expired meanwhile; TooLarge: the core
    // answered MESSAGE_TOO_LARGE itself. Neither needs more from us.
    debug_assert!(!matches!(sent, Err(SendError::WrongRole)));
    st.wake_driver();
}
