//! `Timers`: pending alarms and delays on a binary heap.
//!
//! Timers live in a slab; the heap holds compact `(due, seq, slot)` keys.
//! Removing or adjusting a timer never searches the heap: removal empties
//! the slot and leaves its key behind, adjustment pushes a new key, and a
//! key whose slot no longer matches is dropped when it reaches the top
//! (lazy deletion). Equal due times fire in `seq` order, which is the order
//! they were set. Each session's timers are also threaded on an intrusive
//! list, so clearing a session's timers by name or all at once visits only
//! that session's timers.

use std::{cmp::Ordering, collections::BinaryHeap};

use rustc_hash::FxHashMap;

use crate::{event::Event, id::SessionId, queue::Item};

const NIL: u32 = u32::MAX;

/// # Invariants
///
/// Every live timer has exactly one heap key equal to its `(due, seq,
/// slot)`; `live` counts live timers; each session's list links exactly its
/// live timers.
#[derive(Default)]
pub(crate) struct Timers {
    slots: Vec<Option<Node>>,
    free: Vec<u32>,
    heap: BinaryHeap<Key>,
    live: usize,
    heads: FxHashMap<SessionId, u32>,
}

struct Node {
    item: Item,
    prev: u32,
    next: u32,
}

#[derive(PartialEq, Eq)]
struct Key {
    due: i64,
    seq: u64,
    slot: u32,
}

impl Ord for Key {
    /// Reversed, so `BinaryHeap` (a max-heap) yields the earliest first.
    fn cmp(&self, other: &Key) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Timers {
    /// Adds a timer; `item.due` is its due time. Returns its slot.
    pub fn insert(&mut self, item: Item) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 timers")
            }
        };
        let session = item.target;
        let head = self.heads.get(&session).copied().unwrap_or(NIL);
        if head != NIL {
            self.node_mut(head).prev = slot;
        }
        self.heads.insert(session, slot);
        self.heap.push(Key {
            due: item.due,
            seq: item.seq,
            slot,
        });
        self.slots[slot as usize] = Some(Node {
            item,
            prev: NIL,
            next: head,
        });
        self.live += 1;
        slot
    }

    /// The timer in `slot`, if it is the one numbered `seq`.
    pub fn get(&self, slot: usize, seq: u64) -> Option<&Item> {
        match self.slots.get(slot) {
            Some(Some(node)) if node.item.seq == seq => Some(&node.item),
            _ => None,
        }
    }

    /// Removes the timer in `slot` if it is the one numbered `seq`.
    pub fn remove(&mut self, slot: usize, seq: u64) -> Option<Item> {
        self.get(slot, seq)?;
        let item = self.unlink(slot as u32);
        self.compact_if_stale();
        Some(item)
    }

    /// Moves a timer to a new due time; its place among equal times is kept
    /// by its original `seq`.
    pub fn set_due(&mut self, slot: usize, seq: u64, due: i64) -> Option<i64> {
        self.get(slot, seq)?;
        let node = self.node_mut(slot as u32);
        node.item.due = due;
        self.heap.push(Key {
            due,
            seq,
            slot: slot as u32,
        });
        self.compact_if_stale();
        Some(due)
    }

    /// The `(due, seq)` of the earliest timer, if it is due by `now`.
    pub fn peek_due(&mut self, now: i64) -> Option<(i64, u64)> {
        self.next_key().filter(|&(due, _)| due <= now)
    }

    /// A time at or before the earliest timer's due time: when the kernel
    /// should look again.
    pub fn next_wakeup(&mut self) -> Option<i64> {
        self.next_key().map(|(due, _)| due)
    }

    /// The `(due, seq)` of the earliest timer.
    fn next_key(&mut self) -> Option<(i64, u64)> {
        while let Some(top) = self.heap.peek() {
            if self.is_current(top) {
                return Some((top.due, top.seq));
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns the earliest timer (after `peek_due` found it).
    pub fn pop(&mut self) -> Option<Item> {
        while let Some(top) = self.heap.pop() {
            if self.is_current(&top) {
                return Some(self.unlink(top.slot));
            }
        }
        None
    }

    /// Removes every timer of `session`, earliest first.
    pub fn remove_session(&mut self, session: SessionId) -> Vec<Item> {
        self.remove_session_where(session, |_| true)
    }

    /// Removes the timers of `session` named `event`, earliest first.
    pub fn remove_named(&mut self, session: SessionId, event: Event) -> Vec<Item> {
        self.remove_session_where(session, |item| item.event == event)
    }

    fn remove_session_where(
        &mut self,
        session: SessionId,
        mut doomed: impl FnMut(&Item) -> bool,
    ) -> Vec<Item> {
        let mut removed = Vec::new();
        let mut at = self.heads.get(&session).copied().unwrap_or(NIL);
        while at != NIL {
            let node = self.node_mut(at);
            let next = node.next;
            if doomed(&node.item) {
                removed.push(self.unlink(at));
            }
            at = next;
        }
        removed.sort_by_key(|item| (item.due, item.seq));
        self.compact_if_stale();
        removed
    }

    /// How many timers are pending.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Removes everything (the kernel stopped).
    pub fn clear(&mut self) -> Vec<Item> {
        let items = self
            .slots
            .drain(..)
            .flatten()
            .map(|node| node.item)
            .collect();
        *self = Timers::default();
        items
    }

    fn is_current(&self, key: &Key) -> bool {
        matches!(
            self.slots.get(key.slot as usize),
            Some(Some(node)) if node.item.seq == key.seq && node.item.due == key.due
        )
    }

    fn node_mut(&mut self, slot: u32) -> &mut Node {
        self.slots[slot as usize]
            .as_mut()
            .expect("linked timer slots are occupied")
    }

    /// Empties a live slot and unthreads it from its session's list.
    fn unlink(&mut self, slot: u32) -> Item {
        let node = self.slots[slot as usize]
            .take()
            .expect("unlinking an occupied slot");
        if node.prev == NIL {
            if node.next == NIL {
                self.heads.remove(&node.item.target);
            } else {
                self.heads.insert(node.item.target, node.next);
            }
        } else {
            self.node_mut(node.prev).next = node.next;
        }
        if node.next != NIL {
            self.node_mut(node.next).prev = node.prev;
        }
        self.free.push(slot);
        self.live -= 1;
        node.item
    }

    /// Rebuilds the heap once stale keys outnumber live ones, so cancelling
    /// timers that never fire cannot grow it without bound.
    fn compact_if_stale(&mut self) {
        if self.heap.len() > 2 * self.live + 64 {
            let keys = std::mem::take(&mut self.heap).into_vec();
            self.heap = keys.into_iter().filter(|k| self.is_current(k)).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::panic::Location;

    use super::*;
    use crate::{
        id::KernelId,
        queue::{ArgsRef, Kind},
    };

    fn session(n: u64) -> SessionId {
        SessionId::new(KernelId(0), n as u32, n)
    }

    fn item(seq: u64, due: i64, target: SessionId, name: &str) -> Item {
        Item {
            seq,
            due,
            target,
            sender: target,
            event: Event::new(name),
            kind: Kind::Timer,
            args: ArgsRef::NONE,
            caller_state: None,
            location: Location::caller(),
        }
    }

    fn drain(timers: &mut Timers) -> Vec<u64> {
        std::iter::from_fn(|| timers.pop()).map(|i| i.seq).collect()
    }

    #[test]
    fn fires_by_due_then_by_insertion() {
        let mut t = Timers::default();
        let s = session(1);
        t.insert(item(1, 30, s, "a"));
        t.insert(item(2, 10, s, "a"));
        t.insert(item(3, 20, s, "a"));
        t.insert(item(4, 20, s, "a"));
        t.insert(item(5, 10, s, "a"));
        assert_eq!(drain(&mut t), [2, 5, 3, 4, 1]);
        assert!(t.is_empty());
    }

    #[test]
    fn removed_and_adjusted_timers_leave_no_trace() {
        let mut t = Timers::default();
        let s = session(1);
        let a = t.insert(item(1, 10, s, "a"));
        let b = t.insert(item(2, 20, s, "b"));
        t.insert(item(3, 30, s, "c"));
        assert!(t.remove(a as usize, 1).is_some());
        assert!(t.remove(a as usize, 1).is_none(), "removing twice fails");
        assert_eq!(t.set_due(b as usize, 2, 40), Some(40));
        assert_eq!(t.peek_due(100), Some((30, 3)));
        assert_eq!(t.peek_due(29), None);
        assert_eq!(t.next_wakeup(), Some(30));
        assert_eq!(drain(&mut t), [3, 2]);
    }

    #[test]
    fn a_reused_slot_does_not_answer_to_the_old_id() {
        let mut t = Timers::default();
        let s = session(1);
        let a = t.insert(item(1, 10, s, "a"));
        t.remove(a as usize, 1);
        let again = t.insert(item(2, 10, s, "a"));
        assert_eq!(a, again);
        assert!(t.get(a as usize, 1).is_none());
        assert!(t.get(a as usize, 2).is_some());
    }

    #[test]
    fn name_clearing_touches_one_session_only() {
        let mut t = Timers::default();
        let (one, two) = (session(1), session(2));
        t.insert(item(1, 10, one, "ring"));
        t.insert(item(2, 20, two, "ring"));
        t.insert(item(3, 30, one, "ring"));
        t.insert(item(4, 40, one, "other"));
        let gone: Vec<u64> = t
            .remove_named(one, Event::new("ring"))
            .iter()
            .map(|i| i.seq)
            .collect();
        assert_eq!(gone, [1, 3]);
        assert_eq!(drain(&mut t), [2, 4]);
    }

    #[test]
    fn session_lists_survive_removal_from_the_middle() {
        let mut t = Timers::default();
        let s = session(1);
        let slots: Vec<u32> = (1..=5)
            .map(|n| t.insert(item(n, n as i64, s, "x")))
            .collect();
        t.remove(slots[2] as usize, 3);
        t.remove(slots[4] as usize, 5);
        t.remove(slots[0] as usize, 1);
        let rest: Vec<u64> = t.remove_session(s).iter().map(|i| i.seq).collect();
        assert_eq!(rest, [2, 4]);
        assert_eq!(t.len(), 0);
        assert!(t.heads.is_empty());
    }

    #[test]
    fn cancelling_many_timers_keeps_the_heap_small() {
        let mut t = Timers::default();
        let s = session(1);
        for n in 0..10_000u64 {
            let slot = t.insert(item(n, n as i64, s, "x"));
            t.set_due(slot as usize, n, n as i64 + 1);
            t.remove(slot as usize, n);
        }
        assert!(t.heap.len() <= 2 * t.live + 64 + 1);
    }
}
