//! One queued item, and where the arguments of queued timers wait.

use std::panic::Location;

use crate::{event::Event, id::SessionId, value::Args};

/// What a queued item is, which decides how it is dispatched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `post` / `yield`.
    Post,
    /// An alarm or delay.
    Timer,
    /// A timer an I/O source set for itself; `event` is unused and the
    /// arguments name the source.
    SourceTimer,
    /// `signal()` and the kernel's own IDLE/ZOMBIE; `event` is the signal name.
    Signal,
    /// An OS SIGPIPE, dispatched as a signal; `_signal` hears of it only in
    /// the session that was running when it arrived.
    Pipe,
    /// The DIE signal an exception becomes (POE's `ET_SIGDIE`).
    Die,
    /// The hidden `_garbage_collect` event every new session gets.
    Gc,
    /// A call from another kernel; the handler's value goes back to the
    /// caller's session as the event the queue keeps for it (kept aside so
    /// every item stays small).
    Call,
    /// The runtime's shutdown: stop every session.
    Stop,
    /// Purged with a session that stopped while it was queued: it holds
    /// nothing and is dispatched to nobody (see `fifo.rs`).
    Purged,
}

impl Kind {
    /// A short name, for snapshots.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Post => "post",
            Kind::Timer | Kind::SourceTimer => "timer",
            Kind::Signal | Kind::Pipe => "signal",
            Kind::Die => "die",
            Kind::Gc => "gc",
            Kind::Call => "call",
            Kind::Stop => "stop",
            Kind::Purged => "purged",
        }
    }
}

/// One queued item.
#[derive(Clone, Copy)]
pub(crate) struct Item {
    /// From the queue's one counter for queued items and timer IDs.
    pub seq: u64,
    /// When it is due, in nanoseconds of the kernel clock. For items posted
    /// "now" this is the clock when posted, so timers merge in POE's order.
    pub due: i64,
    pub target: SessionId,
    pub sender: SessionId,
    pub event: Event,
    pub kind: Kind,
    /// For a timer, where its arguments wait in the queue's [`ArgsPool`].
    /// A FIFO item keeps its arguments beside it, so there this word is its
    /// link instead: the FIFO position of the item queued to the same
    /// target before it (`fifo.rs`). One word for both keeps an item 72
    /// bytes.
    pub aux: u32,
    /// The event that was being handled when this was queued (CALLER_STATE).
    pub caller_state: Option<Event>,
    /// Where it was queued from (CALLER_FILE, CALLER_LINE).
    pub location: &'static Location<'static>,
}

/// The [`ArgsPool`] slot of no arguments, stored nowhere.
pub(crate) const NO_ARGS: u32 = u32::MAX;

/// The arguments of queued items, stored apart from the items so that an
/// item is small enough to move with a few register copies: it moves into
/// the queue and out again, its arguments once into the pool and once out.
#[derive(Default)]
pub(crate) struct ArgsPool {
    slots: Vec<Option<Args>>,
    free: Vec<u32>,
}

impl ArgsPool {
    /// Stores `args`; returns their slot ([`NO_ARGS`] for none).
    #[inline]
    pub fn store(&mut self, args: Args) -> u32 {
        if args.is_empty() {
            return NO_ARGS;
        }
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(args);
                slot
            }
            None => {
                self.slots.push(Some(args));
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 queued items")
            }
        }
    }

    #[inline]
    pub fn take(&mut self, at: u32) -> Args {
        if at == NO_ARGS {
            return Args::new();
        }
        self.free.push(at);
        self.slots[at as usize].take().unwrap_or_default()
    }

    /// Drops everything (the kernel finished).
    pub fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
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

    #[test]
    fn the_pool_reuses_slots_and_stores_nothing_for_no_arguments() {
        let mut pool = ArgsPool::default();
        assert_eq!(pool.store(Args::new()), NO_ARGS);
        let a = pool.store(Args::from((1,)));
        assert_eq!(pool.take(a), Args::from((1,)));
        let b = pool.store(Args::from((2,)));
        assert_eq!(a, b, "a freed slot is reused");
        assert_eq!(pool.take(b), Args::from((2,)));
    }
}
