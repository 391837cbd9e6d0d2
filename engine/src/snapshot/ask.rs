//! The readers' side: loading the latest snapshot, and asking the kernel,
//! with leases, for the sessions a reader wants to see; and the kernel's
//! side of the same cell, where it takes the asks and publishes.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    thread::{self, Thread},
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;

use super::picture::{Detail, Snapshot};
use crate::mailbox::{Control, Mailbox, Message};

/// Reads the latest snapshot a kernel published, and asks the kernel for
/// the sessions a reader wants to see; clone it freely and use it from any
/// thread.
///
/// Nothing here makes the kernel wait: a reader loads snapshots without a
/// lock, and an ask is a lease the kernel reads before its next wait
/// (within a few dozen dispatches when it is busy), with a wake-up message
/// if it is parked. A reader may wait (bounded) for an
/// answer; a kernel busy in a long handler, or finished, just does not
/// answer.
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
    cell: Arc<Cell>,
}

/// What a kernel and its readers share.
struct Cell {
    latest: ArcSwap<Snapshot>,
    /// What readers asked for, as the kernel loads it.
    interest: ArcSwap<Interest>,
    /// The same, as readers change it, one at a time; the kernel never
    /// takes this lock.
    asking: Mutex<Interest>,
    /// A reader asked for something the kernel has not published yet (set
    /// by readers, cleared by the kernel as it builds). While it is set,
    /// more asks send no more wake-ups. The kernel loads it every slice:
    /// alone on its cache line, it stays in the kernel's cache while
    /// readers lock `asking` and load snapshots.
    asked: Alone<AtomicBool>,
    /// When `asked` was last set, in nanoseconds since `born`.
    asked_at: AtomicU64,
    born: Instant,
    /// The [`Interest::seq`] the kernel last built from: asks up to it
    /// have been answered once.
    served: AtomicU64,
    /// Wakes the kernel when it is parked.
    mailbox: Option<Mailbox>,
    /// Readers waiting for an answer; the kernel only tries the lock.
    waiters: Mutex<Vec<Thread>>,
    waiting: AtomicUsize,
    /// The kernel is gone: nothing more will be published.
    closed: AtomicBool,
}

/// A value with a cache line (two, for adjacent-line prefetching) to
/// itself.
#[repr(align(128))]
struct Alone<T>(T);

impl<T> std::ops::Deref for Alone<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// How long a waiting reader sleeps at most between two looks, should a
/// wake-up be missed (the kernel only tries the waiters' lock).
const PARK_STEP: Duration = Duration::from_millis(1);

/// The most sessions readers can lease one by one; asking for more asks
/// for every session.
const LEASED_SESSIONS: usize = 256;

/// The longest lease or wait a reader's ask counts: longer ones are this
/// long (a day), so no deadline overflows the clock.
const MAX_LEASE: Duration = Duration::from_secs(24 * 60 * 60);

/// What readers asked for, as leases.
#[derive(Clone, Debug, Default)]
pub(crate) struct Interest {
    /// Increases with each change.
    seq: u64,
    all: Option<Lease>,
    ids: Option<Lease>,
    sessions: BTreeMap<u64, Lease>,
}

/// One ask: in the kernel's snapshots until `until`, and in the first one
/// built after it was made in any case (`seq` not yet served).
#[derive(Clone, Copy, Debug)]
struct Lease {
    until: Instant,
    seq: u64,
}

impl Lease {
    fn holds(&self, now: Instant, served: u64) -> bool {
        self.until > now || self.seq > served
    }

    /// Takes in an ask for `lease` more from `now` (a renewal changes a
    /// lease only once half of it has passed).
    fn renew(slot: &mut Option<Lease>, now: Instant, lease: Duration, seq: u64) -> Noted {
        let until = now + lease;
        match slot {
            Some(held) if !lease.is_zero() && held.until >= now + lease / 2 => Noted::Nothing,
            Some(held) => {
                let lapsed = held.until <= now;
                held.until = held.until.max(until);
                held.seq = seq;
                if lapsed || lease.is_zero() {
                    Noted::New
                } else {
                    Noted::Renewed
                }
            }
            None => {
                *slot = Some(Lease { until, seq });
                Noted::New
            }
        }
    }
}

/// What taking in an ask did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Noted {
    /// Nothing: the leases asked for hold long enough.
    Nothing,
    /// A lease was extended.
    Renewed,
    /// A lease began (or began again, or asked for one snapshot): the
    /// kernel's snapshots so far were not built for it.
    New,
}

impl Interest {
    /// Takes in `detail` for `lease` from `now` as change `seq`.
    fn note(&mut self, detail: &Detail, now: Instant, lease: Duration, seq: u64) -> Noted {
        // More sessions than a lease names one by one is every session
        // (as `prune` would make it), without a map entry for each.
        if detail.all || detail.sessions.len() > LEASED_SESSIONS {
            return Lease::renew(&mut self.all, now, lease, seq);
        }
        let mut noted = Noted::Nothing;
        if detail.ids {
            noted = noted.max(Lease::renew(&mut self.ids, now, lease, seq));
        }
        for &number in &detail.sessions {
            let mut slot = self.sessions.get(&number).copied();
            let renewed = Lease::renew(&mut slot, now, lease, seq);
            if renewed != Noted::Nothing {
                self.sessions.insert(number, slot.expect("just set"));
            }
            noted = noted.max(renewed);
        }
        if detail.is_counters() && lease.is_zero() {
            // One snapshot, of nothing in particular.
            noted = Noted::New;
        }
        noted
    }

    /// Drops the leases that no longer hold, and turns too many sessions
    /// into every session.
    fn prune(&mut self, now: Instant, served: u64) {
        let holds = |lease: &Lease| lease.holds(now, served);
        self.all = self.all.filter(holds);
        self.ids = self.ids.filter(holds);
        self.sessions.retain(|_, lease| holds(lease));
        if self.sessions.len() > LEASED_SESSIONS {
            let until = self.sessions.values().map(|l| l.until).max();
            let until = until.into_iter().chain(self.all.map(|l| l.until)).max();
            self.all = until.map(|until| Lease {
                until,
                seq: self.seq,
            });
            self.sessions.clear();
        }
    }

    /// What the kernel builds at `now`, having answered asks up to
    /// `served`: every lease that holds.
    pub(crate) fn detail(&self, now: Instant, served: u64) -> Detail {
        let holds = |lease: &Option<Lease>| lease.is_some_and(|l| l.holds(now, served));
        if holds(&self.all) {
            return Detail::all();
        }
        Detail {
            all: false,
            ids: holds(&self.ids),
            sessions: self
                .sessions
                .iter()
                .filter(|(_, lease)| lease.holds(now, served))
                .map(|(number, _)| *number)
                .collect(),
        }
    }

    /// Its change number: the kernel has answered up to it once it built
    /// from it.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }
}

impl Cell {
    /// Takes in a reader's ask.
    fn note(&self, detail: &Detail, lease: Duration) -> Noted {
        let now = Instant::now();
        let mut asking = self.asking.lock().unwrap_or_else(|e| e.into_inner());
        let seq = asking.seq + 1;
        let noted = asking.note(detail, now, lease, seq);
        if noted != Noted::Nothing {
            asking.seq = seq;
            asking.prune(now, self.served.load(Ordering::SeqCst));
            self.interest.store(Arc::new(asking.clone()));
        }
        noted
    }

    /// Has the kernel build soon, waking it if it is parked.
    fn wake(&self) {
        if !self.asked.swap(true, Ordering::SeqCst) {
            let at = u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.asked_at.store(at, Ordering::SeqCst);
            if let Some(mailbox) = &self.mailbox {
                // A kernel that has finished takes no message, and needs
                // none: its readers find the cell closed.
                let _ = mailbox.send(Message::Control(Control::Snapshot));
            }
        }
    }

    /// Whether an ask has waited longer than `patience` for the kernel.
    fn is_unanswered(&self, patience: Duration) -> bool {
        if !self.asked.load(Ordering::SeqCst) {
            return false;
        }
        let at = Duration::from_nanos(self.asked_at.load(Ordering::SeqCst));
        self.born.elapsed().saturating_sub(at) > patience
    }

    /// Wakes the readers waiting for an answer, unless one of them holds
    /// the lock (it then looks again within [`PARK_STEP`]).
    fn wake_waiters(&self) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        if let Ok(waiters) = self.waiters.try_lock() {
            for waiter in waiters.iter() {
                waiter.unpark();
            }
        }
    }
}

impl SnapshotReader {
    pub(crate) fn new(mailbox: Option<Mailbox>) -> SnapshotReader {
        SnapshotReader {
            cell: Arc::new(Cell {
                latest: ArcSwap::from_pointee(Snapshot::default()),
                interest: ArcSwap::from_pointee(Interest::default()),
                asking: Mutex::new(Interest::default()),
                asked: Alone(AtomicBool::new(false)),
                asked_at: AtomicU64::new(0),
                born: Instant::now(),
                served: AtomicU64::new(0),
                mailbox,
                waiters: Mutex::new(Vec::new()),
                waiting: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// The latest snapshot: one consistent picture, never torn.
    pub fn load(&self) -> Arc<Snapshot> {
        self.cell.latest.load_full()
    }

    /// Asks the kernel to put `detail` in its snapshots for `lease` from
    /// now; a zero lease asks for one snapshot. Asking again renews the
    /// lease. A new lease (or a zero one, or one its latest snapshot does
    /// not hold) has the kernel publish soon, within its
    /// [budget](Snapshot::BUDGET): before its next wait, within a few dozen
    /// dispatches when it is busy; a parked kernel is woken. While the
    /// lease lasts, the kernel puts `detail` in each snapshot it publishes
    /// at its interval.
    /// Leasing more than 256 sessions one by one leases every session.
    /// Returns at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use roe_engine::{Detail, KernelId, Runtime, Session};
    ///
    /// let runtime = Runtime::builder().kernels(1).pin(false).start(|kernel| {
    ///     kernel.spawn(Session::new(()).on("_start", |cx, _| {
    ///         let me = cx.session();
    ///         cx.refcount_increment(me, "kept")
    ///     }))?;
    ///     Ok(())
    /// })?;
    /// let handle = runtime.handle();
    /// let reader = handle.snapshots(KernelId(0)).expect("kernel 0");
    /// let before = reader.load().generation;
    /// reader.ask(&Detail::ids(), Duration::from_secs(60));
    /// // Published soon, and then at each interval for a minute.
    /// let snapshot = loop {
    ///     let snapshot = reader.load();
    ///     if snapshot.generation > before && snapshot.detail.has_ids() {
    ///         break snapshot;
    ///     }
    ///     std::thread::yield_now();
    /// };
    /// assert_eq!(snapshot.ids.len(), 2); // the kernel's own, and one
    /// handle.shutdown();
    /// runtime.join()?;
    /// # Ok::<(), roe_engine::Error>(())
    /// ```
    pub fn ask(&self, detail: &Detail, lease: Duration) {
        let noted = self.cell.note(detail, lease.min(MAX_LEASE));
        if noted == Noted::New || !self.load().detail.covers(detail) {
            self.cell.wake();
        }
    }

    /// A snapshot holding `detail`: the latest, when the lease on `detail`
    /// was already running (renewing it; the latest is then at most one
    /// interval behind the kernel); otherwise (a new lease, or a zero one)
    /// the first the kernel publishes with it after
    /// [`ask`](SnapshotReader::ask)ing for it, waiting up to `timeout`. A
    /// finished kernel's last snapshot is taken as it is.
    /// `None` when none comes in time: the kernel is busy in a long
    /// handler (then later calls do not wait while that ask is still
    /// unanswered), over its budget, or finished. Never makes the kernel
    /// wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use roe_engine::{Detail, KernelId, Runtime, Session};
    ///
    /// let runtime = Runtime::builder().kernels(1).pin(false).start(|kernel| {
    ///     kernel.spawn(Session::new(()).on("_start", |cx, _| {
    ///         cx.alias_set("seen")?;
    ///         let me = cx.session();
    ///         cx.refcount_increment(me, "kept")
    ///     }))?;
    ///     Ok(())
    /// })?;
    /// let handle = runtime.handle();
    /// let seen = handle.resolve("seen")?;
    /// let reader = handle.snapshots(KernelId(0)).expect("kernel 0");
    /// let snapshot = reader
    ///     .load_detail(&Detail::session(seen.number()), Duration::from_secs(1), Duration::from_secs(10))
    ///     .expect("kernel 0 answers");
    /// assert_eq!(snapshot.session(seen.number()).expect("alive").aliases, ["seen"]);
    /// handle.shutdown();
    /// runtime.join()?;
    /// # Ok::<(), roe_engine::Error>(())
    /// ```
    pub fn load_detail(
        &self,
        detail: &Detail,
        lease: Duration,
        timeout: Duration,
    ) -> Option<Arc<Snapshot>> {
        let (lease, timeout) = (lease.min(MAX_LEASE), timeout.min(MAX_LEASE));
        let latest = self.load();
        let noted = self.cell.note(detail, lease);
        // A finished kernel's last snapshot is as fresh as any will be.
        let closed = self.cell.closed.load(Ordering::SeqCst);
        if latest.detail.covers(detail) && (closed || noted != Noted::New) {
            return Some(latest);
        }
        if closed || self.cell.is_unanswered(timeout) {
            return None;
        }
        self.cell.wake();
        self.wait(latest.generation, detail, timeout)
    }

    /// Waits for a snapshot after `generation` that holds `detail`.
    fn wait(&self, generation: u64, detail: &Detail, timeout: Duration) -> Option<Arc<Snapshot>> {
        let deadline = Instant::now() + timeout;
        let me = thread::current();
        let id = me.id();
        self.cell
            .waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(me);
        self.cell.waiting.fetch_add(1, Ordering::SeqCst);
        let found = loop {
            let snapshot = self.load();
            if snapshot.generation > generation && snapshot.detail.covers(detail) {
                break Some(snapshot);
            }
            if self.cell.closed.load(Ordering::SeqCst) {
                break None;
            }
            let now = Instant::now();
            if now >= deadline {
                break None;
            }
            thread::park_timeout((deadline - now).min(PARK_STEP));
        };
        self.cell.waiting.fetch_sub(1, Ordering::SeqCst);
        self.cell
            .waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|waiter| waiter.id() != id);
        found
    }

    // ----- the kernel's side ----------------------------------------------------

    /// Whether a reader asked for something not yet published: one load.
    #[inline]
    pub(crate) fn is_asked(&self) -> bool {
        self.cell.asked.load(Ordering::Relaxed)
    }

    /// Takes the readers' asks for a build now: what they asked, as of
    /// this instant.
    pub(crate) fn take_asks(&self) -> Arc<Interest> {
        // Cleared first: an ask made from here on sets it again, and is
        // answered by the next build.
        self.cell.asked.store(false, Ordering::SeqCst);
        self.cell.interest.load_full()
    }

    /// The kernel built from asks up to `seq`.
    pub(crate) fn answered(&self, seq: u64) {
        self.cell.served.store(seq, Ordering::SeqCst);
    }

    /// The asks answered so far.
    pub(crate) fn served(&self) -> u64 {
        self.cell.served.load(Ordering::SeqCst)
    }

    pub(crate) fn publish(&self, snapshot: Snapshot) {
        self.cell.latest.store(Arc::new(snapshot));
        self.cell.wake_waiters();
    }

    /// The kernel is gone: readers stop waiting for it.
    pub(crate) fn close(&self) {
        self.cell.closed.store(true, Ordering::SeqCst);
        self.cell.wake_waiters();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_hold_until_they_end_or_once_at_least() {
        let now = Instant::now();
        let mut interest = Interest::default();
        let ten = Duration::from_secs(10);
        assert_eq!(interest.note(&Detail::session(5), now, ten, 1), Noted::New);
        interest.seq = 1;
        // Renewed early: nothing changes; past half of it, it is renewed.
        assert_eq!(
            interest.note(&Detail::session(5), now, ten, 2),
            Noted::Nothing
        );
        let later = now + Duration::from_secs(6);
        assert_eq!(
            interest.note(&Detail::session(5), later, ten, 2),
            Noted::Renewed
        );
        assert_eq!(
            interest.note(&Detail::ids(), now, Duration::ZERO, 2),
            Noted::New
        );
        interest.seq = 2;
        // Not built yet: both held, the zero lease too.
        assert_eq!(
            interest.detail(now, 0),
            Detail::session(5).and(&Detail::ids())
        );
        // Built once: the zero lease is done, the other holds until it ends.
        assert_eq!(interest.detail(now, 2), Detail::session(5));
        let ended = later + ten;
        assert_eq!(interest.detail(ended, 2), Detail::counters());
        // Asked again once it ended: a new lease.
        let mut again = interest.clone();
        assert_eq!(again.note(&Detail::session(5), ended, ten, 3), Noted::New);
        interest.prune(ended, 2);
        assert!(interest.sessions.is_empty() && interest.ids.is_none());
    }

    #[test]
    fn too_many_sessions_lease_every_session() {
        let now = Instant::now();
        let mut interest = Interest::default();
        for n in 0..=LEASED_SESSIONS as u64 {
            interest.note(&Detail::session(n), now, Duration::from_secs(1), n + 1);
            interest.seq = n + 1;
            interest.prune(now, 0);
        }
        assert!(interest.sessions.is_empty());
        assert_eq!(interest.detail(now, 0), Detail::all());
    }

    #[test]
    fn a_reader_waits_for_an_answer_only_while_the_kernel_answers() {
        let reader = SnapshotReader::new(None);
        let patience = Duration::from_millis(20);
        // Nobody answers: a bounded wait, then none at all.
        let started = Instant::now();
        assert!(
            reader
                .load_detail(&Detail::ids(), Duration::ZERO, patience)
                .is_none()
        );
        assert!(started.elapsed() >= patience);
        thread::sleep(patience);
        let started = Instant::now();
        assert!(
            reader
                .load_detail(&Detail::ids(), Duration::ZERO, patience)
                .is_none()
        );
        assert!(
            started.elapsed() < patience,
            "waited for a kernel that does not answer"
        );
        // A "kernel" answers: the waiting reader gets it at once.
        let kernel = reader.clone();
        let answer = thread::spawn(move || {
            while !kernel.is_asked() {
                thread::yield_now();
            }
            let interest = kernel.take_asks();
            let detail = interest.detail(Instant::now(), kernel.served());
            kernel.answered(interest.seq());
            kernel.publish(Snapshot {
                generation: 1,
                detail,
                ..Snapshot::default()
            });
        });
        let reader_2 = SnapshotReader {
            cell: Arc::clone(&reader.cell),
        };
        // The old ask still counts as unanswered: take it as answered.
        reader.cell.asked.store(false, Ordering::SeqCst);
        let got =
            reader_2.load_detail(&Detail::session(4), Duration::ZERO, Duration::from_secs(10));
        answer.join().unwrap();
        let got = got.expect("answered");
        assert!(got.detail.has_session(4) && got.detail.has_ids());
        // Closed: no waiting.
        reader.close();
        let started = Instant::now();
        assert!(
            reader
                .load_detail(&Detail::session(8), Duration::ZERO, Duration::from_secs(10))
                .is_none()
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
