//! The table of active requests, keyed by request id.
//!
//! Each role inserts ids in increasing order: a client numbers its requests
//! 1, 2, 3, … and a server tracks only ids above every id it has seen (§4).
//! So the table is a vector sorted by id: inserting is a push at the back,
//! a lookup is O(1) while the ids are dense (a client's always are, up to
//! the first reclaimed hole) and a binary search otherwise, and the close
//! paths get id order for free. A `BTreeMap` did the same job with a
//! pointer-chasing search and a node rebalance on every request.
//!
//! A removed entry leaves a hole (`None`) so the others keep their places.
//! Holes at either end are dropped at once: at the back by a pop, at the
//! front by moving the table's start past them, their room reclaimed (one
//! move of what is left) only when the vector would otherwise grow — a
//! `VecDeque` did that with wrap-around arithmetic on every access, a
//! quarter of a lookup. Holes in the middle (a request that outlives many
//! younger ones) are reclaimed together once they outnumber the live
//! entries, so the table never holds more than about twice the live
//! entries, however long an old request lives.

use alloc::vec::Vec;

use super::RequestId;

/// Holes reclaimed in one sweep once there are more than the live entries
/// plus this many (small tables are never swept for a hole or two).
const SLACK: usize = 32;

/// Entries keyed by request id, inserted in increasing id order.
#[derive(Debug)]
pub(super) struct IdTable<V> {
    /// From `start` on, ascending by id; `None` is a removed entry not
    /// reclaimed yet. Before `start`, entries taken off the front (all
    /// `None`), whose room is reclaimed before the vector grows.
    slots: Vec<(RequestId, Option<V>)>,
    start: usize,
    /// How many slots are `Some`.
    live: usize,
}

impl<V> Default for IdTable<V> {
    fn default() -> Self {
        IdTable {
            slots: Vec::new(),
            start: 0,
            live: 0,
        }
    }
}

impl<V> IdTable<V> {
    /// How many entries there are.
    pub(super) fn len(&self) -> usize {
        self.live
    }

    pub(super) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The table proper: ascending by id, no hole at either end.
    fn table(&self) -> &[(RequestId, Option<V>)] {
        &self.slots[self.start..]
    }

    /// Where `id`'s slot is in `slots`, or where it would go.
    fn position(&self, id: RequestId) -> Result<usize, usize> {
        let table = self.table();
        let Some(&(first, _)) = table.first() else {
            return Err(self.start);
        };
        // Dense ids: the slot is at its distance from the first one.
        let guess = id.get().wrapping_sub(first.get()) as usize;
        if id >= first && table.get(guess).is_some_and(|s| s.0 == id) {
            return Ok(self.start + guess);
        }
        table
            .binary_search_by_key(&id, |s| s.0)
            .map(|i| self.start + i)
            .map_err(|i| self.start + i)
    }

    /// Reclaims the room of the entries taken off the front when the
    /// vector is full, so that it grows only for live entries and holes.
    fn make_room(&mut self) {
        if self.slots.len() == self.slots.capacity() && self.start > 0 {
            self.slots.drain(..self.start);
            self.start = 0;
        }
    }

    /// Adds (or replaces) the entry for `id`, returning the one it replaced.
    /// Ids above every other are the fast path; any id is accepted.
    pub(super) fn insert(&mut self, id: RequestId, value: V) -> Option<V> {
        self.make_room();
        if self.slots.last().is_none_or(|&(last, _)| last < id) {
            self.slots.push((id, Some(value)));
            self.live += 1;
            return None;
        }
        match self.position(id) {
            Ok(i) => {
                let old = self.slots[i].1.replace(value);
                self.live += usize::from(old.is_none());
                old
            }
            Err(i) => {
                self.slots.insert(i, (id, Some(value)));
                self.live += 1;
                None
            }
        }
    }

    pub(super) fn get(&self, id: RequestId) -> Option<&V> {
        let i = self.position(id).ok()?;
        self.slots[i].1.as_ref()
    }

    pub(super) fn get_mut(&mut self, id: RequestId) -> Option<&mut V> {
        let i = self.position(id).ok()?;
        self.slots[i].1.as_mut()
    }

    /// Takes the entry for `id` out.
    pub(super) fn remove(&mut self, id: RequestId) -> Option<V> {
        self.remove_if(id, |_| true)
    }

    /// Takes the entry for `id` out if `wanted` says so (one lookup where
    /// a `get` and a `remove` made two).
    pub(super) fn remove_if(
        &mut self,
        id: RequestId,
        wanted: impl FnOnce(&V) -> bool,
    ) -> Option<V> {
        let i = self.position(id).ok()?;
        let slot = &mut self.slots[i].1;
        if !slot.as_ref().is_some_and(wanted) {
            return None;
        }
        let value = slot.take()?;
        self.live -= 1;
        // No hole is ever left at either end, so only removing an end
        // entry can expose one; a live entry stops each walk.
        if self.live == 0 {
            self.slots.clear();
            self.start = 0;
        } else if i == self.start {
            while self.slots[self.start].1.is_none() {
                self.start += 1;
            }
        } else if i == self.slots.len() - 1 {
            while self.slots.last().is_some_and(|s| s.1.is_none()) {
                self.slots.pop();
            }
        }
        if self.slots.len() - self.start > 2 * self.live + SLACK {
            self.slots.drain(..self.start);
            self.start = 0;
            self.slots.retain(|s| s.1.is_some());
        }
        Some(value)
    }

    /// The entries in id order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (RequestId, &V)> {
        self.table()
            .iter()
            .filter_map(|(id, v)| v.as_ref().map(|v| (*id, v)))
    }

    /// The entries with an id of at least `from`, in id order.
    pub(super) fn iter_from(&self, from: RequestId) -> impl Iterator<Item = (RequestId, &V)> {
        let table = self.table();
        let start = table.partition_point(|s| s.0 < from);
        table[start..]
            .iter()
            .filter_map(|(id, v)| v.as_ref().map(|v| (*id, v)))
    }

    /// How many slots the table proper holds (live entries and holes), for
    /// the bound.
    #[cfg(test)]
    fn slots(&self) -> usize {
        self.table().len()
    }
}

impl<V> IntoIterator for IdTable<V> {
    type Item = (RequestId, V);
    type IntoIter = core::iter::FilterMap<
        alloc::vec::IntoIter<(RequestId, Option<V>)>,
        fn((RequestId, Option<V>)) -> Option<(RequestId, V)>,
    >;

    /// The entries in id order (those before `start` are all holes).
    fn into_iter(self) -> Self::IntoIter {
        self.slots
            .into_iter()
            .filter_map(|(id, v)| v.map(|v| (id, v)))
    }
}

#[cfg(test)]
mod tests {
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    fn id(n: u32) -> RequestId {
        RequestId::new(n)
    }

    #[test]
    fn dense_ids_in_order() {
        let mut t = IdTable::default();
        for n in 1..=10 {
            assert_eq!(t.insert(id(n), n * 10), None);
        }
        assert_eq!(t.len(), 10);
        assert_eq!(t.get(id(7)), Some(&70));
        assert_eq!(t.remove(id(1)), Some(10));
        assert_eq!(t.remove(id(1)), None);
        assert_eq!(t.get(id(1)), None);
        assert_eq!(t.get(id(2)), Some(&20));
        *t.get_mut(id(5)).unwrap() = 55;
        assert_eq!(t.remove(id(5)), Some(55));
        assert_eq!(t.get(id(5)), None);
        assert_eq!(t.get(id(11)), None);
        assert_eq!(t.get(id(0)), None);
        let ids: Vec<_> = t.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [2, 3, 4, 6, 7, 8, 9, 10].map(id));
        let above: Vec<_> = t.iter_from(id(7)).map(|(id, _)| id).collect();
        assert_eq!(above, [7, 8, 9, 10].map(id));
        let all: Vec<_> = t.into_iter().collect();
        assert_eq!(all.len(), 8);
        assert_eq!(all[0], (id(2), 20));
    }

    #[test]
    fn sparse_ids_and_out_of_order_inserts() {
        let mut t = IdTable::default();
        t.insert(id(100), 'a');
        t.insert(id(5_000), 'b');
        t.insert(RequestId::MAX, 'c');
        // Not the fast path, still correct.
        t.insert(id(7), 'd');
        t.insert(id(4_000), 'e');
        assert_eq!(t.insert(id(5_000), 'f'), Some('b'));
        let all: Vec<_> = t.iter().map(|(id, v)| (id, *v)).collect();
        assert_eq!(
            all,
            [
                (id(7), 'd'),
                (id(100), 'a'),
                (id(4_000), 'e'),
                (id(5_000), 'f'),
                (id(u32::MAX), 'c')
            ]
        );
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn an_old_entry_does_not_let_holes_pile_up() {
        let mut t = IdTable::default();
        t.insert(id(1), ());
        for n in 2..100_000 {
            t.insert(id(n), ());
            t.remove(id(n));
            assert!(t.slots() <= 2 * t.len() + SLACK + 1, "{} slots", t.slots());
        }
        assert_eq!(t.len(), 1);
        assert!(t.get(id(1)).is_some());
    }

    #[test]
    fn a_sliding_window_reuses_its_room() {
        // 64 in flight, answered in order: the front is taken off as the
        // back grows, and the vector does not grow with the ids.
        let mut t = IdTable::default();
        for n in 1..=64 {
            t.insert(id(n), n);
        }
        for n in 65..100_000 {
            t.insert(id(n), n);
            assert_eq!(t.remove_if(id(n - 64), |v| *v == n - 64), Some(n - 64));
            assert_eq!(t.get(id(n - 63)), Some(&(n - 63)));
            assert!(t.slots.capacity() <= 2 * 65, "{} slots", t.slots.capacity());
        }
        assert_eq!(t.len(), 64);
        // Not removed when the value says no; removed when it says yes.
        assert_eq!(t.remove_if(id(99_999), |_| false), None);
        assert_eq!(t.get(id(99_999)), Some(&99_999));
        assert_eq!(t.remove_if(id(99_999), |_| true), Some(99_999));
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Insert the next id, `gap` above the last one.
        Push {
            gap: u32,
        },
        /// Insert any id.
        Insert(u32),
        Remove(u32),
        /// Remove this id's entry if its value is even.
        RemoveIfEven(u32),
        /// Remove the entry at this rank, when there is one.
        RemoveNth(usize),
        Get(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u32..3).prop_map(|gap| Op::Push { gap }),
            1 => (0u32..200).prop_map(Op::Insert),
            2 => (0u32..200).prop_map(Op::Remove),
            2 => (0u32..200).prop_map(Op::RemoveIfEven),
            4 => (0usize..64).prop_map(Op::RemoveNth),
            2 => (0u32..200).prop_map(Op::Get),
        ]
    }

    proptest! {
        /// The table behaves as a map, keeps id order and its bound.
        #[test]
        fn behaves_as_a_btree_map(ops in proptest::collection::vec(op(), 0..400)) {
            let mut table = IdTable::default();
            let mut model = BTreeMap::new();
            let mut next = 1u32;
            let mut widest = 0;
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Push { gap } => {
                        let k = next.max(model.keys().next_back().map_or(0, |k| k + 1)) + gap;
                        next = k + 1;
                        prop_assert_eq!(table.insert(id(k), n), model.insert(k, n));
                    }
                    Op::Insert(k) => prop_assert_eq!(table.insert(id(k), n), model.insert(k, n)),
                    Op::Remove(k) => prop_assert_eq!(table.remove(id(k)), model.remove(&k)),
                    Op::RemoveIfEven(k) => {
                        let even = model.get(&k).is_some_and(|v| v % 2 == 0);
                        let want = if even { model.remove(&k) } else { None };
                        prop_assert_eq!(table.remove_if(id(k), |v| v % 2 == 0), want);
                    }
                    Op::RemoveNth(rank) => {
                        if let Some(&k) = model.keys().nth(rank) {
                            prop_assert_eq!(table.remove(id(k)), model.remove(&k));
                        }
                    }
                    Op::Get(k) => prop_assert_eq!(table.get(id(k)), model.get(&k)),
                }
                prop_assert_eq!(table.len(), model.len());
                prop_assert!(table.slots() <= 2 * table.len() + SLACK + 1);
                prop_assert!(table.table().first().is_none_or(|s| s.1.is_some()));
                prop_assert!(table.table().last().is_none_or(|s| s.1.is_some()));
                prop_assert!(table.slots[..table.start].iter().all(|s| s.1.is_none()));
                // What was taken off the front is reclaimed before the
                // vector grows: it is at most twice the largest table.
                widest = widest.max(table.slots());
                prop_assert!(table.slots.capacity() <= (2 * widest).max(4));
                let seen: Vec<_> = table.iter().map(|(k, v)| (k, *v)).collect();
                let want: Vec<_> = model.iter().map(|(k, v)| (id(*k), *v)).collect();
                prop_assert_eq!(seen, want);
                if let Some(&mid) = model.keys().nth(model.len() / 2) {
                    let seen: Vec<_> = table.iter_from(id(mid)).map(|(k, _)| k).collect();
                    let want: Vec<_> = model.range(mid..).map(|(k, _)| id(*k)).collect();
                    prop_assert_eq!(seen, want);
                }
            }
        }
    }
}
