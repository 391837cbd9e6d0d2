//! Items due "now", in the order they were queued.

use std::collections::VecDeque;

use super::item::Item;
use crate::id::SessionId;

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
        let mut removed = Vec::new();
        let mut kept = first;
        for at in first..self.items.len() {
            if doomed(&self.items[at]) {
                continue;
            }
            self.items.swap(kept, at);
            kept += 1;
        }
        removed.extend(self.items.drain(kept..));
        // The swaps left the doomed items in queue order, but the drain
        // order is what was behind them: put them back in queue order.
        removed.sort_by_key(|item| item.seq);
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
