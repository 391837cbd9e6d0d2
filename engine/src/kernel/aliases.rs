//! `Aliases`: names sessions give themselves on this kernel.

use rustc_hash::FxHashMap;

use crate::{id::SessionId, value::Str};

/// Who holds each alias on this kernel. Each session's record lists its own
/// aliases too (sorted, for `alias_list`); the kernel changes both together.
#[derive(Default)]
pub(crate) struct Aliases {
    owners: FxHashMap<Str, SessionId>,
}

impl Aliases {
    /// The session holding `name`.
    #[inline]
    pub fn get(&self, name: &str) -> Option<SessionId> {
        self.owners.get(name).copied()
    }

    pub fn insert(&mut self, name: Str, owner: SessionId) {
        self.owners.insert(name, owner);
    }

    pub fn remove(&mut self, name: &str) {
        self.owners.remove(name);
    }
}
