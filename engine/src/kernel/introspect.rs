//! Snapshots of the kernel, built on its own thread and published for
//! readers on any other.

use std::time::{Duration, SystemTime};

use rustc_hash::FxHashMap;

use super::{Kernel, core::Core};
use crate::{
    id::SessionId,
    queue::item::Item,
    snapshot::{Counters, QueuedSnapshot, SessionSnapshot, Snapshot, SnapshotReader},
};

/// When and where the kernel publishes its snapshots.
pub(crate) struct Publisher {
    reader: SnapshotReader,
    interval: i64,
    next: i64,
    generation: u64,
    /// The activity count (see `Accounting::activity`) the last snapshot saw.
    seen: u64,
}

impl Kernel {
    /// Publishes this kernel's snapshot every `interval` (and on request);
    /// returns the reader observers use. Asked again, it changes the
    /// interval and returns the same reader, so observers that hold one
    /// (a runtime's handle among them) keep seeing new snapshots.
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
            core.publish_snapshot();
            return reader;
        }
        let reader = SnapshotReader::new();
        core.publisher = Some(Publisher {
            reader: reader.clone(),
            interval,
            next: 0,
            generation: 0,
            seen: u64::MAX,
        });
        core.publish_snapshot();
        reader
    }
}

impl Core {
    /// Publishes a snapshot at the end of a slice if the interval has passed
    /// and something happened; two compares otherwise.
    #[inline]
    pub fn maybe_publish(&mut self) {
        if let Some(publisher) = &self.publisher
            && self.clock.cached() >= publisher.next
            && publisher.seen != self.acct.activity()
        {
            self.publish_snapshot();
        }
    }

    /// How long the wait may last at most so that what happened since the
    /// last snapshot is published within one interval, even if nothing
    /// wakes the kernel after it.
    pub fn publish_wait_cap(&mut self) -> Option<Duration> {
        let publisher = self.publisher.as_ref()?;
        if publisher.seen == self.acct.activity() {
            return None;
        }
        let next = publisher.next;
        Some(self.clock.until(next))
    }

    /// Builds and publishes a snapshot now.
    #[cold]
    pub fn publish_snapshot(&mut self) {
        let Some(publisher) = &self.publisher else {
            return;
        };
        let generation = publisher.generation + 1;
        let snapshot = self.snapshot(generation);
        let now = self.clock.now();
        let seen = self.acct.activity();
        if let Some(publisher) = &mut self.publisher {
            publisher.reader.publish(snapshot);
            publisher.generation = generation;
            publisher.next = now.saturating_add(publisher.interval);
            publisher.seen = seen;
        }
    }

    fn snapshot(&mut self, generation: u64) -> Snapshot {
        let mut sessions: Vec<SessionSnapshot> = self
            .sessions
            .iter()
            .map(|record| SessionSnapshot {
                id: record.id,
                aliases: record.aliases.clone(),
                parent: record.parent,
                children: record.children.values().copied().collect(),
                handlers: record
                    .body
                    .as_ref()
                    .map(|b| b.handler_names())
                    .unwrap_or_default(),
                events_to: record.events_to,
                events_from: record.events_from,
                timers: 0,
                watchers: 0,
                refcount: record.refcount,
                handled: record.handled,
                handler_time: Duration::from_nanos(record.handler_time),
                handler_max: Duration::from_nanos(record.handler_max),
                last_event: record.last_event,
            })
            .collect();
        sessions.sort_by_key(|s| s.id.number());
        // One pass over timers and watchers each, not one per session.
        let mut held: FxHashMap<SessionId, (usize, usize)> = FxHashMap::default();
        for item in self.queue.timer_items() {
            held.entry(item.target).or_default().0 += 1;
        }
        for session in self.io.reactor.watcher_sessions() {
            held.entry(session).or_default().1 += 1;
        }
        for session in &mut sessions {
            (session.timers, session.watchers) = held.get(&session.id).copied().unwrap_or_default();
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
            sessions,
            queue,
            timers,
        }
    }
}
