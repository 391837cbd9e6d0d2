//! What the FUSE thread and the ProcAlike session share: the kernels'
//! snapshot readers, the registered trees, the settings, and the way a
//! parsed write reaches the kernel that applies it.
//!
//! The FUSE thread loads snapshots (lock-free), asks kernels for the
//! sessions a path needs (a lease the kernel reads before its next wait) and
//! sends messages; it never makes a kernel wait, waits for a kernel's
//! answer only up to [`ANSWER_WAIT`], and never changes a kernel's state
//! itself.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant, SystemTime},
};

use arc_swap::ArcSwap;
use roe_engine::{
    Detail, KernelId, Postback, RuntimeHandle, SessionId, Snapshot, SnapshotReader, Value,
};

use crate::{
    error::{Error, Result, WriteError},
    tree::{
        Command, Modules, Need, ProcessInfo, STOP_SIGNAL, Settings, Thresholds, Tree, Tunable,
        View, is_valid_name,
    },
};

/// How long a kernel keeps putting in its snapshots what a path needed
/// after the path was last looked at: reading a session's files again
/// within it finds them in the kernel's latest snapshot, at most an
/// interval old, without asking.
pub(crate) const LEASE: Duration = Duration::from_secs(2);

/// How long a request waits for a kernel to answer an ask (a busy kernel
/// answers within a few dozen dispatches; a parked one is woken). A kernel
/// stuck in a handler does not answer: the request then gets what the
/// latest snapshot has, and later ones do not wait while that ask is
/// unanswered.
pub(crate) const ANSWER_WAIT: Duration = Duration::from_millis(50);

/// How often the view looks for an answer that `load_detail` does not
/// wait for ([`Shared::ask_everyone`]).
const ANSWER_POLL: Duration = Duration::from_millis(1);

/// How writes reach the kernels.
pub(crate) enum Control {
    /// Kernels of a runtime: each command runs on the owning kernel's
    /// thread (`RuntimeHandle::spawn_on`); `home` is the kernel of the
    /// ProcAlike session.
    Runtime {
        handle: RuntimeHandle,
        home: KernelId,
    },
    /// A lone kernel: commands go to the ProcAlike session through a
    /// postback, and it applies them. Set by the session's `_start`; taken
    /// (and dropped, which lets the session go) when it shuts down.
    Lone(Mutex<Option<Postbacks>>),
}

/// The lone kernel's way in: commands, and "the mount has closed".
pub(crate) struct Postbacks {
    pub command: Postback,
    pub closed: Postback,
}

/// What the FUSE thread, the session and the guard share.
pub(crate) struct Shared {
    pub readers: Vec<SnapshotReader>,
    pub control: Control,
    modules: ArcSwap<Modules>,
    /// Who registered each module (`None`: the program, through the
    /// guard); the lock also keeps registrations one at a time.
    owners: Mutex<BTreeMap<String, Option<SessionId>>>,
    pub misc: Option<Arc<dyn Tree>>,
    pub process: Arc<ProcessInfo>,
    interval_ns: AtomicU64,
    /// `/kernel/warnings`' thresholds, as last set: the slow handler's in
    /// nanoseconds, and the queue's.
    slow_handler_ns: AtomicU64,
    queue_warning: AtomicU32,
    pub show_env: bool,
    pub started: SystemTime,
    /// The ProcAlike session, once it has started.
    pub session: OnceLock<SessionId>,
    /// Until when the view holds each kernel's lease on its list of IDs,
    /// in nanoseconds since `born` (0: never asked).
    ids_until: Vec<AtomicU64>,
    born: Instant,
}

impl Shared {
    pub fn new(
        readers: Vec<SnapshotReader>,
        control: Control,
        misc: Option<Arc<dyn Tree>>,
        interval: Duration,
        thresholds: Thresholds,
        show_env: bool,
    ) -> Shared {
        Shared {
            ids_until: readers.iter().map(|_| AtomicU64::new(0)).collect(),
            born: Instant::now(),
            readers,
            control,
            modules: ArcSwap::from_pointee(Modules::new()),
            owners: Mutex::new(BTreeMap::new()),
            misc,
            process: Arc::new(ProcessInfo::current()),
            interval_ns: AtomicU64::new(nanos(interval)),
            slow_handler_ns: AtomicU64::new(nanos(thresholds.slow_handler)),
            queue_warning: AtomicU32::new(thresholds.queue),
            show_env,
            started: SystemTime::now(),
            session: OnceLock::new(),
        }
    }

    /// One consistent picture to resolve `path` in: each kernel's latest
    /// snapshot, loaded now, with what `path` needs from its kernel
    /// ([`Need::of`]; `contents` for open, opendir and write) asked for if
    /// the latest lacks it. Also whether the view has what `path` needs: a
    /// kernel that does not answer in time leaves it without.
    ///
    /// What a path needs from every kernel ([`Need::everywhere`]) is asked
    /// of all at once, and waited for as long as one kernel's answer
    /// ([`Shared::ask_everyone`]): the kernels that do not answer in time
    /// are named in the view ([`View::unanswered`]), and the view counts as
    /// having what the path needs (the file says which kernels did not
    /// answer).
    pub fn view(&self, path: &[&str], contents: bool) -> (View, bool) {
        let mut kernels: Vec<_> = self.readers.iter().map(SnapshotReader::load).collect();
        let mut answered = true;
        let mut unanswered = Vec::new();
        if let Some(need) = Need::everywhere(path, contents) {
            unanswered = self.ask_everyone(&mut kernels, &need.detail());
        }
        if let Some((k, need)) = Need::of(path, contents)
            && let (Some(reader), Some(latest)) = (self.readers.get(k), kernels.get_mut(k))
        {
            let ask = match need {
                // Known alive or gone from the list of IDs: no wait, but
                // the list's lease is kept while its sessions are looked
                // up (`ls -l` after the listing), or they would each be
                // asked for once it lapsed, and past 256 of those the
                // kernel would build every session in full, over its
                // budget. Renewing costs a lock, and the kernel nothing
                // until its next snapshot.
                Need::Exists(_) if latest.detail.has_ids() => {
                    reader.ask(&Need::Ids.detail(), LEASE);
                    self.hold_ids(k);
                    None
                }
                // Described in full (its files were read).
                Need::Exists(_) if need.is_met(latest) => None,
                // The latest lacks the list the view holds a lease on
                // (not yet answered): ask for the list, not the session.
                Need::Exists(_) if self.holds_ids(k) => Some(Need::Ids),
                need => Some(need),
            };
            if let Some(ask) = ask {
                match reader.load_detail(&ask.detail(), LEASE, ANSWER_WAIT) {
                    Some(snapshot) => *latest = snapshot,
                    None => answered = need.is_met(latest),
                }
                if ask == Need::Ids {
                    self.hold_ids(k);
                }
            }
        }
        let mut view = self.view_of(kernels);
        view.unanswered = unanswered;
        (view, answered)
    }

    /// Asks every kernel for `detail` and puts the answers in `kernels`
    /// (each kernel's latest, loaded before): all are asked first, so that
    /// they build at once, and then waited for, together for at most
    /// [`ANSWER_WAIT`]. Returns the kernels that did not answer.
    fn ask_everyone(&self, kernels: &mut [Arc<Snapshot>], detail: &Detail) -> Vec<usize> {
        let mut waiting = Vec::new();
        for (k, (reader, latest)) in self.readers.iter().zip(kernels.iter_mut()).enumerate() {
            // Without waiting: the answer if the latest already is one,
            // and otherwise the ask made (and the kernel woken).
            match reader.load_detail(detail, LEASE, Duration::ZERO) {
                Some(snapshot) => *latest = snapshot,
                None => waiting.push(k),
            }
        }
        let deadline = Instant::now() + ANSWER_WAIT;
        let mut unanswered = Vec::new();
        for k in waiting {
            let (reader, latest) = (&self.readers[k], &mut kernels[k]);
            let before = latest.generation;
            let answer = loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match reader.load_detail(detail, LEASE, left) {
                    Some(snapshot) if snapshot.generation > before => break Some(snapshot),
                    // The latest held `detail` but was not built for this
                    // ask (the first call passed it over): the lease now
                    // runs, so `load_detail` hands it back without
                    // waiting, and the view waits for the kernel's answer
                    // itself.
                    Some(_) if !left.is_zero() => thread::sleep(left.min(ANSWER_POLL)),
                    _ => break None,
                }
            };
            match answer {
                Some(snapshot) => *latest = snapshot,
                None => unanswered.push(k),
            }
        }
        unanswered
    }

    fn since_born(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Notes that kernel `k`'s list of IDs was just asked for.
    fn hold_ids(&self, k: usize) {
        if let Some(until) = self.ids_until.get(k) {
            let lease = u64::try_from(LEASE.as_nanos()).unwrap_or(u64::MAX);
            until.store(self.since_born().saturating_add(lease), Ordering::Relaxed);
        }
    }

    /// Whether the view's lease on kernel `k`'s list of IDs holds.
    fn holds_ids(&self, k: usize) -> bool {
        self.ids_until
            .get(k)
            .is_some_and(|until| self.since_born() < until.load(Ordering::Relaxed))
    }

    /// The view over `kernels`' snapshots.
    fn view_of(&self, kernels: Vec<Arc<Snapshot>>) -> View {
        View {
            kernels,
            modules: self.modules.load_full(),
            misc: self.misc.clone(),
            process: Arc::clone(&self.process),
            settings: Settings {
                snapshot_interval: Duration::from_nanos(self.interval_ns.load(Ordering::Relaxed)),
                interval_writable: matches!(self.control, Control::Runtime { .. }),
                thresholds: Thresholds {
                    slow_handler: Duration::from_nanos(
                        self.slow_handler_ns.load(Ordering::Relaxed),
                    ),
                    queue: self.queue_warning.load(Ordering::Relaxed),
                },
                show_env: self.show_env,
                started: self.started,
            },
            unanswered: Vec::new(),
        }
    }

    /// Sends `command` to the kernel that applies it, without waiting.
    ///
    /// # Errors
    ///
    /// [`WriteError::Gone`] when that kernel has finished, the runtime is
    /// shutting down, or the view is closing.
    pub fn apply(&self, command: Command) -> Result<(), WriteError> {
        match &self.control {
            Control::Runtime { handle, home } => apply_in_runtime(self, handle, *home, command),
            Control::Lone(postbacks) => {
                let postbacks = postbacks.lock().unwrap_or_else(|e| e.into_inner());
                let postbacks = postbacks.as_ref().ok_or(WriteError::Gone)?;
                postbacks
                    .command
                    .post((Value::local(command),))
                    .map_err(|_| WriteError::Gone)
            }
        }
    }

    /// The FUSE session has ended (unmounted, from here or from outside):
    /// the ProcAlike session shuts down too, as the original did when its
    /// FUSE child went away.
    pub fn closed(&self) {
        match &self.control {
            Control::Runtime { handle, .. } => {
                if let Some(session) = self.session.get() {
                    let _ = handle.post(*session, "shutdown", ());
                }
            }
            Control::Lone(postbacks) => {
                let postbacks = postbacks.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(postbacks) = postbacks.as_ref() {
                    let _ = postbacks.closed.post(());
                }
            }
        }
    }

    /// Drops the lone kernel's postbacks, so they no longer keep the
    /// ProcAlike session alive.
    pub fn release(&self) {
        if let Control::Lone(postbacks) = &self.control {
            postbacks.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    }

    /// The snapshot interval last set.
    pub fn set_interval(&self, interval: Duration) {
        self.interval_ns.store(nanos(interval), Ordering::Relaxed);
    }

    /// Takes a setting of the view's own: the next view made shows it.
    pub fn tune(&self, tunable: Tunable) {
        match tunable {
            Tunable::SlowHandler(limit) => {
                self.slow_handler_ns.store(nanos(limit), Ordering::Relaxed);
            }
            Tunable::QueueWarning(limit) => self.queue_warning.store(limit, Ordering::Relaxed),
        }
    }

    /// Mounts `tree` at `/modules/<name>`, `name` normalised as
    /// [`module_name`] does.
    ///
    /// # Errors
    ///
    /// [`Error::BadName`] for a name that cannot be a directory,
    /// [`Error::Registered`] when the name is taken.
    pub fn register(
        &self,
        name: &str,
        tree: Arc<dyn Tree>,
        owner: Option<SessionId>,
    ) -> Result<String> {
        let name = module_name(name)?;
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        if owners.contains_key(&name) {
            return Err(Error::Registered(name));
        }
        owners.insert(name.clone(), owner);
        let mut modules = Modules::clone(&self.modules.load());
        modules.insert(name.clone(), tree);
        self.modules.store(Arc::new(modules));
        Ok(name)
    }

    /// Removes the modules named `name` (any name, or all, when `None`)
    /// that `owner` registered; returns how many.
    pub fn unregister(&self, name: Option<&str>, owner: Option<SessionId>) -> usize {
        let name = match name.map(module_name) {
            Some(Ok(name)) => Some(name),
            Some(Err(_)) => return 0,
            None => None,
        };
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<String> = owners
            .iter()
            .filter(|(n, o)| name.as_ref().is_none_or(|name| name == *n) && **o == owner)
            .map(|(n, _)| n.clone())
            .collect();
        if gone.is_empty() {
            return 0;
        }
        let mut modules = Modules::clone(&self.modules.load());
        for n in &gone {
            owners.remove(n);
            modules.remove(n);
        }
        self.modules.store(Arc::new(modules));
        gone.len()
    }
}

/// A duration in nanoseconds, as an atomic keeps it (saturating: past
/// five centuries).
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A module's directory name, as ProcAlike made it from a package name:
/// lower case, `::` as `-` (`POE::Component::IKC` is `poe-component-ikc`).
///
/// # Errors
///
/// [`Error::BadName`] when the result cannot be a directory name.
pub(crate) fn module_name(name: &str) -> Result<String> {
    let normal = name.replace("::", "-").to_lowercase();
    if is_valid_name(&normal) {
        Ok(normal)
    } else {
        Err(Error::BadName(name.to_owned()))
    }
}

fn apply_in_runtime(
    shared: &Shared,
    handle: &RuntimeHandle,
    home: KernelId,
    command: Command,
) -> Result<(), WriteError> {
    let gone = |_| WriteError::Gone;
    match command {
        Command::Post {
            session,
            event,
            arg,
        } => handle
            .spawn_on(session.kernel(), move |kernel| {
                let args: Vec<Value> = arg.into_iter().collect();
                if let Err(error) = kernel.post(session, event, args) {
                    tracing::debug!(%session, %event, %error, "a post from the fs view found no session");
                }
            })
            .map_err(gone),
        Command::Signal { session, name } => handle
            .spawn_on(session.kernel(), move |kernel| {
                if let Err(error) = kernel.signal(session, name, ()) {
                    tracing::debug!(%session, signal = %name, %error, "a signal from the fs view found no session");
                }
            })
            .map_err(gone),
        Command::Stop { session } => handle
            .spawn_on(session.kernel(), move |kernel| {
                if let Err(error) = kernel.signal(session, STOP_SIGNAL, ()) {
                    tracing::debug!(%session, %error, "a stop from the fs view found no session");
                }
            })
            .map_err(gone),
        Command::Shutdown => handle
            .spawn_on(home, |_| {
                if let Some(runtime) = RuntimeHandle::current() {
                    tracing::info!("shutdown asked through the fs view");
                    runtime.shutdown();
                }
            })
            .map_err(gone),
        Command::Snapshot => {
            handle.request_snapshots();
            Ok(())
        }
        Command::SnapshotInterval(interval) => {
            // A kernel that has finished publishes no more snapshots:
            // nothing to set there; if none is left, nothing changes.
            let mut reached = 0;
            for k in 0..handle.kernels() {
                let k = KernelId(u16::try_from(k).expect("a runtime has at most 65536 kernels"));
                let sent = handle.spawn_on(k, move |kernel| {
                    kernel.snapshots(interval);
                });
                reached += usize::from(sent.is_ok());
            }
            if reached == 0 {
                return Err(WriteError::Gone);
            }
            shared.set_interval(interval);
            Ok(())
        }
    }
}
