//! [`Store`]: the registry's state, without I/O.
//!
//! The store holds the registered services, each with its owner (the
//! connection it came through) and, optionally, an owner token; it answers
//! queries, counts every change in its [`Revision`], and keeps a bounded
//! log of recent changes so that watchers can resume.
//!
//! What registry(4) does, and the store with it:
//!
//! - a registration takes a free, valid name ([`Store::register`]);
//! - the owner sets attributes ([`Store::update`]): each accepted update is
//!   one change, even when no value differs;
//! - when the owner's connection closes ([`Store::remove_owner`]) its
//!   services go, except those whose `persist` attribute is a non-zero
//!   number at that moment, which stay without an owner;
//! - a query returns the matching services in registration order
//!   ([`Store::find`]).
//!
//! What roe adds: an owner [`Token`] given at registration, with which an
//! update or a removal is accepted from anyone who presents it
//! ([`Claim::Token`]), the only way besides [`Claim::Registry`] to remove a
//! persistent service once its connection is gone; [`Store::restore`] to
//! bring back services saved in a state file; limits on the number of
//! services and on each one's size; and [`Store::changes_since`].
//!
//! The store is deterministic: the same calls give the same results, the
//! same revisions and the same order.

use std::collections::{BTreeMap, HashMap};

use crate::change::{Change, ChangeLog};
use crate::error::{Error, Result};
use crate::owner::{Claim, OwnerId, Token};
use crate::query::Query;
use crate::revision::Revision;
use crate::service::Service;

/// A store's limits and first revision.
///
/// # Examples
///
/// ```
/// use roe_registry::{Revision, Store, StoreConfig};
///
/// let config = StoreConfig::default().max_services(100).start(Revision::new(5000));
/// let store = Store::with_config(config);
/// assert_eq!(store.revision(), Revision::new(5000));
/// ```
#[derive(Clone, Debug)]
pub struct StoreConfig {
    max_services: usize,
    log_changes: usize,
    log_bytes: usize,
    start: Revision,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            max_services: 10_000,
            log_changes: 4096,
            log_bytes: 4 * 1024 * 1024,
            start: Revision::ZERO,
        }
    }
}

impl StoreConfig {
    /// The most services the store holds (10,000 by default); registering
    /// one more fails with [`Error::Full`].
    pub fn max_services(mut self, max: usize) -> StoreConfig {
        self.max_services = max;
        self
    }

    /// The most changes the log keeps for watchers to resume from (4,096 by
    /// default).
    pub fn log_changes(mut self, max: usize) -> StoreConfig {
        self.log_changes = max;
        self
    }

    /// The most memory the log's changes take, roughly (4 MiB by default).
    pub fn log_bytes(mut self, max: usize) -> StoreConfig {
        self.log_bytes = max;
        self
    }

    /// The revision the store starts at (0 by default). A server that
    /// restarts can start above every revision it gave out before, so that
    /// a watcher's old revision is never taken for a new one.
    pub fn start(mut self, revision: Revision) -> StoreConfig {
        self.start = revision;
        self
    }
}

/// A service and who may change it.
#[derive(Clone, Debug)]
struct Entry {
    service: Service,
    /// The connection it came through; `None` once that is gone (or for a
    /// service restored from a state file).
    owner: Option<OwnerId>,
    token: Option<Token>,
}

/// The registry's state: services, owners, revision and recent changes.
///
/// # Invariants
///
/// Every service has one entry in the name index, and every owned one is
/// listed once under its owner. The revision is the store's starting
/// revision plus the number of changes made, and the log holds the latest
/// of them.
///
/// # Examples
///
/// ```
/// use roe_registry::{OwnerId, Query, Revision, Service, Store};
///
/// let mut store = Store::new();
/// let (conn1, conn2) = (OwnerId::new(1), OwnerId::new(2));
/// store.register(conn1, Service::with_attrs("lp!a", [("auth", "none")])?, None)?;
/// store.register(conn2, Service::with_attrs("lp!b", [("auth", "none"), ("persist", "1")])?, None)?;
/// store.update("lp!a", conn1.into(), [("duplex", "yes")])?;
///
/// let found: Vec<_> = store.find(&Query::new([("auth", "none")])).map(|s| s.name()).collect();
/// assert_eq!(found, ["lp!a", "lp!b"]);
/// assert_eq!(store.revision(), Revision::new(3));
///
/// // The connections close: lp!b persists, without an owner.
/// assert_eq!(store.remove_owner(conn1).len(), 1);
/// assert!(store.remove_owner(conn2).is_empty());
/// assert_eq!(store.owner("lp!b"), None);
/// assert_eq!(store.len(), 1);
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Debug)]
pub struct Store {
    /// By registration number, so in registration order.
    entries: BTreeMap<u64, Entry>,
    names: HashMap<String, u64>,
    owned: HashMap<OwnerId, Vec<u64>>,
    next_number: u64,
    revision: Revision,
    log: ChangeLog,
    max_services: usize,
}

impl Default for Store {
    fn default() -> Store {
        Store::new()
    }
}

impl Store {
    /// An empty store with the default [`StoreConfig`].
    pub fn new() -> Store {
        Store::with_config(StoreConfig::default())
    }

    /// An empty store with `config`'s limits and first revision.
    pub fn with_config(config: StoreConfig) -> Store {
        Store {
            entries: BTreeMap::new(),
            names: HashMap::new(),
            owned: HashMap::new(),
            next_number: 0,
            revision: config.start,
            log: ChangeLog::new(config.start, config.log_changes, config.log_bytes),
            max_services: config.max_services,
        }
    }

    /// The revision of the latest change (the starting revision before any).
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// The oldest revision [`Store::changes_since`] can resume after.
    pub fn oldest_revision(&self) -> Revision {
        self.log.oldest()
    }

    /// How many services it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most services it holds ([`StoreConfig::max_services`]).
    pub fn capacity(&self) -> usize {
        self.max_services
    }

    /// The service named `name`.
    pub fn get(&self, name: &str) -> Option<&Service> {
        self.entry(name).map(|entry| &entry.service)
    }

    /// The connection that owns the service named `name`; `None` when there
    /// is no such service or its connection has gone.
    pub fn owner(&self, name: &str) -> Option<OwnerId> {
        self.entry(name)?.owner
    }

    /// Whether the service named `name` was registered with an owner token.
    pub fn has_token(&self, name: &str) -> bool {
        self.entry(name).is_some_and(|entry| entry.token.is_some())
    }

    /// Every service, in registration order (registry(4)'s `index`).
    pub fn services(&self) -> impl Iterator<Item = &Service> + '_ {
        self.entries.values().map(|entry| &entry.service)
    }

    /// The services that match `query`, in registration order.
    pub fn find<'a, 'q>(
        &'a self,
        query: &'q Query,
    ) -> impl Iterator<Item = &'a Service> + use<'a, 'q> {
        self.services()
            .filter(move |service| query.matches(service))
    }

    /// The services a state file keeps: those that would outlive their
    /// connection (their `persist` is a non-zero number) and those that
    /// already have, with their tokens, in registration order.
    pub fn persistent(&self) -> impl Iterator<Item = (&Service, Option<&Token>)> + '_ {
        self.entries
            .values()
            .filter(|entry| entry.owner.is_none() || entry.service.is_persistent())
            .map(|entry| (&entry.service, entry.token.as_ref()))
    }

    /// Registers `service` for the connection `owner`, with an optional
    /// owner token; returns the change's revision.
    ///
    /// # Errors
    ///
    /// [`Error::Duplicate`] when a service of that name exists,
    /// [`Error::TooLarge`] when the service as a line is longer than
    /// [`MAX_SERVICE_LEN`](crate::MAX_SERVICE_LEN),
    /// [`Error::TooManyAttrs`] when it has more than
    /// [`MAX_ATTRS`](crate::MAX_ATTRS) attributes, [`Error::Full`] when the
    /// store holds its most.
    pub fn register(
        &mut self,
        owner: OwnerId,
        service: Service,
        token: Option<Token>,
    ) -> Result<Revision> {
        self.insert(Some(owner), service, token)
    }

    /// Adds `service` without an owner, as a service whose connection has
    /// gone: for services read back from a state file. It is a change like
    /// any other.
    ///
    /// # Errors
    ///
    /// As [`Store::register`].
    pub fn restore(&mut self, service: Service, token: Option<Token>) -> Result<Revision> {
        self.insert(None, service, token)
    }

    fn insert(
        &mut self,
        owner: Option<OwnerId>,
        service: Service,
        token: Option<Token>,
    ) -> Result<Revision> {
        if self.names.contains_key(service.name()) {
            return Err(Error::Duplicate(service.name().to_owned()));
        }
        service.check_size()?;
        if self.entries.len() >= self.max_services {
            return Err(Error::Full(self.max_services));
        }
        let number = self.next_number;
        self.next_number += 1;
        self.names.insert(service.name().to_owned(), number);
        if let Some(owner) = owner {
            self.owned.entry(owner).or_default().push(number);
        }
        let revision = self.record(|revision| Change::added(revision, service.clone()));
        self.entries.insert(
            number,
            Entry {
                service,
                owner,
                token,
            },
        );
        self.check_invariants();
        Ok(revision)
    }

    /// Sets attributes of the service named `name`, for `claim`; returns the
    /// change's revision, or `None` when `attrs` is empty (a blank update
    /// line changes nothing and counts for nothing).
    ///
    /// Every non-empty update is a change, even when no value differs, as in
    /// registry(4).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchService`]; [`Error::PermissionDenied`] when `claim`
    /// is neither the owning connection, nor the service's token, nor
    /// [`Claim::Registry`]; [`Error::TooLarge`] or [`Error::TooManyAttrs`]
    /// when the service would grow past
    /// [`MAX_SERVICE_LEN`](crate::MAX_SERVICE_LEN) or
    /// [`MAX_ATTRS`](crate::MAX_ATTRS) (it is then left as it was).
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_registry::{Claim, OwnerId, Service, Store};
    ///
    /// let mut store = Store::new();
    /// let owner = OwnerId::new(1);
    /// store.register(owner, Service::new("svc")?, None)?;
    /// let revision = store.update("svc", Claim::Owner(owner), [("auth", "none")])?;
    /// assert_eq!(revision, Some(store.revision()));
    /// assert_eq!(store.update("svc", Claim::Owner(owner), [] as [(&str, &str); 0])?, None);
    /// assert!(store.update("svc", Claim::Owner(OwnerId::new(2)), [("auth", "x")]).is_err());
    /// # Ok::<(), roe_registry::Error>(())
    /// ```
    pub fn update<A, V>(
        &mut self,
        name: &str,
        claim: Claim<'_>,
        attrs: impl IntoIterator<Item = (A, V)>,
    ) -> Result<Option<Revision>>
    where
        A: Into<String>,
        V: Into<String>,
    {
        let number = self.permitted(name, claim)?;
        let mut attrs = attrs.into_iter().peekable();
        if attrs.peek().is_none() {
            return Ok(None);
        }
        let entry = self
            .entries
            .get_mut(&number)
            .expect("the name index names an entry");
        let before = entry.service.attr_list().to_vec();
        entry
            .service
            .set_all(attrs.map(|(attr, value)| (attr.into(), value.into())));
        if let Err(error) = entry.service.check_size() {
            entry.service.replace_attrs(before);
            return Err(error);
        }
        let service = entry.service.clone();
        let revision = self.record(|revision| Change::updated(revision, service, before));
        Ok(Some(revision))
    }

    /// Removes the service named `name`, for `claim`, persistent or not;
    /// returns it.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchService`]; [`Error::PermissionDenied`] as for
    /// [`Store::update`].
    pub fn remove(&mut self, name: &str, claim: Claim<'_>) -> Result<Service> {
        let number = self.permitted(name, claim)?;
        Ok(self.take(number))
    }

    /// The connection `owner` has closed: removes its services, except
    /// those whose `persist` attribute is now a non-zero number, which stay
    /// without an owner. Returns the removed services, in registration
    /// order; each removal is a change.
    pub fn remove_owner(&mut self, owner: OwnerId) -> Vec<Service> {
        let Some(numbers) = self.owned.remove(&owner) else {
            return Vec::new();
        };
        // `persist` is read now, as registry(4) reads it when the file closes.
        let mut gone = Vec::new();
        for number in numbers {
            let entry = self
                .entries
                .get_mut(&number)
                .expect("an owner lists live entries");
            entry.owner = None;
            if !entry.service.is_persistent() {
                gone.push(number);
            }
        }
        let removed = gone.into_iter().map(|number| self.take(number)).collect();
        self.check_invariants();
        removed
    }

    /// The changes after revision `since`, oldest first, for a watcher that
    /// resumes.
    ///
    /// # Errors
    ///
    /// [`Error::RevisionTooOld`] when the log no longer holds every change
    /// after `since` (the watcher must start again from a `find`);
    /// [`Error::RevisionAhead`] when `since` is past the store's revision.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_registry::{OwnerId, Revision, Service, Store};
    ///
    /// let mut store = Store::new();
    /// store.register(OwnerId::new(1), Service::new("a")?, None)?;
    /// let seen = store.revision();
    /// store.register(OwnerId::new(1), Service::new("b")?, None)?;
    /// let names: Vec<_> = store.changes_since(seen)?.map(|c| c.service().name()).collect();
    /// assert_eq!(names, ["b"]);
    /// assert!(store.changes_since(Revision::new(99)).is_err());
    /// # Ok::<(), roe_registry::Error>(())
    /// ```
    pub fn changes_since(&self, since: Revision) -> Result<impl Iterator<Item = &Change> + '_> {
        self.log.since(since, self.revision)
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.names.get(name).map(|number| &self.entries[number])
    }

    /// The number of the service named `name`, if `claim` may change it.
    fn permitted(&self, name: &str, claim: Claim<'_>) -> Result<u64> {
        let &number = self
            .names
            .get(name)
            .ok_or_else(|| Error::NoSuchService(name.to_owned()))?;
        let entry = &self.entries[&number];
        if !claim.allows(entry.owner, entry.token.as_ref()) {
            return Err(Error::PermissionDenied(name.to_owned()));
        }
        Ok(number)
    }

    /// Removes entry `number`, logging the removal.
    fn take(&mut self, number: u64) -> Service {
        let entry = self.entries.remove(&number).expect("removing a live entry");
        self.names.remove(entry.service.name());
        if let Some(owner) = entry.owner
            && let Some(numbers) = self.owned.get_mut(&owner)
        {
            numbers.retain(|&n| n != number);
            if numbers.is_empty() {
                self.owned.remove(&owner);
            }
        }
        let service = entry.service;
        self.record(|revision| Change::removed(revision, service.clone()));
        self.check_invariants();
        service
    }

    /// Takes the next revision for the change `make` builds, and logs it.
    fn record(&mut self, make: impl FnOnce(Revision) -> Change) -> Revision {
        self.revision = self.revision.next();
        self.log.push(make(self.revision));
        self.revision
    }

    fn check_invariants(&self) {
        debug_assert_eq!(self.names.len(), self.entries.len());
        debug_assert_eq!(
            self.owned.values().map(Vec::len).sum::<usize>(),
            self.entries
                .values()
                .filter(|entry| entry.owner.is_some())
                .count()
        );
    }
}

#[cfg(test)]
mod tests;
