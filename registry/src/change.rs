//! Changes: what the store did at each revision ([`Change`]), what a watcher
//! with a filter sees of it ([`Notice`]), and the bounded log of recent
//! changes that lets a watcher resume.
//!
//! Every change to the store (a registration, an accepted update, a
//! removal) takes the next [`Revision`] and is kept in the log, oldest
//! first. The log holds the most recent changes only, within a count and a
//! byte budget; a watcher can resume after any revision from the oldest one
//! the log can still replay on, and is told when it asks for an older one.
//!
//! A watcher with a [`Query`] sees the set of services that match it: a
//! registration that matches is an `add`; an update is an `update` when the
//! service matched before and after, an `add` when it starts to match and a
//! `remove` when it stops; a removal is a `remove` when the service matched.
//! Replaying these on a copy of the matching services keeps the copy equal
//! to what a `find` with the same query would answer.

use std::collections::VecDeque;
use std::fmt;

use crate::error::{Error, Result};
use crate::query::Query;
use crate::revision::Revision;
use crate::service::Service;

/// What happened to a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// It was registered (or, for a watcher, started to match).
    Add,
    /// Its attributes were set.
    Update,
    /// It was removed (or, for a watcher, stopped matching).
    Remove,
}

impl ChangeKind {
    /// The word a watch line uses: `add`, `update` or `remove`.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_registry::ChangeKind;
    ///
    /// assert_eq!(ChangeKind::Update.word(), "update");
    /// assert_eq!(ChangeKind::from_word("remove"), Some(ChangeKind::Remove));
    /// assert_eq!(ChangeKind::from_word("Add"), None);
    /// ```
    pub fn word(self) -> &'static str {
        match self {
            ChangeKind::Add => "add",
            ChangeKind::Update => "update",
            ChangeKind::Remove => "remove",
        }
    }

    /// The kind a watch line's word names.
    pub fn from_word(word: &str) -> Option<ChangeKind> {
        match word {
            "add" => Some(ChangeKind::Add),
            "update" => Some(ChangeKind::Update),
            "remove" => Some(ChangeKind::Remove),
            _ => None,
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// One change the store made, at its revision.
///
/// # Examples
///
/// ```
/// use roe_registry::{ChangeKind, OwnerId, Query, Revision, Service, Store};
///
/// let mut store = Store::new();
/// let owner = OwnerId::new(1);
/// store.register(owner, Service::with_attrs("svc", [("auth", "none")])?, None)?;
/// store.update("svc", owner.into(), [("auth", "sha1")])?;
///
/// let changes: Vec<_> = store.changes_since(Revision::ZERO)?.collect();
/// assert_eq!(changes[1].kind(), ChangeKind::Update);
/// assert_eq!(changes[1].service().get("auth"), Some("sha1"));
///
/// // A watcher of `auth none` sees the service leave its set.
/// let seen = changes[1].notice(&Query::new([("auth", "none")])).unwrap();
/// assert_eq!(seen.kind, ChangeKind::Remove);
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    revision: Revision,
    kind: ChangeKind,
    /// After the change; for a removal, as it was.
    service: Service,
    /// For an update, the attributes before it.
    before: Option<Vec<(String, String)>>,
}

impl Change {
    pub(crate) fn added(revision: Revision, service: Service) -> Change {
        Change {
            revision,
            kind: ChangeKind::Add,
            service,
            before: None,
        }
    }

    pub(crate) fn updated(
        revision: Revision,
        service: Service,
        before: Vec<(String, String)>,
    ) -> Change {
        Change {
            revision,
            kind: ChangeKind::Update,
            service,
            before: Some(before),
        }
    }

    pub(crate) fn removed(revision: Revision, service: Service) -> Change {
        Change {
            revision,
            kind: ChangeKind::Remove,
            service,
            before: None,
        }
    }

    /// The revision the change took.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// What happened.
    pub fn kind(&self) -> ChangeKind {
        self.kind
    }

    /// The service after the change (for a removal, as it was).
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// For an update, the service's attributes before it.
    pub fn before(&self) -> Option<impl ExactSizeIterator<Item = (&str, &str)>> {
        let before = self.before.as_ref()?;
        Some(before.iter().map(|(a, v)| (a.as_str(), v.as_str())))
    }

    /// What a watcher of `query` sees of this change, if anything.
    ///
    /// A watcher follows the set of services that match its query: a
    /// registration that matches is an `add`; an update is an `update` when
    /// the service matched before and after, an `add` when it starts to
    /// match and a `remove` when it stops; a removal is a `remove` when the
    /// service matched. Applying these to a copy of the matching services
    /// keeps the copy equal to what [`Store::find`](crate::Store::find)
    /// answers for the same query.
    pub fn seen_by(&self, query: &Query) -> Option<ChangeKind> {
        let now = query.matches(&self.service);
        match (self.kind, &self.before) {
            (ChangeKind::Update, Some(before)) => match (query.matches_attrs(before), now) {
                (true, true) => Some(ChangeKind::Update),
                (false, true) => Some(ChangeKind::Add),
                (true, false) => Some(ChangeKind::Remove),
                (false, false) => None,
            },
            (kind, _) => now.then_some(kind),
        }
    }

    /// [`Change::seen_by`], as a [`Notice`] that carries the service.
    pub fn notice(&self, query: &Query) -> Option<Notice> {
        let kind = self.seen_by(query)?;
        Some(Notice {
            revision: self.revision,
            kind,
            service: self.service.clone(),
        })
    }

    /// What the change costs the log, roughly, in bytes.
    fn cost(&self) -> usize {
        let strings = |attrs: &[(String, String)]| -> usize {
            attrs.iter().map(|(a, v)| a.len() + v.len() + 48).sum()
        };
        64 + self.service.name().len()
            + strings(self.service.attr_list())
            + self.before.as_deref().map_or(0, strings)
    }
}

/// A change as a watcher sees it: one line of the detailed watch.
///
/// # Examples
///
/// ```
/// use roe_registry::{ChangeKind, Notice, Revision, Service};
///
/// let notice = Notice {
///     revision: Revision::new(12),
///     kind: ChangeKind::Add,
///     service: Service::with_attrs("svc", [("auth", "none")])?,
/// };
/// assert_eq!(notice.to_string(), "00000012 add svc auth none");
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The revision of the change.
    pub revision: Revision,
    /// What the watcher is to do: add the service to its set, update it, or
    /// remove it.
    pub kind: ChangeKind,
    /// The service after the change (for a removal, as it was).
    pub service: Service,
}

/// Writes the notice as a watch line, without a newline:
/// `<revision> <kind> <service>`, the revision as eight digits or more.
impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.revision.counter(),
            self.kind,
            self.service
        )
    }
}

/// The recent changes, oldest first, within a count and a byte budget.
///
/// # Invariants
///
/// The changes held are those of the revisions `oldest + 1 ..= oldest +
/// len`, one each, in order.
#[derive(Debug)]
pub(crate) struct ChangeLog {
    changes: VecDeque<Change>,
    /// The revision before the first change held: resuming after it, or
    /// after any later revision, replays what followed.
    oldest: Revision,
    bytes: usize,
    max_changes: usize,
    max_bytes: usize,
}

impl ChangeLog {
    /// An empty log that starts at `start` and keeps at most `max_changes`
    /// changes and `max_bytes` bytes.
    pub(crate) fn new(start: Revision, max_changes: usize, max_bytes: usize) -> ChangeLog {
        ChangeLog {
            changes: VecDeque::new(),
            oldest: start,
            bytes: 0,
            max_changes,
            max_bytes,
        }
    }

    /// The oldest revision one can resume after.
    pub(crate) fn oldest(&self) -> Revision {
        self.oldest
    }

    /// How many changes it holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.changes.len()
    }

    /// Keeps `change`, which took the revision after the last one held,
    /// dropping the oldest changes past the budget.
    pub(crate) fn push(&mut self, change: Change) {
        debug_assert_eq!(
            change.revision.get(),
            self.oldest.get() + self.changes.len() as u64 + 1,
            "changes are logged in revision order, without gaps"
        );
        self.bytes += change.cost();
        self.changes.push_back(change);
        while self.changes.len() > self.max_changes || self.bytes > self.max_bytes {
            let Some(dropped) = self.changes.pop_front() else {
                break;
            };
            self.bytes -= dropped.cost();
            self.oldest = dropped.revision;
        }
    }

    /// The changes after `since`, oldest first; `current` is the store's
    /// revision.
    ///
    /// # Errors
    ///
    /// [`Error::RevisionTooOld`] when changes after `since` have been
    /// dropped; [`Error::RevisionAhead`] when `since` is past `current`.
    pub(crate) fn since(
        &self,
        since: Revision,
        current: Revision,
    ) -> Result<std::collections::vec_deque::Iter<'_, Change>> {
        if since > current {
            return Err(Error::RevisionAhead {
                asked: since,
                current,
            });
        }
        if since < self.oldest {
            return Err(Error::RevisionTooOld {
                asked: since,
                oldest: self.oldest,
            });
        }
        let skip = (since.get() - self.oldest.get()) as usize;
        Ok(self.changes.range(skip..))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(auth: &str) -> Service {
        Service::with_attrs("svc", [("auth", auth)]).unwrap()
    }

    fn attrs(auth: &str) -> Vec<(String, String)> {
        vec![("auth".into(), auth.into())]
    }

    #[test]
    fn what_a_watcher_sees() {
        let none = Query::new([("auth", "none")]);
        let r = Revision::new(1);
        assert_eq!(
            Change::added(r, svc("none")).seen_by(&none),
            Some(ChangeKind::Add)
        );
        assert_eq!(Change::added(r, svc("sha1")).seen_by(&none), None);
        assert_eq!(
            Change::removed(r, svc("none")).seen_by(&none),
            Some(ChangeKind::Remove)
        );
        assert_eq!(Change::removed(r, svc("sha1")).seen_by(&none), None);
        let update = |from: &str, to: &str| Change::updated(r, svc(to), attrs(from));
        assert_eq!(
            update("none", "none").seen_by(&none),
            Some(ChangeKind::Update)
        );
        assert_eq!(update("sha1", "none").seen_by(&none), Some(ChangeKind::Add));
        assert_eq!(
            update("none", "sha1").seen_by(&none),
            Some(ChangeKind::Remove)
        );
        assert_eq!(update("sha1", "md5").seen_by(&none), None);
        assert_eq!(
            update("sha1", "md5").seen_by(&Query::all()),
            Some(ChangeKind::Update)
        );
    }

    #[test]
    fn the_log_keeps_the_newest_within_its_budget() {
        let mut log = ChangeLog::new(Revision::new(10), 3, usize::MAX);
        assert!(
            log.since(Revision::new(10), Revision::new(10))
                .unwrap()
                .next()
                .is_none()
        );
        for n in 11..=15 {
            log.push(Change::added(Revision::new(n), svc("x")));
        }
        assert_eq!(log.len(), 3);
        assert_eq!(log.oldest(), Revision::new(12));
        let current = Revision::new(15);
        let revisions = |since: u64| -> Vec<u64> {
            log.since(Revision::new(since), current)
                .unwrap()
                .map(|c| c.revision.get())
                .collect()
        };
        assert_eq!(revisions(12), [13, 14, 15]);
        assert_eq!(revisions(14), [15]);
        assert_eq!(revisions(15), Vec::<u64>::new());
        assert!(matches!(
            log.since(Revision::new(11), current),
            Err(Error::RevisionTooOld { asked, oldest }) if asked.get() == 11 && oldest.get() == 12
        ));
        assert!(matches!(
            log.since(Revision::new(16), current),
            Err(Error::RevisionAhead { asked, current }) if asked.get() == 16 && current.get() == 15
        ));
    }

    #[test]
    fn the_byte_budget_drops_changes_too() {
        let one = Change::added(Revision::new(1), svc("x")).cost();
        let mut log = ChangeLog::new(Revision::ZERO, usize::MAX, 2 * one);
        for n in 1..=5 {
            log.push(Change::added(Revision::new(n), svc("x")));
        }
        assert_eq!(log.len(), 2);
        assert_eq!(log.oldest(), Revision::new(3));
        // A change larger than the whole budget leaves the log empty.
        let mut log = ChangeLog::new(Revision::ZERO, usize::MAX, 10);
        log.push(Change::added(Revision::new(1), svc("x")));
        assert_eq!(log.len(), 0);
        assert_eq!(log.oldest(), Revision::new(1));
        assert_eq!(
            log.since(Revision::new(1), Revision::new(1))
                .unwrap()
                .count(),
            0
        );
    }
}
