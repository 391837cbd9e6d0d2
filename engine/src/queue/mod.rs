//! POE's one queue: posted events, signals and timers, dispatched in order
//! of due time, then of queueing.
//!
//! POE keeps one priority queue keyed by due time. roe splits it in two, a
//! FIFO for items due "now" and a timing wheel for timers, and merges them
//! on `(due, seq)` when dispatching, so the order is POE's: posted events
//! in FIFO order, timers by due time, a timer already due ahead of later
//! posts. One counter numbers every item, timers included, as POE's does
//! (timer IDs increase, with gaps).
//!
//! The queue knows nothing of sessions: what an item holds on its target
//! and sender (POE's reference counts) is the kernel's to count.

mod fifo;
pub(crate) mod item;
mod timers;

use std::panic::Location;

use rustc_hash::FxHashMap;

use self::{
    fifo::Fifo,
    item::{ArgsPool, Item, Kind},
    timers::Timers,
};
use crate::{event::Event, id::SessionId, value::Args};

/// The kernel's queue. See the module's documentation.
#[derive(Default)]
pub(crate) struct Queue {
    fifo: Fifo,
    timers: Timers,
    args: ArgsPool,
    /// The one counter for queued items and timer IDs.
    seq: u64,
    /// How many of `seq`'s numbers went to timers: the rest went to FIFO
    /// items, so the FIFO's positions come from the two counters at no
    /// cost to a post.
    timers_queued: u64,
    /// The reply event of each queued call from another kernel, by item
    /// number.
    calls: FxHashMap<u64, Event>,
    /// Queued items looked at by purges, so tests can hold a purge to the
    /// cost of the purged session's own items.
    purge_visits: u64,
}

/// What the kernel queues: everything of an item but its number.
pub(crate) struct Entry {
    pub due: i64,
    pub target: SessionId,
    pub sender: SessionId,
    pub event: Event,
    pub kind: Kind,
    pub caller_state: Option<Event>,
    pub location: &'static Location<'static>,
}

impl Queue {
    /// Queues an item due "now" (at `entry.due`, the kernel's last clock
    /// reading) at [`next_position`](Queue::next_position); `link` is the
    /// position of the item queued to the same target before it. Returns
    /// its number.
    #[inline]
    pub fn push(&mut self, entry: Entry, args: Args, link: u32) -> u64 {
        self.seq += 1;
        let item = self.item(entry, link);
        self.fifo.push(item, args);
        self.seq
    }

    /// Queues a call from another kernel, whose answer goes back as `reply`.
    pub fn push_call(&mut self, entry: Entry, args: Args, link: u32, reply: Event) {
        let seq = self.push(entry, args, link);
        self.calls.insert(seq, reply);
    }

    /// The FIFO position the next item due "now" gets: what the session
    /// records keep to find their items (see `fifo.rs`). Positions count
    /// the FIFO's items ever queued, wrapping.
    #[inline]
    pub fn next_position(&self) -> u32 {
        (self.seq - self.timers_queued) as u32
    }

    /// Items in the FIFO's ring, purged ones not yet taken included: the
    /// span of positions from the front one.
    #[inline]
    pub fn ring_len(&self) -> usize {
        self.fifo.ring_len()
    }

    /// The FIFO position of the first item queued.
    #[inline]
    pub fn front_position(&self) -> u32 {
        self.next_position()
            .wrapping_sub(self.fifo.ring_len() as u32)
    }

    /// Queues a timer; returns its slot and number (its `TimerId`).
    pub fn push_timer(&mut self, entry: Entry, args: Args) -> (u32, u64) {
        self.seq += 1;
        self.timers_queued += 1;
        let args = self.args.store(args);
        let item = self.item(entry, args);
        (self.timers.insert(item), self.seq)
    }

    #[inline]
    fn item(&mut self, entry: Entry, aux: u32) -> Item {
        Item {
            seq: self.seq,
            due: entry.due,
            target: entry.target,
            sender: entry.sender,
            event: entry.event,
            kind: entry.kind,
            aux,
            caller_state: entry.caller_state,
            location: entry.location,
        }
    }

    /// The number of the last item queued: a slice dispatches the FIFO only
    /// up to here, so what its handlers post waits for the next slice.
    #[inline]
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// The next item due in this slice: FIFO items numbered up to
    /// `cutoff` and timers due by `now`, merged on `(due, seq)`. Its
    /// arguments go to `args`, which must be empty (the dispatch path
    /// keeps one buffer, so they move once out of the queue).
    #[inline]
    pub fn next_due(&mut self, cutoff: u64, now: i64, args: &mut Args) -> Option<Item> {
        if self.timers.is_empty() {
            self.fifo.front_key(cutoff)?;
            return self.fifo.pop(args);
        }
        let posted = self.fifo.front_key(cutoff);
        let timer = self.timers.peek_due(now);
        match (posted, timer) {
            (Some(p), Some(t)) if t < p => self.pop_timer(args),
            (Some(_), _) => self.fifo.pop(args),
            (None, Some(_)) => self.pop_timer(args),
            (None, None) => None,
        }
    }

    #[inline]
    fn pop_timer(&mut self, args: &mut Args) -> Option<Item> {
        let item = self.timers.pop()?;
        *args = self.args.take(item.aux);
        Some(item)
    }

    /// The reply event of a call from another kernel, once its item left.
    pub fn take_call(&mut self, seq: u64) -> Option<Event> {
        self.calls.remove(&seq)
    }

    /// Items queued in all (POE's `get_event_count`).
    pub fn len(&self) -> usize {
        self.fifo.len() + self.timers.len()
    }

    /// Items due "now".
    pub fn posted(&self) -> usize {
        self.fifo.len()
    }

    /// Timers pending.
    pub fn timers(&self) -> usize {
        self.timers.len()
    }

    /// Whether nothing is due "now" (timers aside).
    #[inline]
    pub fn is_fifo_empty(&self) -> bool {
        self.fifo.is_empty()
    }

    /// When the kernel should look at the timers again: at or before the
    /// earliest one's due time.
    pub fn next_timer(&mut self) -> Option<i64> {
        self.timers.next_wakeup()
    }

    /// The pending timer in `slot`, if it is the one numbered `seq`.
    pub fn timer(&self, slot: usize, seq: u64) -> Option<&Item> {
        self.timers.get(slot, seq)
    }

    /// Removes the pending timer in `slot` numbered `seq`, with its
    /// arguments.
    pub fn remove_timer(&mut self, slot: usize, seq: u64) -> Option<(Item, Args)> {
        let item = self.timers.remove(slot, seq)?;
        let args = self.args.take(item.aux);
        Some((item, args))
    }

    /// Moves a pending timer.
    pub fn set_due(&mut self, slot: usize, seq: u64, due: i64) -> Option<i64> {
        self.timers.set_due(slot, seq, due)
    }

    /// Removes `session`'s timers named `event` (every one with `None`),
    /// earliest first, with their arguments.
    pub fn remove_timers(&mut self, session: SessionId, event: Option<Event>) -> Vec<(Item, Args)> {
        let items = match event {
            Some(event) => self.timers.remove_named(session, event),
            None => self.timers.remove_session(session),
        };
        items
            .into_iter()
            .map(|item| {
                let args = self.args.take(item.aux);
                (item, args)
            })
            .collect()
    }

    /// Removes every item to or from `session` (timers are only ever its
    /// own), timers first, then the FIFO's in queue order, with the reply
    /// event of each call among them. `to` and `sent` find its FIFO items
    /// (see [`Fifo::remove_session`]): only its own items are looked at.
    pub fn purge(
        &mut self,
        session: SessionId,
        to: u32,
        sent: &[u32],
    ) -> Vec<(Item, Option<Event>)> {
        let timers = self.timers.remove_session(session);
        self.purge_visits += timers.len() as u64;
        let mut purged: Vec<(Item, Args)> = timers
            .into_iter()
            .map(|item| {
                let args = self.args.take(item.aux);
                (item, args)
            })
            .collect();
        let front = self.front_position();
        let (removed, visited) = self.fifo.remove_session(session, front, to, sent);
        self.purge_visits += visited as u64;
        purged.extend(removed);
        // The arguments go now, in queue order, as POE drops a purged
        // event's.
        purged
            .into_iter()
            .map(|(item, args)| {
                drop(args);
                let reply = (item.kind == Kind::Call)
                    .then(|| self.calls.remove(&item.seq))
                    .flatten();
                (item, reply)
            })
            .collect()
    }

    /// Queued items purges have looked at so far.
    #[cfg(test)]
    pub fn purge_visits(&self) -> u64 {
        self.purge_visits
    }

    /// A purged FIFO item was taken off the front.
    #[cold]
    pub fn purged_left(&mut self) {
        self.fifo.purged_left();
    }

    /// Queued items due "now", in queue order (for snapshots).
    pub fn posted_items(&self) -> impl Iterator<Item = &Item> {
        self.fifo.items()
    }

    /// How many timers target `session` (counted as they are set, so no
    /// scan).
    pub fn timers_of(&self, session: SessionId) -> usize {
        self.timers.count_of(session.slot())
    }

    /// Pending timers, in no particular order (for snapshots).
    pub fn timer_items(&self) -> impl Iterator<Item = &Item> {
        self.timers.items()
    }

    /// Drops everything (the kernel finished); the counter goes on.
    pub fn clear(&mut self) {
        self.fifo.clear();
        self.timers.clear();
        self.args.clear();
        self.calls.clear();
    }
}
