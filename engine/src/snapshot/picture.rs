//! What a snapshot holds: the kernel's counters, its first queued items and
//! timers, and what readers asked to see of its sessions.

use std::time::{Duration, SystemTime};

use crate::{
    event::Event,
    id::{KernelId, SessionId},
    value::Str,
};

/// One kernel at one instant.
///
/// Every snapshot holds the counters and the first queued items and
/// timers; what it says about sessions is its [`detail`](Snapshot::detail):
/// everything in a snapshot [`Kernel::snapshots`](crate::Kernel::snapshots)
/// publishes, in one that [`RuntimeHandle::request_snapshots`](crate::RuntimeHandle::request_snapshots)
/// asked for, and in a finished kernel's last, and otherwise what readers
/// asked for.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use roe_engine::{Event, Kernel, Session};
///
/// let mut kernel = Kernel::new()?;
/// let ticker = kernel.spawn(
///     Session::new(())
///         .on("_start", |cx, _| {
///             cx.alias_set("ticker")?;
///             cx.delay("tick", Duration::from_millis(1), ())
///         })
///         .on("tick", |_, _| {}),
/// )?;
/// // Publishes one at once, then at most every second while it runs.
/// let reader = kernel.snapshots(Duration::from_secs(1));
/// let snapshot = reader.load();
/// let session = snapshot.session(ticker.number()).expect("alive");
/// assert_eq!(session.aliases, ["ticker"]);
/// assert_eq!(session.timers, 1);
/// assert_eq!(snapshot.timers[0].event, Event::new("tick"));
/// assert_eq!(snapshot.counters.timers, 1);
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The kernel's number.
    pub kernel: KernelId,
    /// The kernel's name (POE's kernel ID).
    pub name: String,
    /// When the snapshot was taken.
    pub taken: Option<SystemTime>,
    /// Increases by one per snapshot published.
    pub generation: u64,
    /// The kernel's counters.
    pub counters: Counters,
    /// What the snapshot says about sessions.
    pub detail: Detail,
    /// Live sessions by number (the kernel's own, 0, first): every one when
    /// [`Detail::all`] was asked, those of [`Detail::sessions`] that are
    /// alive otherwise.
    pub sessions: Vec<SessionSnapshot>,
    /// Every live session's ID, by number, when the detail has them
    /// ([`Detail::has_ids`]); empty otherwise.
    pub ids: Vec<SessionId>,
    /// The time all live sessions spent in their handlers, when the detail
    /// has every session's ID.
    pub handler_time: Option<Duration>,
    /// Queued items due now (posts, signals), in dispatch order; at most
    /// [`Snapshot::LISTED`] of them.
    pub queue: Vec<QueuedSnapshot>,
    /// Pending timers, earliest first; at most [`Snapshot::LISTED`].
    pub timers: Vec<QueuedSnapshot>,
}

impl Snapshot {
    /// How many queued items and timers a snapshot lists (the counters give
    /// the totals).
    pub const LISTED: usize = 256;

    /// A kernel spends at most one part in `BUDGET` of its time building
    /// snapshots for readers: after a build that took `t`, the next waits
    /// until `BUDGET * t` has passed since the first began (the snapshots a
    /// kernel's owner takes with [`Kernel::snapshots`](crate::Kernel::snapshots),
    /// and a finished kernel's last, are not counted).
    pub const BUDGET: u32 = 50;

    /// The session numbered `number`, if the snapshot describes it in full
    /// and it was alive.
    pub fn session(&self, number: u64) -> Option<&SessionSnapshot> {
        self.sessions
            .binary_search_by_key(&number, |s| s.id.number())
            .ok()
            .map(|at| &self.sessions[at])
    }

    /// Whether the session numbered `number` was alive, if the snapshot
    /// says (it describes that session, or lists every session's ID).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use roe_engine::{Kernel, Session};
    ///
    /// let mut kernel = Kernel::new()?;
    /// let reader = kernel.snapshots(Duration::from_secs(1));
    /// let snapshot = reader.load(); // everything, taken at once
    /// assert_eq!(snapshot.is_alive(0), Some(true)); // the kernel's own
    /// assert_eq!(snapshot.is_alive(1), Some(false));
    /// # Ok::<(), roe_engine::Error>(())
    /// ```
    pub fn is_alive(&self, number: u64) -> Option<bool> {
        if self.detail.has_ids() {
            Some(
                self.ids
                    .binary_search_by_key(&number, |id| id.number())
                    .is_ok(),
            )
        } else if self.detail.has_session(number) {
            Some(self.session(number).is_some())
        } else {
            None
        }
    }
}

/// What a snapshot says about sessions, beyond the counters and the first
/// queued items and timers that every snapshot holds; what a reader asks a
/// kernel for.
///
/// # Examples
///
/// ```
/// use roe_engine::Detail;
///
/// let some = Detail::session(7).and(&Detail::session(3));
/// assert_eq!(some.sessions, [3, 7]);
/// assert!(some.covers(&Detail::session(3)));
/// assert!(some.covers(&Detail::counters()));
/// assert!(!some.covers(&Detail::ids()));
/// assert!(Detail::all().covers(&some.and(&Detail::ids())));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Detail {
    /// Every live session in full (and every ID with it).
    pub all: bool,
    /// Every live session's ID ([`Snapshot::ids`]), and the time they all
    /// spent in handlers ([`Snapshot::handler_time`]).
    pub ids: bool,
    /// These sessions in full, by number: ascending, without repeats.
    pub sessions: Vec<u64>,
}

impl Detail {
    /// Nothing about sessions: the counters and the queue alone.
    pub fn counters() -> Detail {
        Detail::default()
    }

    /// Every session in full.
    pub fn all() -> Detail {
        Detail {
            all: true,
            ids: true,
            sessions: Vec::new(),
        }
    }

    /// Every session's ID.
    pub fn ids() -> Detail {
        Detail {
            ids: true,
            ..Detail::default()
        }
    }

    /// The session numbered `number` in full.
    pub fn session(number: u64) -> Detail {
        Detail {
            sessions: vec![number],
            ..Detail::default()
        }
    }

    /// Both this and `other`.
    pub fn and(&self, other: &Detail) -> Detail {
        if self.all || other.all {
            return Detail::all();
        }
        let mut sessions = self.sessions.clone();
        sessions.extend_from_slice(&other.sessions);
        sessions.sort_unstable();
        sessions.dedup();
        Detail {
            all: false,
            ids: self.ids || other.ids,
            sessions,
        }
    }

    /// Whether a snapshot with this detail holds everything `other` asks.
    pub fn covers(&self, other: &Detail) -> bool {
        if self.all {
            return true;
        }
        !other.all
            && (self.ids || !other.ids)
            && other.sessions.iter().all(|n| self.has_session(*n))
    }

    /// Whether this describes the session numbered `number` in full.
    pub fn has_session(&self, number: u64) -> bool {
        self.all || self.sessions.binary_search(&number).is_ok()
    }

    /// Whether this lists every session's ID.
    pub fn has_ids(&self) -> bool {
        self.all || self.ids
    }

    /// Nothing about sessions.
    pub fn is_counters(&self) -> bool {
        !self.all && !self.ids && self.sessions.is_empty()
    }
}

/// A kernel's counters; all are totals since the kernel started unless
/// named otherwise.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use roe_engine::{Kernel, Session};
///
/// let mut kernel = Kernel::new()?;
/// let reader = kernel.snapshots(Duration::from_secs(1));
/// kernel.spawn(Session::new(()).on("_start", |cx, _| cx.yield_("again", ())))?;
/// kernel.run()?;
/// let counters = reader.load().counters; // the final snapshot's
/// assert_eq!(counters.dispatched, 3); // _start, again (unhandled: _default) and _stop
/// assert_eq!(counters.sessions, 0); // the kernel's own has stopped too
/// assert_eq!(counters.sent_remote, 0);
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Timeslices run.
    pub slices: u64,
    /// Events dispatched to handlers (queued, I/O and nested).
    pub dispatched: u64,
    /// Items queued due now (at the snapshot).
    pub queued: usize,
    /// Timers pending (at the snapshot).
    pub timers: usize,
    /// Descriptors watched (at the snapshot).
    pub watched: usize,
    /// Sessions alive, the kernel's own included (at the snapshot).
    pub sessions: usize,
    /// Events posted to other kernels.
    pub sent_remote: u64,
    /// Events received from other kernels.
    pub received_remote: u64,
    /// Posts that found another kernel's inbox full and waited in order in
    /// this kernel's overflow queue (none is ever dropped).
    pub overflowed: u64,
    /// Posts waiting in overflow queues (at the snapshot).
    pub overflow_waiting: usize,
    /// The most posts waiting in overflow queues at once. A kernel stops
    /// dispatching its own queue once an inbox's worth waits (it looks
    /// between slices), so this stays within an inbox's worth plus what
    /// one slice posts, however fast the kernel posts.
    pub overflow_high_water: usize,
    /// Posts and replies that found their target gone: a session that
    /// ended, or a kernel that finished, before they arrived (POE drops a
    /// post to a session that is gone; roe counts it).
    pub undeliverable: u64,
    /// The most messages found waiting in this kernel's inbox at once.
    pub inbox_high_water: usize,
}

/// One session at one instant.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use roe_engine::{Kernel, Session};
///
/// let mut kernel = Kernel::new()?;
/// let parent = kernel.spawn(Session::new(()).on("_start", |cx, _| {
///     cx.spawn(Session::new(()).on("_start", |_, _| {}))?;
///     Ok::<_, roe_engine::Error>(())
/// }))?;
/// let snapshot = kernel.snapshots(Duration::from_secs(1)).load();
/// let session = snapshot.session(parent.number()).expect("alive");
/// assert_eq!(session.children.len(), 1);
/// assert_eq!(session.handled, 2); // _start, then _child(create)
/// assert_eq!(snapshot.sessions[0].id.number(), 0); // the kernel's own
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SessionSnapshot {
    /// The session (the kernel's own has number 0).
    pub id: SessionId,
    /// Its aliases, sorted.
    pub aliases: Vec<Str>,
    /// Its parent; `None` for the kernel's own session.
    pub parent: Option<SessionId>,
    /// Its children, by number.
    pub children: Vec<SessionId>,
    /// The events it handles, sorted by name.
    pub handlers: Vec<Event>,
    /// Its heap's Rust type, as `std::any::type_name` spells it (what a
    /// session is, as POE's `ref($session)` says); empty when the snapshot
    /// was taken while one of its handlers ran, and for the kernel's own
    /// session.
    pub heap_type: &'static str,
    /// Queued items addressed to it (timers included).
    pub events_to: u32,
    /// Queued items it sent to other sessions.
    pub events_from: u32,
    /// Its pending timers.
    pub timers: usize,
    /// Descriptors it watches.
    pub watchers: usize,
    /// Its reference count (POE's: what keeps it alive).
    pub refcount: i64,
    /// Events dispatched to it.
    pub handled: u64,
    /// Time spent in its handlers (an estimate under load: see
    /// docs/architecture.md, "Accounting").
    pub handler_time: Duration,
    /// The longest single dispatch measured.
    pub handler_max: Duration,
    /// The last event dispatched to it.
    pub last_event: Option<Event>,
}

/// One queued item or timer.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use roe_engine::{Kernel, Session};
///
/// let mut kernel = Kernel::new()?;
/// let session = kernel.spawn(Session::new(()).on("_start", |cx, _| cx.yield_("next", ())))?;
/// let snapshot = kernel.snapshots(Duration::from_secs(1)).load();
/// let posted = snapshot.queue.iter().find(|item| item.event == "next").expect("queued");
/// assert_eq!((posted.kind, posted.target, posted.sender), ("post", session, session));
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct QueuedSnapshot {
    /// Its number (a timer's is its `TimerId` number).
    pub seq: u64,
    /// When it is due, as wall-clock time.
    pub due: SystemTime,
    /// Its target.
    pub target: SessionId,
    /// Its sender.
    pub sender: SessionId,
    /// Its event (or signal name).
    pub event: Event,
    /// Its kind: `post`, `timer`, `signal`, `die`, `gc`, `call` or `stop`.
    pub kind: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_cover_what_they_hold() {
        let ids = Detail::ids();
        let three = Detail::session(3);
        let both = three.and(&Detail::session(9)).and(&ids);
        assert_eq!(both.sessions, [3, 9]);
        assert!(both.covers(&three) && both.covers(&ids) && both.covers(&Detail::counters()));
        assert!(!three.covers(&both) && !ids.covers(&three) && !both.covers(&Detail::all()));
        assert!(Detail::all().covers(&both) && Detail::all().has_ids());
        assert!(Detail::counters().is_counters() && !three.is_counters());
    }
}
