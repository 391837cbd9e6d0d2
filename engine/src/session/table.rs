//! The session table: one record per live session, the kernel's in slot 0.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::{
    event::Event,
    id::{KernelId, SessionId},
    value::Str,
};

/// Everything the kernel knows about one session; `B` is what the kernel
/// keeps of its handlers and heap.
///
/// The fields every dispatch touches come first, and `repr(C)` keeps them
/// there, in the record's first cache line.
///
/// # Invariants
///
/// `refcount` is the number of resource kinds POE counts (§4.2): one per
/// child, alias, public refcount tag, watched handle and watched PID, and
/// one each while `events_to` or `events_from` is non-zero.
#[repr(C)]
pub(crate) struct Record<B> {
    pub id: SessionId,
    /// The handlers and heap; `None` while a handler of this session runs
    /// (the body is lent to the dispatch) and always for the kernel.
    pub body: Option<B>,
    pub refcount: i64,
    /// Queued items addressed to this session.
    pub events_to: u32,
    /// Queued items this session sent to others.
    pub events_from: u32,
    /// Events dispatched to this session.
    pub handled: u64,
    /// The last event dispatched to it.
    pub last_event: Option<Event>,
    /// Descriptors this session watches (a busy kernel looks at its
    /// descriptors after such a session ran).
    pub watching: u32,
    /// `_stop` has begun; further stop requests are ignored.
    pub stopping: bool,
    /// Marked for the next garbage-collection sweep.
    pub marked: bool,
    /// The FIFO position of the last item queued to this session; each
    /// item links to the one before it, so a purge follows the session's
    /// own items instead of scanning the queue (queue/fifo.rs). Beside
    /// `marked`, which the same posts touch.
    pub queued_to: u32,
    /// `None` only for the kernel's own session.
    pub parent: Option<SessionId>,
    /// Children by POE number, so iteration is the ascending-ID order roe
    /// uses where POE has hash order.
    pub children: BTreeMap<u64, SessionId>,
    /// Sorted, as `alias_list` returns them.
    pub aliases: Vec<Str>,
    pub extrefs: FxHashMap<Str, i64>,
    /// The FIFO positions of the items this session queued for other
    /// sessions, oldest first; those that left the queue are dropped when
    /// the list fills, so it stays within a few times the most it had
    /// queued at once.
    pub sent: Vec<u32>,
    /// Signals this session watches with `sig()`.
    pub signals: Vec<Event>,
    /// It defines `_signal`, and is counted among the kernel's listeners.
    pub hears_signals: bool,
    /// Nanoseconds spent in its top-level dispatches (sampled under load:
    /// docs/architecture.md, "Accounting").
    pub handler_time: u64,
    /// The longest top-level dispatch measured, in nanoseconds.
    pub handler_max: u64,
}

impl<B> Record<B> {
    fn new(id: SessionId, parent: Option<SessionId>, body: Option<B>) -> Record<B> {
        Record {
            id,
            body,
            refcount: 0,
            events_to: 0,
            events_from: 0,
            handled: 0,
            last_event: None,
            watching: 0,
            stopping: false,
            marked: false,
            queued_to: 0,
            parent,
            children: BTreeMap::new(),
            aliases: Vec::new(),
            extrefs: FxHashMap::default(),
            sent: Vec::new(),
            signals: Vec::new(),
            hears_signals: false,
            handler_time: 0,
            handler_max: 0,
        }
    }
}

/// Live sessions by slot, with POE numbers handed out in sequence.
pub(crate) struct Table<B> {
    kernel: KernelId,
    slots: Vec<Option<Record<B>>>,
    free: Vec<u32>,
    by_number: FxHashMap<u64, u32>,
    last_number: u64,
    len: usize,
}

impl<B> Table<B> {
    /// A table holding the kernel's own session.
    pub fn new(kernel: KernelId) -> Table<B> {
        let mut table = Table {
            kernel,
            slots: Vec::new(),
            free: Vec::new(),
            by_number: FxHashMap::default(),
            last_number: 0,
            len: 0,
        };
        table.slots.push(None);
        table.insert_root();
        table
    }

    /// Recreates the kernel's own session after a finished `run`.
    pub fn insert_root(&mut self) {
        debug_assert!(self.slots[0].is_none(), "one kernel session at a time");
        let root = SessionId::kernel_root(self.kernel);
        self.slots[0] = Some(Record::new(root, None, None));
        self.by_number.insert(0, 0);
        self.len += 1;
    }

    /// Allocates the next session number under `parent`.
    pub fn insert(&mut self, parent: SessionId, body: B) -> SessionId {
        self.last_number += 1;
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 live sessions")
            }
        };
        let id = SessionId::new(self.kernel, slot, self.last_number);
        self.slots[slot as usize] = Some(Record::new(id, Some(parent), Some(body)));
        self.by_number.insert(self.last_number, slot);
        self.len += 1;
        id
    }

    pub fn remove(&mut self, id: SessionId) -> Option<Record<B>> {
        self.get(id)?;
        let record = self.slots[id.slot()].take()?;
        self.by_number.remove(&id.number());
        if id.slot() != 0 {
            self.free.push(id.slot() as u32);
        }
        self.len -= 1;
        Some(record)
    }

    #[inline]
    pub fn get(&self, id: SessionId) -> Option<&Record<B>> {
        match self.slots.get(id.slot()) {
            Some(Some(record)) if record.id == id => Some(record),
            _ => None,
        }
    }

    #[inline]
    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Record<B>> {
        match self.slots.get_mut(id.slot()) {
            Some(Some(record)) if record.id == id => Some(record),
            _ => None,
        }
    }

    /// The live session `id` names, with its slot, also for an ID made
    /// from a number alone ([`SessionId::from_number`]). Such IDs are
    /// looked up here, where they come in, so every other lookup is an
    /// index.
    pub fn find(&self, id: SessionId) -> Option<SessionId> {
        match id.known_slot() {
            Some(_) => self.get(id).map(|record| record.id),
            None => self.by_number(id.number()).filter(|found| *found == id),
        }
    }

    #[inline]
    pub fn contains(&self, id: SessionId) -> bool {
        self.get(id).is_some()
    }

    /// The live session with POE number `number`.
    pub fn by_number(&self, number: u64) -> Option<SessionId> {
        let slot = *self.by_number.get(&number)?;
        self.slots[slot as usize].as_ref().map(|record| record.id)
    }

    /// Live sessions, the kernel's included, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &Record<B>> {
        self.slots.iter().flatten()
    }

    /// Live sessions, the kernel's included.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
