//! The state a connection's driver task shares with the tasks that use the
//! connection: the core itself, behind one lock, and who is waiting for what.
//!
//! The lock is the mode's ([`Mode`]): a `Mutex` on a threaded runtime, a
//! `RefCell` on a local one. The driver holds it through each wake-up, its
//! IO included, so a client's requests do not go through it: callers hand
//! them to the [`Mailbox`] beside it, which has a lock of its own, and the
//! driver moves them into the core (see `mailbox.rs`). What else a caller
//! does (notify, close, stats) takes the connection's lock, applying the
//! mailbox's submissions first, so that it comes after the requests made
//! before it. The clock (the runtime's, [`Runtime::now`]) is read under the
//! lock, so the core never sees time go backwards even when many threads
//! call in; the driver reads it once per wake-up (and after input or a
//! timer, see `now.rs`).
//!
//! [`Runtime::now`]: crate::runtime::Runtime::now
//! [`Mailbox`]: crate::mailbox::Mailbox

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use slow_proto::{Connection, ConnectionError, ErrorCode, Instant, RequestId, Role};

use crate::error::Error;
use crate::mailbox::{Gone, Ledger, Mailbox, Ticket};
use crate::mode::{Flag, Lock, Mode};
use crate::now::Now;
use crate::trace::Span;

/// How many notifications wait for the application before the driver stops
/// reading from the peer (back-pressure rather than loss or growth).
pub(crate) const NOTIFICATION_QUEUE: usize = 1024;

/// A handle on one connection's state; cloning it shares the state.
pub(crate) struct Shared<M: Mode>(M::Ptr<Inner<M>>);

struct Inner<M: Mode> {
    state: M::Lock<State>,
    /// A client's requests on their way in and their outcomes on their way
    /// out, under a lock of their own (see `mailbox.rs`).
    mailbox: M::Lock<Mailbox>,
    /// Set with each submission or cancellation, cleared when the driver
    /// takes them: a wake-up of the driver that finds it clear need not
    /// take the mailbox's lock. Clear, the mailbox has the driver's waker.
    mail: M::Flag,
    /// The runtime's clock, for the time a request with a timeout is made.
    clock: fn() -> std::time::Instant,
}

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
    /// Client: the driver's half of the mailbox (which slot each request
    /// is, the outcomes to deliver).
    pub(crate) ledger: Ledger,
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

impl<M: Mode> Shared<M> {
    /// The state of a connection whose core was made at `clock()`'s
    /// present (its time zero).
    pub(crate) fn new(
        conn: Connection,
        clock: fn() -> std::time::Instant,
        span: Span,
    ) -> Shared<M> {
        let state = State {
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
            ledger: Ledger::default(),
            notifications: None,
            notification_waker: None,
            handlers: IdMap::default(),
            notification_task: false,
            #[cfg(feature = "tls")]
            tls_identity: None,
            #[cfg(feature = "tower")]
            slot_waiters: Vec::new(),
        };
        Shared(M::ptr(Inner {
            state: M::Lock::new(state),
            mailbox: M::Lock::new(Mailbox::default()),
            // The driver's first wake-up registers its waker.
            mail: M::Flag::new(true),
            clock,
        }))
    }

    /// The connection's lock: the core and the rest of [`State`].
    pub(crate) fn lock(&self) -> <M::Lock<State> as Lock<State>>::Guard<'_> {
        self.0.state.lock()
    }

    /// The connection's lock, with the requests submitted so far applied
    /// to the core: what the caller does next comes after them (a GOAWAY
    /// after them, not before; a slot count that includes them).
    pub(crate) fn lock_applied(&self) -> <M::Lock<State> as Lock<State>>::Guard<'_> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let mut now = st.clock();
        loop {
            let applied = self.exchange(st, &mut now, false);
            if applied {
                // It writes them, and dispatches what they caused.
                st.wake_driver();
            }
            // Refused ones have their outcome: delivered at once.
            if !applied || !st.ledger.has_outcomes() {
                break;
            }
        }
        guard
    }

    // ---- client requests ------------------------------------------------

    /// Hands a request to the driver (it goes into the core at the
    /// driver's next pass) and remembers `waker`, to be woken with its
    /// outcome. A timeout counts from now. Not processed once the
    /// connection is over.
    pub(crate) fn submit(
        &self,
        body: Bytes,
        timeout: Option<Duration>,
        waker: Option<&Waker>,
    ) -> Result<Ticket, Error> {
        let timeout = timeout.map(|t| (t, (self.0.clock)()));
        let (ticket, driver) = {
            let mut mailbox = self.0.mailbox.lock();
            let submitted = mailbox.submit(body, timeout, waker)?;
            self.0.mail.set(true);
            submitted
        };
        if let Some(w) = driver {
            w.wake();
        }
        Ok(ticket)
    }

    /// The outcome of the request behind `ticket`, once there is one (the
    /// ticket is then spent).
    pub(crate) fn poll_outcome(
        &self,
        ticket: Ticket,
        cx: &Context<'_>,
    ) -> Poll<Result<Bytes, Error>> {
        self.0.mailbox.lock().poll(ticket, cx)
    }

    /// The caller stopped waiting: the request is cancelled if it is still
    /// open (the ticket is spent).
    pub(crate) fn abandon(&self, ticket: Ticket) {
        let gone = {
            let mut mailbox = self.0.mailbox.lock();
            let gone = mailbox.abandon(ticket);
            if matches!(gone, Gone::Cancel(_)) {
                self.0.mail.set(true);
            }
            gone
        };
        if let Gone::Cancel(Some(w)) = gone {
            w.wake();
        }
    }

    /// Submissions or cancellations may wait in the mailbox (or the
    /// driver's waker is not in it).
    #[inline]
    pub(crate) fn has_mail(&self) -> bool {
        self.0.mail.get()
    }

    /// Delivers the ledger's outcomes, takes the mailbox's submissions and
    /// cancellations, and applies them to the core (with the mailbox's
    /// lock released). `close` closes the mailbox: the connection is over.
    /// Returns whether anything was applied. The driver registers its
    /// waker (`waker`) here for the next submission, and only it clears
    /// [`has_mail`](Shared::has_mail): once the mailbox has its waker.
    pub(crate) fn exchange_with(
        &self,
        st: &mut State,
        now: &mut Now,
        close: bool,
        waker: Option<&Waker>,
    ) -> bool {
        {
            let mut mailbox = self.0.mailbox.lock();
            if let Some(w) = waker {
                mailbox.register_driver(w);
                self.0.mail.set(false);
            }
            mailbox.exchange(&mut st.ledger, close);
        }
        st.ledger.wake_callers();
        st.ledger.apply(&mut st.conn, now)
    }

    /// [`exchange_with`](Shared::exchange_with), the driver's waker left
    /// as it is.
    pub(crate) fn exchange(&self, st: &mut State, now: &mut Now, close: bool) -> bool {
        self.exchange_with(st, now, close, None)
    }

    /// The driver is finishing: the mailbox closes, what was submitted
    /// fails (the core is closed: not processed), every outcome is
    /// delivered. Nobody waits forever.
    pub(crate) fn close_mailbox(&self, st: &mut State, now: &mut Now) {
        if st.conn.role() != Role::Client {
            return;
        }
        // Closing takes the last submissions; the second exchange
        // delivers their refusals (nothing more comes in once closed).
        self.exchange(st, now, true);
        self.exchange(st, now, true);
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

    /// Keeps the driver's waker; says whether it is a new one.
    pub(crate) fn register_driver(&mut self, cx: &Context<'_>) -> bool {
        match &self.driver {
            Some(w) if w.will_wake(cx.waker()) => false,
            _ => {
                self.driver = Some(cx.waker().clone());
                true
            }
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

    /// Request `id` ended: its caller hears at the next exchange.
    pub(crate) fn complete(
        &mut self,
        id: RequestId,
        outcome: Result<Bytes, slow_proto::RequestError>,
    ) {
        // Its slot is free (also when its caller went away).
        #[cfg(feature = "tower")]
        self.wake_slot_waiters();
        self.ledger.complete(id, outcome, self.io_error.as_ref());
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
