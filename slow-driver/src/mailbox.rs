//! Where a client's callers hand their requests to the connection's driver
//! and get their outcomes back: beside the connection's lock, not under it.
//!
//! Why: on a threaded runtime the driver holds the connection's lock for
//! its whole wake-up, its system calls included. A caller on another worker
//! that wanted that lock to send a request or to look for its answer parked
//! its worker thread in the kernel until the driver was done. Callers now
//! take only the [`Mailbox`]'s own lock, for a few stores each time: to
//! submit a request (it gets a slot), to look for the slot's outcome, to
//! give it up. The driver, which holds the connection's lock anyway, keeps
//! the other half, the [`Ledger`]: once per pass of its loop it moves the
//! submissions into the core and the outcomes out of it, a batch at a time
//! under one short hold of the mailbox's lock (the pipelined channel and
//! oneshot of hand-written clients, without an allocation per request).
//!
//! A slot is held by its caller (until it takes the outcome or goes away)
//! and by the driver (until it has delivered the outcome). It is free, and
//! reused, once neither holds it: the slots are a slab that grows to the
//! most requests waiting at once and no further. A caller that goes away
//! while the driver holds its slot leaves a cancellation, which the driver
//! turns into `Connection::cancel` (the core then ends the request, and its
//! outcome, which nobody takes, frees the slot) or, for a request it has
//! not sent yet, into not sending it.
//!
//! Lock order: the connection's lock, then the mailbox's, never the other
//! way round (a caller submitting, polling or giving up takes only the
//! mailbox's; one that notifies, closes or asks for stats applies the
//! mailbox under the connection's lock, as the driver does).

use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use slow_proto::{Connection, RequestError, RequestId};

use crate::error::Error;
use crate::now::Now;
use crate::shared::IdMap;

/// A caller's hold on one slot: given by [`Mailbox::submit`], good until
/// its outcome is taken or it is given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket(usize);

/// What giving up a ticket left to do.
#[derive(Debug)]
pub(crate) enum Gone {
    /// Nothing: the outcome was there, and the slot is free.
    Freed,
    /// The driver cancels the request; its waker, if this took it.
    Cancel(Option<Waker>),
}

/// The callers' side: their submissions, their outcomes, and the driver's
/// waker. Behind its own lock (the mode's), never held across anything
/// slower than a few stores.
#[derive(Default)]
pub(crate) struct Mailbox {
    slots: Vec<Slot>,
    /// The slots neither side holds, to be reused first.
    free: Vec<usize>,
    /// Submitted, not yet taken by the driver (in order).
    queue: Vec<Submission>,
    /// Slots whose caller went away while the driver held them.
    cancelled: Vec<usize>,
    /// Woken by a submission or a cancellation; taken, so that one wake-up
    /// serves every caller until the driver runs again.
    driver: Option<Waker>,
    /// The connection is over: submissions fail at once.
    closed: bool,
}

#[derive(Default)]
struct Slot {
    outcome: Option<Result<Bytes, Error>>,
    waker: Option<Waker>,
    /// Its caller still waits for the outcome.
    caller: bool,
    /// The driver has not delivered its outcome yet.
    driver: bool,
}

/// One request handed in: the body, and the caller's timeout with the time
/// it was handed in (its deadline counts from then, not from when the
/// driver gets to it).
pub(crate) struct Submission {
    slot: usize,
    body: Bytes,
    timeout: Option<(Duration, std::time::Instant)>,
}

impl Mailbox {
    /// Hands a request in and remembers `waker` to wake with its outcome.
    /// Returns its ticket and the driver's waker, to wake once the lock is
    /// released; fails as not processed once the connection is over.
    pub(crate) fn submit(
        &mut self,
        body: Bytes,
        timeout: Option<(Duration, std::time::Instant)>,
        waker: Option<&Waker>,
    ) -> Result<(Ticket, Option<Waker>), Error> {
        if self.closed {
            return Err(Error::NotProcessed);
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot::default());
                self.slots.len() - 1
            }
        };
        let s = &mut self.slots[slot];
        s.caller = true;
        s.driver = true;
        s.waker = waker.cloned();
        self.queue.push(Submission {
            slot,
            body,
            timeout,
        });
        Ok((Ticket(slot), self.driver.take()))
    }

    /// The outcome, once the driver delivered it (the ticket is then
    /// spent); else remembers to wake `cx`.
    pub(crate) fn poll(&mut self, ticket: Ticket, cx: &Context<'_>) -> Poll<Result<Bytes, Error>> {
        let s = &mut self.slots[ticket.0];
        debug_assert!(s.caller, "a spent ticket");
        match s.outcome.take() {
            Some(outcome) => {
                s.caller = false;
                s.waker = None;
                self.free.push(ticket.0);
                Poll::Ready(outcome)
            }
            None => {
                keep_waker(&mut s.waker, cx.waker());
                Poll::Pending
            }
        }
    }

    /// The caller goes away (the ticket is spent). Says whether the driver
    /// has a request to cancel, with its waker to wake.
    pub(crate) fn abandon(&mut self, ticket: Ticket) -> Gone {
        let s = &mut self.slots[ticket.0];
        debug_assert!(s.caller, "a spent ticket");
        s.caller = false;
        s.waker = None;
        if s.driver {
            self.cancelled.push(ticket.0);
            return Gone::Cancel(self.driver.take());
        }
        // Delivered, not taken: nobody needs it now.
        s.outcome = None;
        self.free.push(ticket.0);
        Gone::Freed
    }

    /// The driver's waker, for the next submission or cancellation.
    pub(crate) fn register_driver(&mut self, waker: &Waker) {
        keep_waker(&mut self.driver, waker);
    }

    /// The driver's half of a pass: delivers the ledger's outcomes (their
    /// callers' wakers go to `ledger.wakers`, to wake once this lock is
    /// released), closes the mailbox if `close`, and hands the ledger the
    /// submissions and cancellations to apply.
    pub(crate) fn exchange(&mut self, ledger: &mut Ledger, close: bool) {
        // Most exchanges find nothing on one side or the other: each part
        // is skipped when it has nothing to move (an empty `drain` is not
        // free).
        if !ledger.outcomes.is_empty() {
            self.deliver(ledger);
        }
        if close {
            self.closed = true;
            ledger.closed = true;
        }
        if !self.queue.is_empty() {
            // The ledger's list is empty (it applied the last batch): the
            // two swap, and both keep their capacity.
            debug_assert!(ledger.incoming.is_empty());
            std::mem::swap(&mut self.queue, &mut ledger.incoming);
        }
        if !self.cancelled.is_empty() {
            // Only the slots the driver still holds: a request whose
            // outcome was just delivered needs no cancelling, and its slot
            // may be free.
            while let Some(slot) = self.cancelled.pop() {
                if self.slots[slot].driver {
                    ledger.cancels.push(slot);
                }
            }
        }
    }

    /// Puts the ledger's outcomes into their slots.
    fn deliver(&mut self, ledger: &mut Ledger) {
        let woken = ledger.wakers.len();
        // In any order (each slot is its own); `pop` costs less than
        // `drain`.
        while let Some((slot, outcome)) = ledger.outcomes.pop() {
            let s = &mut self.slots[slot];
            s.driver = false;
            if s.caller {
                s.outcome = Some(outcome);
                if let Some(w) = s.waker.take() {
                    ledger.wakers.push(w);
                }
            } else {
                // Its caller went away: the slot is free now.
                self.free.push(slot);
            }
        }
        ledger.expected = ledger.wakers.len() - woken;
    }

    /// How many slots exist (free or not): what in flight has needed.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.slots.len()
    }
}

/// The driver's side, kept under the connection's lock: which request
/// each slot became, and the outcomes waiting to be delivered.
#[derive(Default)]
pub(crate) struct Ledger {
    /// The slot of each request in the core, by id.
    sent: IdMap<usize>,
    /// What each slot is to the core, by slot.
    uses: Vec<Use>,
    /// Outcomes for the next exchange, by slot.
    outcomes: Vec<(usize, Result<Bytes, Error>)>,
    /// Taken from the mailbox, to apply (then empty, its capacity kept).
    incoming: Vec<Submission>,
    cancels: Vec<usize>,
    /// Callers to wake after an exchange.
    wakers: Vec<Waker>,
    /// The mailbox was closed.
    closed: bool,
    /// Callers woken by the latest delivery that have not submitted since:
    /// requests likely on their way (a caller answered often asks again).
    expected: usize,
}

/// A slot as the driver sees it.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Use {
    /// Not in the core: not applied yet, or ended.
    #[default]
    Idle,
    /// The core's request `id`.
    Sent(RequestId),
    /// Its caller went away before it was applied: not to be sent.
    Skip,
}

impl Ledger {
    /// Outcomes wait to be delivered.
    #[inline]
    pub(crate) fn has_outcomes(&self) -> bool {
        !self.outcomes.is_empty()
    }

    /// Whether more submissions are on their way than the last exchange
    /// took: callers woken with their outcomes that have not asked again
    /// yet (see the driver, which then lets them run before it writes).
    #[inline]
    pub(crate) fn expects_more(&self) -> bool {
        self.expected > 0
    }

    /// The last exchange closed the mailbox.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Submissions or cancellations wait to be applied.
    #[inline]
    fn has_work(&self) -> bool {
        !self.incoming.is_empty() || !self.cancels.is_empty()
    }

    /// Wakes the callers whose outcomes the last exchange delivered (with
    /// the mailbox's lock released, so that they do not wait for it).
    #[inline]
    pub(crate) fn wake_callers(&mut self) {
        while let Some(w) = self.wakers.pop() {
            w.wake();
        }
    }

    /// Applies what the last exchange took: cancellations first (a
    /// request cancelled before it was applied is then not sent at all),
    /// then the submissions, in order. A request the core refuses gets
    /// its `SendError` as its outcome, as the caller would have had it.
    /// Returns whether anything was applied (there is output to write, or
    /// events to dispatch).
    pub(crate) fn apply(&mut self, conn: &mut Connection, now: &mut Now) -> bool {
        if !self.has_work() {
            return false;
        }
        if !self.cancels.is_empty() {
            self.cancel(conn, now);
        }
        if self.incoming.is_empty() {
            return true;
        }
        self.expected = self.expected.saturating_sub(self.incoming.len());
        let mut fresh = false;
        for sub in self.incoming.drain(..) {
            let slot = sub.slot;
            let u = grow(&mut self.uses, slot);
            if *u == Use::Skip {
                *u = Use::Idle;
                // Nobody takes it; it frees the slot.
                self.outcomes.push((slot, Err(Error::NotProcessed)));
                continue;
            }
            // A deadline counts from the caller's submission: the clock is
            // read (once per batch) for what has passed since.
            let t = match sub.timeout {
                Some(_) if !std::mem::replace(&mut fresh, true) => now.refresh(),
                _ => now.latest(),
            };
            let timeout = sub.timeout.map(|(timeout, at)| {
                let passed = now.to_std(t).saturating_duration_since(at);
                timeout.saturating_sub(passed)
            });
            match conn.send_request(sub.body, timeout, t) {
                Ok(id) => {
                    self.sent.insert(id, slot);
                    *u = Use::Sent(id);
                }
                Err(e) => self.outcomes.push((slot, Err(e.into()))),
            }
        }
        true
    }

    /// Cancels the requests whose callers went away (before the
    /// submissions of the same exchange are applied).
    fn cancel(&mut self, conn: &mut Connection, now: &mut Now) {
        while let Some(slot) = self.cancels.pop() {
            match grow(&mut self.uses, slot) {
                // The core ends it (RequestFailed, Cancelled): that outcome
                // frees the slot. Err: it ended already, its outcome too.
                Use::Sent(id) => {
                    let _ = conn.cancel(*id, now.latest());
                }
                // Held by the driver, not sent and no outcome pending: in
                // this batch of submissions, below.
                u => *u = Use::Skip,
            }
        }
    }

    /// Request `id` ended: its outcome goes to its slot at the next
    /// exchange. `cause` is the socket's error behind a lost connection.
    pub(crate) fn complete(
        &mut self,
        id: RequestId,
        outcome: Result<Bytes, RequestError>,
        cause: Option<&std::sync::Arc<std::io::Error>>,
    ) {
        if let Some(slot) = self.sent.remove(&id) {
            self.uses[slot] = Use::Idle;
            let outcome = outcome.map_err(|e| Error::from_request(e, cause));
            self.outcomes.push((slot, outcome));
        }
    }
}

/// Keeps `waker` in `slot` (`clone_from` keeps one that already wakes the
/// same task, without a clone).
fn keep_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) => w.clone_from(waker),
        None => *slot = Some(waker.clone()),
    }
}

/// `uses[slot]`, growing the table to the mailbox's slab first (slots are
/// made one at a time, so this grows by one).
fn grow(uses: &mut Vec<Use>, slot: usize) -> &mut Use {
    if uses.len() <= slot {
        uses.resize(slot + 1, Use::Idle);
    }
    &mut uses[slot]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use slow_proto::{Config, Event, Instant};

    use super::*;

    /// A waker that counts its wake-ups.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    fn wakes(count: &Count) -> usize {
        count.0.load(Ordering::Relaxed)
    }

    fn clock() -> std::time::Instant {
        std::time::Instant::now()
    }

    /// A client core past its handshake (the server's WELCOME fed in), and
    /// the driver's clock on its timeline.
    fn open_client() -> (Connection, Now) {
        let now = Instant::ZERO;
        let mut client = Connection::client(Config::default(), now).unwrap();
        let mut server = Connection::server(Config::default(), now).unwrap();
        pump(&mut client, &mut server);
        pump(&mut server, &mut client);
        while client.poll_event().is_some() {}
        assert!(client.can_send_request());
        (client, Now::new(clock(), clock))
    }

    /// Moves what `from` has to send into `to`.
    fn pump(from: &mut Connection, to: &mut Connection) {
        while from.transmit_len() > 0 {
            let mut bytes = Vec::new();
            for chunk in from.transmit() {
                bytes.extend_from_slice(chunk);
            }
            from.advance_transmit(bytes.len());
            to.recv(&bytes, Instant::ZERO);
        }
    }

    /// One pass of the driver: exchange, apply, then the core's events.
    fn pass(mailbox: &mut Mailbox, ledger: &mut Ledger, conn: &mut Connection, now: &mut Now) {
        mailbox.exchange(ledger, false);
        ledger.wake_callers();
        ledger.apply(conn, now);
        dispatch(ledger, conn);
    }

    fn dispatch(ledger: &mut Ledger, conn: &mut Connection) {
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Response { id, body } => ledger.complete(id, Ok(body), None),
                Event::RequestFailed { id, error } => ledger.complete(id, Err(error), None),
                _ => {}
            }
        }
    }

    fn noop() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn a_request_goes_in_and_its_outcome_comes_back_to_its_slot() {
        let (mut conn, mut now) = open_client();
        let (mut mailbox, mut ledger) = (Mailbox::default(), Ledger::default());
        let (driver, driver_waker) = counter();
        mailbox.register_driver(&driver_waker);
        let (caller, caller_waker) = counter();
        let (ticket, wake) = mailbox
            .submit(Bytes::from("hi"), None, Some(&caller_waker))
            .unwrap();
        wake.expect("the driver's waker").wake();
        assert_eq!(wakes(&driver), 1);
        // A second submission before the driver ran needs no wake-up.
        let (other, wake) = mailbox.submit(Bytes::from("ho"), None, None).unwrap();
        assert!(wake.is_none());
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        assert_eq!(conn.outstanding(), 2);
        let cx = Context::from_waker(&caller_waker);
        assert!(mailbox.poll(ticket, &cx).is_pending());
        // Answered: the ledger hears of each end as the driver does, from
        // the core's events.
        let ids: Vec<RequestId> = ledger.sent.keys().copied().collect();
        for id in ids {
            ledger.complete(id, Ok(Bytes::from("answer")), None);
        }
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        assert_eq!(wakes(&caller), 1);
        match mailbox.poll(ticket, &cx) {
            Poll::Ready(Ok(body)) => assert_eq!(body, "answer"),
            _ => panic!("no outcome"),
        }
        assert!(matches!(mailbox.poll(other, &noop()), Poll::Ready(Ok(_))));
        assert_eq!(mailbox.free.len(), 2);
    }

    #[test]
    fn slots_are_reused_bounded_by_what_is_in_flight() {
        let (mut conn, mut now) = open_client();
        let (mut mailbox, mut ledger) = (Mailbox::default(), Ledger::default());
        for _ in 0..100 {
            let tickets: Vec<Ticket> = (0..8)
                .map(|_| mailbox.submit(Bytes::from("x"), None, None).unwrap().0)
                .collect();
            pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
            for id in ledger.sent.keys().copied().collect::<Vec<_>>() {
                conn.cancel(id, now.latest()).unwrap();
            }
            dispatch(&mut ledger, &mut conn);
            pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
            for t in tickets {
                assert!(mailbox.poll(t, &noop()).is_ready());
            }
        }
        assert_eq!(mailbox.capacity(), 8);
        assert_eq!(ledger.uses.len(), 8);
        assert!(ledger.sent.is_empty());
    }

    #[test]
    fn a_caller_gone_before_the_driver_applied_it_is_never_sent() {
        let (mut conn, mut now) = open_client();
        let (mut mailbox, mut ledger) = (Mailbox::default(), Ledger::default());
        let (ticket, _) = mailbox.submit(Bytes::from("x"), None, None).unwrap();
        let (driver, driver_waker) = counter();
        mailbox.register_driver(&driver_waker);
        let Gone::Cancel(Some(wake)) = mailbox.abandon(ticket) else {
            panic!("the driver is not told");
        };
        wake.wake();
        assert_eq!(wakes(&driver), 1);
        let requests = conn.stats().requests;
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        assert_eq!(conn.stats().requests, requests, "not sent");
        assert_eq!(conn.outstanding() + conn.queued(), 0);
        // Its slot is free after the next exchange, and reused.
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        assert_eq!(mailbox.free, [0]);
        let (again, _) = mailbox.submit(Bytes::from("y"), None, None).unwrap();
        assert_eq!(again, ticket);
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        assert_eq!(conn.outstanding(), 1, "the new use is sent");
    }

    #[test]
    fn a_caller_gone_after_the_driver_sent_it_is_cancelled_in_the_core() {
        let (mut conn, mut now) = open_client();
        let (mut mailbox, mut ledger) = (Mailbox::default(), Ledger::default());
        let (ticket, _) = mailbox.submit(Bytes::from("x"), None, None).unwrap();
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        assert_eq!(conn.outstanding(), 1);
        mailbox.abandon(ticket);
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        assert_eq!(conn.outstanding(), 0);
        assert_eq!(conn.stats().cancelled, 1);
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        assert_eq!(mailbox.free, [0]);
        assert!(ledger.sent.is_empty());
    }

    #[test]
    fn a_caller_gone_with_its_outcome_on_the_way_frees_its_slot_once() {
        let (mut conn, mut now) = open_client();
        let (mut mailbox, mut ledger) = (Mailbox::default(), Ledger::default());
        let (ticket, _) = mailbox.submit(Bytes::from("x"), None, None).unwrap();
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        let id = *ledger.sent.keys().next().unwrap();
        // The answer is in the ledger, not delivered, when the caller goes.
        ledger.complete(id, Ok(Bytes::from("late")), None);
        mailbox.abandon(ticket);
        assert_eq!(mailbox.cancelled, [0]);
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        assert_eq!(mailbox.free, [0], "freed by the delivery, not twice");
        assert!(ledger.cancels.is_empty(), "nothing left to cancel");
        // Delivered first, then given up: freed by the caller.
        let (ticket, _) = mailbox.submit(Bytes::from("x"), None, None).unwrap();
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        let id = *ledger.sent.keys().next().unwrap();
        ledger.complete(id, Ok(Bytes::from("late")), None);
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        assert!(matches!(mailbox.abandon(ticket), Gone::Freed));
        assert_eq!(mailbox.free, [0]);
    }

    #[test]
    fn the_cores_refusal_is_the_callers_outcome() {
        let (mut conn, mut now) = open_client();
        let (mut mailbox, mut ledger) = (Mailbox::default(), Ledger::default());
        let limit = conn.peer_settings().unwrap().max_message_size as usize;
        let (big, _) = mailbox
            .submit(Bytes::from(vec![0; limit + 1]), None, None)
            .unwrap();
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        assert!(matches!(
            mailbox.poll(big, &noop()),
            Poll::Ready(Err(Error::TooLarge { .. }))
        ));
    }

    #[test]
    fn closing_fails_what_was_not_applied_and_refuses_what_comes_after() {
        let (mut conn, mut now) = open_client();
        let (mut mailbox, mut ledger) = (Mailbox::default(), Ledger::default());
        let (sent, _) = mailbox.submit(Bytes::from("x"), None, None).unwrap();
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        let (unapplied, _) = mailbox.submit(Bytes::from("y"), None, None).unwrap();
        conn.recv_eof(now.latest());
        dispatch(&mut ledger, &mut conn);
        // What the driver does at the end: close, apply, deliver.
        mailbox.exchange(&mut ledger, true);
        ledger.apply(&mut conn, &mut now);
        mailbox.exchange(&mut ledger, true);
        assert!(matches!(
            mailbox.poll(sent, &noop()),
            Poll::Ready(Err(Error::ConnectionLost { .. }))
        ));
        assert!(matches!(
            mailbox.poll(unapplied, &noop()),
            Poll::Ready(Err(Error::NotProcessed))
        ));
        assert!(matches!(
            mailbox.submit(Bytes::from("z"), None, None),
            Err(Error::NotProcessed)
        ));
        assert!(ledger.is_closed());
        assert_eq!(mailbox.free.len(), 2);
    }

    #[test]
    fn a_deadline_counts_from_the_submission() {
        let (mut conn, mut now) = open_client();
        let (mut mailbox, mut ledger) = (Mailbox::default(), Ledger::default());
        let second_ago = clock() - Duration::from_secs(1);
        mailbox
            .submit(
                Bytes::from("x"),
                Some((Duration::from_secs(5), second_ago)),
                None,
            )
            .unwrap();
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        // Due 5 s after it was submitted, not after it was applied.
        let due = conn.poll_timeout().expect("a deadline");
        let asked = Instant::from_std(
            now.to_std(Instant::ZERO),
            second_ago + Duration::from_secs(5),
        );
        assert!(
            due <= asked && asked - due < Duration::from_millis(100),
            "{due:?} {asked:?}"
        );
        // Its whole timeout passed before the driver got to it: it fails as
        // timed out, at once.
        let long_ago = clock() - Duration::from_secs(10);
        let (late, _) = mailbox
            .submit(
                Bytes::from("x"),
                Some((Duration::from_secs(5), long_ago)),
                None,
            )
            .unwrap();
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        conn.handle_timeout(now.refresh());
        dispatch(&mut ledger, &mut conn);
        pass(&mut mailbox, &mut ledger, &mut conn, &mut now);
        assert!(matches!(
            mailbox.poll(late, &noop()),
            Poll::Ready(Err(Error::TimedOut))
        ));
    }
}
