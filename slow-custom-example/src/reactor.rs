//! The event loop: one `mio::Poll`, many links, one timer queue, one clock.
//!
//! A turn is: drive the links the application gave commands since the
//! last turn (their output goes out before the wait), wait for readiness
//! or the earliest deadline, note which links are ready, fire due timers,
//! then *drive* each ready link. Driving follows
//! the core's calling order: hand its events to the [`App`], write its
//! output, read while it wants input, and repeat; then re-register interest
//! and re-arm the link's timer from `poll_timeout`. The server and the client
//! are two [`App`]s over this same loop.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::time::Duration;

use mio::{Events, Poll, Registry, Token};
use slow_proto::{Connection, ConnectionError, Event, Instant, Stats};

use crate::clock::Clock;
use crate::link::{Link, ReadBuf};
use crate::timers::{TimerKey, TimerQueue};
use crate::trace::{self, Span};

/// Token of the server's cross-thread waker.
pub(crate) const WAKER: Token = Token(0);
/// Token of the server's listening socket.
pub(crate) const LISTENER: Token = Token(1);
/// Connections get tokens from here up, never reused: a stale token (in a
/// timer, or a client's `ConnId`) can never reach another connection.
const FIRST_CONN: usize = 2;

/// Reads per link per turn, so that one fast peer cannot starve the others.
const READ_BUDGET: usize = 16;

/// Hashes a [`Token`] (a `usize` the loop hands out, in order; never a
/// peer's choice, so nothing to defend against) with one multiplication
/// instead of SipHash: the links are looked up several times per round
/// trip (its event, its drive, a client's command), and SipHash was 5 % of
/// the loop's instructions.
#[derive(Debug, Default, Clone, Copy)]
struct TokenHasher(u64);

impl Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: an odd multiplier spreads consecutive tokens
        // over the high bits (hashbrown's tags) and keeps them distinct in
        // the low ones (its buckets).
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// The loop's links by token.
type Links<S> = HashMap<Token, Slot<S>, BuildHasherDefault<TokenHasher>>;

/// What an application does with what the cores report: the INTEROP service
/// on a server, a completion queue on a client.
pub(crate) trait App {
    /// `"client"` or `"server"`, for each connection's span.
    const ROLE: &'static str;
    /// Per-connection application state.
    type State;
    /// One event from a connection's core (all but `Closed`).
    fn on_event(&mut self, cx: &mut Cx<'_>, state: &mut Self::State, event: Event);
    /// The core's last event, `Closed`, with the socket error that caused
    /// it, if one did (a refused connect, a reset). The socket may still be
    /// finishing its own close.
    fn on_closed(
        &mut self,
        cx: &mut Cx<'_>,
        state: &mut Self::State,
        error: Option<ConnectionError>,
        socket_error: Option<io::Error>,
    );
    /// An application timer set with [`Cx::set_timer`] fired.
    fn on_timer(&mut self, cx: &mut Cx<'_>, state: &mut Self::State, key: u32);
    /// The connection's socket is closed and the link gone.
    fn on_dropped(&mut self, token: Token, state: Self::State);
    /// Just before [`on_dropped`](App::on_dropped): the core's final
    /// counts (nothing more is written or read).
    fn on_finished(&mut self, state: &Self::State, stats: Stats) {
        let _ = (state, stats);
    }
}

/// What an application may touch while it handles one connection's event.
pub(crate) struct Cx<'a> {
    /// The connection's token.
    pub(crate) token: Token,
    /// Its core: answer, notify, close, ...
    pub(crate) conn: &'a mut Connection,
    /// The time of this turn.
    pub(crate) now: Instant,
    timers: &'a mut TimerQueue,
}

impl Cx<'_> {
    /// Calls [`App::on_timer`] with `key` at `at`.
    pub(crate) fn set_timer(&mut self, at: Instant, key: u32) {
        self.timers.insert(at, TimerKey::App(self.token, key));
    }

    /// Cancels a timer set with the same `at` and `key`.
    pub(crate) fn cancel_timer(&mut self, at: Instant, key: u32) {
        self.timers.remove(at, TimerKey::App(self.token, key));
    }
}

/// The loop's tokens other than connections that were ready in a turn.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Woken {
    /// The listener has connections to accept.
    pub(crate) listener: bool,
}

/// One connection in the loop.
struct Slot<S> {
    link: Link,
    state: S,
    /// The connection's `tracing` span.
    span: Span,
    /// The deadline this link has in the timer queue.
    armed: Option<Instant>,
}

/// The event loop, generic over what the application does.
pub(crate) struct Reactor<A: App> {
    poll: Poll,
    events: Events,
    conns: Links<A::State>,
    timers: TimerQueue,
    clock: Clock,
    next_token: usize,
    /// Links to drive first next turn, before its wait: those given a
    /// command ([`Reactor::with_conn`]), and those whose read budget ran
    /// out with input left (edge-triggered, so no event will come for it).
    again: Vec<Token>,
    /// The links to drive this turn; kept between turns for its capacity.
    ready: Vec<Token>,
    /// Where every link's socket reads land (see [`ReadBuf`]).
    scratch: ReadBuf,
    pub(crate) app: A,
}

impl<A: App> Reactor<A> {
    pub(crate) fn new(app: A) -> io::Result<Self> {
        Ok(Reactor {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            conns: Links::default(),
            timers: TimerQueue::default(),
            clock: Clock::start(),
            next_token: FIRST_CONN,
            again: Vec::new(),
            ready: Vec::new(),
            scratch: ReadBuf::default(),
            app,
        })
    }

    pub(crate) fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The clock's latest reading (see [`Clock::last`]).
    pub(crate) fn last(&self) -> Instant {
        self.clock.last()
    }

    /// How many connections the loop holds (closing ones included).
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// The core of connection `token`, if it is still in the loop.
    pub(crate) fn conn(&self, token: Token) -> Option<&Connection> {
        self.conns.get(&token).map(|slot| &slot.link.conn)
    }

    /// The link of connection `token`, if it is still in the loop.
    #[cfg(feature = "tls")]
    pub(crate) fn link(&self, token: Token) -> Option<&Link> {
        self.conns.get(&token).map(|slot| &slot.link)
    }

    /// Adds a connected (or connecting) socket's link, with its core, and
    /// drives it once (a client's HELLO goes out; a server's HELLO may be
    /// waiting).
    pub(crate) fn add(&mut self, link: Link, state: A::State) -> Token {
        let token = Token(self.next_token);
        self.next_token += 1;
        let span = Span::connection(A::ROLE, &link.peer_label());
        let slot = Slot {
            link,
            state,
            span,
            armed: None,
        };
        self.conns.insert(token, slot);
        let _ = self.drive(token, self.clock.now());
        token
    }

    /// Runs `f` on connection `token` (a command from the application:
    /// request, close, ...). The link is driven at the start of the loop's
    /// next turn, before it waits, so that commands issued between turns
    /// go out in one write rather than one each.
    pub(crate) fn with_conn<R>(
        &mut self,
        token: Token,
        f: impl FnOnce(&mut Cx<'_>, &mut A::State) -> R,
    ) -> Option<R> {
        let now = self.clock.now();
        self.with_conn_at(token, now, f)
    }

    /// [`with_conn`](Self::with_conn) at `now`, a reading of the loop's
    /// clock: [`last`](Self::last) for a command whose effect does not
    /// depend on the time since (a request without a deadline), saving a
    /// clock read per request (3 % of the loop's time at 64 in flight,
    /// `perf`).
    pub(crate) fn with_conn_at<R>(
        &mut self,
        token: Token,
        now: Instant,
        f: impl FnOnce(&mut Cx<'_>, &mut A::State) -> R,
    ) -> Option<R> {
        let slot = self.conns.get_mut(&token)?;
        let mut cx = Cx {
            token,
            conn: &mut slot.link.conn,
            now,
            timers: &mut self.timers,
        };
        let result = f(&mut cx, &mut slot.state);
        self.again.push(token);
        Some(result)
    }

    /// Runs `f` on every connection (e.g. GOAWAY to all at shutdown).
    pub(crate) fn for_each(&mut self, mut f: impl FnMut(&mut Cx<'_>, &mut A::State)) {
        let tokens: Vec<Token> = self.conns.keys().copied().collect();
        for token in tokens {
            self.with_conn(token, &mut f);
        }
    }

    /// One turn of the loop. Waits at most `max_wait` (`None`: until
    /// something happens) and not past the earliest deadline, as measured
    /// from the clock's latest reading ([`Clock::until`]).
    pub(crate) fn turn(&mut self, max_wait: Option<Duration>) -> io::Result<Woken> {
        // Links given commands since the last turn (and links whose read
        // budget ran out) are driven first, before the wait: a request
        // goes out, and the turn then waits for its answer, rather than
        // polling once for nothing (an `epoll_wait` of zero per request at
        // one in flight) and waiting in the turn after.
        let mut handed = false;
        if !self.again.is_empty() {
            let mut pending = std::mem::take(&mut self.ready);
            pending.append(&mut self.again);
            // The latest reading: a command's own (`with_conn`), or the
            // last of the previous turn; before its first read, a drive
            // only sends what the commands queued.
            handed = self.drive_each(pending, self.clock.last());
        }
        // Not empty now only if a link ran out of its read budget again:
        // then the wait is zero, and the link goes first next turn. Nor is
        // there a wait if those drives handed the application events (a
        // client's completions): its caller must see them now.
        let wait = if handed {
            Some(Duration::ZERO)
        } else {
            self.wait_time(max_wait)
        };
        if let Err(e) = self.poll.poll(&mut self.events, wait) {
            // A signal interrupted the wait: an empty turn.
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let now = self.clock.now();
        let mut ready = std::mem::take(&mut self.ready);
        let mut woken = Woken::default();
        for event in self.events.iter() {
            match event.token() {
                WAKER => {} // only interrupts the wait; the owner checks why
                LISTENER => woken.listener = true,
                token => {
                    if let Some(slot) = self.conns.get_mut(&token) {
                        slot.link.on_ready(event);
                        ready.push(token);
                    }
                }
            }
        }
        self.fire_timers(now, &mut ready);
        self.drive_each(ready, now);
        Ok(woken)
    }

    /// Drives each link `tokens` names once, however often it is named,
    /// then keeps the list (emptied) for its capacity. True if any drive
    /// handed the application events.
    fn drive_each(&mut self, mut tokens: Vec<Token>, now: Instant) -> bool {
        tokens.sort_unstable();
        tokens.dedup();
        let mut handed = false;
        for &token in &tokens {
            handed |= self.drive(token, now);
        }
        tokens.clear();
        self.ready = tokens;
        handed
    }

    fn wait_time(&self, max_wait: Option<Duration>) -> Option<Duration> {
        if !self.again.is_empty() {
            return Some(Duration::ZERO);
        }
        let timer = self.timers.next().map(|at| self.clock.until(at));
        match (timer, max_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs every timer due at `now`; the links they touched are `ready`.
    fn fire_timers(&mut self, now: Instant, ready: &mut Vec<Token>) {
        while let Some(key) = self.timers.pop_due(now) {
            let (TimerKey::Conn(token) | TimerKey::App(token, _)) = key;
            // Timers of a connection that is gone are stale: skip them.
            let Some(slot) = self.conns.get_mut(&token) else {
                continue;
            };
            match key {
                TimerKey::Conn(_) => {
                    slot.armed = None;
                    slot.link.on_timeout(now);
                }
                TimerKey::App(_, app_key) => {
                    let conn = &mut slot.link.conn;
                    let mut cx = Cx {
                        token,
                        conn,
                        now,
                        timers: &mut self.timers,
                    };
                    self.app.on_timer(&mut cx, &mut slot.state, app_key);
                }
            }
            ready.push(token);
        }
    }

    /// Follows the core's calling order on one link until it has nothing
    /// more to do this turn. True if it handed the application any event.
    fn drive(&mut self, token: Token, mut now: Instant) -> bool {
        let clock = &self.clock;
        let Some(slot) = self.conns.get_mut(&token) else {
            return false;
        };
        let mut budget = READ_BUDGET;
        let mut handed = false;
        loop {
            handed |= dispatch(&mut self.app, &mut self.timers, token, slot, now);
            if slot.link.flush(now) {
                // A failed write ends the connection: its last events.
                handed |= dispatch(&mut self.app, &mut self.timers, token, slot, now);
            }
            slot.link.advance(now);
            if !slot.link.can_read() {
                break;
            }
            if budget == 0 {
                self.again.push(token);
                break;
            }
            budget -= 1;
            slot.link.read_once(&mut now, clock, &mut self.scratch);
        }
        if let Err(e) = slot.link.update_interest(self.poll.registry(), token) {
            slot.link.abort(e, now);
        }
        if slot.link.is_done() {
            self.remove(token, now);
            return true;
        }
        // Lazily: a deadline that moved later (keepalive and idle move
        // with every input) keeps the earlier entry, which then fires early
        // and harmlessly (the core's timers are derived from its state, so
        // `handle_timeout` before one is due does nothing), and the link is
        // re-armed for what it needs then. Only an earlier deadline moves
        // the entry; a link with none leaves its entry to fire once.
        let next = slot.link.deadline();
        let earlier = match (slot.armed, next) {
            (Some(armed), Some(next)) => next < armed,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if earlier {
            self.timers
                .reschedule(TimerKey::Conn(token), slot.armed, next);
            slot.armed = next;
        }
        handed
    }

    /// Drops a finished link, after the application has seen its last
    /// events.
    fn remove(&mut self, token: Token, now: Instant) {
        let Some(mut slot) = self.conns.remove(&token) else {
            return;
        };
        dispatch(&mut self.app, &mut self.timers, token, &mut slot, now);
        slot.link.deregister(self.poll.registry());
        let key = TimerKey::Conn(token);
        self.timers.reschedule(key, slot.armed, None);
        self.app.on_finished(&slot.state, slot.link.conn.stats());
        self.app.on_dropped(token, slot.state);
    }
}

/// Hands every pending core event to the application. Its answers may
/// queue output and more events; the loop drains those too. True if there
/// was any.
fn dispatch<A: App>(
    app: &mut A,
    timers: &mut TimerQueue,
    token: Token,
    slot: &mut Slot<A::State>,
    now: Instant,
) -> bool {
    let mut handed = false;
    while let Some(event) = slot.link.conn.poll_event() {
        handed = true;
        // Taken before `cx` borrows the core.
        let socket_error = match event {
            Event::Closed { .. } => slot.link.take_error(),
            _ => None,
        };
        let conn = &mut slot.link.conn;
        let mut cx = Cx {
            token,
            conn,
            now,
            timers: &mut *timers,
        };
        // Only the events that log enter the span (a response does not).
        match &event {
            Event::Connected { peer } => slot.span.in_scope(|| trace::connected(peer)),
            Event::GoAway {
                code,
                last_id,
                reason,
            } => slot
                .span
                .in_scope(|| trace::goaway_received(*code, *last_id, reason)),
            Event::Request { id, body, .. } => {
                slot.span.in_scope(|| trace::request(*id, body.len()))
            }
            Event::Closed { error } => slot
                .span
                .in_scope(|| trace::closed(error.as_ref(), socket_error.as_ref())),
            _ => {}
        }
        match event {
            Event::Closed { error } => app.on_closed(&mut cx, &mut slot.state, error, socket_error),
            event => app.on_event(&mut cx, &mut slot.state, event),
        }
    }
    handed
}
