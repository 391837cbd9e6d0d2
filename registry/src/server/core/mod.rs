//! [`Core`]: the server's shared state: the store, each service's line,
//! the watchers to wake, and the state file to keep.
//!
//! Every change goes through the core, which keeps its three companions in
//! step with the store: the line cache (so that answers share the lines
//! instead of copying them), the event port's connections (woken to catch
//! up), and the state file (marked for a save when the change touched a
//! service it keeps).

mod shared;

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use roe_engine::SourceRef;

pub(super) use self::shared::Shared;
use super::state::Persistence;
use crate::error::{Error, Result};
use crate::owner::{Claim, OwnerId, Token};
use crate::query::Query;
use crate::service::Service;
use crate::store::Store;

/// How the core wakes an event-port connection: its source, and whether it
/// has been woken since it last caught up (so that a burst of changes
/// wakes it once, whatever the number of watchers).
#[derive(Debug)]
pub(super) struct Wake {
    pub source: SourceRef,
    pub pending: Rc<Cell<bool>>,
}

/// Lines an answer still owes, and the bytes they take.
///
/// The lines are shared with the core's cache, but one that changes there
/// stays alive here until written, so each counts in full against the
/// connection's bound ([`ServerConfig::max_answer`](crate::ServerConfig::max_answer)).
///
/// # Invariants
///
/// `bytes` is the sum of the lines' lengths, a newline each.
#[derive(Debug, Default)]
pub(super) struct Listing {
    lines: VecDeque<Rc<str>>,
    bytes: usize,
}

impl Listing {
    /// The next line to write.
    pub(super) fn pop(&mut self) -> Option<Rc<str>> {
        let line = self.lines.pop_front()?;
        self.bytes -= line.len() + 1;
        debug_assert_eq!(self.lines.is_empty(), self.bytes == 0);
        Some(line)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// The server's state, shared by its connections.
///
/// # Invariants
///
/// `lines` holds exactly the store's services, each as its line.
#[derive(Debug)]
pub(super) struct Core {
    store: Store,
    /// Each service's line, by name, shared with the answers being
    /// written.
    lines: HashMap<String, Rc<str>>,
    /// The event port's connections, by connection number.
    watchers: HashMap<u64, Wake>,
    persistence: Option<Persistence>,
    /// The etcd backend, if the store is a mirror of etcd's.
    shared: Option<Shared>,
}

impl Core {
    pub(super) fn new(store: Store, persistence: Option<Persistence>) -> Core {
        let lines = store
            .services()
            .map(|service| (service.name().to_owned(), line_of(service)))
            .collect();
        Core {
            store,
            lines,
            watchers: HashMap::new(),
            persistence,
            shared: None,
        }
    }

    /// A core whose `store` mirrors the shared store behind `shared`.
    pub(super) fn with_backend(store: Store, shared: Shared) -> Core {
        let mut core = Core::new(store, None);
        core.shared = Some(shared);
        core
    }

    /// The etcd backend, if there is one.
    pub(super) fn shared(&self) -> Option<&Shared> {
        self.shared.as_ref()
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// The lines of the services that match `query`, in registration
    /// order, as they are now, if they take at most `max` bytes (a newline
    /// each included).
    ///
    /// # Errors
    ///
    /// [`Error::AnswerTooLarge`] past `max`; the search stops there.
    pub(super) fn find(&self, query: &Query, max: usize) -> Result<Listing> {
        let mut listing = Listing::default();
        for service in self.store.find(query) {
            let line = Rc::clone(&self.lines[service.name()]);
            listing.bytes += line.len() + 1;
            if listing.bytes > max {
                return Err(Error::AnswerTooLarge {
                    len: listing.bytes,
                    max,
                });
            }
            listing.lines.push_back(line);
        }
        Ok(listing)
    }

    /// Registers `service` for the connection `owner`.
    pub(super) fn register(
        &mut self,
        owner: OwnerId,
        service: Service,
        token: Option<Token>,
    ) -> Result<()> {
        if self.shared.is_some() {
            return self.send_register(owner, service, token);
        }
        let name = service.name().to_owned();
        let touched = service.is_persistent();
        self.store.register(owner, service, token)?;
        self.refresh(&name);
        self.changed(touched);
        Ok(())
    }

    /// Sets attributes of the service `name` owned by `owner`.
    pub(super) fn update(
        &mut self,
        name: &str,
        owner: OwnerId,
        attrs: Vec<(String, String)>,
    ) -> Result<()> {
        if self.shared.is_some() {
            return self.send_update(name, owner, attrs);
        }
        let kept_before = self.is_kept(name);
        if self.store.update(name, owner.into(), attrs)?.is_some() {
            self.refresh(name);
            let touched = kept_before || self.is_kept(name);
            self.changed(touched);
        }
        Ok(())
    }

    /// Removes the service `name` for a client that is not its connection
    /// (roe's `remove` line): with the service's token, or, for a service
    /// without a token whose connection has gone, with none.
    pub(super) fn remove(&mut self, name: &str, token: Option<&str>) -> Result<()> {
        if self.store.get(name).is_none() {
            return Err(Error::NoSuchService(name.to_owned()));
        }
        // With a backend, a service another server's connection holds has
        // no owner here, but is not an orphan.
        let leased = self.shared.as_ref().is_some_and(|s| s.is_leased(name));
        let orphan = self.store.owner(name).is_none() && !self.store.has_token(name) && !leased;
        let claim = match token {
            _ if orphan => Claim::Registry,
            Some(secret) => Claim::Token(secret),
            None => return Err(Error::PermissionDenied(name.to_owned())),
        };
        let touched = self.is_kept(name);
        self.store.remove(name, claim)?;
        self.lines.remove(name);
        self.changed(touched);
        if self.shared.is_some() {
            self.send_remove(name);
        }
        Ok(())
    }

    /// The connection `owner` has closed: its services go, unless they
    /// persist.
    pub(super) fn remove_owner(&mut self, owner: OwnerId) {
        if self.shared.is_some() {
            self.send_release(owner);
        }
        let removed = self.store.remove_owner(owner);
        if removed.is_empty() {
            return;
        }
        for service in &removed {
            self.lines.remove(service.name());
        }
        // What goes was not persistent, so the state file never held it.
        self.changed(false);
    }

    /// Wakes an event-port connection after changes.
    pub(super) fn watch(&mut self, connection: u64, wake: Wake) {
        self.watchers.insert(connection, wake);
    }

    pub(super) fn unwatch(&mut self, connection: u64) {
        self.watchers.remove(&connection);
    }

    /// Forgets every watcher (the server is stopping).
    pub(super) fn unwatch_all(&mut self) {
        self.watchers.clear();
    }

    /// Whether a save of the state file should be scheduled now.
    pub(super) fn wants_save(&mut self) -> bool {
        self.persistence
            .as_mut()
            .is_some_and(Persistence::wants_schedule)
    }

    /// The scheduled save.
    ///
    /// # Errors
    ///
    /// The file cannot be written; the save stays scheduled.
    pub(super) fn save(&mut self) -> Result<()> {
        match &mut self.persistence {
            Some(persistence) => persistence.save_scheduled(&self.store),
            None => Ok(()),
        }
    }

    /// The state file's path, if the server keeps one.
    pub(super) fn state_path(&self) -> Option<&std::path::Path> {
        self.persistence.as_ref().map(Persistence::path)
    }

    /// Whether the state file keeps the service `name`: it persists, or
    /// has already outlived its connection.
    fn is_kept(&self, name: &str) -> bool {
        self.store
            .get(name)
            .is_some_and(|service| service.is_persistent() || self.store.owner(name).is_none())
    }

    fn refresh(&mut self, name: &str) {
        if let Some(service) = self.store.get(name) {
            self.lines.insert(name.to_owned(), line_of(service));
        }
        debug_assert_eq!(self.lines.len(), self.store.len());
    }

    /// After a change: the watchers catch up at the kernel's next slice
    /// (so a burst of changes costs each of them one wake-up), and the
    /// state file learns of it.
    fn changed(&mut self, touched: bool) {
        for wake in self.watchers.values() {
            if !wake.pending.replace(true) {
                wake.source.flush_soon();
            }
        }
        if let Some(persistence) = &mut self.persistence {
            persistence.changed(&self.store, touched);
        }
    }
}

fn line_of(service: &Service) -> Rc<str> {
    Rc::from(service.to_string())
}
