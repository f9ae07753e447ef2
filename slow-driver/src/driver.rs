//! The driver: one task per connection that moves bytes between the socket
//! and the core, fires the core's one timer, and hands events out.

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use slow_proto::Event;

use crate::runtime::{Runtime, Stream, Timer};
use crate::shared::{Shared, State};

/// How long a closed connection goes on reading (and discarding) after its
/// FIN, waiting for the peer's. Closing a socket with unread input makes the
/// kernel send a reset, which can destroy answers and the GOAWAY that the
/// peer has not read yet.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
/// Lingering ends early once the peer has sent nothing for this long.
const LINGER_QUIET: std::time::Duration = std::time::Duration::from_millis(250);
/// At most this many slices per vectored write.
const MAX_SLICES: usize = 64;
/// Reads per wake-up before yielding, so one busy connection cannot starve
/// the other tasks of its worker.
const READ_BUDGET: usize = 32;

/// What a role does with the events the driver does not handle itself.
pub(crate) trait Dispatch: Send + 'static {
    /// Handles one event (`Request`, `RequestAbandoned`, `Notify`, ...).
    fn event(&mut self, state: &mut State, shared: &Arc<Shared>, event: Event);
    /// The driver is about to finish.
    fn finished(&mut self) {}
}

pub(crate) struct Driver<R: Runtime, D> {
    shared: Arc<Shared>,
    stream: R::Stream,
    runtime: R,
    timer: Option<R::Timer>,
    /// Where the timer is set; `None` when it is not running.
    armed: Option<std::time::Instant>,
    /// The socket failed: nothing more can be written.
    broken: bool,
    /// When the core closed; output still pending after the drain timeout
    /// (a peer that never reads) is given up.
    closed_at: Option<std::time::Instant>,
    /// Set once our FIN is out: keep reading until the peer's, or until then.
    linger_until: Option<std::time::Instant>,
    /// While lingering: when the peer's silence ends it.
    linger_quiet: Option<std::time::Instant>,
    /// The timer fired since timers were last handled. (Request deadlines
    /// due before input are expired by the core itself on input.)
    timer_fired: bool,
    dispatch: D,
}

impl<R: Runtime, D: Dispatch> Driver<R, D> {
    pub(crate) fn new(shared: Arc<Shared>, stream: R::Stream, runtime: R, dispatch: D) -> Self {
        Driver {
            shared,
            stream,
            runtime,
            timer: None,
            armed: None,
            broken: false,
            closed_at: None,
            timer_fired: false,
            linger_until: None,
            linger_quiet: None,
            dispatch,
        }
    }

    fn dispatch_events(&mut self, st: &mut State) {
        while let Some(event) = st.conn.poll_event() {
            match event {
                Event::Connected { .. } => st.wake_watchers(),
                Event::Response { id, body } => st.complete(id, Ok(body)),
                Event::RequestFailed { id, error } => st.complete(id, Err(error)),
                Event::Closed { error } => st.on_closed(error),
                other => self.dispatch.event(st, &self.shared, other),
            }
        }
    }

    /// Reads while the core wants input. Returns whether anything happened.
    fn read(&mut self, st: &mut State, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        for _ in 0..READ_BUDGET {
            if !st.conn.wants_read() || st.notifications_full() {
                return progress;
            }
            match self.stream.poll_read_buf(cx, st.conn.recv_buffer()) {
                Poll::Pending => return progress,
                Poll::Ready(Ok(n)) => {
                    let now = st.now();
                    if n == 0 {
                        st.conn.recv_eof(now);
                    } else {
                        st.conn.handle_input(now);
                    }
                }
                Poll::Ready(Err(_)) => {
                    // Reset or similar: the stream is gone, as at end of stream.
                    self.broken = true;
                    let now = st.now();
                    st.conn.recv_eof(now);
                }
            }
            progress = true;
            self.dispatch_events(st);
        }
        // Budget spent with more to read: come back after the others ran
        // (reporting no progress, so this poll ends after writing).
        cx.waker().wake_by_ref();
        false
    }

    /// Writes what the core has to send. Returns whether anything happened.
    fn write(&mut self, st: &mut State, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while !self.broken && st.conn.transmit_len() > 0 {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = st.conn.transmit_io_slices(&mut slices);
            match self.stream.poll_write_vectored(cx, &slices[..n]) {
                Poll::Pending => break,
                Poll::Ready(Ok(written)) if written > 0 => {
                    st.conn.advance_transmit(written);
                    progress = true;
                }
                Poll::Ready(_) => {
                    // The peer is gone; what we had to say is lost with it.
                    self.broken = true;
                    let now = st.now();
                    st.conn.recv_eof(now);
                    self.dispatch_events(st);
                    progress = true;
                }
            }
        }
        progress
    }

    /// Sets the one timer to the core's next deadline. Moving it later is
    /// skipped (an early wake-up is harmless), saving a timer reset per read.
    fn arm_timer(&mut self, st: &mut State, cx: &mut Context<'_>) -> bool {
        let deadline = match (st.conn.poll_timeout(), self.closed_at) {
            (_, Some(closed)) => Some(closed + st.conn.config().drain_timeout),
            (Some(t), None) => Some(st.to_std(t)),
            (None, None) => None,
        };
        let Some(deadline) = deadline else {
            return false;
        };
        if self.armed.is_none_or(|armed| deadline < armed) {
            match &mut self.timer {
                Some(timer) => timer.reset(deadline),
                None => self.timer = Some(self.runtime.timer(deadline)),
            }
            self.armed = Some(deadline);
        }
        let fired = self
            .timer
            .as_mut()
            .is_some_and(|t| t.poll_expired(cx).is_ready());
        if fired {
            self.armed = None;
            self.timer_fired = true;
        }
        fired
    }

    /// Reads and discards until the peer closes, fails, falls quiet for
    /// [`LINGER_QUIET`], or `until` passes. A peer that has our GOAWAY and
    /// nothing more in flight goes quiet at once; one that keeps its socket
    /// open without a word does not hold us for the whole [`LINGER`].
    fn linger(&mut self, cx: &mut Context<'_>, until: std::time::Instant) -> Poll<()> {
        let mut scratch = BytesMut::new();
        loop {
            let now = std::time::Instant::now();
            let quiet_until = *self.linger_quiet.get_or_insert(now + LINGER_QUIET);
            if now >= until || now >= quiet_until {
                return Poll::Ready(());
            }
            scratch.clear();
            scratch.reserve(4096);
            match self.stream.poll_read_buf(cx, &mut scratch) {
                Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(()),
                Poll::Ready(Ok(_)) => self.linger_quiet = Some(now + LINGER_QUIET),
                Poll::Pending => break,
            }
        }
        let wake = self.linger_quiet.map_or(until, |q| q.min(until));
        match &mut self.timer {
            Some(timer) => timer.reset(wake),
            None => self.timer = Some(self.runtime.timer(wake)),
        }
        self.armed = Some(wake);
        match self.timer.as_mut().map(|t| t.poll_expired(cx)) {
            Some(Poll::Pending) => Poll::Pending,
            // Fired: come back through the loop above to decide.
            _ => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    fn fire_timers(&mut self, st: &mut State) {
        if !std::mem::take(&mut self.timer_fired) {
            return;
        }
        let now = st.now();
        if st.conn.poll_timeout().is_some_and(|t| t <= now) {
            st.conn.handle_timeout(now);
            self.dispatch_events(st);
        }
    }
}

impl<R: Runtime, D: Dispatch + Unpin> Future for Driver<R, D> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let shared = this.shared.clone();
        let mut st = shared.lock();
        st.register_driver(cx);
        loop {
            // Commands issued by other tasks may have queued events.
            this.dispatch_events(&mut st);
            let mut progress = this.read(&mut st, cx);
            this.fire_timers(&mut st);
            progress |= this.write(&mut st, cx);

            if st.conn.is_closed() {
                let now = std::time::Instant::now();
                let closed_at = *this.closed_at.get_or_insert(now);
                let flushed = st.conn.transmit_len() == 0 || this.broken;
                let gave_up = now >= closed_at + st.conn.config().drain_timeout;
                if flushed || gave_up {
                    let until = match this.linger_until {
                        Some(until) => until,
                        None => {
                            if !this.broken
                                && this.stream.poll_shutdown(cx).is_pending()
                                && !gave_up
                            {
                                return Poll::Pending;
                            }
                            let linger = if this.broken || gave_up {
                                now
                            } else {
                                now + LINGER
                            };
                            // Over for the application (close() returns);
                            // only the socket lingers.
                            st.driver_done = true;
                            st.wake_watchers();
                            *this.linger_until.insert(linger)
                        }
                    };
                    if this.linger(cx, until).is_pending() {
                        return Poll::Pending;
                    }
                    drop(st);
                    this.dispatch.finished();
                    return Poll::Ready(());
                }
            }
            progress |= this.arm_timer(&mut st, cx);
            if !progress {
                return Poll::Pending;
            }
        }
    }
}
