//! Items due "now", in the order they were queued, with their arguments
//! beside them: a post's arguments move into the queue once and out once.
//! Items and arguments live in two rings kept in step, so that neither
//! moves as one block too big to copy inline.
//!
//! Purging a stopping session must not scan the queue. Each item has a
//! position, counted (wrapping) over every item queued, and links to the
//! position of the item queued to the same target before it; a session's
//! record keeps the position of its last item, so its items form a chain
//! back through the queue. A session also lists the positions of the
//! items it queued for other sessions (only that case pays for a list). A
//! purge follows both and looks only at the session's own items.
//!
//! A purged item stays in the ring, without its arguments, as a
//! [`Kind::Purged`] item from the kernel to the kernel: the dispatch loop
//! takes it like any other, releases nothing for it and runs nothing, so
//! live items pay nothing for purging.
//!
//! Positions wrap at 2^32, far above any queue's length, so a position
//! names at most one item in the ring; a link or list entry whose item has
//! left (or whose position was reached again by a later item) is told by
//! the item's target or sender not being the session.

use std::collections::VecDeque;

use super::item::{Item, Kind};
use crate::{id::SessionId, value::Args};

/// The FIFO; the queue counts its positions (`Queue::next_position`).
#[derive(Default)]
pub(crate) struct Fifo {
    items: VecDeque<Item>,
    /// The arguments of `items`, position for position.
    args: VecDeque<Args>,
    /// Purged items still in the ring.
    purged: usize,
}

impl Fifo {
    /// Queues `item` at the next position; its `aux` is its link.
    #[inline]
    pub fn push(&mut self, item: Item, args: Args) {
        debug_assert!(
            self.items
                .back()
                .is_none_or(|last| (last.due, last.seq) < (item.due, item.seq)),
            "FIFO items stay sorted by (due, seq)"
        );
        self.items.push_back(item);
        self.args.push_back(args);
    }

    /// The `(due, seq)` of the first item, if its seq is at most `cutoff`.
    #[inline]
    pub fn front_key(&self, cutoff: u64) -> Option<(i64, u64)> {
        self.items
            .front()
            .filter(|item| item.seq <= cutoff)
            .map(|item| (item.due, item.seq))
    }

    /// Takes the first item; its arguments go to `args`, which must be
    /// empty (it is overwritten, not dropped: the dispatch path keeps one
    /// buffer and empties it after each dispatch).
    #[inline]
    pub fn pop(&mut self, args: &mut Args) -> Option<Item> {
        let item = self.items.pop_front()?;
        if let Some(taken) = self.args.pop_front() {
            debug_assert!(args.is_empty());
            std::mem::forget(std::mem::replace(args, taken));
        }
        Some(item)
    }

    /// A purged item was taken off the front (by the dispatch loop, which
    /// alone knows it saw one).
    pub fn purged_left(&mut self) {
        self.purged -= 1;
    }

    /// Items queued, purged ones not counted.
    pub fn len(&self) -> usize {
        self.items.len() - self.purged
    }

    /// Items in the ring, purged ones included: the span of positions it
    /// holds.
    #[inline]
    pub fn ring_len(&self) -> usize {
        self.items.len()
    }

    /// Whether the ring is empty. Purged items count: the next dispatch
    /// takes them, so a kernel with only purged items queued is kept from
    /// waiting for one slice at most.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The ring index of the item at `position`, if one is there; `front`
    /// is the front item's position.
    fn index(&self, front: u32, position: u32) -> Option<usize> {
        let index = position.wrapping_sub(front) as usize;
        (index < self.items.len()).then_some(index)
    }

    /// Removes every item to or from `session`, in queue order, with its
    /// arguments. `front` is the front item's position; `to` is the
    /// position of the last item queued to the session, whose links lead
    /// to the others; `sent` lists the positions of the items it queued for
    /// other sessions, oldest first. Also returns how many items it looked
    /// at: the session's own, and those on its chain purged already with
    /// their sender.
    pub fn remove_session(
        &mut self,
        session: SessionId,
        front: u32,
        to: u32,
        sent: &[u32],
    ) -> (Vec<(Item, Args)>, usize) {
        let mut visited = 0;
        // Its items to it, newest first: positions fall along the chain,
        // and it ends where an item has left the ring.
        let mut doomed = Vec::new();
        let mut at = self.index(front, to);
        while let Some(index) = at {
            let item = &self.items[index];
            if item.kind != Kind::Purged {
                if item.target != session {
                    break;
                }
                doomed.push(index);
            }
            visited += 1;
            at = self
                .index(front, item.aux)
                .filter(|&earlier| earlier < index);
        }
        doomed.reverse();
        let to_it = doomed.len();
        let mut last = None;
        for &position in sent {
            // Entries are oldest first; one out of order can only be a
            // position reached again since, and is not the session's.
            if let Some(index) = self.index(front, position)
                && last.is_none_or(|last| index > last)
                && self.items[index].sender == session
            {
                doomed.push(index);
                last = Some(index);
                visited += 1;
            }
        }
        // Both runs are in queue order; merged, so is the whole.
        let (to_it, from_it) = doomed.split_at(to_it);
        let mut removed = Vec::with_capacity(doomed.len());
        let (mut i, mut j) = (0, 0);
        while i < to_it.len() || j < from_it.len() {
            let index = if j == from_it.len() || (i < to_it.len() && to_it[i] < from_it[j]) {
                i += 1;
                to_it[i - 1]
            } else {
                j += 1;
                from_it[j - 1]
            };
            let item = &mut self.items[index];
            removed.push((*item, std::mem::take(&mut self.args[index])));
            // From the kernel to the kernel: the dispatch loop releases
            // nothing for it. The link stays, for the chain through it.
            let kernel = SessionId::new(item.target.kernel(), 0, 0);
            item.kind = Kind::Purged;
            item.target = kernel;
            item.sender = kernel;
            self.purged += 1;
        }
        (removed, visited)
    }

    /// Every item not purged, in queue order (for snapshots).
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|item| item.kind != Kind::Purged)
    }

    pub fn clear(&mut self) {
        // Positions go on from here, so a link or list entry left over
        // names no later item (short of wrapping, which the target and
        // sender checks catch).
        self.items.clear();
        self.args.clear();
        self.purged = 0;
    }
}
