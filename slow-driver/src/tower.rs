//! SLOW in the tower ecosystem (feature `tower`): a [`Client`] is a
//! [`Service<Bytes>`](Service), and any `Service<Request>` serves as a
//! [`Handler`] through [`ServiceHandler`].
//!
//! Only `tower-service`, the trait crate, is a dependency: no runtime and
//! none of tower's middleware. Stack whichever of tower's layers you like
//! on a client (`Timeout`, `ConcurrencyLimit`, `Retry`, ...) and spread
//! requests over several servers with tower's `balance`: scaling past one
//! server is the ecosystem's balancing, not this crate's.
//!
//! ```
//! use slow_driver::runtime::Runtime;
//! use slow_driver::tower::Service;
//! use slow_driver::{Bytes, Client, Error};
//!
//! /// Waits for a request slot (back-pressure), then asks.
//! async fn ask<R: Runtime>(client: &mut Client<R>, body: &'static str) -> Result<Bytes, Error> {
//!     std::future::poll_fn(|cx| client.poll_ready(cx)).await?;
//!     client.call(Bytes::from(body)).await
//! }
//! ```
//!
//! Each adapter has the same feature (`slow-tokio = { features =
//! ["tower"] }`), under which its `Client` is a `Service<Bytes>` too and
//! it re-exports [`ServiceHandler`].

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::Bytes;

pub use tower_service::Service;

use crate::client::Client;
use crate::error::Error;
use crate::handler::{ErrorReply, Handler, LocalHandler, LocalRequest, Reply, Request};
use crate::mailbox::Ticket;
use crate::mode::{Mode, Threaded};
use crate::runtime::Reactor;
use crate::shared::{Shared, State};

/// A client as a tower service: one request per call, its body in, the
/// response's body out.
///
/// [`poll_ready`](Service::poll_ready) is the connection's back-pressure:
/// it is ready while a request sent now would go on the wire at once
/// (fewer than the server's MAX_CONCURRENT_REQUESTS outstanding, as the
/// protocol core counts them), and otherwise pending until a request ends
/// (is answered, fails, times out, or is cancelled). It fails once the
/// connection takes no new requests: [`Error::NotProcessed`] while it
/// drains or after a clean close, the connection's error (say
/// [`Error::ConnectionLost`]) after one that was not. Either way nothing
/// was sent: make a new client.
///
/// Clones share the connection and so its slots: readiness is not a
/// reservation. Two clones ready at once may both call; the request over
/// the limit then waits in the core's queue until a slot frees. It is
/// never an error.
///
/// [`call`](Service::call) hands the request to the connection at once
/// (its driver writes it; the next `poll_ready` counts it), as a polled
/// [`Client::request`](Client::request) does; its [`ResponseFuture`]
/// cancels the request when dropped before the end (tower's `Timeout`
/// drops it, so the server is told to stop). Requests carry no DEADLINE
/// this way: use [`Client::request_timeout`] for one the server should
/// know of.
///
/// ```
/// use std::future::poll_fn;
/// use slow_driver::runtime::Runtime;
/// use slow_driver::tower::Service;
/// use slow_driver::{Bytes, Client, Error};
///
/// /// Sends every body, never more at once than the server takes.
/// async fn all<R: Runtime>(mut client: Client<R>, bodies: Vec<Bytes>) -> Result<Vec<Bytes>, Error> {
///     let mut pending = Vec::new();
///     for body in bodies {
///         poll_fn(|cx| client.poll_ready(cx)).await?; // waits for a free slot
///         pending.push(client.call(body)); // on its way now
///     }
///     let mut answers = Vec::new();
///     for response in pending {
///         answers.push(response.await?);
///     }
///     Ok(answers)
/// }
/// ```
impl<R: Reactor> Service<Bytes> for Client<R> {
    type Response = Bytes;
    type Error = Error;
    type Future = ResponseFuture<R::Mode>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // The slots taken count the calls made so far.
        self.shared().lock_applied().poll_slot(cx)
    }

    fn call(&mut self, body: Bytes) -> ResponseFuture<R::Mode> {
        let shared = self.shared();
        ResponseFuture {
            state: match shared.submit(body, None, None) {
                Ok(ticket) => Pending::Waiting {
                    shared: shared.clone(),
                    ticket,
                },
                Err(e) => Pending::Failed(Some(e)),
            },
        }
    }
}

impl State {
    /// Ready while a request can go on the wire at once; the core decides.
    fn poll_slot(&mut self, cx: &Context<'_>) -> Poll<Result<(), Error>> {
        if self.conn.can_send_request() {
            return Poll::Ready(Ok(()));
        }
        if self.closed.is_some() || self.conn.is_closed() || self.conn.is_draining() {
            return Poll::Ready(Err(self.close_error().unwrap_or(Error::NotProcessed)));
        }
        // Open, every slot taken: wait for a request to end.
        if !self.slot_waiters.iter().any(|w| w.will_wake(cx.waker())) {
            self.slot_waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// A slot may be free, or the connection gone: every waiting
    /// `poll_ready` looks again.
    pub(crate) fn wake_slot_waiters(&mut self) {
        for w in self.slot_waiters.drain(..) {
            w.wake();
        }
    }
}

/// The response to one [`Service::call`] on a [`Client`]: the body, or
/// why there is none. Dropping it before it completes cancels the request
/// (CANCEL goes to the server, whose handler is stopped). On a
/// [`LocalRuntime`](crate::runtime::LocalRuntime) it is a
/// `ResponseFuture<Local>`, which is not `Send`.
///
/// It holds the connection's state, not the client: when every clone of
/// the client is dropped the connection closes gracefully, and requests
/// already sent are still answered.
///
/// ```
/// use slow_driver::runtime::Runtime;
/// use slow_driver::tower::{ResponseFuture, Service};
/// use slow_driver::{Bytes, Client, Error};
///
/// /// Sends two requests at once, then waits for both.
/// async fn both<R: Runtime>(client: &mut Client<R>) -> Result<(Bytes, Bytes), Error> {
///     let a: ResponseFuture = client.call(Bytes::from("a"));
///     let b = client.call(Bytes::from("b"));
///     Ok((a.await?, b.await?))
/// }
/// ```
#[must_use = "a request is cancelled when its future is dropped"]
pub struct ResponseFuture<M: Mode = Threaded> {
    state: Pending<M>,
}

enum Pending<M: Mode> {
    /// On its way: the outcome comes through the connection's mailbox.
    Waiting { shared: Shared<M>, ticket: Ticket },
    /// Refused before anything was sent (taken when polled).
    Failed(Option<Error>),
    /// The outcome was handed out.
    Done,
}

impl<M: Mode> Future for ResponseFuture<M> {
    type Output = Result<Bytes, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Bytes, Error>> {
        let this = self.get_mut();
        let outcome = match &mut this.state {
            Pending::Waiting { shared, ticket } => {
                let outcome = shared.poll_outcome(*ticket, cx);
                if outcome.is_pending() {
                    return Poll::Pending;
                }
                outcome
            }
            Pending::Failed(error) => Poll::Ready(Err(error
                .take()
                .expect("ResponseFuture polled after completion"))),
            Pending::Done => panic!("ResponseFuture polled after completion"),
        };
        this.state = Pending::Done;
        outcome
    }
}

impl<M: Mode> Drop for ResponseFuture<M> {
    fn drop(&mut self) {
        if let Pending::Waiting { shared, ticket } = &self.state {
            shared.abandon(*ticket);
        }
    }
}

impl<M: Mode> fmt::Debug for ResponseFuture<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ResponseFuture");
        match &self.state {
            Pending::Waiting { ticket, .. } => d.field("ticket", ticket),
            Pending::Failed(error) => d.field("error", error),
            Pending::Done => d.field("done", &true),
        };
        d.finish_non_exhaustive()
    }
}

/// Any tower service from [`Request`] to [`Bytes`] as a server's
/// [`Handler`] (on a [`LocalRuntime`](crate::runtime::LocalRuntime), from
/// [`LocalRequest`], as a [`LocalHandler`]): tower's middleware on the
/// server side.
///
/// Each request gets a clone of the service, driven to readiness
/// (`poll_ready`) and then called, as tower's services expect; the clone is
/// taken under a lock, so the service need not be `Sync` (tower's
/// `ConcurrencyLimit` and `BoxCloneService` are not). Its error becomes the
/// ERROR answer through [`Into<ErrorReply>`](ErrorReply): an `ErrorReply`
/// as it is, any other error type as INTERNAL_ERROR with its text. A
/// middleware whose error is tower's `BoxError` (a boxed error converts into
/// nothing) needs a `map_err` to one of those. Client notifications are
/// ignored.
///
/// ```
/// # use slow_driver::{Bytes, ErrorCode, ErrorReply, Handler, Request, tower::ServiceHandler};
/// use tower::service_fn;
///
/// let shout = service_fn(|req: Request| async move {
///     if req.body.is_empty() {
///         return Err(ErrorReply::new(0x0100, "nothing to shout"));
///     }
///     Ok(Bytes::from(req.body.to_ascii_uppercase()))
/// });
/// let handler = ServiceHandler::new(shout); // server.serve(handler), on your runtime
///
/// // One request by hand (block_on: your runtime's; no connection needed):
/// assert_eq!(block_on(handler.request(Request::new(1.into(), "hi")))?, "HI");
/// let quiet = block_on(handler.request(Request::new(2.into(), ""))).unwrap_err();
/// assert_eq!(quiet.code, ErrorCode(0x0100));
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #     }
/// # }
/// # Ok::<(), ErrorReply>(())
/// ```
pub struct ServiceHandler<S> {
    service: Mutex<S>,
}

impl<S> ServiceHandler<S> {
    /// Serves requests with `service`.
    ///
    /// ```
    /// # use slow_driver::{Bytes, Request, tower::ServiceHandler};
    /// # use std::convert::Infallible;
    /// let echo = ServiceHandler::new(tower::service_fn(|req: Request| async move {
    ///     Ok::<Bytes, Infallible>(req.body)
    /// }));
    /// # let _ = echo;
    /// ```
    pub fn new(service: S) -> Self {
        ServiceHandler {
            service: Mutex::new(service),
        }
    }

    /// The service back.
    ///
    /// ```
    /// # use slow_driver::tower::ServiceHandler;
    /// let handler = ServiceHandler::new(42); // any value; a service to serve
    /// assert_eq!(handler.into_inner(), 42);
    /// ```
    pub fn into_inner(self) -> S {
        self.service
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A clone of the service for one request.
    fn service(&self) -> S
    where
        S: Clone,
    {
        // A clone that panicked leaves the service as it was: go on with it.
        self.service
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl<S: fmt::Debug> fmt::Debug for ServiceHandler<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ServiceHandler")
            .field(&self.service)
            .finish()
    }
}

/// One request through a fresh clone: ready first, then called.
async fn serve_one<S, Req>(mut service: S, request: Req) -> Reply
where
    S: Service<Req, Response = Bytes>,
    S::Error: Into<ErrorReply>,
{
    poll_fn(|cx| service.poll_ready(cx))
        .await
        .map_err(Into::into)?;
    service.call(request).await.map_err(Into::into)
}

impl<S> Handler for ServiceHandler<S>
where
    S: Service<Request, Response = Bytes> + Clone + Send + 'static,
    S::Error: Into<ErrorReply>,
    S::Future: Send,
{
    fn request(&self, request: Request) -> impl Future<Output = Reply> + Send {
        serve_one(self.service(), request)
    }
}

impl<S> LocalHandler for ServiceHandler<S>
where
    S: Service<LocalRequest, Response = Bytes> + Clone + 'static,
    S::Error: Into<ErrorReply>,
{
    fn request(&self, request: LocalRequest) -> impl Future<Output = Reply> {
        serve_one(self.service(), request)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::rc::Rc;
    use std::task::Waker;

    use super::*;
    use crate::ErrorCode;

    fn block_on<F: Future>(f: F) -> F::Output {
        let mut cx = Context::from_waker(Waker::noop());
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    /// A service that is ready only on its second poll, and counts calls.
    #[derive(Clone)]
    struct Slow {
        polled: bool,
        calls: std::sync::Arc<std::sync::atomic::AtomicU32>,
    }

    impl Service<Request> for Slow {
        type Response = Bytes;
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<Bytes, std::io::Error>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
            if std::mem::replace(&mut self.polled, true) {
                return Poll::Ready(Ok(()));
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }

        fn call(&mut self, req: Request) -> Self::Future {
            assert!(self.polled, "called before ready");
            self.calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::future::ready(match &req.body[..] {
                b"fail" => Err(std::io::Error::other("disk on fire")),
                _ => Ok(req.body),
            })
        }
    }

    #[test]
    fn a_service_handler_readies_each_clone_then_calls_it() {
        let slow = Slow {
            polled: false,
            calls: Default::default(),
        };
        let calls = slow.calls.clone();
        let handler = ServiceHandler::new(slow);
        for n in 1..=3 {
            let reply = block_on(Handler::request(&handler, Request::new(n.into(), "hi")));
            assert_eq!(reply.unwrap(), "hi");
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 3);
        // The handler's own copy was never driven: each request had a clone.
        assert!(!handler.into_inner().polled);
    }

    #[test]
    fn a_service_error_answers_internal_error_with_its_text() {
        let handler = ServiceHandler::new(Slow {
            polled: false,
            calls: Default::default(),
        });
        let e = block_on(Handler::request(&handler, Request::new(1.into(), "fail"))).unwrap_err();
        assert_eq!(
            e,
            ErrorReply::new(ErrorCode::INTERNAL_ERROR, "disk on fire")
        );
    }

    #[test]
    fn a_service_handler_serves_local_requests_without_send() {
        let name = Rc::new("local"); // not Send
        let handler = ServiceHandler::new(tower::service_fn(move |req: LocalRequest| {
            let name = name.clone();
            async move { Ok::<_, Infallible>(Bytes::from(format!("{name} {}", req.body.len()))) }
        }));
        let reply = block_on(LocalHandler::request(
            &handler,
            LocalRequest::new_local(1.into(), "abc"),
        ));
        assert_eq!(reply.unwrap(), "local 3");
    }
}
