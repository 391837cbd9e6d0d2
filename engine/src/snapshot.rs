//! Snapshots: immutable pictures of a kernel that observers read without
//! locks and without ever making the kernel wait.
//!
//! A kernel builds a [`Snapshot`] of its sessions, queue, timers and
//! counters at a tunable interval (and on request) and publishes it with an
//! atomic pointer swap; a [`SnapshotReader`] loads the latest one. A reader
//! holds one whole snapshot, so everything in it is mutually consistent:
//! the counters, the sessions and the queue describe the same instant.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use arc_swap::ArcSwap;

use crate::{
    event::Event,
    id::{KernelId, SessionId},
    value::Str,
};

/// One kernel at one instant.
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
    /// Live sessions, the kernel's own first, then by number.
    pub sessions: Vec<SessionSnapshot>,
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

    /// The session numbered `number`, if it was alive.
    pub fn session(&self, number: u64) -> Option<&SessionSnapshot> {
        self.sessions.iter().find(|s| s.id.number() == number)
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

/// Reads the latest snapshot a kernel published; clone it freely and use it
/// from any thread.
///
/// # Examples
///
/// ```
/// use roe_engine::{KernelId, Runtime, Session};
///
/// let runtime = Runtime::builder().kernels(2).pin(false).start(|kernel| {
///     kernel.spawn(Session::new(()).on("_start", |_, _| {}))?;
///     Ok(())
/// })?;
/// let reader = runtime.handle().snapshots(KernelId(1)).expect("kernel 1 exists");
/// runtime.join()?;
/// // A kernel publishes a last snapshot as it finishes; any thread reads it.
/// let last = std::thread::spawn(move || reader.load()).join().expect("no panic");
/// assert_eq!(last.kernel, KernelId(1));
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone)]
pub struct SnapshotReader {
    cell: Arc<ArcSwap<Snapshot>>,
}

impl SnapshotReader {
    pub(crate) fn new() -> SnapshotReader {
        SnapshotReader {
            cell: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
        }
    }

    /// The latest snapshot: one consistent picture, never torn.
    pub fn load(&self) -> Arc<Snapshot> {
        self.cell.load_full()
    }

    pub(crate) fn publish(&self, snapshot: Snapshot) {
        self.cell.store(Arc::new(snapshot));
    }
}

impl std::fmt::Debug for SnapshotReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.load();
        f.debug_struct("SnapshotReader")
            .field("kernel", &snapshot.kernel)
            .field("generation", &snapshot.generation)
            .finish()
    }
}
