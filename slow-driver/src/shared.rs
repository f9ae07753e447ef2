//! The state a connection's driver task shares with the tasks that use the
//! connection: the core itself, behind one lock, and who is waiting for what.
//!
//! As in quinn, callers act on the core directly under the lock (a request is
//! on its way the moment `request` is called) and wake the driver, which does
//! the IO. The lock is the mode's ([`Mode`]): a `Mutex` on a threaded
//! runtime, a `RefCell` on a local one. The clock (the runtime's, [`Runtime::now`]) is read under the
//! lock, so the core never sees time go backwards even when many threads
//! call in; the driver reads it once per wake-up (and after input or a
//! timer, see `now.rs`).
//!
//! [`Runtime::now`]: crate::runtime::Runtime::now

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use slow_proto::{Connection, ConnectionError, ErrorCode, Instant, RequestError, RequestId};

use crate::error::Error;
use crate::mode::{Cell, Lock, Mode};
use crate::trace::Span;

/// How many notifications wait for the application before the driver stops
/// reading from the peer (back-pressure rather than loss or growth).
pub(crate) const NOTIFICATION_QUEUE: usize = 1024;

/// A handle on one connection's state; cloning it shares the state.
pub(crate) struct Shared<M: Mode>(Cell<M, State>);

impl<M: Mode> Clone for Shared<M> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

pub(crate) struct State {
    pub(crate) conn: Connection,
    /// The connection's span: what its tasks log is inside it.
    pub(crate) span: Span,
    origin: std::time::Instant,
    /// The runtime's clock.
    clock: fn() -> std::time::Instant,
    driver: Option<Waker>,
    /// The driver's clock reading while it runs handlers inline (its lock
    /// released): answers made then use it, and need not wake it.
    pub(crate) inline: Option<Instant>,
    /// The driver was asked to wake while it ran handlers inline.
    pub(crate) woken_inline: bool,
    /// Woken when the connection is established or closed.
    watchers: Vec<Waker>,
    /// Set once `Event::Closed` was seen.
    pub(crate) closed: Option<Option<ConnectionError>>,
    /// Set once the final output is written (or given up): the connection
    /// is over for the application; only the socket may still linger.
    pub(crate) driver_done: bool,
    /// The socket's first error, the cause behind a lost connection.
    pub(crate) io_error: Option<Arc<io::Error>>,
    /// Client: callers waiting for their request's outcome.
    waiters: IdMap<Waiter>,
    /// Notifications for the application (client: `None` until someone
    /// subscribes; server: waiting for the handler).
    pub(crate) notifications: Option<VecDeque<Bytes>>,
    notification_waker: Option<Waker>,
    /// Server: handler tasks waiting for more than their first poll, by
    /// request, woken when their request is abandoned (the core says so:
    /// `awaits_answer`). A handler answered at its first poll is never
    /// here.
    pub(crate) handlers: IdMap<Waker>,
    /// Server: a task is draining `notifications` into the handler.
    pub(crate) notification_task: bool,
    /// The peer's verified TLS identity, taken from the stream once the
    /// SLOW handshake is done.
    #[cfg(feature = "tls")]
    pub(crate) tls_identity: Option<crate::tls::TlsIdentity>,
    /// Client, as a tower `Service`: callers of `poll_ready` waiting for a
    /// request slot (woken when a request ends or the connection closes).
    #[cfg(feature = "tower")]
    pub(crate) slot_waiters: Vec<Waker>,
}

#[derive(Default)]
struct Waiter {
    outcome: Option<Result<Bytes, RequestError>>,
    waker: Option<Waker>,
}

impl<M: Mode> Shared<M> {
    /// The state of a connection whose core was made at `clock()`'s
    /// present (its time zero).
    pub(crate) fn new(
        conn: Connection,
        clock: fn() -> std::time::Instant,
        span: Span,
    ) -> Shared<M> {
        Shared(Cell::new(State {
            conn,
            span,
            origin: clock(),
            clock,
            driver: None,
            inline: None,
            woken_inline: false,
            watchers: Vec::new(),
            closed: None,
            driver_done: false,
            io_error: None,
            waiters: IdMap::default(),
            notifications: None,
            notification_waker: None,
            handlers: IdMap::default(),
            notification_task: false,
            #[cfg(feature = "tls")]
            tls_identity: None,
            #[cfg(feature = "tower")]
            slot_waiters: Vec::new(),
        }))
    }

    pub(crate) fn lock(&self) -> <M::Lock<State> as Lock<State>>::Guard<'_> {
        self.0.lock()
    }
}

impl State {
    /// The current time on the core's timeline: one read of the runtime's
    /// clock (under the lock), or the driver's own reading while it runs
    /// handlers inline (all they do then happens within its wake-up).
    pub(crate) fn now(&self) -> Instant {
        self.inline
            .unwrap_or_else(|| Instant::from_std(self.origin, (self.clock)()))
    }

    /// The driver's clock for one wake-up (see [`Now`](crate::now::Now)).
    pub(crate) fn clock(&self) -> crate::now::Now {
        crate::now::Now::new(self.origin, self.clock)
    }

    pub(crate) fn to_std(&self, t: Instant) -> std::time::Instant {
        t.to_std(self.origin)
    }

    pub(crate) fn wake_driver(&mut self) {
        if self.inline.is_some() {
            // It is running (handlers inline) and looks again after.
            self.woken_inline = true;
        } else if let Some(w) = self.driver.take() {
            w.wake();
        }
    }

    pub(crate) fn register_driver(&mut self, cx: &Context<'_>) {
        match &self.driver {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.driver = Some(cx.waker().clone()),
        }
    }

    pub(crate) fn wake_watchers(&mut self) {
        for w in self.watchers.drain(..) {
            w.wake();
        }
    }

    /// Ready once `done` says so; registers to be woken on the next change.
    pub(crate) fn poll_watch<T>(
        &mut self,
        cx: &Context<'_>,
        done: impl FnOnce(&mut State) -> Option<T>,
    ) -> Poll<T> {
        match done(self) {
            Some(v) => Poll::Ready(v),
            None => {
                self.watchers.push(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    // ---- client request outcomes --------------------------------------

    /// Sends a request (the core queues it at once), registers who waits
    /// for its outcome and wakes the driver to write it.
    pub(crate) fn start_request(
        &mut self,
        body: Bytes,
        timeout: Option<std::time::Duration>,
    ) -> Result<RequestId, slow_proto::SendError> {
        let now = self.now();
        let id = self.conn.send_request(body, timeout, now)?;
        self.waiters.insert(id, Waiter::default());
        self.wake_driver();
        Ok(id)
    }

    pub(crate) fn complete(&mut self, id: RequestId, outcome: Result<Bytes, RequestError>) {
        // Its slot is free (also when its caller went away).
        #[cfg(feature = "tower")]
        self.wake_slot_waiters();
        // A caller that went away (cancelled by drop) has no waiter left.
        if let Some(w) = self.waiters.get_mut(&id) {
            w.outcome = Some(outcome);
            if let Some(waker) = w.waker.take() {
                waker.wake();
            }
        }
    }

    pub(crate) fn poll_outcome(
        &mut self,
        id: RequestId,
        cx: &Context<'_>,
    ) -> Poll<Result<Bytes, Error>> {
        let Some(w) = self.waiters.get_mut(&id) else {
            return Poll::Ready(Err(Error::NotProcessed));
        };
        match w.outcome.take() {
            Some(outcome) => {
                self.waiters.remove(&id);
                let cause = self.io_error.as_ref();
                Poll::Ready(outcome.map_err(|e| Error::from_request(e, cause)))
            }
            None => {
                w.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// The caller stopped waiting: cancel the request if it is still open.
    pub(crate) fn abandon(&mut self, id: RequestId) {
        if let Some(w) = self.waiters.remove(&id) {
            if w.outcome.is_none() {
                let now = self.now();
                // Err means it already ended; nothing to cancel.
                let _ = self.conn.cancel(id, now);
                self.wake_driver();
            }
        }
    }

    // ---- notifications ------------------------------------------------

    pub(crate) fn push_notification(&mut self, body: Bytes) {
        if let Some(q) = &mut self.notifications {
            q.push_back(body);
            if let Some(w) = self.notification_waker.take() {
                w.wake();
            }
        }
    }

    pub(crate) fn notifications_full(&self) -> bool {
        self.notifications
            .as_ref()
            .is_some_and(|q| q.len() >= NOTIFICATION_QUEUE)
    }

    pub(crate) fn poll_notification(&mut self, cx: &Context<'_>) -> Poll<Option<Bytes>> {
        let queue = self.notifications.get_or_insert_with(VecDeque::new);
        if let Some(body) = queue.pop_front() {
            if queue.len() + 1 == NOTIFICATION_QUEUE {
                self.wake_driver(); // it may have stopped reading
            }
            return Poll::Ready(Some(body));
        }
        if self.closed.is_some() {
            return Poll::Ready(None);
        }
        self.notification_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Keeps the socket's first error, for whoever asks how the connection
    /// was lost.
    pub(crate) fn socket_error(&mut self, e: io::Error) {
        crate::trace::socket_error(&e);
        self.io_error.get_or_insert_with(|| Arc::new(e));
    }

    /// Closes gracefully with GOAWAY `code` (a no-op once closing), saying
    /// so in the connection's span.
    pub(crate) fn close(&mut self, code: ErrorCode, reason: &str) {
        if !self.conn.is_draining() && self.closed.is_none() {
            self.span.in_scope(|| crate::trace::closing(code, reason));
        }
        let now = self.now();
        self.conn.close(code, reason, now);
        self.wake_driver();
    }

    /// How the connection ended, as the application sees it: `None` while
    /// open or after a clean close.
    pub(crate) fn close_error(&self) -> Option<Error> {
        let error = self.closed.clone().flatten()?;
        Some(Error::from_connection(error, self.io_error.as_ref()))
    }

    /// Called once the connection is over: nobody waits forever.
    pub(crate) fn on_closed(&mut self, error: Option<ConnectionError>) {
        crate::trace::closed(error.as_ref(), self.io_error.as_deref());
        self.closed = Some(error);
        #[cfg(feature = "tower")]
        self.wake_slot_waiters();
        for (_, handler) in self.handlers.drain() {
            handler.wake();
        }
        if let Some(w) = self.notification_waker.take() {
            w.wake();
        }
        self.wake_watchers();
    }
}

/// A map keyed by request id. Ids are chosen by the client, one after the
/// other, and each map is bounded by MAX_CONCURRENT_REQUESTS, so a
/// multiplicative hash serves (SipHash cost 4x the rest of a lookup).
pub(crate) type IdMap<V> = HashMap<RequestId, V, std::hash::BuildHasherDefault<IdHasher>>;

#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
