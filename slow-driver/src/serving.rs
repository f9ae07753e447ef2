//! One server connection's application side: a handler task per request
//! (stopped when the core abandons the request), notifications delivered in
//! order, and the answer handed back to the core.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use slow_proto::{ErrorCode, Event, RequestId, SendError};

use crate::driver::Dispatch;
use crate::handler::{Handler, Peer, Reply, Request};
use crate::registry::Entry;
use crate::runtime::Runtime;
use crate::shared::{AbortHandle, NOTIFICATION_QUEUE, Shared, State};

/// What a server connection's driver does with the core's events: a
/// handler task per request, one task delivering notifications in order.
pub(crate) struct ServerDispatch<R, H> {
    pub(crate) runtime: R,
    pub(crate) handler: Arc<H>,
    pub(crate) peer: Peer,
    /// Its place among the server's live connections (`None` for a refused
    /// one); left when the driver finishes.
    pub(crate) entry: Option<Entry>,
}

impl<R: Runtime, H: Handler> Dispatch for ServerDispatch<R, H> {
    fn event(&mut self, state: &mut State, shared: &Arc<Shared>, event: Event) {
        match event {
            Event::Request { id, body, deadline } => {
                let abort = AbortHandle::new();
                state.handlers.insert(id, abort.clone());
                let deadline = deadline.map(|d| state.to_std(d));
                let request = Request::on(self.peer.clone(), id, body, deadline);
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
        self.entry.take();
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
