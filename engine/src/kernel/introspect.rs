//! Snapshots of the kernel, built on its own thread and published for
//! readers on any other.
//!
//! A kernel publishes at its interval when something happened, and soon
//! after a reader asks for something its latest snapshot lacks (it looks
//! before each wait: every few dozen dispatches when busy, at once when a
//! wake-up message gets it out of one); each time it builds the counters, the first queued items and timers,
//! and what readers hold leases on (snapshot/ask.rs), never every session
//! unless asked. Building for readers is held to a budget: after a build
//! that took `t`, the next waits until `Snapshot::BUDGET * t` has passed
//! since that one began.

use std::time::{Duration, Instant, SystemTime};

use rustc_hash::FxHashMap;

use super::{Kernel, core::Core};
use crate::{
    id::SessionId,
    kernel::sessions::Entry,
    queue::item::Item,
    snapshot::{Counters, Detail, QueuedSnapshot, SessionSnapshot, Snapshot, SnapshotReader},
};

/// When and where the kernel publishes its snapshots.
pub(crate) struct Publisher {
    reader: SnapshotReader,
    interval: i64,
    /// When the next snapshot is due: an interval after the last, no
    /// sooner than `allowed`, or as soon as `allowed` once a reader asked.
    next: i64,
    /// The earliest a snapshot for readers may be built: the budget.
    allowed: i64,
    generation: u64,
    /// The activity count (see `Accounting::activity`) the last snapshot
    /// saw; `u64::MAX` once a reader asked, so that the next is built.
    seen: u64,
    /// The latest snapshot was not built for readers: freeing it as the
    /// next is published is not counted against the budget either.
    unbudgeted: bool,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.reader.close();
    }
}

impl Kernel {
    /// Publishes this kernel's snapshots every `interval` when something
    /// happened, and when readers ask (see [`SnapshotReader::ask`]);
    /// publishes one of everything now, every session in full, and returns
    /// the reader observers use. Asked again, it changes the interval and
    /// returns the same reader, so observers that hold one (a runtime's
    /// handle among them) keep seeing new snapshots.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use roe_engine::{Kernel, Session};
    ///
    /// let mut kernel = Kernel::new()?;
    /// let reader = kernel.snapshots(Duration::from_millis(10));
    /// kernel.spawn(Session::new(()).on("_start", |cx, _| cx.alias_set("seen")))?;
    /// kernel.run()?;
    /// // The last snapshot shows the kernel as it ended.
    /// assert_eq!(reader.load().counters.dispatched, 2); // _start and _stop
    /// # Ok::<(), roe_engine::Error>(())
    /// ```
    pub fn snapshots(&mut self, interval: Duration) -> SnapshotReader {
        let interval = i64::try_from(interval.as_nanos()).unwrap_or(i64::MAX);
        let core = &mut self.core;
        if let Some(publisher) = &mut core.publisher {
            publisher.interval = interval;
            publisher.next = 0;
            let reader = publisher.reader.clone();
            core.publish(Detail::all(), false);
            return reader;
        }
        let reader = SnapshotReader::new(Some(core.inbox.mailbox()));
        core.publisher = Some(Publisher {
            reader: reader.clone(),
            interval,
            next: 0,
            allowed: 0,
            generation: 0,
            seen: u64::MAX,
            unbudgeted: false,
        });
        core.publish(Detail::all(), false);
        reader
    }
}

impl Core {
    /// Publishes a snapshot at the end of a slice if the interval has
    /// passed and something happened (or a reader asked: see
    /// `publish_wait_cap`); two compares otherwise.
    #[inline]
    pub fn maybe_publish(&mut self) {
        if let Some(publisher) = &self.publisher
            && self.clock.cached() >= publisher.next
            && publisher.seen != self.acct.activity()
        {
            self.publish_for_readers();
        }
    }

    /// How long the wait may last at most so that what happened since the
    /// last snapshot is published within one interval, and what a reader
    /// asked for as soon as the budget allows, even if nothing wakes the
    /// kernel after it.
    ///
    /// This is also where the kernel looks for readers' asks: before every
    /// wait, which a busy kernel reaches every `POLL_EVERY` dispatches and
    /// a message (a parked kernel's wake-up) at once. An ask found makes
    /// the slice's `maybe_publish` publish, so that slices pay nothing for
    /// asks.
    pub fn publish_wait_cap(&mut self) -> Option<Duration> {
        let publisher = self.publisher.as_mut()?;
        if publisher.reader.is_asked() {
            // Something to publish, due as soon as the budget allows.
            publisher.seen = u64::MAX;
            publisher.next = publisher.next.min(publisher.allowed);
        }
        if publisher.seen == self.acct.activity() {
            return None;
        }
        let next = publisher.next;
        Some(self.clock.until(next))
    }

    /// Publishes a snapshot now: asked for by the runtime's message, or as
    /// the kernel finishes. A finished kernel (no session left, not even
    /// its own) publishes one of everything, which is then nothing; one
    /// that runs publishes what readers asked for, within the budget (an
    /// ask it cannot take yet stays for `maybe_publish`).
    #[cold]
    pub fn publish_snapshot(&mut self) {
        let Some(publisher) = &self.publisher else {
            return;
        };
        if self.sessions.is_empty() {
            self.publish(Detail::all(), false);
            return;
        }
        let (allowed, asked, changed) = (
            publisher.allowed,
            publisher.reader.is_asked(),
            publisher.seen != self.acct.activity(),
        );
        if (asked || changed) && self.clock.now() >= allowed {
            self.publish_for_readers();
        }
    }

    /// Builds and publishes what readers hold leases on, answering their
    /// asks, and counts it against the budget.
    #[cold]
    fn publish_for_readers(&mut self) {
        let Some(publisher) = &self.publisher else {
            return;
        };
        let asks = publisher.reader.take_asks();
        let detail = asks.detail(Instant::now(), publisher.reader.served());
        publisher.reader.answered(asks.seq());
        self.publish(detail, true);
    }

    /// Builds a snapshot with `detail` and publishes it; `budgeted`: the
    /// time it took counts against the budget.
    fn publish(&mut self, detail: Detail, budgeted: bool) {
        let Some(publisher) = &self.publisher else {
            return;
        };
        let generation = publisher.generation + 1;
        let started = self.clock.now();
        let seen = self.acct.activity();
        // A snapshot built during a dispatch (a reader's ask taken in as a
        // handler posts or returns) counts that dispatch but not what it
        // did (its handler time, for one), and nothing may happen after it
        // to change the activity: the next one is due all the same.
        let mid_dispatch = !self.active().is_kernel();
        let snapshot = self.build(detail, generation);
        let built = self.clock.now();
        let Some(publisher) = &mut self.publisher else {
            return;
        };
        // Publishing frees the snapshot before, unless a reader holds it.
        publisher.reader.publish(snapshot);
        let now = self.clock.now();
        publisher.generation = generation;
        publisher.seen = if mid_dispatch { u64::MAX } else { seen };
        if budgeted {
            let end = if publisher.unbudgeted { built } else { now };
            let budget = end
                .saturating_sub(started)
                .saturating_mul(i64::from(Snapshot::BUDGET));
            publisher.allowed = started.saturating_add(budget);
        }
        publisher.unbudgeted = !budgeted;
        publisher.next = now
            .saturating_add(publisher.interval)
            .max(publisher.allowed);
    }

    fn build(&mut self, detail: Detail, generation: u64) -> Snapshot {
        let mut sessions: Vec<SessionSnapshot> = if detail.all {
            let mut all: Vec<SessionSnapshot> = self.sessions.iter().map(describe).collect();
            all.sort_unstable_by_key(|s| s.id.number());
            all
        } else {
            // Ascending already, as the detail's numbers are.
            detail
                .sessions
                .iter()
                .filter_map(|&number| self.sessions.get(self.sessions.by_number(number)?))
                .map(describe)
                .collect()
        };
        let (ids, handler_time) = if detail.all {
            let ids = sessions.iter().map(|s| s.id).collect();
            (ids, Some(sessions.iter().map(|s| s.handler_time).sum()))
        } else if detail.ids {
            let mut total = 0u64;
            let mut ids: Vec<SessionId> = self
                .sessions
                .iter()
                .map(|record| {
                    total = total.saturating_add(record.handler_time);
                    record.id
                })
                .collect();
            ids.sort_unstable_by_key(|id| id.number());
            (ids, Some(Duration::from_nanos(total)))
        } else {
            (Vec::new(), None)
        };
        if !sessions.is_empty() {
            // Timers are counted per session as they are set; one pass over
            // the watchers.
            let mut held: FxHashMap<SessionId, (usize, usize)> = sessions
                .iter()
                .map(|s| (s.id, (self.queue.timers_of(s.id), 0)))
                .collect();
            for session in self.io.reactor.watcher_sessions() {
                if let Some(counts) = held.get_mut(&session) {
                    counts.1 += 1;
                }
            }
            for session in &mut sessions {
                (session.timers, session.watchers) =
                    held.get(&session.id).copied().unwrap_or_default();
            }
        }
        let clock = &self.clock;
        let queued = |item: &Item| QueuedSnapshot {
            seq: item.seq,
            due: clock.to_wall_time(item.due),
            target: item.target,
            sender: item.sender,
            event: item.event,
            kind: item.kind.name(),
        };
        let queue = self
            .queue
            .posted_items()
            .take(Snapshot::LISTED)
            .map(queued)
            .collect();
        // The first LISTED timers by due time, without sorting them all.
        let mut soonest: Vec<&Item> = self.queue.timer_items().collect();
        if soonest.len() > Snapshot::LISTED {
            soonest.select_nth_unstable_by_key(Snapshot::LISTED, |item| (item.due, item.seq));
            soonest.truncate(Snapshot::LISTED);
        }
        soonest.sort_unstable_by_key(|item| (item.due, item.seq));
        let timers = soonest.into_iter().map(queued).collect();
        let overflow_waiting = self.link.as_ref().map_or(0, |link| link.overflowing());
        Snapshot {
            kernel: self.id(),
            name: self.name().to_owned(),
            taken: Some(SystemTime::now()),
            generation,
            counters: Counters {
                queued: self.queue.posted(),
                timers: self.queue.timers(),
                watched: self.io.reactor.watched(),
                sessions: self.sessions.len(),
                overflow_waiting,
                ..self.acct.counters
            },
            detail,
            sessions,
            ids,
            handler_time,
            queue,
            timers,
        }
    }
}

/// One session's record as a snapshot shows it (timers and watchers are
/// counted after).
fn describe(record: &Entry) -> SessionSnapshot {
    SessionSnapshot {
        id: record.id,
        aliases: record.aliases.clone(),
        parent: record.parent,
        children: record.children.values().copied().collect(),
        handlers: record
            .body
            .as_ref()
            .map(|b| b.handler_names())
            .unwrap_or_default(),
        heap_type: record.body.as_ref().map_or("", |b| b.heap_type()),
        events_to: record.events_to,
        events_from: record.events_from,
        timers: 0,
        watchers: 0,
        refcount: record.refcount,
        handled: record.handled,
        handler_time: Duration::from_nanos(record.handler_time),
        handler_max: Duration::from_nanos(record.handler_max),
        last_event: record.last_event,
    }
}
