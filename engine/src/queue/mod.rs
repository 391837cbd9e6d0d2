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
    item::{ArgsPool, ArgsRef, Item, Kind},
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
    /// The reply event of each queued call from another kernel, by item
    /// number.
    calls: FxHashMap<u64, Event>,
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
    /// reading); returns its number.
    #[inline]
    pub fn push(&mut self, entry: Entry, args: Args) -> u64 {
        self.seq += 1;
        let item = self.item(entry, ArgsRef::NONE);
        self.fifo.push(item, args);
        self.seq
    }

    /// Queues a call from another kernel, whose answer goes back as `reply`.
    pub fn push_call(&mut self, entry: Entry, args: Args, reply: Event) {
        let seq = self.push(entry, args);
        self.calls.insert(seq, reply);
    }

    /// Queues a timer; returns its slot and number (its `TimerId`).
    pub fn push_timer(&mut self, entry: Entry, args: Args) -> (u32, u64) {
        self.seq += 1;
        let args = self.args.store(args);
        let item = self.item(entry, args);
        (self.timers.insert(item), self.seq)
    }

    #[inline]
    fn item(&mut self, entry: Entry, args: ArgsRef) -> Item {
        Item {
            seq: self.seq,
            due: entry.due,
            target: entry.target,
            sender: entry.sender,
            event: entry.event,
            kind: entry.kind,
            args,
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
        *args = self.args.take(item.args);
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
        let args = self.args.take(item.args);
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
                let args = self.args.take(item.args);
                (item, args)
            })
            .collect()
    }

    /// Removes every item to or from `session` (timers are only ever its
    /// own), with the reply event of each call among them.
    pub fn purge(&mut self, session: SessionId) -> Vec<(Item, Option<Event>)> {
        let mut purged = self.timers.remove_session(session);
        purged.extend(self.fifo.remove_session(session));
        purged
            .into_iter()
            .map(|item| {
                self.args.take(item.args);
                let reply = (item.kind == Kind::Call)
                    .then(|| self.calls.remove(&item.seq))
                    .flatten();
                (item, reply)
            })
            .collect()
    }

    /// Queued items due "now", in queue order (for snapshots).
    pub fn posted_items(&self) -> impl Iterator<Item = &Item> {
        self.fifo.items()
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
