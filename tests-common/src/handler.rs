//! The handler the scenarios serve besides the INTEROP service, made of
//! plain functions so that one type serves threaded and local runtimes
//! alike: a [`Handler`] on a threaded runtime, a [`LocalHandler`] on a
//! local one (as `InteropService` is).
//!
//! A scenario's closure cannot be a handler on both: generic code cannot
//! show that its future is `Send` on a threaded runtime. So a scenario says
//! what to do with a request ([`Answer`]: a reply, now, after a while on
//! the runtime's timer, or never) and the waiting is done here, where the
//! mode is known.

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use slow_driver::runtime::{Local, LocalRuntime, Reactor, Runtime, Timer};
use slow_driver::{Handler, LocalHandler, LocalRequest, Peer, Reply, Request};

use crate::fixtures::Stopped;

/// What a handler does with one request.
pub(crate) struct Answer {
    reply: Reply,
    wait: Wait,
    /// Held until the handler stops (answered, cancelled or expired).
    _guard: Option<Stopped>,
}

enum Wait {
    Now,
    For(Duration),
    Forever,
}

impl Answer {
    /// Answers `reply` at once.
    pub(crate) fn now(reply: Reply) -> Answer {
        Answer {
            reply,
            wait: Wait::Now,
            _guard: None,
        }
    }

    /// Answers `reply` after `d` on the runtime's timer.
    pub(crate) fn after(d: Duration, reply: Reply) -> Answer {
        Answer {
            wait: Wait::For(d),
            ..Answer::now(reply)
        }
    }

    /// Never answers: runs until stopped from outside.
    pub(crate) fn never() -> Answer {
        Answer {
            wait: Wait::Forever,
            ..Answer::now(Ok(Bytes::new()))
        }
    }

    /// Holds `guard` while the handler runs.
    pub(crate) fn holding(self, guard: Stopped) -> Answer {
        Answer {
            _guard: Some(guard),
            ..self
        }
    }
}

type OnRequest<M> = dyn Fn(&Request<M>) -> Answer + Send + Sync;
type OnNotification<M> = dyn Fn(Bytes, &Peer<M>) + Send + Sync;

/// The peers a [`TestHandler`] has seen requests from, in order.
pub(crate) type Peers<M> = Arc<Mutex<Vec<Peer<M>>>>;

/// A handler of a scenario's own, on runtime `R`: what a request is
/// answered, what is done with a client's notification, and (if asked) the
/// peers its requests came from. Made by the scenarios; it is named in
/// [`TestRuntime`](crate::TestRuntime)'s bounds.
pub struct TestHandler<R: Reactor> {
    runtime: R,
    request: Box<OnRequest<R::Mode>>,
    notification: Option<Box<OnNotification<R::Mode>>>,
    peers: Option<Peers<R::Mode>>,
}

impl<R: Reactor> TestHandler<R> {
    /// Answers each request as `request` says, on the caller's runtime.
    pub(crate) fn new(
        request: impl Fn(&Request<R::Mode>) -> Answer + Send + Sync + 'static,
    ) -> Self {
        TestHandler {
            runtime: R::current().expect("runtime"),
            request: Box::new(request),
            notification: None,
            peers: None,
        }
    }

    /// Hands each client notification to `notification` (ignored
    /// otherwise).
    pub(crate) fn on_notification(
        self,
        notification: impl Fn(Bytes, &Peer<R::Mode>) + Send + Sync + 'static,
    ) -> Self {
        TestHandler {
            notification: Some(Box::new(notification)),
            ..self
        }
    }

    /// Keeps the peer of every request, before answering it.
    pub(crate) fn keeping_peers(self) -> (Self, Peers<R::Mode>) {
        let peers = Peers::default();
        let handler = TestHandler {
            peers: Some(peers.clone()),
            ..self
        };
        (handler, peers)
    }

    async fn answer(&self, request: Request<R::Mode>) -> Reply {
        if let Some(peers) = &self.peers {
            peers.lock().unwrap().push(request.peer.clone());
        }
        let answer = (self.request)(&request);
        match answer.wait {
            Wait::Now => {}
            Wait::For(d) => {
                let mut timer = self.runtime.timer(R::now() + d);
                poll_fn(|cx| timer.poll_expired(cx)).await;
            }
            Wait::Forever => std::future::pending().await,
        }
        // The request (and its peer) and the guard are held to the end, as
        // an async handler holds them.
        drop(request);
        answer.reply
    }

    fn notified(&self, body: Bytes, peer: Peer<R::Mode>) {
        if let Some(notification) = &self.notification {
            notification(body, &peer);
        }
    }
}

impl<R: Runtime> Handler for TestHandler<R> {
    async fn request(&self, request: Request) -> Reply {
        self.answer(request).await
    }

    async fn notification(&self, body: Bytes, peer: Peer) {
        self.notified(body, peer);
    }
}

impl<R: LocalRuntime> LocalHandler for TestHandler<R> {
    async fn request(&self, request: LocalRequest) -> Reply {
        self.answer(request).await
    }

    async fn notification(&self, body: Bytes, peer: Peer<Local>) {
        self.notified(body, peer);
    }
}
