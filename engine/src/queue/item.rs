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
        }
    }
}

/// One queued item.
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
    /// A timer's arguments, in the queue's [`ArgsPool`] (a posted item's
    /// are beside it in the FIFO).
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
        assert_eq!(pool.store(Args::new()), ArgsRef::NONE);
        let a = pool.store(Args::from((1,)));
        assert_eq!(pool.take(a), Args::from((1,)));
        let b = pool.store(Args::from((2,)));
        assert_eq!(a, b, "a freed slot is reused");
        assert_eq!(pool.take(b), Args::from((2,)));
    }
}
