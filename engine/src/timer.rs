//! `Timers`: pending alarms and delays on a hierarchical timing wheel.
//!
//! Time is cut into ticks of 2^20 ns (about a millisecond). Six levels of 64
//! slots cover 2^36 ticks (about 2.2 years) ahead of the wheel's position,
//! `elapsed`: a timer goes to the level of the highest 6-bit digit in which
//! its tick differs from `elapsed`, in the slot that digit names, so a
//! level-0 slot holds exactly one tick and a level-5 slot about 13 days.
//! Later timers wait on an unsorted overflow list. Slots are intrusive
//! doubly linked lists through a slab of nodes, so setting, cancelling and
//! moving a timer are O(1), and each level keeps a bitmap of its occupied
//! slots (tokio's wheel, which tokio-util's `DelayQueue` uses).
//!
//! The wheel only sorts to the tick; POE's order is exact. A timer whose
//! tick the wheel has reached is *ready*: it leaves the wheel for an
//! exactly ordered set of `(due, seq, slot)` keys. Advancing the wheel takes
//! the next occupied slot (found from the bitmaps, so empty ticks cost
//! nothing and an idle hour is a handful of steps), moves its timers one
//! level down, or to the ready set once their tick is reached, and sorts
//! the keys that became ready together. Those are later than every key
//! already ready, so they are appended to a sorted run that is consumed from
//! the front; a timer placed at or before the wheel's position (set in the
//! past, or moved there) goes to a small binary heap instead. Removing or
//! moving a ready timer leaves its key behind; a key whose slot no longer
//! holds that `(seq, due)` is dropped when it reaches the front (lazy
//! deletion). Each timer fires once, after at most six moves down the wheel.
//!
//! Each session's timers are also threaded on an intrusive list, headed in a
//! table indexed by the session's slot, so clearing a session's timers by
//! name or all at once visits only that session's timers.

use std::{cmp::Reverse, collections::BinaryHeap};

use crate::{event::Event, id::SessionId, queue::Item};

const NIL: u32 = u32::MAX;
/// A tick is 2^20 ns.
const TICK_SHIFT: u32 = 20;
/// Bits of a tick each level resolves.
const LEVEL_BITS: u32 = 6;
const SLOTS: usize = 1 << LEVEL_BITS;
const LEVELS: usize = 6;
/// Ticks whose digits above the wheel's range differ from `elapsed`'s wait
/// in the overflow list.
const WHEEL_BITS: u32 = LEVEL_BITS * LEVELS as u32;

/// The tick a due time falls in, as an unsigned number that keeps the order
/// of signed due times (so times before the kernel started work as well).
#[inline]
fn tick_of(due: i64) -> u64 {
    ((due as u64) ^ (1 << 63)) >> TICK_SHIFT
}

/// The first nanosecond of `tick`.
#[inline]
fn tick_start(tick: u64) -> i64 {
    ((tick << TICK_SHIFT) ^ (1 << 63)) as i64
}

/// The level a timer due in `tick` (later than `elapsed`) waits on;
/// `LEVELS` or more means the overflow list.
#[inline]
fn level_for(elapsed: u64, tick: u64) -> usize {
    let masked = (elapsed ^ tick) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros();
    (significant / LEVEL_BITS) as usize
}

/// The slot `tick` names on `level`.
#[inline]
fn slot_for(tick: u64, level: usize) -> usize {
    (tick >> (LEVEL_BITS * level as u32)) as usize & (SLOTS - 1)
}

/// A ready timer's place in firing order. The derived order is `(due, seq)`
/// (`slot` never decides: `seq` is unique).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Key {
    due: i64,
    seq: u64,
    slot: u32,
}

/// A timer and its two lists: the wheel slot (or overflow list) it waits
/// in, unused once it is ready, and its session's timers.
struct Node {
    item: Item,
    prev: u32,
    next: u32,
    session_prev: u32,
    session_next: u32,
}

/// # Invariants
///
/// With `elapsed` the wheel's position in ticks: a live timer due in a tick
/// at or before `elapsed` is ready and has a key equal to its `(due, seq,
/// slot)` in `run[cursor..]` or `late`; a later one is linked in exactly the
/// slot [`level_for`] and [`slot_for`] name, or in the overflow list, whose
/// ticks are all at least `overflow_floor`. A slot's `occupied` bit is set
/// exactly when its list is non-empty, and every occupied slot's digit is
/// greater than `elapsed`'s digit on that level. `run[cursor..]` is sorted.
/// `live` counts live timers; each session list links exactly the live
/// timers whose target has that session slot.
pub(crate) struct Timers {
    nodes: Vec<Option<Node>>,
    free: Vec<u32>,
    live: usize,
    elapsed: u64,
    occupied: [u64; LEVELS],
    wheel: [[u32; SLOTS]; LEVELS],
    overflow: u32,
    overflow_floor: u64,
    run: Vec<Key>,
    cursor: usize,
    late: BinaryHeap<Reverse<Key>>,
    sessions: Vec<u32>,
    /// Slots and overflow entries visited while advancing (for tests).
    #[cfg(test)]
    visits: u64,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            nodes: Vec::new(),
            free: Vec::new(),
            live: 0,
            // Kernel time 0: the clock starts there, and earlier times are
            // simply ready.
            elapsed: tick_of(0),
            occupied: [0; LEVELS],
            wheel: [[NIL; SLOTS]; LEVELS],
            overflow: NIL,
            overflow_floor: u64::MAX,
            run: Vec::new(),
            cursor: 0,
            late: BinaryHeap::new(),
            sessions: Vec::new(),
            #[cfg(test)]
            visits: 0,
        }
    }
}

impl Timers {
    /// Adds a timer; `item.due` is its due time. Returns its slot.
    pub fn insert(&mut self, item: Item) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.nodes.push(None);
                u32::try_from(self.nodes.len() - 1).expect("fewer than 2^32 timers")
            }
        };
        let owner = item.target.slot();
        if owner >= self.sessions.len() {
            self.sessions.resize(owner + 1, NIL);
        }
        let head = std::mem::replace(&mut self.sessions[owner], slot);
        if head != NIL {
            self.node_mut(head).session_prev = slot;
        }
        let (due, seq) = (item.due, item.seq);
        self.nodes[slot as usize] = Some(Node {
            item,
            prev: NIL,
            next: NIL,
            session_prev: NIL,
            session_next: head,
        });
        self.live += 1;
        if !self.link(slot, tick_of(due)) {
            self.late.push(Reverse(Key { due, seq, slot }));
        }
        slot
    }

    /// The timer in `slot`, if it is the one numbered `seq`.
    pub fn get(&self, slot: usize, seq: u64) -> Option<&Item> {
        match self.nodes.get(slot) {
            Some(Some(node)) if node.item.seq == seq => Some(&node.item),
            _ => None,
        }
    }

    /// Removes the timer in `slot` if it is the one numbered `seq`.
    pub fn remove(&mut self, slot: usize, seq: u64) -> Option<Item> {
        let due = self.get(slot, seq)?.due;
        let slot = slot as u32;
        self.unlink_pending(slot, due);
        let item = self.release(slot);
        self.compact_if_stale();
        Some(item)
    }

    /// Moves a timer to a new due time; its place among equal times is kept
    /// by its original `seq`.
    pub fn set_due(&mut self, slot: usize, seq: u64, due: i64) -> Option<i64> {
        let old = self.get(slot, seq)?.due;
        if old == due {
            return Some(due);
        }
        let slot = slot as u32;
        self.unlink_pending(slot, old);
        self.node_mut(slot).item.due = due;
        if !self.link(slot, tick_of(due)) {
            self.late.push(Reverse(Key { due, seq, slot }));
        }
        self.compact_if_stale();
        Some(due)
    }

    /// The `(due, seq)` of the earliest timer, if it is due by `now`.
    #[inline]
    pub fn peek_due(&mut self, now: i64) -> Option<(i64, u64)> {
        let tick = tick_of(now);
        if tick > self.elapsed {
            self.advance(tick);
        }
        self.ready_top()
            .map(|(key, _)| key)
            .filter(|key| key.due <= now)
            .map(|key| (key.due, key.seq))
    }

    /// A time at or before the earliest timer's due time: when the kernel
    /// should look again. Exact once the earliest timer's tick has been
    /// reached; before that, the start of the wheel slot it waits in.
    pub fn next_wakeup(&mut self) -> Option<i64> {
        if let Some((key, _)) = self.ready_top() {
            return Some(key.due);
        }
        if let Some((.., tick)) = self.next_slot() {
            return Some(tick_start(tick));
        }
        (self.overflow != NIL).then(|| tick_start(self.overflow_floor))
    }

    /// Removes and returns the earliest timer (after `peek_due` found it).
    #[inline]
    pub fn pop(&mut self) -> Option<Item> {
        loop {
            if let Some((key, in_run)) = self.ready_top() {
                if in_run {
                    self.cursor += 1;
                } else {
                    self.late.pop();
                }
                return Some(self.release(key.slot));
            }
            if !self.step() {
                return None;
            }
        }
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
        let mut at = self.sessions.get(session.slot()).copied().unwrap_or(NIL);
        while at != NIL {
            let node = self.node(at);
            let next = node.session_next;
            // A reused session slot may still list a dead session's timers.
            if node.item.target == session && doomed(&node.item) {
                let due = node.item.due;
                self.unlink_pending(at, due);
                removed.push(self.release(at));
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

    /// Every pending timer, in no particular order (for snapshots).
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.nodes.iter().flatten().map(|node| &node.item)
    }

    /// Removes everything (the kernel stopped).
    pub fn clear(&mut self) -> Vec<Item> {
        let items = self
            .nodes
            .drain(..)
            .flatten()
            .map(|node| node.item)
            .collect();
        *self = Timers::default();
        items
    }

    // ----- the wheel ----------------------------------------------------------

    /// Links a timer due in `tick` into its wheel slot or the overflow list;
    /// `false` (and nothing linked) if the tick has been reached, so the
    /// timer is ready.
    #[inline]
    fn link(&mut self, slot: u32, tick: u64) -> bool {
        if tick <= self.elapsed {
            return false;
        }
        let level = level_for(self.elapsed, tick);
        let head = if level < LEVELS {
            let s = slot_for(tick, level);
            self.occupied[level] |= 1 << s;
            &mut self.wheel[level][s]
        } else {
            self.overflow_floor = self.overflow_floor.min(tick);
            &mut self.overflow
        };
        let next = std::mem::replace(head, slot);
        if next != NIL {
            self.nodes[next as usize]
                .as_mut()
                .expect("listed timer slots are occupied")
                .prev = slot;
        }
        let node = self.node_mut(slot);
        node.prev = NIL;
        node.next = next;
        true
    }

    /// Takes a live timer due at `due` off the wheel or the overflow list;
    /// nothing to do if it is ready (its key goes stale).
    #[inline]
    fn unlink_pending(&mut self, slot: u32, due: i64) {
        let tick = tick_of(due);
        if tick <= self.elapsed {
            return;
        }
        let (prev, next) = {
            let node = self.node(slot);
            (node.prev, node.next)
        };
        if prev != NIL {
            self.node_mut(prev).next = next;
        } else {
            let level = level_for(self.elapsed, tick);
            if level < LEVELS {
                let s = slot_for(tick, level);
                debug_assert_eq!(self.wheel[level][s], slot, "a list's first timer heads it");
                self.wheel[level][s] = next;
                if next == NIL {
                    self.occupied[level] &= !(1 << s);
                }
            } else {
                debug_assert_eq!(self.overflow, slot, "a list's first timer heads it");
                self.overflow = next;
                if next == NIL {
                    self.overflow_floor = u64::MAX;
                }
            }
        }
        if next != NIL {
            self.node_mut(next).prev = prev;
        }
    }

    /// The earliest occupied slot: its level, its index and its first tick.
    /// Lower levels come first: their slots end before the next slot of the
    /// level above begins.
    #[inline]
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        let level = self.occupied.iter().position(|&bits| bits != 0)?;
        let s = self.occupied[level].trailing_zeros() as usize;
        let shift = LEVEL_BITS * level as u32;
        debug_assert!(
            s > slot_for(self.elapsed, level),
            "occupied slots lie ahead of the wheel"
        );
        let above = (self.elapsed >> (shift + LEVEL_BITS)) << (shift + LEVEL_BITS);
        Some((level, s, above | ((s as u64) << shift)))
    }

    /// Moves the wheel to `target` (a tick): every timer due in a tick up to
    /// `target` becomes ready, the others move down to the level `target`
    /// puts them on. Only occupied slots are visited.
    fn advance(&mut self, target: u64) {
        while let Some((level, s, start)) = self.next_slot().filter(|&(.., start)| start <= target)
        {
            self.elapsed = start;
            self.occupied[level] &= !(1 << s);
            let at = std::mem::replace(&mut self.wheel[level][s], NIL);
            self.replace_list(at);
        }
        self.elapsed = self.elapsed.max(target);
        if self.overflow != NIL && self.overflow_floor >> WHEEL_BITS <= target >> WHEEL_BITS {
            let at = std::mem::replace(&mut self.overflow, NIL);
            self.overflow_floor = u64::MAX;
            self.replace_list(at);
        }
    }

    /// Places again every timer of a list taken off the wheel (or the
    /// overflow list) after the wheel moved: the ready ones, all due after
    /// every timer already ready, join the sorted run in order.
    fn replace_list(&mut self, mut at: u32) {
        #[cfg(test)]
        {
            self.visits += 1;
        }
        if self.cursor == self.run.len() {
            self.run.clear();
            self.cursor = 0;
        } else if self.cursor > 1024 && self.cursor >= self.run.len() / 2 {
            self.run.drain(..self.cursor);
            self.cursor = 0;
        }
        let first = self.run.len();
        while at != NIL {
            let node = self.node(at);
            let (next, due, seq) = (node.next, node.item.due, node.item.seq);
            if !self.link(at, tick_of(due)) {
                self.run.push(Key { due, seq, slot: at });
            }
            at = next;
        }
        self.run[first..].sort_unstable();
        debug_assert!(
            first == self.cursor
                || first == self.run.len()
                || self.run[first - 1] < self.run[first],
            "keys that become ready together follow every earlier one"
        );
    }

    /// Moves the wheel to the next occupied slot, or to the earliest
    /// overflow timer; `false` if nothing is pending there.
    fn step(&mut self) -> bool {
        let target = match self.next_slot() {
            Some((.., tick)) => tick,
            None if self.overflow != NIL => {
                let mut floor = u64::MAX;
                let mut at = self.overflow;
                while at != NIL {
                    let node = self.node(at);
                    floor = floor.min(tick_of(node.item.due));
                    at = node.next;
                }
                self.overflow_floor = floor;
                floor
            }
            None => return false,
        };
        self.advance(target);
        true
    }

    // ----- the ready set ------------------------------------------------------

    /// The earliest ready key, and whether it heads the run (rather than
    /// the heap), after dropping stale keys from both.
    #[inline]
    fn ready_top(&mut self) -> Option<(Key, bool)> {
        while let Some(&key) = self.run.get(self.cursor) {
            if self.is_current(key) {
                break;
            }
            self.cursor += 1;
        }
        while let Some(&Reverse(key)) = self.late.peek() {
            if self.is_current(key) {
                break;
            }
            self.late.pop();
        }
        match (self.run.get(self.cursor), self.late.peek()) {
            (Some(&run), Some(&Reverse(late))) if late < run => Some((late, false)),
            (Some(&run), _) => Some((run, true)),
            (None, Some(&Reverse(late))) => Some((late, false)),
            (None, None) => None,
        }
    }

    /// Whether `key` still names a live timer at that due time (it is then
    /// ready: a pending timer's due time is past the wheel's position, a
    /// key's is not).
    #[inline]
    fn is_current(&self, key: Key) -> bool {
        matches!(
            self.nodes.get(key.slot as usize),
            Some(Some(node)) if node.item.seq == key.seq && node.item.due == key.due
        )
    }

    /// Drops stale keys once they outnumber live timers, so moving and
    /// cancelling ready timers cannot grow the ready set without bound.
    fn compact_if_stale(&mut self) {
        let limit = 2 * self.live + 64;
        if self.late.len() > limit {
            let mut keys: Vec<Key> = std::mem::take(&mut self.late)
                .into_iter()
                .map(|Reverse(key)| key)
                .filter(|&key| self.is_current(key))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            self.late = keys.into_iter().map(Reverse).collect();
        }
        if self.run.len() - self.cursor > limit {
            let mut run = std::mem::take(&mut self.run);
            run.drain(..self.cursor);
            run.retain(|&key| self.is_current(key));
            run.dedup();
            self.run = run;
            self.cursor = 0;
        }
    }

    // ----- the slab -----------------------------------------------------------

    #[inline]
    fn node(&self, slot: u32) -> &Node {
        self.nodes[slot as usize]
            .as_ref()
            .expect("linked timer slots are occupied")
    }

    #[inline]
    fn node_mut(&mut self, slot: u32) -> &mut Node {
        self.nodes[slot as usize]
            .as_mut()
            .expect("linked timer slots are occupied")
    }

    /// Empties a live slot (already off the wheel) and unthreads it from its
    /// session's list.
    #[inline]
    fn release(&mut self, slot: u32) -> Item {
        let node = self.nodes[slot as usize]
            .take()
            .expect("releasing an occupied slot");
        if node.session_prev == NIL {
            self.sessions[node.item.target.slot()] = node.session_next;
        } else {
            self.node_mut(node.session_prev).session_next = node.session_next;
        }
        if node.session_next != NIL {
            self.node_mut(node.session_next).session_prev = node.session_prev;
        }
        self.free.push(slot);
        self.live -= 1;
        node.item
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, panic::Location};

    use super::*;
    use crate::{
        id::KernelId,
        queue::{ArgsRef, Kind},
    };

    fn session(n: u64) -> SessionId {
        SessionId::new(KernelId(0), n as u32, n)
    }

    fn item(seq: u64, due: i64, target: SessionId, name: &str) -> Item {
        item_for(seq, due, target, Event::new(name))
    }

    fn item_for(seq: u64, due: i64, target: SessionId, event: Event) -> Item {
        Item {
            seq,
            due,
            target,
            sender: target,
            event,
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
        assert!(t.sessions.iter().all(|&head| head == NIL));
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
        assert!(t.late.len() <= 2 * t.live + 64 + 1);
        assert!(t.run.len() - t.cursor <= 2 * t.live + 64 + 1);
    }

    #[test]
    fn nodes_stay_compact() {
        assert!(std::mem::size_of::<Option<Node>>() <= std::mem::size_of::<Item>() + 16);
    }

    #[test]
    fn ticks_keep_the_order_of_due_times() {
        let dues = [
            i64::MIN,
            i64::MIN + 1,
            -(1 << 40) - 1,
            -(1 << 20) - 1,
            -(1 << 20),
            -1,
            0,
            1,
            (1 << 20) - 1,
            1 << 20,
            1 << 56,
            i64::MAX,
        ];
        for pair in dues.windows(2) {
            assert!(tick_of(pair[0]) <= tick_of(pair[1]));
            assert!(tick_start(tick_of(pair[1])) <= pair[1]);
        }
        assert_eq!(tick_of(-1) + 1, tick_of(0));
        assert_eq!(tick_of((1 << 20) - 1), tick_of(0));
        assert_eq!(tick_start(tick_of(1 << 20)), 1 << 20);
        assert_eq!(tick_start(tick_of(-5)), -(1 << 20));
    }

    /// Timers far beyond the wheel wait in the overflow list and still fire
    /// in order with near ones.
    #[test]
    fn far_timers_overflow_and_come_back_in_order() {
        let mut t = Timers::default();
        let s = session(1);
        let year = 365 * 24 * 3600 * 1_000_000_000_i64;
        t.insert(item(1, 5 * year, s, "x"));
        t.insert(item(2, 3 * year, s, "x"));
        t.insert(item(3, 1_000, s, "x"));
        t.insert(item(4, 5 * year, s, "x"));
        t.insert(item(5, i64::MAX, s, "x"));
        assert!(t.next_wakeup().unwrap() <= 1_000);
        assert_eq!(t.peek_due(2 * year), Some((1_000, 3)));
        assert_eq!(t.pop().map(|i| i.seq), Some(3));
        assert_eq!(t.peek_due(2 * year), None);
        assert!(t.next_wakeup().unwrap() <= 3 * year);
        assert_eq!(drain(&mut t), [2, 1, 4, 5]);
    }

    // ----- randomized comparison with a model ---------------------------------

    /// xorshift64*: small, deterministic, good enough to shuffle operations.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }
    }

    /// What the model keeps of a timer.
    #[derive(Clone, Copy, Debug)]
    struct Pending {
        slot: u32,
        target: SessionId,
        event: Event,
    }

    struct Check {
        rng: Rng,
        timers: Timers,
        /// The reference: pending timers by `(due, seq)`.
        model: BTreeMap<(i64, u64), Pending>,
        /// `seq -> due` of pending timers.
        dues: BTreeMap<u64, i64>,
        seq: u64,
        now: i64,
        sessions: [SessionId; 4],
        events: [Event; 3],
    }

    const TICK: i64 = 1 << TICK_SHIFT;
    const HOUR: i64 = 3_600_000_000_000;

    impl Check {
        fn new(seed: u64) -> Check {
            let mut rng = Rng(seed | 1);
            let now = match rng.below(4) {
                0 => 0,
                1 => -(rng.below(1 << 40) as i64),
                _ => rng.below(1 << 36) as i64,
            };
            Check {
                rng,
                timers: Timers::default(),
                model: BTreeMap::new(),
                dues: BTreeMap::new(),
                seq: 0,
                now,
                // Sessions 1 and 4 share a table slot, as a dead session and
                // the one that reused its slot would.
                sessions: [
                    SessionId::new(KernelId(0), 1, 1),
                    SessionId::new(KernelId(0), 2, 2),
                    SessionId::new(KernelId(0), 3, 3),
                    SessionId::new(KernelId(0), 1, 4),
                ],
                events: [Event::new("a"), Event::new("b"), Event::new("c")],
            }
        }

        /// A due time: ties, exact tick boundaries, the near future, the
        /// past, and far beyond the wheel.
        fn due(&mut self) -> i64 {
            let now = self.now;
            let r = &mut self.rng;
            match r.below(12) {
                0 if !self.dues.is_empty() => {
                    let nth = r.below(self.dues.len() as u64) as usize;
                    *self.dues.values().nth(nth).unwrap()
                }
                1 => now.saturating_add(r.below(200) as i64 * TICK),
                2 => {
                    let boundary = (i128::from(now / TICK) + i128::from(r.below(130)))
                        * i128::from(TICK)
                        - i128::from(r.below(2));
                    boundary.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
                }
                3 => now - r.below(1 << 30) as i64,
                4 => i64::MIN + r.below(1 << 40) as i64,
                5 => now.saturating_add(r.below(1 << 60) as i64),
                6 => i64::MAX - r.below(1 << 30) as i64,
                7 => now.saturating_add(r.below(64 * 64 * 64) as i64 * TICK),
                8 => now.saturating_add(r.below(100 * HOUR as u64) as i64),
                9 => r.next() as i64,
                _ => now.saturating_add(r.below(100 * TICK as u64) as i64),
            }
        }

        fn pick(&mut self) -> Option<(u64, i64)> {
            if self.dues.is_empty() {
                return None;
            }
            let nth = self.rng.below(self.dues.len() as u64) as usize;
            self.dues.iter().nth(nth).map(|(&s, &d)| (s, d))
        }

        fn insert(&mut self) {
            self.seq += 1;
            let due = self.due();
            let target = self.sessions[self.rng.below(4) as usize];
            let event = self.events[self.rng.below(3) as usize];
            let slot = self.timers.insert(item_for(self.seq, due, target, event));
            self.model.insert(
                (due, self.seq),
                Pending {
                    slot,
                    target,
                    event,
                },
            );
            self.dues.insert(self.seq, due);
        }

        fn remove(&mut self) {
            let Some((seq, due)) = self.pick() else {
                return;
            };
            let pending = self.model.remove(&(due, seq)).unwrap();
            self.dues.remove(&seq);
            let item = self.timers.remove(pending.slot as usize, seq).unwrap();
            assert_eq!((item.due, item.seq), (due, seq));
            assert!(self.timers.remove(pending.slot as usize, seq).is_none());
            assert!(self.timers.get(pending.slot as usize, seq).is_none());
        }

        fn set_due(&mut self) {
            let Some((seq, old)) = self.pick() else {
                return;
            };
            let due = match self.rng.below(4) {
                0 => old,
                1 => old.saturating_sub(self.rng.below(1 << 32) as i64),
                2 => old.saturating_add(self.rng.below(1 << 32) as i64),
                _ => self.due(),
            };
            let pending = self.model.remove(&(old, seq)).unwrap();
            self.model.insert((due, seq), pending);
            self.dues.insert(seq, due);
            assert_eq!(
                self.timers.set_due(pending.slot as usize, seq, due),
                Some(due)
            );
            assert_eq!(
                self.timers.get(pending.slot as usize, seq).unwrap().due,
                due
            );
        }

        fn remove_where(&mut self, named: bool) {
            let session = self.sessions[self.rng.below(4) as usize];
            let event = self.events[self.rng.below(3) as usize];
            let expect: Vec<(i64, u64)> = self
                .model
                .iter()
                .filter(|(_, p)| p.target == session && (!named || p.event == event))
                .map(|(&key, _)| key)
                .collect();
            for key in &expect {
                self.model.remove(key);
                self.dues.remove(&key.1);
            }
            let got: Vec<(i64, u64)> = if named {
                self.timers.remove_named(session, event)
            } else {
                self.timers.remove_session(session)
            }
            .iter()
            .map(|item| (item.due, item.seq))
            .collect();
            assert_eq!(got, expect);
        }

        fn tick_clock(&mut self) {
            let step = match self.rng.below(10) {
                0 => 0,
                1 => self.rng.below(6 * HOUR as u64) as i64,
                2 if self.rng.chance(10) => self.rng.below(1 << 62) as i64,
                3 => self.rng.below(64 * 64 * TICK as u64) as i64,
                _ => self.rng.below(3 * TICK as u64) as i64,
            };
            self.now = self.now.saturating_add(step);
        }

        fn expect_pop(&mut self) {
            let first = self.model.keys().next().copied();
            if let Some(key) = first {
                self.model.remove(&key);
                self.dues.remove(&key.1);
            }
            let got = self.timers.pop().map(|item| (item.due, item.seq));
            assert_eq!(got, first);
        }

        fn fire_due(&mut self) {
            loop {
                let expect = self
                    .model
                    .keys()
                    .next()
                    .copied()
                    .filter(|&(due, _)| due <= self.now);
                assert_eq!(self.timers.peek_due(self.now), expect);
                if expect.is_none() || self.rng.chance(5) {
                    break;
                }
                self.expect_pop();
            }
        }

        fn check_wakeup(&mut self) {
            let wake = self.timers.next_wakeup();
            match self.model.keys().next() {
                None => assert_eq!(wake, None),
                Some(&(due, _)) => assert!(wake.is_some_and(|w| w <= due), "{wake:?} > {due}"),
            }
        }

        fn run(&mut self, ops: usize) {
            for _ in 0..ops {
                match self.rng.below(100) {
                    0..40 => self.insert(),
                    40..48 => self.remove(),
                    48..58 => self.set_due(),
                    58..60 => self.remove_where(true),
                    60 => self.remove_where(false),
                    61..75 => self.tick_clock(),
                    75..90 => self.fire_due(),
                    90..93 => self.expect_pop(),
                    93..99 => self.check_wakeup(),
                    _ if self.rng.chance(5) => {
                        let mut left: Vec<u64> =
                            self.timers.clear().iter().map(|item| item.seq).collect();
                        left.sort_unstable();
                        let expect: Vec<u64> = self.dues.keys().copied().collect();
                        assert_eq!(left, expect);
                        self.model.clear();
                        self.dues.clear();
                    }
                    _ => {}
                }
                assert_eq!(self.timers.len(), self.model.len());
                assert_eq!(self.timers.is_empty(), self.model.is_empty());
            }
            while self.timers.peek_due(i64::MAX).is_some() {
                self.expect_pop();
            }
            assert!(self.model.is_empty());
            assert_eq!(self.timers.next_wakeup(), None);
            assert!(self.timers.pop().is_none());
        }
    }

    #[test]
    fn matches_a_sorted_model_under_random_operations() {
        let mut seeds = Rng(0x005e_ed0f_9e37_79b9);
        for _ in 0..250 {
            Check::new(seeds.next()).run(800);
        }
    }

    #[test]
    fn an_idle_gap_of_hours_costs_a_few_slot_visits() {
        let mut t = Timers::default();
        let s = session(1);
        assert_eq!(t.peek_due(5 * HOUR), None);
        assert_eq!(t.visits, 0, "an empty wheel jumps");
        let base = 5 * HOUR;
        t.insert(item(1, base + 3 * HOUR, s, "x"));
        t.insert(item(2, base + 3 * HOUR + 7, s, "x"));
        t.insert(item(3, base + 9 * HOUR, s, "x"));
        assert_eq!(t.peek_due(base + 3 * HOUR - 1), None);
        assert!(t.visits <= 2 * LEVELS as u64, "{} visits", t.visits);
        assert_eq!(t.peek_due(base + 3 * HOUR + 7), Some((base + 3 * HOUR, 1)));
        assert_eq!(drain_due(&mut t, base + 3 * HOUR + 7), [1, 2]);
        let before = t.visits;
        assert_eq!(t.peek_due(base + 20 * HOUR), Some((base + 9 * HOUR, 3)));
        assert!(
            t.visits - before <= 2 * LEVELS as u64,
            "{} visits",
            t.visits
        );
    }

    fn drain_due(t: &mut Timers, now: i64) -> Vec<u64> {
        let mut fired = Vec::new();
        while t.peek_due(now).is_some() {
            fired.push(t.pop().unwrap().seq);
        }
        fired
    }

    #[test]
    fn a_million_timers_within_100_ms_fire_in_order() {
        let mut t = Timers::default();
        let s = session(1);
        let ring = Event::new("ring");
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let start = 123_456_789;
        for seq in 1..=1_000_000 {
            let due = start + rng.below(100_000_000) as i64;
            t.insert(item_for(seq, due, s, ring));
        }
        let (mut now, mut last, mut fired) = (start, (i64::MIN, 0), 0);
        while !t.is_empty() {
            assert!(t.next_wakeup().is_some());
            while let Some(key) = t.peek_due(now) {
                assert!(key > last, "{key:?} after {last:?}");
                let item = t.pop().unwrap();
                assert_eq!((item.due, item.seq), key);
                last = key;
                fired += 1;
            }
            now += 1_000_000;
        }
        assert_eq!(fired, 1_000_000);
        assert!(t.visits < 200, "{} slot visits", t.visits);
    }
}
