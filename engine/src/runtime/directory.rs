//! The runtime-wide alias directory.

use std::sync::RwLock;

use rustc_hash::FxHashMap;

use crate::{id::SessionId, value::Str};

/// Every alias set on any kernel of a runtime, for resolving names that the
/// local kernel does not know (a kernel looks at its own aliases first).
///
/// The same alias may be set on two kernels; resolving it from a third is
/// then ambiguous, which [`Directory::resolve`] reports.
#[derive(Default)]
pub(crate) struct Directory {
    aliases: RwLock<FxHashMap<Str, Vec<SessionId>>>,
}

/// What a name resolves to in the directory.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    None,
    One(SessionId),
    Many(Vec<SessionId>),
}

impl Directory {
    pub fn insert(&self, alias: &Str, id: SessionId) {
        let mut aliases = self.aliases.write().unwrap_or_else(|e| e.into_inner());
        let owners = aliases.entry(alias.clone()).or_default();
        if !owners.contains(&id) {
            owners.push(id);
            owners.sort_unstable();
        }
    }

    pub fn remove(&self, alias: &str, id: SessionId) {
        let mut aliases = self.aliases.write().unwrap_or_else(|e| e.into_inner());
        if let Some(owners) = aliases.get_mut(alias) {
            owners.retain(|&owner| owner != id);
            if owners.is_empty() {
                aliases.remove(alias);
            }
        }
    }

    pub fn resolve(&self, alias: &str) -> Found {
        let aliases = self.aliases.read().unwrap_or_else(|e| e.into_inner());
        match aliases.get(alias).map(Vec::as_slice) {
            None | Some([]) => Found::None,
            Some([one]) => Found::One(*one),
            Some(many) => Found::Many(many.to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::KernelId;

    fn session(kernel: u16, n: u64) -> SessionId {
        SessionId::new(KernelId(kernel), n as u32, n)
    }

    #[test]
    fn one_owner_resolves_two_are_ambiguous() {
        let directory = Directory::default();
        let name = Str::new("svc");
        directory.insert(&name, session(1, 3));
        assert_eq!(directory.resolve("svc"), Found::One(session(1, 3)));
        directory.insert(&name, session(2, 5));
        assert_eq!(
            directory.resolve("svc"),
            Found::Many(vec![session(1, 3), session(2, 5)])
        );
        directory.remove("svc", session(1, 3));
        assert_eq!(directory.resolve("svc"), Found::One(session(2, 5)));
        directory.remove("svc", session(2, 5));
        assert_eq!(directory.resolve("svc"), Found::None);
    }
}
