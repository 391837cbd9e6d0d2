//! The core with an etcd backend: the store is a mirror of etcd's, and
//! what the connections change goes to etcd first.
//!
//! A registration, an update or a `remove` is checked against the mirror
//! (so the refusals registry(4) gives come at once, as without a backend),
//! then sent to the backend's worker. It reaches the mirror, on this server
//! as on every other one, when etcd's watch reports it. A refusal that only
//! etcd can give (a name another server took a moment before, a call that
//! failed, a lease that ran out) comes back later: the connection is woken,
//! writes `error <reason>` and closes, as for any refusal.
//!
//! A connection's own services are kept here as last sent ([`Ours`]), so
//! that updates in quick succession build on one another rather than on
//! the mirror, which may not have caught up yet.

use std::collections::{HashMap, HashSet};

use roe_engine::SourceRef;

use super::Core;
use crate::error::{Error, Result};
use crate::etcd::backend::{Backend, Change, Reply, Request};
use crate::etcd::{Stored, encode, server_id};
use crate::owner::{Claim, OwnerId, Token};
use crate::service::Service;

/// What a core with a backend keeps beside its mirror.
#[derive(Debug)]
pub(in crate::server) struct Shared {
    backend: Backend,
    /// This server's [`server_id`], in the values it writes.
    me: String,
    /// This server's connections' services, as last sent to etcd (changed
    /// only through `adopt`, `see` and `forget`, which keep `unseen`).
    ours: HashMap<String, Ours>,
    /// How many of `ours` the mirror has not seen yet.
    unseen: usize,
    /// Connections that sent the backend something to register (so they
    /// have a lease to end when they close), with the names they sent (a
    /// registry(4) connection registers one), so a close costs what the
    /// connection registered, not a look at every service.
    leasing: HashMap<OwnerId, Vec<String>>,
    /// Connections the backend refused, with why, until they close.
    refused: HashMap<OwnerId, Error>,
    /// The new port's open connections, to wake when refused.
    held: HashMap<OwnerId, SourceRef>,
    /// The mirror's services held by a lease: their connection, on some
    /// server, is open.
    leased: HashSet<String>,
    /// The connection that registered each of the mirror's services, as
    /// its value says: another holder is another registration.
    holders: HashMap<String, Option<String>>,
}

/// A service of this server's connection, as last sent.
#[derive(Debug)]
struct Ours {
    owner: OwnerId,
    service: Service,
    token: Option<Token>,
    /// The mirror has it (the watch reported its creation).
    seen: bool,
}

impl Shared {
    /// A backend whose mirror starts with `services` (which the caller has
    /// put in the store).
    pub(in crate::server) fn new(backend: Backend, services: &[Stored]) -> Shared {
        Shared {
            backend,
            me: server_id(),
            ours: HashMap::new(),
            unseen: 0,
            leasing: HashMap::new(),
            refused: HashMap::new(),
            held: HashMap::new(),
            leased: services
                .iter()
                .filter(|stored| stored.leased)
                .map(|stored| stored.service.name().to_owned())
                .collect(),
            holders: services
                .iter()
                .map(|stored| (stored.service.name().to_owned(), stored.holder.clone()))
                .collect(),
        }
    }

    pub(in crate::server) fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Whether a connection somewhere holds the service `name`.
    pub(super) fn is_leased(&self, name: &str) -> bool {
        self.leased.contains(name)
    }

    /// Keeps `ours` as sent for `name`.
    fn adopt(&mut self, name: String, ours: Ours) {
        if !ours.seen {
            self.unseen += 1;
        }
        if let Some(old) = self.ours.insert(name, ours)
            && !old.seen
        {
            self.unseen -= 1;
        }
    }

    /// The mirror has `name`, which this server sent.
    fn see(&mut self, name: &str) {
        if let Some(ours) = self.ours.get_mut(name)
            && !std::mem::replace(&mut ours.seen, true)
        {
            self.unseen -= 1;
        }
    }

    /// Lets go of `name` as this server's.
    fn forget(&mut self, name: &str) -> Option<Ours> {
        let ours = self.ours.remove(name)?;
        if !ours.seen {
            self.unseen -= 1;
        }
        Some(ours)
    }

    /// How a value names the connection `owner` of this server.
    fn holder(&self, owner: OwnerId) -> String {
        shared_holder(&self.me, owner)
    }

    /// What etcd is to keep for `ours`.
    fn value(&self, ours: &Ours) -> Vec<u8> {
        encode(&ours.service, ours.token.as_ref(), &self.holder(ours.owner))
    }
}

/// How a value names the connection `owner` of the server `me`.
fn shared_holder(me: &str, owner: OwnerId) -> String {
    format!("{me}-{owner}")
}

/// The refusal of a write while too many wait for etcd.
fn busy() -> Error {
    Error::Backend("busy: too many writes wait for etcd".into())
}

/// `error` again, for the connection it refuses (errors hold no clone;
/// the backend gives only these two kinds).
fn again(error: &Error) -> Error {
    match error {
        Error::Duplicate(name) => Error::Duplicate(name.clone()),
        other => Error::Backend(other.to_string()),
    }
}

impl Core {
    fn shared_mut(&mut self) -> &mut Shared {
        self.shared.as_mut().expect("called with a backend")
    }

    /// The connection `owner` is on the new port: woken if refused.
    pub(in crate::server) fn hold(&mut self, owner: OwnerId, source: SourceRef) {
        if let Some(shared) = &mut self.shared {
            shared.held.insert(owner, source);
        }
    }

    /// Why the backend refused `owner`'s connection, if it did.
    pub(in crate::server) fn refusal(&self, owner: OwnerId) -> Option<Error> {
        let shared = self.shared.as_ref()?;
        shared.refused.get(&owner).map(again)
    }

    /// [`Core::register`] with a backend.
    pub(super) fn send_register(
        &mut self,
        owner: OwnerId,
        service: Service,
        token: Option<Token>,
    ) -> Result<()> {
        let name = service.name().to_owned();
        if self.store.get(&name).is_some() || self.shared_mut().ours.contains_key(&name) {
            return Err(Error::Duplicate(name));
        }
        service.check_size()?;
        let (capacity, len) = (self.store.capacity(), self.store.len());
        let shared = self.shared_mut();
        if len + shared.unseen >= capacity {
            return Err(Error::Full(capacity));
        }
        if shared.backend.is_busy() {
            return Err(busy());
        }
        let ours = Ours {
            owner,
            service,
            token,
            seen: false,
        };
        shared.backend.send(Request::Create {
            owner,
            name: name.clone(),
            value: shared.value(&ours),
        })?;
        shared.leasing.entry(owner).or_default().push(name.clone());
        shared.adopt(name, ours);
        Ok(())
    }

    /// [`Core::update`] with a backend.
    pub(super) fn send_update(
        &mut self,
        name: &str,
        owner: OwnerId,
        attrs: Vec<(String, String)>,
    ) -> Result<()> {
        let exists = self.store.get(name).is_some();
        let shared = self.shared_mut();
        let holder = shared.holder(owner);
        let Some(ours) = shared.ours.get_mut(name).filter(|ours| ours.owner == owner) else {
            return Err(if exists {
                Error::PermissionDenied(name.to_owned())
            } else {
                Error::NoSuchService(name.to_owned())
            });
        };
        if attrs.is_empty() {
            return Ok(());
        }
        if shared.backend.is_busy() {
            return Err(busy());
        }
        let before = ours.service.attr_list().to_vec();
        ours.service.set_all(attrs);
        if let Err(error) = ours.service.check_size() {
            ours.service.replace_attrs(before);
            return Err(error);
        }
        let value = encode(&ours.service, ours.token.as_ref(), &holder);
        shared.backend.send(Request::Put {
            owner,
            name: name.to_owned(),
            value,
        })
    }

    /// After [`Core::remove`] took the service `name` from the mirror: it
    /// goes from etcd.
    pub(super) fn send_remove(&mut self, name: &str) {
        let shared = self.shared_mut();
        shared.forget(name);
        let sent = shared.backend.send(Request::Delete {
            name: name.to_owned(),
        });
        if let Err(error) = sent {
            tracing::error!("registry: {name:?} is not removed from etcd: {error}");
        }
    }

    /// After [`Core::remove_owner`] updated the mirror: the connection's
    /// persistent services stay in etcd without a lease, the others go,
    /// and its lease ends.
    pub(super) fn send_release(&mut self, owner: OwnerId) {
        let shared = self.shared_mut();
        shared.held.remove(&owner);
        shared.refused.remove(&owner);
        let Some(sent) = shared.leasing.remove(&owner) else {
            return;
        };
        let mut detach = Vec::new();
        for name in sent {
            // Still this connection's (not refused, removed, or taken anew).
            if shared
                .ours
                .get(&name)
                .is_none_or(|ours| ours.owner != owner)
            {
                continue;
            }
            let ours = shared.forget(&name).expect("just looked at");
            // `persist` is read now, as when a registry(4) file closes;
            // the rest goes with the lease.
            if ours.service.is_persistent() {
                detach.push((name, shared.value(&ours)));
            }
        }
        if let Err(error) = shared.backend.send(Request::Release { owner, detach }) {
            tracing::error!(
                "registry: a closed connection's services stay until their lease runs out: {error}"
            );
        }
    }

    /// The server is stopping: every connection is released as if it had
    /// closed (persistent services stay, the others go at once).
    pub(in crate::server) fn release_all(&mut self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let owners: Vec<OwnerId> = shared.leasing.keys().copied().collect();
        for owner in owners {
            self.send_release(owner);
        }
    }

    /// What the backend has said since the kernel last looked.
    pub(in crate::server) fn take_replies(&mut self) {
        let Some(shared) = &self.shared else {
            return;
        };
        for reply in shared.backend.take() {
            match reply {
                Reply::Refused { owner, name, error } => self.refused(owner, name, error),
                Reply::Resync(services) => self.resync(services),
                Reply::Changes(changes) => {
                    for change in changes {
                        match change {
                            Change::Put(stored) => self.mirror_put(stored),
                            Change::Delete(name) => self.mirror_delete(&name),
                        }
                    }
                }
            }
        }
    }

    fn refused(&mut self, owner: OwnerId, name: Option<String>, error: Error) {
        let shared = self.shared_mut();
        if !shared.held.contains_key(&owner) {
            // Closed meanwhile: nobody to tell.
            return;
        }
        if let Some(name) = name
            && shared
                .ours
                .get(&name)
                .is_some_and(|ours| ours.owner == owner && !ours.seen)
        {
            shared.forget(&name);
        }
        tracing::debug!(connection = %owner, "registry: etcd refused: {error}");
        if let Some(source) = shared.held.get(&owner) {
            source.flush_soon();
        }
        shared.refused.entry(owner).or_insert(error);
    }

    /// The mirror becomes `services`, as etcd holds them now.
    fn resync(&mut self, services: Vec<Stored>) {
        let now: HashSet<&str> = services.iter().map(|s| s.service.name()).collect();
        let gone: Vec<String> = self
            .store
            .services()
            .map(Service::name)
            .filter(|name| !now.contains(name))
            .map(str::to_owned)
            .collect();
        for name in gone {
            self.mirror_delete(&name);
        }
        for stored in services {
            self.mirror_put(stored);
        }
    }

    /// etcd holds `stored` now.
    fn mirror_put(&mut self, stored: Stored) {
        let name = stored.service.name().to_owned();
        let shared = self.shared.as_mut().expect("called with a backend");
        if stored.leased {
            shared.leased.insert(name.clone());
        } else {
            shared.leased.remove(&name);
        }
        let holder = stored.holder.clone();
        let known = shared.holders.insert(name.clone(), holder.clone());
        // Made by this connection's request, not another's of the same
        // name that etcd reports before it: this server's, not seen yet,
        // and the value names its connection.
        let mine = shared.ours.get(&name).and_then(|ours| {
            let holds = holder.as_deref() == Some(&*shared_holder(&shared.me, ours.owner));
            (!ours.seen && holds).then_some(ours.owner)
        });
        let made = match mine {
            Some(owner) => {
                shared.see(&name);
                if self.store.get(&name).is_some() {
                    let _ = self.store.remove(&name, Claim::Registry);
                }
                self.store
                    .register(owner, stored.service, stored.token)
                    .map(drop)
            }
            None => {
                // Another holder (seen after a resync, or the name taken
                // anew elsewhere) is another registration: what this
                // server had of the old one, its owner and token, goes.
                let replaced = known.is_some_and(|known| known != holder);
                if replaced && shared.ours.get(&name).is_some_and(|ours| ours.seen) {
                    shared.forget(&name);
                }
                match self.store.get(&name) {
                    Some(current) if !replaced && *current == stored.service => return,
                    Some(_) if !replaced => {
                        let attrs = stored.service.attr_list().to_vec();
                        self.store.update(&name, Claim::Registry, attrs).map(drop)
                    }
                    Some(_) => {
                        let _ = self.store.remove(&name, Claim::Registry);
                        self.store.restore(stored.service, stored.token).map(drop)
                    }
                    None => self.store.restore(stored.service, stored.token).map(drop),
                }
            }
        };
        match made {
            Ok(()) => {
                self.refresh(&name);
                self.changed(false);
            }
            Err(error) => tracing::warn!("registry: etcd's {name:?} is not mirrored: {error}"),
        }
    }

    /// etcd no longer holds the service `name`.
    fn mirror_delete(&mut self, name: &str) {
        let shared = self.shared_mut();
        shared.leased.remove(name);
        shared.holders.remove(name);
        // A service of ours removed elsewhere: its connection stays open,
        // and its next update is refused (no such service). One not seen
        // yet is not what was removed.
        if shared.ours.get(name).is_some_and(|ours| ours.seen) {
            shared.forget(name);
        }
        if self.store.remove(name, Claim::Registry).is_ok() {
            self.lines.remove(name);
            self.changed(false);
        }
    }
}
