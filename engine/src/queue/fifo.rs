//! Items due "now", in the order they were queued, with their arguments
//! beside them: a post's arguments move into the queue once and out once.
//! Items and arguments live in two rings kept in step, so that neither
//! moves as one block too big to copy inline.

use std::collections::VecDeque;

use super::item::Item;
use crate::{id::SessionId, value::Args};

#[derive(Default)]
pub(crate) struct Fifo {
    items: VecDeque<Item>,
    /// The arguments of `items`, position for position.
    args: VecDeque<Args>,
}

impl Fifo {
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

    pub fn len(&self) -> usize {
        self.items.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Removes every item to or from `session`, in queue order, moving
    /// only the items behind the first one removed.
    pub fn remove_session(&mut self, session: SessionId) -> Vec<Item> {
        let doomed = |item: &Item| item.target == session || item.sender == session;
        let Some(first) = self.items.iter().position(doomed) else {
            return Vec::new();
        };
        let mut kept = first;
        for at in first..self.items.len() {
            if doomed(&self.items[at]) {
                continue;
            }
            self.items.swap(kept, at);
            self.args.swap(kept, at);
            kept += 1;
        }
        self.args.truncate(kept);
        let mut removed: Vec<Item> = self.items.drain(kept..).collect();
        // The swaps left the doomed items out of order: put them back in
        // queue order.
        removed.sort_by_key(|item| item.seq);
        removed
    }

    /// Every item, in queue order (for snapshots).
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.items.iter()
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.args.clear();
    }
}
