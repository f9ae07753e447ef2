//! How the driver's tasks are spawned, per mode: with
//! [`Runtime::spawn`] when the runtime's tasks are `Send`, with
//! [`LocalRuntime::spawn_local`] when they stay on their thread.
//!
//! Generic code cannot ask "is this future `Send`?", so the question is
//! answered where the types are known: each trait here has one blanket
//! impl per mode, and the threaded one spawns the driver's futures only
//! after requiring what makes them `Send` (a `Send` stream, a
//! [`Handler`]). You never implement these traits: implement [`Runtime`]
//! or [`LocalRuntime`] and they follow. They appear in the bounds of
//! `connect`, `from_stream` and `serve`, where the compiler checks them for
//! you.

use crate::client::ClientDispatch;
use crate::driver::Driver;
use crate::handler::{Handler, LocalHandler, Peer};
use crate::mode::{Local, Mode, Threaded};
use crate::runtime::{LocalRuntime, Reactor, Runtime, Transport};
use crate::serving::{HandlerTask, ServerDispatch, deliver_notifications};
use crate::trace::Span;

mod sealed {
    pub trait Sealed<M> {}
    impl<R: crate::runtime::Runtime> Sealed<crate::mode::Threaded> for R {}
    impl<R: crate::runtime::LocalRuntime> Sealed<crate::mode::Local> for R {}
}

/// A runtime that can run a client connection over stream `S` (`M` is
/// the runtime's [`Mode`]): every [`Runtime`] for a `Send` stream, every
/// [`LocalRuntime`] for any stream. Sealed; it follows from those two.
///
/// ```
/// use slow_driver::runtime::{Reactor, RunsClient, Transport};
/// use slow_driver::{Client, Config, Error};
///
/// /// A client over `stream`, on a threaded or a local runtime alike.
/// async fn over<R, S>(runtime: R, stream: S) -> Result<Client<R>, Error>
/// where
///     R: Reactor + RunsClient<S, <R as Reactor>::Mode>,
///     S: Transport,
/// {
///     Client::from_stream_on(runtime, stream, Config::default()).await
/// }
/// ```
pub trait RunsClient<S, M: Mode>: Reactor + sealed::Sealed<M> {
    #[doc(hidden)]
    fn spawn_client(&self, driver: Driver<Self, S, ClientDispatch>);
}

impl<R: Runtime, S: Transport + Send> RunsClient<S, Threaded> for R {
    fn spawn_client(&self, driver: Driver<Self, S, ClientDispatch>) {
        self.spawn(driver);
    }
}

impl<R: LocalRuntime, S: Transport> RunsClient<S, Local> for R {
    fn spawn_client(&self, driver: Driver<Self, S, ClientDispatch>) {
        self.spawn_local(driver);
    }
}

/// A runtime that can run handler `H`'s tasks: every [`Runtime`] with a
/// [`Handler`], every [`LocalRuntime`] with a [`LocalHandler`]. Sealed.
pub trait RunsHandlers<H, M: Mode>: Reactor + sealed::Sealed<M> {
    /// The handler's work on one request, boxed: the driver polls it once
    /// itself and spawns it only if it is not done.
    #[doc(hidden)]
    fn handler_task(&self, handler: M::Ptr<H>, task: HandlerTask<M>, span: Option<Span>)
    -> M::Task;
    #[doc(hidden)]
    fn spawn_task(&self, task: M::Task);
    #[doc(hidden)]
    fn spawn_notifications(&self, handler: M::Ptr<H>, peer: Peer<M>);
}

impl<R: Runtime, H: Handler> RunsHandlers<H, Threaded> for R {
    #[inline]
    fn handler_task(
        &self,
        handler: std::sync::Arc<H>,
        task: HandlerTask<Threaded>,
        span: Option<Span>,
    ) -> <Threaded as Mode>::Task {
        // In the request's span only when it is recorded: otherwise the
        // task is boxed without the wrapper (and its size).
        match span {
            Some(span) => Box::pin(span.instrument(task.run(handler))),
            None => Box::pin(task.run(handler)),
        }
    }

    fn spawn_task(&self, task: <Threaded as Mode>::Task) {
        self.spawn(task);
    }

    fn spawn_notifications(&self, handler: std::sync::Arc<H>, peer: Peer) {
        self.spawn(deliver_notifications(handler, peer));
    }
}

impl<R: LocalRuntime, H: LocalHandler> RunsHandlers<H, Local> for R {
    #[inline]
    fn handler_task(
        &self,
        handler: std::rc::Rc<H>,
        task: HandlerTask<Local>,
        span: Option<Span>,
    ) -> <Local as Mode>::Task {
        match span {
            Some(span) => Box::pin(span.instrument(task.run(handler))),
            None => Box::pin(task.run(handler)),
        }
    }

    fn spawn_task(&self, task: <Local as Mode>::Task) {
        self.spawn_local(task);
    }

    fn spawn_notifications(&self, handler: std::rc::Rc<H>, peer: Peer<Local>) {
        self.spawn_local(deliver_notifications(handler, peer));
    }
}

/// A runtime that can serve streams `S` with handler `H`: every
/// [`Runtime`] with `Send` streams and a [`Handler`], every
/// [`LocalRuntime`] with any streams and a [`LocalHandler`]. Sealed.
///
/// ```
/// use slow_driver::runtime::{Listener, Reactor, RunsServer};
/// use slow_driver::{Error, Server};
///
/// /// Serves `handler` on a threaded or a local runtime alike.
/// async fn run<R, L, H: 'static>(server: Server<R, L>, handler: H) -> Result<(), Error>
/// where
///     R: Reactor + RunsServer<L::Stream, H, <R as Reactor>::Mode>,
///     L: Listener,
/// {
///     server.serve(handler).await
/// }
/// ```
pub trait RunsServer<S, H, M: Mode>: RunsHandlers<H, M> {
    #[doc(hidden)]
    fn spawn_connection(&self, driver: Driver<Self, S, ServerDispatch<Self, H>>);
}

impl<R: Runtime, S: Transport + Send, H: Handler> RunsServer<S, H, Threaded> for R {
    fn spawn_connection(&self, driver: Driver<Self, S, ServerDispatch<Self, H>>) {
        self.spawn(driver);
    }
}

impl<R: LocalRuntime, S: Transport, H: LocalHandler> RunsServer<S, H, Local> for R {
    fn spawn_connection(&self, driver: Driver<Self, S, ServerDispatch<Self, H>>) {
        self.spawn_local(driver);
    }
}
