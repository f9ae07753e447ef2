//! Per-request deadlines, earliest first, cheap for the common case.
//!
//! Most callers give every request the same timeout, so deadlines arrive
//! in order: each is at or after the one before. Those go on the back of a
//! sorted queue (O(1)), and requests mostly end in the order they started,
//! near its front (found by binary search, removed with a short shift). A
//! deadline earlier than the queue's last (a shorter timeout) goes into an
//! ordered set instead. The earliest deadline is the smaller of the two
//! fronts. Nothing is left behind when a request ends, so neither grows
//! past the requests outstanding.

use alloc::collections::{BTreeSet, VecDeque};

use crate::id::RequestId;
use crate::time::Instant;

/// The deadlines of the requests outstanding.
#[derive(Debug, Default)]
pub(super) struct Deadlines {
    /// In order of deadline (then id), as they arrived.
    in_order: VecDeque<(Instant, RequestId)>,
    /// Those that arrived earlier than `in_order`'s last.
    out_of_order: BTreeSet<(Instant, RequestId)>,
}

impl Deadlines {
    pub(super) fn insert(&mut self, deadline: Instant, id: RequestId) {
        let entry = (deadline, id);
        match self.in_order.back() {
            Some(&last) if entry < last => {
                self.out_of_order.insert(entry);
            }
            _ => self.in_order.push_back(entry),
        }
    }

    pub(super) fn remove(&mut self, deadline: Instant, id: RequestId) {
        let entry = (deadline, id);
        // The front first: requests mostly end in the order they started.
        if self.in_order.front() == Some(&entry) {
            self.in_order.pop_front();
            return;
        }
        if let Ok(i) = self.in_order.binary_search(&entry) {
            self.in_order.remove(i);
        } else {
            self.out_of_order.remove(&entry);
        }
    }

    /// The earliest deadline and its request.
    pub(super) fn first(&self) -> Option<(Instant, RequestId)> {
        match (self.in_order.front(), self.out_of_order.first()) {
            (Some(&a), Some(&b)) => Some(a.min(b)),
            (a, b) => a.or(b).copied(),
        }
    }

    /// Forgets `id`'s deadline, whatever it is.
    pub(super) fn forget(&mut self, id: RequestId) {
        self.in_order.retain(|&(_, i)| i != id);
        self.out_of_order.retain(|&(_, i)| i != id);
    }

    pub(super) fn clear(&mut self) {
        self.in_order.clear();
        self.out_of_order.clear();
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.in_order.len() + self.out_of_order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn id(n: u32) -> RequestId {
        RequestId::new(n)
    }

    #[test]
    fn equal_timeouts_stay_in_the_queue_and_leave_from_its_front() {
        let mut d = Deadlines::default();
        for n in 1..=4 {
            d.insert(Instant::from_millis(u64::from(n) * 10), id(n));
        }
        assert!(d.out_of_order.is_empty());
        assert_eq!(d.first(), Some((Instant::from_millis(10), id(1))));
        d.remove(Instant::from_millis(10), id(1));
        d.remove(Instant::from_millis(30), id(3)); // from the middle
        assert_eq!(d.first(), Some((Instant::from_millis(20), id(2))));
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn a_shorter_timeout_goes_aside_and_comes_first() {
        let mut d = Deadlines::default();
        d.insert(Instant::from_millis(100), id(1));
        d.insert(Instant::from_millis(50), id(2));
        assert_eq!(d.out_of_order.len(), 1);
        assert_eq!(d.first(), Some((Instant::from_millis(50), id(2))));
        d.remove(Instant::from_millis(50), id(2));
        assert_eq!(d.first(), Some((Instant::from_millis(100), id(1))));
        d.forget(id(1));
        assert_eq!(d.first(), None);
    }

    proptest! {
        /// Against a plain ordered set: the same earliest deadline after
        /// every insert and remove, and nothing left behind.
        #[test]
        fn behaves_as_an_ordered_set(ops in proptest::collection::vec((any::<bool>(), 0u64..50, 1u32..20), 0..200)) {
            let mut d = Deadlines::default();
            let mut model = BTreeSet::new();
            for (insert, ms, n) in ops {
                let entry = (Instant::from_millis(ms), id(n));
                if insert {
                    // One deadline per request, as the connection keeps them.
                    if model.iter().any(|&(_, i)| i == entry.1) {
                        continue;
                    }
                    d.insert(entry.0, entry.1);
                    model.insert(entry);
                } else if let Some(&e) = model.iter().find(|&&(_, i)| i == entry.1) {
                    d.remove(e.0, e.1);
                    model.remove(&e);
                }
                prop_assert_eq!(d.first(), model.first().copied());
                prop_assert_eq!(d.len(), model.len());
            }
            let left: Vec<_> = model.iter().map(|&(_, i)| i).collect();
            for i in left {
                d.forget(i);
            }
            prop_assert_eq!(d.len(), 0);
        }
    }
}
