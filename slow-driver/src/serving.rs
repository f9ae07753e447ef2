//! One server connection's application side: the handler's work on each
//! request (stopped when the core abandons the request), notifications
//! delivered in order, and the answer handed back to the core.
//!
//! A handler's work is polled once by the driver itself, right after the
//! input that brought the request, with the connection's lock released:
//! a handler that answers at once (most do) costs no task, no wake-up and
//! no scheduling, and its answer goes out in the same write as the others
//! of that read. Only a handler that is still pending becomes a task of
//! its own. A handler that panics while polled inline answers
//! INTERNAL_ERROR, as a task would.
//!
//! A handler stops when the core abandons its request (cancelled, expired,
//! closed). Nothing is kept per request for that until a handler turns
//! out to wait: one abandoned before its first poll is dropped unpolled,
//! and a waiting one asks the core (`awaits_answer`) at each poll and
//! leaves its waker for the abandonment to wake.

use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use slow_proto::{ErrorCode, Event, RequestId, SendError};

use crate::driver::Dispatch;
use crate::handler::{AnyHandler, Peer, Reply, Request};
use crate::mode::Mode;
use crate::registry::Entry;
use crate::runtime::Reactor;
use crate::shared::{NOTIFICATION_QUEUE, Shared, State};
use crate::spawn::RunsHandlers;

/// What a server connection's driver does with the core's events: each
/// request's handler polled once inline (a task only if it is still
/// pending), one task delivering notifications in order.
pub struct ServerDispatch<R: Reactor, H: 'static> {
    pub(crate) runtime: R,
    pub(crate) handler: <R::Mode as Mode>::Ptr<H>,
    pub(crate) peer: Peer<R::Mode>,
    /// Its place among the server's live connections (`None` for a refused
    /// one); left when the driver finishes.
    pub(crate) entry: Option<Entry<R::Mode>>,
    /// Handlers of requests just received, to poll once inline.
    pub(crate) fresh: Vec<(RequestId, <R::Mode as Mode>::Task)>,
}

impl<M, R, H> Dispatch<M> for ServerDispatch<R, H>
where
    M: Mode,
    R: Reactor<Mode = M> + RunsHandlers<H, M>,
{
    fn event(&mut self, state: &mut State, shared: &Shared<M>, event: Event) {
        match event {
            Event::Request { id, body, deadline } => {
                let deadline = deadline.map(|d| state.to_std(d));
                let span = state.span.request(id);
                if let Some(span) = &span {
                    span.in_scope(|| crate::trace::request(body.len()));
                }
                let request = Request::on(self.peer.clone(), id, body, deadline);
                let task = HandlerTask {
                    shared: shared.clone(),
                    request,
                };
                let task = self.runtime.handler_task(self.handler.clone(), task, span);
                self.fresh.push((id, task));
            }
            // Cancelled, expired or closed: the handler stops either way.
            // Not polled yet: dropped unpolled (it has not started, so owes
            // nothing). Waiting: woken, it finds the core no longer awaits
            // its answer.
            Event::RequestAbandoned { id, reason } => {
                state.span.in_scope(|| crate::trace::abandoned(id, reason));
                self.fresh.retain(|(fresh, _)| *fresh != id);
                if let Some(handler) = state.handlers.remove(&id) {
                    handler.wake();
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
                    self.runtime
                        .spawn_notifications(self.handler.clone(), self.peer.clone());
                }
            }
            _ => {}
        }
    }

    fn has_inline(&self) -> bool {
        !self.fresh.is_empty()
    }

    fn run_inline(&mut self) {
        let mut cx = Context::from_waker(Waker::noop());
        for (_, mut task) in self.fresh.drain(..) {
            // Polled with a waker that does nothing: a handler still
            // pending is spawned, and its task's first poll registers the
            // waker that counts.
            match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut task).poll(&mut cx))) {
                Ok(Poll::Ready(())) => {}
                Ok(Poll::Pending) => self.runtime.spawn_task(task),
                // Dropping it answers INTERNAL_ERROR (`Unanswered`); the
                // panic was reported by the panic hook, as in a task.
                Err(_) => drop(task),
            }
        }
    }

    fn finished(&mut self) {
        self.entry.take();
    }
}

/// What a handler task needs besides the handler: the request and the
/// connection to answer on.
pub struct HandlerTask<M: Mode> {
    shared: Shared<M>,
    request: Request<M>,
}

impl<M: Mode> HandlerTask<M> {
    /// Runs the handler on the request and answers it, unless the core
    /// abandons the request first. Its first poll is the driver's, inline,
    /// right after the request's event: anything that abandoned the
    /// request before it dropped this task unpolled, so that poll asks
    /// nobody. Later polls (a task's) ask the core, and leave the task's
    /// waker for the abandonment to wake.
    pub(crate) async fn run<H: AnyHandler<M>>(self, handler: M::Ptr<H>) {
        let HandlerTask { shared, request } = self;
        let id = request.id;
        // Answers INTERNAL_ERROR if the handler panics.
        let mut guard = Unanswered {
            shared: &shared,
            id,
            armed: true,
        };
        let mut work = pin!(handler.request(request));
        let mut first = true;
        let reply = poll_fn(|cx| {
            if !std::mem::take(&mut first) && !still_awaited(&shared, id, cx) {
                return Poll::Ready(None);
            }
            work.as_mut().poll(cx).map(Some)
        })
        .await;
        guard.armed = false;
        if let Some(reply) = reply {
            answer(&shared, id, reply);
        }
    }
}

/// Whether the core still awaits request `id`'s answer; if so, the task
/// polling (`cx`) is woken when it stops waiting.
fn still_awaited<M: Mode>(shared: &Shared<M>, id: RequestId, cx: &Context<'_>) -> bool {
    let mut st = shared.lock();
    if !st.conn.awaits_answer(id) {
        st.handlers.remove(&id);
        return false;
    }
    // `clone_from` keeps a waker that already wakes this task.
    st.handlers
        .entry(id)
        .and_modify(|w| w.clone_from(cx.waker()))
        .or_insert_with(|| cx.waker().clone());
    true
}

/// Drains one connection's notifications into the handler, in order.
pub(crate) async fn deliver_notifications<M: Mode, H: AnyHandler<M>>(
    handler: M::Ptr<H>,
    peer: Peer<M>,
) {
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
struct Unanswered<'a, M: Mode> {
    shared: &'a Shared<M>,
    id: RequestId,
    /// Cleared once the task answered or was stopped.
    armed: bool,
}

impl<M: Mode> Drop for Unanswered<'_, M> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut st = self.shared.lock();
        st.handlers.remove(&self.id);
        let now = st.now();
        // An abandoned request is no longer known to the core: Err.
        if st
            .conn
            .respond_error(self.id, ErrorCode::INTERNAL_ERROR, "handler failed", now)
            .is_ok()
        {
            st.wake_driver();
        }
    }
}

fn answer<M: Mode>(shared: &Shared<M>, id: RequestId, reply: Reply) {
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
