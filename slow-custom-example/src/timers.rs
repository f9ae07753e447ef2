//! The loop's timer queue: every deadline of every connection, earliest
//! first.
//!
//! Each connection has at most one entry of its own (the earliest of the
//! core's [`poll_timeout`](slow_proto::Connection::poll_timeout) and the
//! socket's close deadline), plus one per application timer (a `!sleep`).
//! An ordered set rather than a `BinaryHeap` with lazy invalidation: a
//! replaced or cancelled deadline is removed at once, so the queue holds only
//! live timers and a peer that starts and cancels `!sleep 86400000` in a loop
//! cannot grow it.

use std::collections::BTreeSet;

use mio::Token;
use slow_proto::Instant;

/// What a timer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TimerKey {
    /// The connection's own deadline: call `handle_timeout`, or give up on
    /// a socket that does not finish closing.
    Conn(Token),
    /// An application timer on a connection, with the application's key.
    App(Token, u32),
}

/// Deadlines in time order.
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    entries: BTreeSet<(Instant, TimerKey)>,
}

impl TimerQueue {
    /// Adds a timer.
    pub(crate) fn insert(&mut self, at: Instant, key: TimerKey) {
        self.entries.insert((at, key));
    }

    /// Removes a timer (nothing happens if it is not there).
    pub(crate) fn remove(&mut self, at: Instant, key: TimerKey) {
        self.entries.remove(&(at, key));
    }

    /// Moves `key` from `from` to `to`; either may be `None` (not armed).
    pub(crate) fn reschedule(&mut self, key: TimerKey, from: Option<Instant>, to: Option<Instant>) {
        if from == to {
            return;
        }
        if let Some(at) = from {
            self.remove(at, key);
        }
        if let Some(at) = to {
            self.insert(at, key);
        }
    }

    /// The earliest deadline, if any.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.entries.first().map(|&(at, _)| at)
    }

    /// Takes the earliest timer if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerKey> {
        if self.next()? > now {
            return None;
        }
        self.entries.pop_first().map(|(_, key)| key)
    }

    /// How many timers are armed.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: TimerKey = TimerKey::Conn(Token(7));
    const B: TimerKey = TimerKey::App(Token(7), 1);

    #[test]
    fn pops_in_time_order_only_when_due() {
        let mut q = TimerQueue::default();
        q.insert(Instant::from_millis(20), A);
        q.insert(Instant::from_millis(10), B);
        assert_eq!(q.next(), Some(Instant::from_millis(10)));
        assert_eq!(q.pop_due(Instant::from_millis(9)), None);
        assert_eq!(q.pop_due(Instant::from_millis(25)), Some(B));
        assert_eq!(q.pop_due(Instant::from_millis(25)), Some(A));
        assert_eq!(q.pop_due(Instant::from_millis(25)), None);
    }

    #[test]
    fn rescheduling_leaves_one_entry() {
        let mut q = TimerQueue::default();
        q.reschedule(A, None, Some(Instant::from_millis(5)));
        q.reschedule(
            A,
            Some(Instant::from_millis(5)),
            Some(Instant::from_millis(50)),
        );
        assert_eq!(q.len(), 1);
        assert_eq!(q.next(), Some(Instant::from_millis(50)));
        q.reschedule(A, Some(Instant::from_millis(50)), None);
        assert_eq!(q.len(), 0);
    }
}
