//! The driver: one task per connection that moves bytes between the socket
//! and the core, fires the core's one timer, and hands events out.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use slow_proto::{Event, Instant, Role, SocketAction, Teardown};

use crate::mode::Mode;
use crate::now::Now;
use crate::runtime::{Reactor, Timer, Transport};
use crate::shared::{Shared, State};

/// Reads per wake-up before yielding, so one busy connection cannot starve
/// the other tasks of its worker.
const READ_BUDGET: usize = 32;

/// What one turn of reading did.
struct Read {
    /// Input was read, or the stream ended.
    progress: bool,
    /// The stream said Pending: it wakes the task when input comes.
    pending: bool,
}

/// What a role does with the events the driver does not handle itself.
pub(crate) trait Dispatch<M: Mode>: 'static {
    /// Handles one event (`Request`, `RequestAbandoned`, `Notify`, ...).
    fn event(&mut self, state: &mut State, shared: &Shared<M>, event: Event);
    /// Whether work waits to be run by [`run_inline`](Dispatch::run_inline).
    fn has_inline(&self) -> bool {
        false
    }
    /// Runs what `event` left to run inline (a server's fresh handlers),
    /// with the connection's lock released.
    fn run_inline(&mut self) {}
    /// The driver is about to finish.
    fn finished(&mut self) {}
}

/// Drives one connection over `S`, any byte stream (the runtime's own TCP
/// stream or one the application brought, of either IO shape), on runtime
/// `R`'s timer.
pub struct Driver<R: Reactor, S, D> {
    shared: Shared<R::Mode>,
    stream: S,
    runtime: R,
    timer: Option<R::Timer>,
    /// Where the timer is set; `None` when it is not running.
    armed: Option<std::time::Instant>,
    /// The socket failed: nothing more can be written.
    broken: bool,
    /// The socket's life once the core closed (flush, FIN, linger): the
    /// core's rules, run here.
    teardown: Option<Teardown>,
    /// The timer fired since timers were last handled. (Request deadlines
    /// due before input are expired by the core itself on input.)
    timer_fired: bool,
    /// The last wake-up put off its work for the callers about to submit
    /// (never twice in a row).
    deferred: bool,
    dispatch: D,
}

// `Driver` is named (not nameable) by the public spawn traits' hidden
// methods; its inherent methods stay the crate's own.
#[allow(private_bounds)]
impl<R: Reactor, S: Transport, D: Dispatch<R::Mode>> Driver<R, S, D> {
    pub(crate) fn new(shared: Shared<R::Mode>, stream: S, runtime: R, dispatch: D) -> Self {
        Driver {
            shared,
            stream,
            runtime,
            timer: None,
            armed: None,
            broken: false,
            teardown: None,
            timer_fired: false,
            deferred: false,
            dispatch,
        }
    }

    fn dispatch_events(&mut self, st: &mut State) {
        while let Some(event) = st.conn.poll_event() {
            match event {
                Event::Connected { peer } => {
                    crate::trace::connected(&peer);
                    #[cfg(feature = "tls")]
                    {
                        st.tls_identity = self.stream.tls_identity();
                    }
                    st.wake_watchers()
                }
                Event::GoAway {
                    code,
                    last_id,
                    reason,
                } => crate::trace::goaway_received(code, last_id, &reason),
                Event::Pong { .. } => crate::trace::pong(),
                Event::Response { id, body } => st.complete(id, Ok(body)),
                Event::RequestFailed { id, error } => st.complete(id, Err(error)),
                Event::Closed { error } => st.on_closed(error),
                other => self.dispatch.event(st, &self.shared, other),
            }
        }
    }

    /// Reads while the core wants input. Says whether anything happened,
    /// and whether the stream said Pending (and so will wake the task).
    fn read(&mut self, st: &mut State, cx: &mut Context<'_>, now: &mut Now) -> Read {
        let mut progress = false;
        for _ in 0..READ_BUDGET {
            if !st.conn.wants_read() || st.notifications_full() {
                return Read {
                    progress,
                    pending: false,
                };
            }
            now.before_read();
            match self.stream.poll_read(cx, &mut st.conn, now) {
                Poll::Pending => {
                    return Read {
                        progress,
                        pending: true,
                    };
                }
                // The input was processed.
                Poll::Ready(Ok(1..)) => {}
                Poll::Ready(Ok(_)) => st.conn.recv_eof(now.latest()),
                Poll::Ready(Err(e)) => {
                    // Reset or similar: the stream is gone, as at end of
                    // stream; the error is the cause the callers get.
                    self.broken = true;
                    st.socket_error(e);
                    st.conn.recv_eof(now.latest());
                }
            }
            progress = true;
            self.dispatch_events(st);
        }
        // Budget spent with more to read: come back after the others ran
        // (reporting no progress, so this poll ends after writing).
        cx.waker().wake_by_ref();
        Read {
            progress: false,
            pending: false,
        }
    }

    /// Writes what the core has to send. Returns whether anything happened.
    fn write(&mut self, st: &mut State, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut progress = false;
        while !self.broken && st.conn.transmit_len() > 0 {
            // The stream advances the queue by what it took.
            match self.stream.poll_write(cx, &mut st.conn) {
                Poll::Pending => break,
                Poll::Ready(Ok(1..)) => progress = true,
                Poll::Ready(result) => {
                    // The peer is gone; what we had to say is lost with it.
                    let e = result
                        .err()
                        .unwrap_or_else(|| std::io::ErrorKind::WriteZero.into());
                    self.broken = true;
                    st.socket_error(e);
                    st.conn.recv_eof(now);
                    self.dispatch_events(st);
                    progress = true;
                }
            }
        }
        progress
    }

    /// Sets the one timer to the next deadline: the core's while it is
    /// open, the teardown's after. Moving it later is skipped (an early
    /// wake-up is harmless), saving a timer reset per read. Returns whether
    /// it has fired (and there is work to do).
    ///
    /// A timer that fires before the runtime's clock (`now`, read after the
    /// last firing) reaches its deadline means the runtime's timers run
    /// ahead of its `Reactor::now`: re-arming would fire again at once, so
    /// the task yields instead of spinning inside one poll, and looks again
    /// when the executor next runs it.
    fn arm_timer(&mut self, st: &mut State, cx: &mut Context<'_>, now: Instant) -> bool {
        let deadline = match &self.teardown {
            Some(teardown) => teardown.poll_timeout(),
            None => st.conn.poll_timeout(),
        };
        let Some(due) = deadline else {
            return false;
        };
        let deadline = st.to_std(due);
        if self.armed.is_none_or(|armed| deadline < armed) {
            self.set_timer(deadline);
        }
        if !self.timer_expired(cx) {
            return false;
        }
        // Fired for an earlier deadline that has since moved later: set it
        // to this one.
        if due > now && self.armed.is_some_and(|armed| armed < deadline) {
            self.set_timer(deadline);
            if !self.timer_expired(cx) {
                return false;
            }
        }
        self.armed = None;
        self.timer_fired = true;
        if due > now {
            cx.waker().wake_by_ref();
            return false;
        }
        true
    }

    fn set_timer(&mut self, deadline: std::time::Instant) {
        match &mut self.timer {
            Some(timer) => timer.reset(deadline),
            None => self.timer = Some(self.runtime.timer(deadline)),
        }
        self.armed = Some(deadline);
    }

    fn timer_expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.timer
            .as_mut()
            .is_some_and(|t| t.poll_expired(cx).is_ready())
    }

    /// Runs the socket's teardown once the core has closed, doing what it
    /// says until the socket would block. Ready when the socket can go.
    fn tear_down(&mut self, st: &mut State, cx: &mut Context<'_>, now: &mut Now) -> Poll<()> {
        let at = now.latest();
        let teardown = self.teardown.get_or_insert_with(|| st.conn.teardown(at));
        loop {
            if self.broken {
                teardown.on_write_error();
            }
            let action = teardown.poll(st.conn.transmit_len(), at);
            if teardown.is_flushed() && !st.driver_done {
                // Over for the application (close() returns); only the
                // socket lingers.
                st.driver_done = true;
                st.wake_watchers();
            }
            match action {
                // `write` ran just before and would block: wait for it.
                SocketAction::Write => return Poll::Pending,
                SocketAction::Shutdown => match self.stream.poll_shutdown(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(())) => teardown.shutdown_sent(at),
                    Poll::Ready(Err(_)) => teardown.on_write_error(),
                },
                // Read into the core's buffer, which drops input once closed.
                SocketAction::Discard => match self.stream.poll_read(cx, &mut st.conn, now) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(0) | Err(_)) => teardown.on_eof(),
                    Poll::Ready(Ok(_)) => teardown.on_input(at),
                },
                _ => {
                    crate::trace::socket_closed();
                    return Poll::Ready(());
                }
            }
        }
    }

    /// Runs the core's timers if the timer fired. The runtime's timer says
    /// its deadline passed, which the clock read at wake-up may not have
    /// seen yet: the clock is read again (`now` moves forward).
    fn fire_timers(&mut self, st: &mut State, now: &mut Now) {
        if !std::mem::take(&mut self.timer_fired) {
            return;
        }
        let now = now.refresh();
        if st.conn.poll_timeout().is_some_and(|t| t <= now) {
            st.conn.handle_timeout(now);
            self.dispatch_events(st);
        }
    }
}

impl<R: Reactor, S: Transport, D: Dispatch<R::Mode> + Unpin> Future for Driver<R, S, D> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let shared = this.shared.clone();
        let mut st = shared.lock();
        let span = st.span.is_enabled().then(|| st.span.clone());
        let _in_span = span.as_ref().map(|span| span.enter());
        let new_waker = st.register_driver(cx);
        // The clock is read once per wake-up, and again only when it must
        // be (see `Now`), not per read or write.
        let mut now = st.clock();
        // A client's requests submitted since the last wake-up go into the
        // core first (they are written below); the mailbox keeps this
        // task's waker for the next ones. A wake-up for input alone finds
        // no mail and leaves the mailbox's lock alone.
        let client = st.conn.role() == Role::Client;
        if client && (new_waker || shared.has_mail()) {
            let applied = shared.exchange_with(&mut st, &mut now, false, Some(cx.waker()));
            // Woken by the first of several callers that got their answers
            // and are about to ask again (on a work-stealing runtime this
            // task then often runs right after it, before the others): once
            // in a row, it lets them run first and writes all their
            // requests together, not one system call each. A task that
            // wakes itself goes behind the tasks already queued.
            let defer = applied && st.ledger.expects_more() && !this.deferred;
            this.deferred = defer;
            if defer {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        } else {
            this.deferred = false;
        }
        // Once a read has said Pending, the stream wakes this task when
        // input comes: later passes of this wake-up need not ask again.
        let mut read_pending = false;
        loop {
            // Commands issued by other tasks may have queued events.
            this.dispatch_events(&mut st);
            let mut progress = false;
            if !read_pending {
                let read = this.read(&mut st, cx, &mut now);
                progress = read.progress;
                read_pending = read.pending;
            }
            this.fire_timers(&mut st, &mut now);
            if this.dispatch.has_inline() {
                // Handlers answer into the core themselves, so the lock is
                // released around them; their answers go out in the write
                // below, so they need not wake this task.
                st.inline = Some(now.latest());
                drop(st);
                this.dispatch.run_inline();
                st = shared.lock();
                st.inline = None;
                progress |= std::mem::take(&mut st.woken_inline);
            }
            progress |= this.write(&mut st, cx, now.latest());
            // The pass's outcomes go to their callers in one exchange, which
            // takes what was submitted meanwhile (written in the next pass,
            // not after another wake-up); once the connection is over, the
            // mailbox closes.
            if client
                && (st.ledger.has_outcomes()
                    || shared.has_mail()
                    || (st.closed.is_some() && !st.ledger.is_closed()))
            {
                let close = st.closed.is_some();
                progress |= shared.exchange_with(&mut st, &mut now, close, Some(cx.waker()));
            }

            if st.conn.is_closed() && this.tear_down(&mut st, cx, &mut now).is_ready() {
                shared.close_mailbox(&mut st, &mut now);
                drop(st);
                this.dispatch.finished();
                return Poll::Ready(());
            }
            // The timer is set once the wake-up has nothing more to do:
            // its deadline is final then, and the runtime's timer is reset
            // and polled once, not once per pass.
            if !progress && !this.arm_timer(&mut st, cx, now.latest()) {
                return Poll::Pending;
            }
        }
    }
}
