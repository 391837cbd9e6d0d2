//! [`Feed`]: what one event-port connection is owed, written as the
//! client takes it.
//!
//! The pure layer's [`Watcher`](crate::Watcher) says what a connection is
//! owed after changes, all at once. The server writes the same lines, in
//! the same order, but only as fast as the client reads them: it adds
//! lines to the connection's output until that holds its bound, and picks
//! up where it stopped once the client has taken some. Changes not yet
//! written stay in the store's log, not in the connection, so a client
//! that does not read costs the server its bounded output alone; if it
//! falls so far behind that the log no longer holds what it is owed, it is
//! told `error revision too old` and cut off, as the protocol says.
//!
//! A detailed watch without `since` starts with the services that match
//! at that moment, as lines shared with the core's cache, then a `sync`;
//! changes made while those lines are written follow before the `sync`,
//! whose revision is the latest written.

use std::fmt;
use std::io::Write as _;
use std::time::{Duration, Instant};

use roe_engine::stream::Outbox;

use super::core::{Core, Listing};
use crate::change::ChangeKind;
use crate::error::Result;
use crate::line::{EventLine, Watch};
use crate::query::Query;
use crate::revision::Revision;

/// An event-port connection's state.
#[derive(Debug)]
pub(super) enum Feed {
    /// registry(4)'s mode: a counter line after changes.
    Counter {
        /// The revision of the last line written (or of the connection's
        /// start).
        seen: Revision,
    },
    /// roe's detailed mode, after a `watch` line.
    Detailed(Detailed),
}

#[derive(Debug)]
pub(super) struct Detailed {
    query: Query,
    /// The services that matched when the watch began, not yet written.
    snapshot: Listing,
    /// The revision the snapshot was taken at.
    snapshot_at: Revision,
    /// Every change up to this revision has been written (or did not
    /// concern the query).
    seen: Revision,
    /// The first `sync` has been written.
    synced: bool,
    /// The revision of the last line written.
    sent: Revision,
    last_line: Instant,
}

/// Appends `line` and a newline to `out`.
pub(super) fn push_line(out: &mut Outbox, line: impl fmt::Display) {
    let _ = out.push(|buf| {
        write!(buf, "{line}")?;
        buf.push(b'\n');
        Ok::<(), std::io::Error>(())
    });
}

impl Feed {
    /// A connection that opens now: owed the changes after the store's
    /// revision, as counter lines.
    pub(super) fn new(core: &Core) -> Feed {
        Feed::Counter {
            seen: core.store().revision(),
        }
    }

    /// A line from the client: a `watch` line switches to the detailed
    /// mode; other lines, and every line once watching, are ignored.
    /// The first listing may take at most `max_answer` bytes.
    ///
    /// # Errors
    ///
    /// A line that is too long or not UTF-8, a bad watch line, a `since`
    /// the store cannot resume from, or a listing past `max_answer`: the
    /// server writes the error and closes.
    pub(super) fn line(&mut self, line: &[u8], core: &Core, max_answer: usize) -> Result<()> {
        if matches!(self, Feed::Detailed(_)) {
            return Ok(());
        }
        let Some(watch) = Watch::parse(line)? else {
            return Ok(());
        };
        let store = core.store();
        let now = store.revision();
        let (snapshot, seen) = match watch.since {
            None => (core.find(&watch.query, max_answer)?, now),
            Some(since) => {
                // Refused now if the store cannot replay from there.
                drop(store.changes_since(since)?);
                (Listing::default(), since)
            }
        };
        *self = Feed::Detailed(Detailed {
            query: watch.query,
            snapshot,
            snapshot_at: now,
            seen,
            synced: false,
            sent: seen,
            last_line: Instant::now(),
        });
        Ok(())
    }

    /// Adds what is owed to `out` until it holds `max` bytes; returns
    /// whether it added anything.
    ///
    /// # Errors
    ///
    /// [`Error::RevisionTooOld`](crate::Error::RevisionTooOld): the store no
    /// longer holds the changes this watcher is owed.
    pub(super) fn pump(
        &mut self,
        core: &Core,
        out: &mut Outbox,
        max: usize,
        sync_interval: Duration,
    ) -> Result<bool> {
        let now = core.store().revision();
        match self {
            Feed::Counter { seen } => {
                if *seen == now || out.waiting() >= max {
                    return Ok(false);
                }
                push_line(out, EventLine::Counter(now));
                *seen = now;
                Ok(true)
            }
            Feed::Detailed(detailed) => detailed.pump(core, out, max, sync_interval),
        }
    }
}

impl Detailed {
    fn pump(
        &mut self,
        core: &Core,
        out: &mut Outbox,
        max: usize,
        sync_interval: Duration,
    ) -> Result<bool> {
        let before = out.waiting();
        while out.waiting() < max {
            let Some(line) = self.snapshot.pop() else {
                break;
            };
            let at = self.snapshot_at.counter();
            push_line(out, format_args!("{at} {} {line}", ChangeKind::Add));
            self.wrote(self.snapshot_at);
        }
        if !self.snapshot.is_empty() {
            return Ok(out.waiting() > before);
        }
        let store = core.store();
        if self.seen < store.revision() && out.waiting() < max {
            for change in store.changes_since(self.seen)? {
                if let Some(kind) = change.seen_by(&self.query) {
                    let revision = change.revision();
                    let service = change.service();
                    push_line(out, format_args!("{} {kind} {service}", revision.counter()));
                    self.wrote(revision);
                }
                self.seen = change.revision();
                if out.waiting() >= max {
                    break;
                }
            }
        }
        if self.seen == store.revision() {
            let quiet_for = self.last_line.elapsed();
            if !self.synced || (self.sent < self.seen && quiet_for >= sync_interval) {
                push_line(out, EventLine::Sync(self.seen));
                self.wrote(self.seen);
                self.synced = true;
            }
        }
        Ok(out.waiting() > before)
    }

    fn wrote(&mut self, revision: Revision) {
        self.sent = revision;
        self.last_line = Instant::now();
    }
}
