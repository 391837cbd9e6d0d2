//! Queued items: posted events, signals and the bookkeeping POE queues.
//!
//! POE keeps one priority queue keyed by due time. roe splits it in two, a
//! FIFO for items due "now" (this file) and a heap for timers
//! ([`crate::timer`]), and merges them on `(due, seq)` when dispatching, so
//! the order is POE's: posted events in FIFO order, timers by due time, a
//! timer already due ahead of later posts.

use std::{collections::VecDeque, panic::Location};

use crate::{event::Event, id::SessionId, value::Args};

/// What a queued item is, which decides how it is dispatched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `post` / `yield`.
    Post,
    /// An alarm or delay.
    Timer,
    /// `signal()` and the kernel's own IDLE/ZOMBIE; `event` is the signal name.
    Signal,
    /// The DIE signal an exception becomes (POE's `ET_SIGDIE`).
    Die,
    /// The hidden `_garbage_collect` event every new session gets.
    Gc,
    /// A call from another kernel; the handler's value goes back to the
    /// caller's session as the event the kernel keeps for it (kept aside so
    /// every item stays small).
    Call,
    /// The runtime's shutdown: stop every session.
    Stop,
}

impl Kind {
    /// A short name, for snapshots.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Post => "post",
            Kind::Timer => "timer",
            Kind::Signal => "signal",
            Kind::Die => "die",
            Kind::Gc => "gc",
            Kind::Call => "call",
            Kind::Stop => "stop",
        }
    }
}

/// One queued item.
pub(crate) struct Item {
    /// From the kernel's one counter for queued items and timer IDs.
    pub seq: u64,
    /// When it is due, in nanoseconds of the kernel clock. For items posted
    /// "now" this is the clock when posted, so timers merge in POE's order.
    pub due: i64,
    pub target: SessionId,
    pub sender: SessionId,
    pub event: Event,
    pub kind: Kind,
    /// Its arguments, kept in the kernel's [`ArgsPool`].
    pub args: ArgsRef,
    /// The event that was being handled when this was queued (CALLER_STATE).
    pub caller_state: Option<Event>,
    /// Where it was queued from (CALLER_FILE, CALLER_LINE).
    pub location: &'static Location<'static>,
}

/// Names an item's arguments in the [`ArgsPool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ArgsRef(u32);

impl ArgsRef {
    /// No arguments, stored nowhere.
    pub const NONE: ArgsRef = ArgsRef(u32::MAX);
}

/// The arguments of queued items, stored apart from the items so that an
/// item is small enough to move with a few register copies: it moves into
/// the queue and out again, its arguments once into the pool and once out.
#[derive(Default)]
pub(crate) struct ArgsPool {
    slots: Vec<Option<Args>>,
    free: Vec<u32>,
}

impl ArgsPool {
    #[inline]
    pub fn store(&mut self, args: Args) -> ArgsRef {
        if args.is_empty() {
            return ArgsRef::NONE;
        }
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(args);
                ArgsRef(slot)
            }
            None => {
                self.slots.push(Some(args));
                ArgsRef(u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 queued items"))
            }
        }
    }

    #[inline]
    pub fn take(&mut self, at: ArgsRef) -> Args {
        if at == ArgsRef::NONE {
            return Args::new();
        }
        self.free.push(at.0);
        self.slots[at.0 as usize].take().unwrap_or_default()
    }

    /// Drops everything (the kernel finished).
    pub fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
    }
}

/// Items due "now", in the order they were queued.
#[derive(Default)]
pub(crate) struct Fifo {
    items: VecDeque<Item>,
}

impl Fifo {
    #[inline]
    pub fn push(&mut self, item: Item) {
        debug_assert!(
            self.items
                .back()
                .is_none_or(|last| (last.due, last.seq) < (item.due, item.seq)),
            "FIFO items stay sorted by (due, seq)"
        );
        self.items.push_back(item);
    }

    /// The `(due, seq)` of the first item, if its seq is at most `cutoff`.
    #[inline]
    pub fn front_key(&self, cutoff: u64) -> Option<(i64, u64)> {
        self.items
            .front()
            .filter(|item| item.seq <= cutoff)
            .map(|item| (item.due, item.seq))
    }

    #[inline]
    pub fn pop(&mut self) -> Option<Item> {
        self.items.pop_front()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Removes every item `doomed` selects, in queue order.
    pub fn remove_where(&mut self, mut doomed: impl FnMut(&Item) -> bool) -> Vec<Item> {
        let mut removed = Vec::new();
        let mut kept = VecDeque::with_capacity(self.items.len());
        for item in self.items.drain(..) {
            if doomed(&item) {
                removed.push(item);
            } else {
                kept.push_back(item);
            }
        }
        self.items = kept;
        removed
    }

    /// Every item, in queue order (for snapshots).
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.items.iter()
    }

    pub fn clear(&mut self) -> Vec<Item> {
        self.items.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items move into the queue and out again by value on every post; the
    /// architecture notes promise they stay this small.
    #[test]
    fn an_item_is_72_bytes() {
        assert_eq!(std::mem::size_of::<Item>(), 72);
    }
}
