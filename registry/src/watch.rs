//! [`Watcher`]: what one connection to the event port is owed, without I/O.

use crate::change::{ChangeKind, Notice};
use crate::error::Result;
use crate::line::{EventLine, Watch};
use crate::query::Query;
use crate::revision::Revision;
use crate::store::Store;

/// One event-port connection's state: which mode it is in, and what it has
/// been sent.
///
/// A connection to the event port starts in registry(4)'s mode: the server
/// writes `READY`, and after changes one line with the store's revision, so
/// that changes made while a line waited share it. If the client sends a
/// [`Watch`] line, the connection switches to roe's detailed mode for good:
///
/// - without `since`, it first gets one `add` line, at the current
///   revision, for each service that matches its query now, then a `sync`
///   line;
/// - with `since <revision>`, it gets a line for each change after that
///   revision that concerns its query, then a `sync` line; if the store no
///   longer holds every change after that revision (or never reached it),
///   the watch is refused with an `error` line, and the client starts again
///   without `since`;
/// - then one line per change that concerns its query, as the changes
///   happen.
///
/// A client that keeps a copy of the matching services applies each line to
/// it, and remembers the revision of the last line it got (a change or a
/// `sync`) to resume after.
///
/// The server makes one when a client connects, writes
/// [`EventLine::Ready`], and from then on calls [`Watcher::catch_up`] after
/// changes to the store (or when the connection can take more), writing the
/// lines it gives. A `watch` line from the client goes to
/// [`Watcher::watch`].
///
/// # Examples
///
/// ```
/// use roe_registry::{EventLine, OwnerId, Query, Revision, Service, Store, Watch, Watcher};
///
/// let mut store = Store::new();
/// let owner = OwnerId::new(1);
/// store.register(owner, Service::with_attrs("a", [("auth", "none")])?, None)?;
///
/// // registry(4)'s mode: one counter line for any number of changes.
/// let mut counter = Watcher::new(&store);
/// store.update("a", owner.into(), [("x", "1")])?;
/// store.update("a", owner.into(), [("x", "2")])?;
/// let mut lines = Vec::new();
/// counter.catch_up(&store, &mut lines)?;
/// assert_eq!(lines, [EventLine::Counter(Revision::new(3))]);
///
/// // roe's detailed mode: what matches now, then the changes.
/// let mut detailed = Watcher::new(&store);
/// let mut lines = Vec::new();
/// let watch = Watch { query: Query::new([("auth", "none")]), since: None };
/// detailed.watch(watch, &store, &mut lines)?;
/// store.remove_owner(owner);
/// detailed.catch_up(&store, &mut lines)?;
/// let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
/// assert_eq!(text, [
///     "00000003 add a auth none x 2",
///     "00000003 sync",
///     "00000004 remove a auth none x 2",
/// ]);
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Watcher {
    /// The query of the detailed mode; `None` in registry(4)'s mode.
    query: Option<Query>,
    /// The store's revision as of the last line given.
    seen: Revision,
}

impl Watcher {
    /// A connection that opens now: it is owed the changes after the
    /// store's current revision, in registry(4)'s mode.
    pub fn new(store: &Store) -> Watcher {
        Watcher {
            query: None,
            seen: store.revision(),
        }
    }

    /// Whether the client has switched to the detailed mode.
    pub fn is_detailed(&self) -> bool {
        self.query.is_some()
    }

    /// The store's revision as of the last lines given.
    pub fn seen(&self) -> Revision {
        self.seen
    }

    /// The client sent `watch`: switches to the detailed mode and appends
    /// to `out` the lines it starts with (see above).
    ///
    /// # Errors
    ///
    /// For a `since` the store cannot resume from,
    /// [`Error::RevisionTooOld`](crate::Error::RevisionTooOld) or
    /// [`Error::RevisionAhead`](crate::Error::RevisionAhead); the watcher
    /// is left as it was, and the server answers with
    /// [`EventLine::Error`] and closes.
    pub fn watch(&mut self, watch: Watch, store: &Store, out: &mut Vec<EventLine>) -> Result<()> {
        let now = store.revision();
        match watch.since {
            None => out.extend(store.find(&watch.query).map(|service| {
                EventLine::Change(Notice {
                    revision: now,
                    kind: ChangeKind::Add,
                    service: service.clone(),
                })
            })),
            Some(since) => out.extend(
                store
                    .changes_since(since)?
                    .filter_map(|change| change.notice(&watch.query))
                    .map(EventLine::Change),
            ),
        }
        out.push(EventLine::Sync(now));
        self.query = Some(watch.query);
        self.seen = now;
        Ok(())
    }

    /// Appends to `out` the lines owed for the changes since the last call:
    /// one counter line in registry(4)'s mode (none without a change), a
    /// line per change that concerns the query in the detailed mode.
    ///
    /// # Errors
    ///
    /// In the detailed mode, [`Error::RevisionTooOld`](crate::Error::RevisionTooOld)
    /// when the watcher fell so far behind that the store no longer holds
    /// the changes it is owed: the server answers with
    /// [`EventLine::Error`] and closes.
    pub fn catch_up(&mut self, store: &Store, out: &mut Vec<EventLine>) -> Result<()> {
        let now = store.revision();
        if now == self.seen {
            return Ok(());
        }
        match &self.query {
            None => out.push(EventLine::Counter(now)),
            Some(query) => out.extend(
                store
                    .changes_since(self.seen)?
                    .filter_map(|change| change.notice(query))
                    .map(EventLine::Change),
            ),
        }
        self.seen = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::owner::{Claim, OwnerId};
    use crate::service::Service;
    use crate::store::StoreConfig;

    fn text(lines: &[EventLine]) -> Vec<String> {
        lines.iter().map(ToString::to_string).collect()
    }

    fn store_with_history() -> Store {
        let mut store = Store::new();
        let owner = OwnerId::new(1);
        let svc = |name: &str, auth: &str| Service::with_attrs(name, [("auth", auth)]).unwrap();
        store.register(owner, svc("a", "none"), None).unwrap(); // 1
        store.register(owner, svc("b", "sha1"), None).unwrap(); // 2
        store
            .update("b", Claim::Owner(owner), [("auth", "none")])
            .unwrap(); // 3
        store
            .update("a", Claim::Owner(owner), [("auth", "sha1")])
            .unwrap(); // 4
        store
    }

    #[test]
    fn a_counter_line_only_after_a_change() {
        let mut store = store_with_history();
        let mut watcher = Watcher::new(&store);
        let mut out = Vec::new();
        watcher.catch_up(&store, &mut out).unwrap();
        assert!(out.is_empty(), "changes before the connection are not owed");
        store.remove_owner(OwnerId::new(1));
        watcher.catch_up(&store, &mut out).unwrap();
        assert_eq!(text(&out), ["00000006"]);
        assert!(!watcher.is_detailed());
    }

    #[test]
    fn resuming_replays_what_concerns_the_query() {
        let store = store_with_history();
        let mut watcher = Watcher::new(&store);
        let mut out = Vec::new();
        let watch = Watch {
            query: Query::new([("auth", "none")]),
            since: Some(Revision::new(1)),
        };
        watcher.watch(watch, &store, &mut out).unwrap();
        assert_eq!(
            text(&out),
            [
                "00000003 add b auth none",
                "00000004 remove a auth sha1",
                "00000004 sync"
            ]
        );
        assert!(watcher.is_detailed());
        assert_eq!(watcher.seen(), Revision::new(4));
    }

    #[test]
    fn a_revision_that_cannot_be_resumed_is_refused() {
        let mut store = Store::with_config(StoreConfig::default().log_changes(1));
        store
            .register(OwnerId::new(1), Service::new("a").unwrap(), None)
            .unwrap();
        store
            .register(OwnerId::new(1), Service::new("b").unwrap(), None)
            .unwrap();
        let mut watcher = Watcher::new(&store);
        let mut out = Vec::new();
        let since = |n| Watch {
            query: Query::all(),
            since: Some(Revision::new(n)),
        };
        let error = watcher.watch(since(0), &store, &mut out).unwrap_err();
        assert!(matches!(error, Error::RevisionTooOld { .. }));
        let error = watcher.watch(since(3), &store, &mut out).unwrap_err();
        assert!(matches!(error, Error::RevisionAhead { .. }));
        assert!(out.is_empty());
        assert!(!watcher.is_detailed(), "left as it was");
        watcher.watch(since(1), &store, &mut out).unwrap();
        assert_eq!(text(&out), ["00000002 add b", "00000002 sync"]);
    }

    #[test]
    fn a_detailed_watcher_left_behind_is_told() {
        let mut store = Store::with_config(StoreConfig::default().log_changes(2));
        let mut watcher = Watcher::new(&store);
        let mut out = Vec::new();
        watcher.watch(Watch::default(), &store, &mut out).unwrap();
        assert_eq!(text(&out), ["00000000 sync"]);
        for name in ["a", "b", "c"] {
            store
                .register(OwnerId::new(1), Service::new(name).unwrap(), None)
                .unwrap();
        }
        let error = watcher.catch_up(&store, &mut out).unwrap_err();
        assert!(matches!(error, Error::RevisionTooOld { .. }));
    }
}
