//! Names: resolving destinations, and the aliases sessions give
//! themselves.

use super::{core::Core, dest::Dest};
use crate::{
    error::{Error, Result},
    id::SessionId,
    value::Str,
};

impl Core {
    /// POE's `_resolve_session`: a session, then an ID (a session number or
    /// the kernel's name, both in POE's ID table), then an alias.
    pub fn resolve(&self, dest: &Dest) -> Option<SessionId> {
        match dest {
            // An ID made from a number alone comes back with its slot.
            Dest::Session(id) => self.sessions.find(*id).filter(|_| id.kernel() == self.id),
            Dest::Name(name) => name
                .parse::<u64>()
                .ok()
                .and_then(|number| self.sessions.by_number(number))
                .or_else(|| {
                    (name.as_str() == self.name && self.sessions.contains(self.root()))
                        .then(|| self.root())
                })
                .or_else(|| self.aliases.get(name)),
        }
    }

    pub fn resolve_or_err(&self, dest: &Dest) -> Result<SessionId> {
        self.resolve(dest)
            .ok_or_else(|| Error::NoSuchSession(dest.to_string()))
    }

    /// Resolves on this kernel first, then, in a runtime, anywhere: a
    /// session of another kernel is taken as named (its kernel says whether
    /// it lives), a name goes to the runtime.
    pub fn resolve_anywhere(&self, dest: &Dest) -> Result<SessionId> {
        if let Dest::Session(id) = dest
            && id.kernel() != self.id
            && self.link.is_some()
        {
            return Ok(*id);
        }
        match (self.resolve(dest), &self.link, dest) {
            (Some(id), _, _) => Ok(id),
            (None, Some(link), Dest::Name(name)) => link.resolve(name),
            _ => Err(Error::NoSuchSession(dest.to_string())),
        }
    }

    pub fn alias_set(&mut self, name: Str) -> Result<()> {
        let me = self.active.session;
        match self.aliases.get(&name) {
            Some(owner) if owner == me => Ok(()),
            Some(owner) => Err(Error::AliasInUse {
                alias: name.to_string(),
                owner,
            }),
            None => {
                let record = self.sessions.get_mut(me).ok_or(Error::NoActiveSession)?;
                let at = record.aliases.binary_search(&name).unwrap_or_else(|at| at);
                record.aliases.insert(at, name.clone());
                if let Some(link) = &self.link {
                    link.alias_set(&name, me);
                }
                self.aliases.insert(name, me);
                self.sessions.inc(me);
                Ok(())
            }
        }
    }

    pub fn alias_remove(&mut self, name: &str) -> Result<()> {
        let me = self.active.session;
        match self.aliases.get(name) {
            None => Err(Error::NoSuchAlias(name.to_owned())),
            Some(owner) if owner != me => {
                Err(Error::NotPermitted("the alias belongs to another session"))
            }
            Some(_) => {
                self.drop_alias(name, me);
                if let Some(record) = self.sessions.get_mut(me) {
                    record.aliases.retain(|alias| alias != name);
                }
                self.sessions.dec(me);
                Ok(())
            }
        }
    }

    /// Forgets `owner`'s alias `name` here and in the runtime.
    pub fn drop_alias(&mut self, name: &str, owner: SessionId) {
        self.aliases.remove(name);
        if let Some(link) = &self.link {
            link.alias_removed(name, owner);
        }
    }

    pub fn alias_list(&self, id: SessionId) -> Vec<Str> {
        self.sessions
            .get(id)
            .map(|record| record.aliases.clone())
            .unwrap_or_default()
    }
}
