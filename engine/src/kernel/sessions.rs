//! `Sessions`: the session table with POE's reference counts, the family
//! tree and the garbage marks, kept consistent with each other.

use super::core::Body;
use crate::{
    id::{KernelId, SessionId},
    session::table::{Record, Table},
    value::Str,
};

/// A session's record as the kernel keeps it.
pub(crate) type Entry = Record<Box<dyn Body>>;

/// Which of a session's queued-item counts an item holds.
#[derive(Clone, Copy)]
pub(crate) enum Side {
    /// Items addressed to it.
    To,
    /// Items it sent to others.
    From,
}

/// Live sessions and what keeps them alive.
///
/// # Invariants
///
/// A record's `refcount` is the number of resource kinds POE counts: one
/// per child, alias, public refcount tag, watched descriptor and watched
/// process, and one each while `events_to` or `events_from` is non-zero. A
/// session (never the kernel's own) whose count drops to zero is marked and
/// listed in `marked` for the next sweep; one whose count rises above zero
/// is unmarked (its stale listing is skipped). `extref_sessions` counts the
/// sessions holding public refcount tags.
pub(crate) struct Sessions {
    table: Table<Box<dyn Body>>,
    /// Sessions whose refcount dropped to zero, in order, for the next sweep.
    marked: Vec<SessionId>,
    /// The buffer one sweep pass works from, kept to avoid reallocating.
    sweep: Vec<SessionId>,
    extref_sessions: usize,
}

/// Applies a refcount change: a count above zero unmarks the session, a
/// drop below one marks it for the next sweep (the kernel's own session is
/// never collected). POE's `_data_ses_refcount_inc` / `_dec`.
#[inline]
fn bump(record: &mut Entry, marked: &mut Vec<SessionId>, delta: i64) {
    record.refcount += delta;
    if record.refcount > 0 {
        record.marked = false;
    } else if delta < 0 && !record.id.is_kernel() {
        record.marked = true;
        marked.push(record.id);
    }
}

impl Sessions {
    /// A table holding the kernel's own session.
    pub fn new(kernel: KernelId) -> Sessions {
        Sessions {
            table: Table::new(kernel),
            marked: Vec::new(),
            sweep: Vec::new(),
            extref_sessions: 0,
        }
    }

    /// Live sessions, the kernel's own included.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    #[inline]
    pub fn contains(&self, id: SessionId) -> bool {
        self.table.contains(id)
    }

    #[inline]
    pub fn get(&self, id: SessionId) -> Option<&Entry> {
        self.table.get(id)
    }

    /// A record, for what does not touch the counts: the body, the
    /// accounting, the stopping flag.
    #[inline]
    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Entry> {
        self.table.get_mut(id)
    }

    /// The live session `id` names (also for an ID made from a number).
    pub fn find(&self, id: SessionId) -> Option<SessionId> {
        self.table.find(id)
    }

    /// The live session with POE number `number`.
    pub fn by_number(&self, number: u64) -> Option<SessionId> {
        self.table.by_number(number)
    }

    /// Live sessions, the kernel's included, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.table.iter()
    }

    /// The parent of `id`.
    pub fn parent(&self, id: SessionId) -> Option<SessionId> {
        self.table.get(id)?.parent
    }

    /// The children of `id`, ascending.
    pub fn children(&self, id: SessionId) -> Vec<SessionId> {
        self.table
            .get(id)
            .map(|record| record.children.values().copied().collect())
            .unwrap_or_default()
    }

    /// `id` and its descendants, breadth first, siblings in ascending ID.
    pub fn descendants(&self, id: SessionId) -> Vec<SessionId> {
        let mut order = vec![id];
        let mut at = 0;
        while at < order.len() {
            if let Some(record) = self.table.get(order[at]) {
                order.extend(record.children.values().copied());
            }
            at += 1;
        }
        order
    }

    /// Sessions holding public refcount tags (POE's idle test counts them).
    pub fn holding_extrefs(&self) -> bool {
        self.extref_sessions != 0
    }

    // ----- birth and death -----------------------------------------------------

    /// Allocates a session under `parent`; POE collects it at the next sweep
    /// unless something (at least its `_garbage_collect` item) holds it.
    pub fn insert(&mut self, parent: SessionId, body: Box<dyn Body>) -> SessionId {
        let id = self.table.insert(parent, body);
        if let Some(record) = self.table.get_mut(parent) {
            record.children.insert(id.number(), id);
        }
        self.inc(parent);
        if let Some(record) = self.table.get_mut(id) {
            record.marked = true;
            self.marked.push(id);
        }
        id
    }

    /// Recreates the kernel's session when a session is spawned after `run`
    /// finished (POE's `session_alloc` after `KR_RUN_DONE`).
    pub fn ensure_root(&mut self, root: SessionId) -> bool {
        if self.table.contains(root) {
            return false;
        }
        self.table.insert_root();
        true
    }

    /// Takes a stopped session out of the family tree: its children go to
    /// its parent, and the parent loses its hold (POE's `_data_ses_free`,
    /// the family part).
    pub fn unlink(&mut self, id: SessionId) {
        let Some(record) = self.table.get_mut(id) else {
            return;
        };
        let Some(parent) = record.parent.take() else {
            return;
        };
        let children: Vec<SessionId> = record.children.values().copied().collect();
        if let Some(record) = self.table.get_mut(parent) {
            record.children.remove(&id.number());
        }
        self.dec(parent);
        for child in children {
            self.move_child(child, parent);
        }
    }

    /// Drops a freed session's record; the public refcount tags it held go
    /// with it.
    pub fn remove(&mut self, id: SessionId) -> Option<Entry> {
        let record = self.table.remove(id)?;
        if !record.extrefs.is_empty() {
            self.extref_sessions -= 1;
        }
        Some(record)
    }

    /// Moves `child` under `parent` (POE's `_data_ses_move_child`).
    pub fn move_child(&mut self, child: SessionId, parent: SessionId) {
        let Some(old) = self.parent(child) else {
            return;
        };
        if let Some(record) = self.table.get_mut(old) {
            record.children.remove(&child.number());
        }
        self.dec(old);
        if let Some(record) = self.table.get_mut(child) {
            record.parent = Some(parent);
        }
        if let Some(record) = self.table.get_mut(parent) {
            record.children.insert(child.number(), child);
        }
        self.inc(parent);
    }

    // ----- reference counts ---------------------------------------------------

    /// One more resource holds `id`.
    pub fn inc(&mut self, id: SessionId) {
        if let Some(record) = self.table.get_mut(id) {
            bump(record, &mut self.marked, 1);
        }
    }

    /// One resource less holds `id`.
    pub fn dec(&mut self, id: SessionId) {
        if let Some(record) = self.table.get_mut(id) {
            bump(record, &mut self.marked, -1);
        }
    }

    /// `id` now watches one descriptor more (`1`) or less (`-1`): a hold,
    /// as POE counts watched handles.
    pub fn watching(&mut self, id: SessionId, delta: i32) {
        if let Some(record) = self.table.get_mut(id) {
            record.watching = record.watching.wrapping_add_signed(delta);
            bump(record, &mut self.marked, i64::from(delta));
        }
    }

    /// Adds `delta` to one of a session's queued-item counts; a count leaving
    /// or reaching zero takes or releases one refcount. `false` when no such
    /// session lives here. POE's `_data_ev_refcount_inc` / `_dec`.
    #[inline(always)]
    pub fn hold(&mut self, id: SessionId, delta: i32, side: Side) -> bool {
        let Some(record) = self.table.get_mut(id) else {
            return false;
        };
        let count = match side {
            Side::To => &mut record.events_to,
            Side::From => &mut record.events_from,
        };
        let before = *count;
        debug_assert!(
            before > 0 || delta > 0,
            "queued-item counts never go below zero"
        );
        *count = before.wrapping_add_signed(delta);
        if before == 0 {
            bump(record, &mut self.marked, 1);
        } else if *count == 0 {
            bump(record, &mut self.marked, -1);
        }
        true
    }

    /// Takes the hold an item queued to `id` at FIFO position `at` has on
    /// it (as [`hold`](Sessions::hold) with `+1`, `Side::To`); the item
    /// becomes the last of `id`'s chain. Returns the item's link, the
    /// position of the one before it; `None` when no such session lives
    /// here.
    #[inline(always)]
    pub fn hold_to(&mut self, id: SessionId, at: u32) -> Option<u32> {
        let record = self.table.get_mut(id)?;
        let before = record.events_to;
        record.events_to = before + 1;
        if before == 0 {
            bump(record, &mut self.marked, 1);
        }
        Some(std::mem::replace(&mut record.queued_to, at))
    }

    /// Takes the hold an item `id` queued for another session at FIFO
    /// position `at` has on it (as [`hold`](Sessions::hold) with `+1`,
    /// `Side::From`), and lists the item among those `id` sent, unless the
    /// list is full: then it returns `true`, and the caller drops the items
    /// that left the queue from the list before listing this one.
    #[inline]
    pub fn hold_from(&mut self, id: SessionId, at: u32) -> bool {
        let Some(record) = self.table.get_mut(id) else {
            return false;
        };
        let before = record.events_from;
        record.events_from = before + 1;
        if before == 0 {
            bump(record, &mut self.marked, 1);
        }
        if record.sent.len() == record.sent.capacity() {
            return true;
        }
        record.sent.push(at);
        false
    }

    /// Increments `id`'s public refcount `tag` (POE's `refcount_increment`);
    /// `None` when `id` is not a live session.
    pub fn extref_inc(&mut self, id: SessionId, tag: &str) -> Option<i64> {
        self.extref(id, tag, 1)
    }

    /// Decrements `id`'s public refcount `tag` (POE's `refcount_decrement`).
    pub fn extref_dec(&mut self, id: SessionId, tag: &str) -> Option<i64> {
        self.extref(id, tag, -1)
    }

    fn extref(&mut self, id: SessionId, tag: &str, delta: i64) -> Option<i64> {
        if id.is_kernel() {
            return None;
        }
        let record = self.table.get_mut(id)?;
        let was_empty = record.extrefs.is_empty();
        let count = match record.extrefs.get_mut(tag) {
            Some(count) => count,
            None => record.extrefs.entry(Str::new(tag)).or_insert(0),
        };
        *count += delta;
        let count = *count;
        // POE holds the session while a tag is non-zero; the tag's count
        // crossing zero takes or gives back that hold.
        if count == 0 {
            record.extrefs.remove(tag);
        }
        let is_empty = record.extrefs.is_empty();
        match (delta > 0, count) {
            (true, 1) => bump(record, &mut self.marked, 1),
            (false, 0) => bump(record, &mut self.marked, -1),
            _ => {}
        }
        match (was_empty, is_empty) {
            (true, false) => self.extref_sessions += 1,
            (false, true) => self.extref_sessions -= 1,
            _ => {}
        }
        Some(count)
    }

    // ----- garbage collection -------------------------------------------------

    /// The sessions to stop in one sweep pass, most recently marked first
    /// (POE's `_data_ses_gc_sweep`). Hand the buffer back with
    /// [`Sessions::recycle_sweep`].
    pub fn take_marked(&mut self) -> Vec<SessionId> {
        let mut todo = std::mem::take(&mut self.sweep);
        todo.clear();
        while let Some(id) = self.marked.pop() {
            if let Some(record) = self.table.get_mut(id).filter(|record| record.marked) {
                record.marked = false;
                todo.push(id);
            }
        }
        todo
    }

    pub fn recycle_sweep(&mut self, todo: Vec<SessionId>) {
        self.sweep = todo;
    }

    /// Whether a sweep has work: drops the marks of sessions that came
    /// back to life since (the common case, cheaply) and looks at the rest.
    #[inline]
    pub fn has_marked(&mut self) -> bool {
        while let Some(&id) = self.marked.last() {
            if self.table.get(id).is_some_and(|record| record.marked) {
                return true;
            }
            self.marked.pop();
        }
        false
    }

    /// Forgets every mark (the kernel finished).
    pub fn clear_marks(&mut self) {
        self.marked.clear();
    }
}
