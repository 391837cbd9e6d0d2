//! ProcAlike's face: the builder, the guard, and the singleton session
//! aliased `poe-devel-procalike` that answers `shutdown`, `register` and
//! `unregister` as POE::Devel::ProcAlike's does.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, mpsc},
    time::Duration,
};

use roe_engine::{
    Args, Context, Kernel, KernelId, RuntimeHandle, Session, SessionId, SnapshotReader, Value,
};

use crate::{
    adapter::{self, Mounted},
    error::{Error, Result},
    mount::Mountpoint,
    snapshot::{Control, Postbacks, Shared, module_name},
    tree::{Command, MAX_SLOW_HANDLER_MS, STOP_SIGNAL, Thresholds, Tree},
};

/// How long [`Builder::start`] waits for the home kernel to start the
/// ProcAlike session before it gives up.
const START_WAIT: Duration = Duration::from_secs(10);

/// The signals on which the view unmounts (see [`Builder::watch_signals`]).
const SIGNALS: [&str; 2] = ["INT", "TERM"];

/// The reference count tag that keeps the session alive while mounted.
const KEEP: &str = "procalike";

/// Sets up a [`ProcAlike`] view; made by [`ProcAlike::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use roe_fs::{Dir, ProcAlike};
///
/// let builder = ProcAlike::builder()
///     .mountpoint("/tmp/my_roe_view")
///     .misc(Dir::new().value("build", "nightly"))
///     .snapshot_interval(Duration::from_millis(250))
///     .kernel(roe_engine::KernelId(0))
///     .slow_handler(Duration::from_millis(20))
///     .queue_warning(500)
///     .watch_signals(true)
///     .show_env(false);
/// # let _ = builder;
/// ```
pub struct Builder {
    mountpoint: Option<PathBuf>,
    misc: Option<Arc<dyn Tree>>,
    kernel: KernelId,
    snapshot_interval: Duration,
    thresholds: Thresholds,
    watch_signals: bool,
    show_env: bool,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            mountpoint: None,
            misc: None,
            kernel: KernelId(0),
            snapshot_interval: Duration::from_millis(100),
            thresholds: Thresholds::default(),
            watch_signals: true,
            show_env: false,
        }
    }
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("mountpoint", &self.mountpoint)
            .field("misc", &self.misc.is_some())
            .field("kernel", &self.kernel)
            .field("snapshot_interval", &self.snapshot_interval)
            .field("thresholds", &self.thresholds)
            .field("watch_signals", &self.watch_signals)
            .field("show_env", &self.show_env)
            .finish()
    }
}

impl Builder {
    /// Where to mount. A missing directory (and any missing parent) is
    /// created, and removed again at unmount; a symbolic link is refused.
    /// The default is a directory made fresh, mode 0700: `/tmp/roe_<pid>`,
    /// or `/tmp/roe_<pid>_<random>` when that name is taken (never an
    /// existing one: others can write to `/tmp`, and the view mounts as
    /// root). [`ProcAlike::mountpoint`] says where it went.
    pub fn mountpoint(mut self, path: impl Into<PathBuf>) -> Builder {
        self.mountpoint = Some(path.into());
        self
    }

    /// The program's own tree, shown under `/misc` (ProcAlike's
    /// `vfilesys`); `/misc` is empty without one.
    pub fn misc(mut self, tree: impl Tree) -> Builder {
        self.misc = Some(Arc::new(tree));
        self
    }

    /// The kernel the ProcAlike session lives on, in a runtime (default 0).
    pub fn kernel(mut self, kernel: KernelId) -> Builder {
        self.kernel = kernel;
        self
    }

    /// How often each kernel publishes the snapshot the view shows
    /// (default 100 ms, the runtime's default). The view sets it on every
    /// kernel when it starts, so that `/kernel/sysctl/snapshot_interval_ms`
    /// tells the truth; writing that file changes it.
    pub fn snapshot_interval(mut self, interval: Duration) -> Builder {
        self.snapshot_interval = interval;
        self
    }

    /// How long a session's longest dispatch may take before
    /// `/kernel/warnings` names it a slow handler (default 100 ms; at most a
    /// day, longer is a day). `/kernel/sysctl/slow_handler_ms` shows it, and
    /// writing that file changes it.
    pub fn slow_handler(mut self, limit: Duration) -> Builder {
        self.thresholds.slow_handler = limit.min(Duration::from_millis(MAX_SLOW_HANDLER_MS));
        self
    }

    /// How many queued items may be addressed to one session before
    /// `/kernel/warnings` names its queue large (default 1000).
    /// `/kernel/sysctl/queue_warning` shows it, and writing that file
    /// changes it.
    pub fn queue_warning(mut self, limit: u32) -> Builder {
        self.thresholds.queue = limit;
        self
    }

    /// Whether the session watches SIGINT and SIGTERM (default: yes). On
    /// either it unmounts the view and ends, without handling the signal,
    /// so the signal does what it would have done (POE's terminal
    /// signals stop the sessions that do not handle them); in a runtime it
    /// then asks the runtime to shut down, since without this watcher the
    /// signal would have ended the process. A program that handles INT or
    /// TERM to keep running turns this off and shuts the view down itself.
    pub fn watch_signals(mut self, on: bool) -> Builder {
        self.watch_signals = on;
        self
    }

    /// Whether `/process/env/` shows the environment, one file per
    /// variable (default: no; environments hold secrets).
    pub fn show_env(mut self, on: bool) -> Builder {
        self.show_env = on;
        self
    }

    /// The mountpoint asked for, made ready; or the default, made fresh.
    fn mountpoint_ready(&self) -> Result<Mountpoint> {
        match &self.mountpoint {
            Some(path) => Mountpoint::prepare(path),
            None => Mountpoint::fresh(),
        }
    }

    /// Mounts the view of `runtime` from a thread outside it, and starts
    /// the ProcAlike session on the chosen kernel; returns once both are
    /// done, with a guard that unmounts on drop.
    ///
    /// Called on one of the runtime's own kernel threads, it does not wait
    /// for the session (the kernel would wait for itself); use
    /// [`Builder::spawn`] there.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyRunning`] when a ProcAlike session exists;
    /// [`Error::Busy`], [`Error::Stale`], [`Error::NotADirectory`],
    /// [`Error::Symlink`] or [`Error::Io`] for the mountpoint and the
    /// mount;
    /// [`Error::Engine`] when the kernel has finished or the runtime is
    /// shutting down. Nothing stays mounted after an error.
    ///
    /// # Examples
    ///
    /// A runtime with its view mounted, read, and unmounted (as root, with
    /// /dev/fuse):
    ///
    /// ```no_run
    /// use roe_engine::{Runtime, Session};
    /// use roe_fs::ProcAlike;
    ///
    /// let runtime = Runtime::builder().kernels(2).pin(false).start(|kernel| {
    ///     kernel.spawn(Session::new(()).on("_start", |cx, _| cx.alias_set("worker")))?;
    ///     Ok(())
    /// })?;
    /// let view = ProcAlike::builder().mountpoint("/tmp/roe_example").start(&runtime.handle())?;
    /// println!("fs {}", view.mountpoint().display());
    /// let sessions = std::fs::read_dir(view.mountpoint().join("kernel/1/sessions"))?;
    /// assert!(sessions.count() >= 1);
    /// drop(view); // unmounted, /tmp/roe_example removed
    /// runtime.handle().shutdown();
    /// runtime.join()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(self, runtime: &RuntimeHandle) -> Result<ProcAlike> {
        if runtime.resolve(ProcAlike::ALIAS).is_ok() {
            return Err(Error::AlreadyRunning);
        }
        let home = self.kernel;
        if usize::from(home.0) >= runtime.kernels() {
            return Err(Error::Engine(roe_engine::Error::NoSuchSession(format!(
                "kernel {home}"
            ))));
        }
        let shared = self.runtime_shared(runtime, home);
        set_interval(runtime, self.snapshot_interval, None);
        let mounted = Arc::new(adapter::mount(
            Arc::clone(&shared),
            self.mountpoint_ready()?,
        )?);
        let on_kernel = RuntimeHandle::current().is_some();
        let (started_tx, started_rx) = mpsc::channel();
        let (for_session, mounted_there) = (Arc::clone(&shared), Arc::clone(&mounted));
        let watch_signals = self.watch_signals;
        let spawned = runtime.spawn_on(home, move |kernel| {
            let session = session(for_session, mounted_there, watch_signals);
            let _ = started_tx.send(kernel.spawn(session));
        });
        let started = match spawned {
            Err(error) => Err(error.into()),
            Ok(()) if on_kernel => Ok(()),
            Ok(()) => match started_rx.recv_timeout(START_WAIT) {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(roe_engine::Error::AliasInUse { .. })) => Err(Error::AlreadyRunning),
                Ok(Err(error)) => Err(error.into()),
                Err(_) => Err(Error::Engine(roe_engine::Error::NoSuchSession(format!(
                    "kernel {home} did not start the ProcAlike session"
                )))),
            },
        };
        match started {
            Ok(()) => Ok(ProcAlike { shared, mounted }),
            Err(error) => {
                let _ = mounted.unmount();
                Err(error)
            }
        }
    }

    /// Mounts the view and spawns the ProcAlike session on `kernel`, POE's
    /// way: the mount belongs to the session, which keeps the kernel
    /// running until it is told `shutdown` (or a watched signal comes, or
    /// the kernel stops). In a runtime's `init` the view shows every kernel
    /// of the runtime; on a lone kernel it shows that one.
    ///
    /// # Errors
    ///
    /// As [`Builder::start`].
    ///
    /// # Examples
    ///
    /// ProcAlike's synopsis: a kernel with its view, and a session that
    /// shuts it down after a while (as root, with /dev/fuse):
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use roe_engine::{Kernel, Session};
    /// use roe_fs::ProcAlike;
    ///
    /// let mut kernel = Kernel::new()?;
    /// ProcAlike::spawn(&mut kernel, Default::default())?; // mounts /tmp/roe_<pid>
    /// kernel.spawn(
    ///     Session::new(())
    ///         .on("_start", |cx, _| cx.delay("done", Duration::from_secs(60), ()))
    ///         .on("done", |cx, _| cx.post(ProcAlike::ALIAS, "shutdown", ())),
    /// )?;
    /// kernel.run()?; // returns once the view is unmounted and the timer is done
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn(self, kernel: &mut Kernel) -> Result<SessionId> {
        if kernel.resolve(ProcAlike::ALIAS).is_some() {
            return Err(Error::AlreadyRunning);
        }
        let shared = match RuntimeHandle::current() {
            Some(runtime) => {
                let shared = self.runtime_shared(&runtime, kernel.id());
                set_interval(&runtime, self.snapshot_interval, Some(kernel));
                shared
            }
            None => {
                let reader = kernel.snapshots(self.snapshot_interval);
                Arc::new(Shared::new(
                    vec![reader],
                    Control::Lone(std::sync::Mutex::new(None)),
                    self.misc.clone(),
                    self.snapshot_interval,
                    self.thresholds,
                    self.show_env,
                ))
            }
        };
        let mounted = Arc::new(adapter::mount(
            Arc::clone(&shared),
            self.mountpoint_ready()?,
        )?);
        match kernel.spawn(session(shared, Arc::clone(&mounted), self.watch_signals)) {
            Ok(id) => Ok(id),
            Err(error) => {
                let _ = mounted.unmount();
                Err(error.into())
            }
        }
    }

    fn runtime_shared(&self, runtime: &RuntimeHandle, home: KernelId) -> Arc<Shared> {
        let readers: Vec<SnapshotReader> = (0..runtime.kernels())
            .filter_map(|k| runtime.snapshots(KernelId(u16::try_from(k).ok()?)))
            .collect();
        Arc::new(Shared::new(
            readers,
            Control::Runtime {
                handle: runtime.clone(),
                home,
            },
            self.misc.clone(),
            self.snapshot_interval,
            self.thresholds,
            self.show_env,
        ))
    }
}

/// Sets every kernel's snapshot interval: `here` directly, the others on
/// their own threads.
fn set_interval(runtime: &RuntimeHandle, interval: Duration, mut here: Option<&mut Kernel>) {
    for k in 0..runtime.kernels() {
        let Ok(k) = u16::try_from(k).map(KernelId) else {
            break;
        };
        match here.as_deref_mut() {
            Some(kernel) if kernel.id() == k => {
                kernel.snapshots(interval);
            }
            _ => {
                let _ = runtime.spawn_on(k, move |kernel| {
                    kernel.snapshots(interval);
                });
            }
        }
    }
}

/// A mounted ProcAlike view of a runtime; unmounts when dropped.
///
/// The view is POE::Devel::ProcAlike's tree, grown for a runtime of many
/// kernels: `/kernel` (the runtime, each kernel, its queue and sessions,
/// tunables and control files), `/process`, `/modules/<name>` for
/// registered trees and `/misc` for the program's own; docs/fs.md lists it.
/// Made by [`Builder::start`].
pub struct ProcAlike {
    shared: Arc<Shared>,
    mounted: Arc<Mounted>,
}

impl ProcAlike {
    /// The ProcAlike session's alias, the original's.
    pub const ALIAS: &'static str = "poe-devel-procalike";

    /// A builder with the defaults: `/tmp/roe_<pid>`, kernel 0, 100 ms
    /// snapshots, SIGINT and SIGTERM watched, no environment.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// [`Builder::spawn`] with `builder`: ProcAlike's own `spawn`.
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`].
    pub fn spawn(kernel: &mut Kernel, builder: Builder) -> Result<SessionId> {
        builder.spawn(kernel)
    }

    /// Where the view is mounted.
    pub fn mountpoint(&self) -> &Path {
        self.mounted.path()
    }

    /// Whether the view is still mounted (it goes on `shutdown`, on a
    /// watched signal, and when the runtime stops).
    pub fn is_mounted(&self) -> bool {
        self.mounted.is_mounted()
    }

    /// Shows `tree` at `/modules/<name>`, the name made as ProcAlike made
    /// it (lower case, `::` as `-`); returns that name. Kernel code does
    /// the same by posting or calling `register` to [`ProcAlike::ALIAS`]
    /// with [`ProcAlike::registration`].
    ///
    /// # Errors
    ///
    /// [`Error::BadName`], or [`Error::Registered`] when a tree already
    /// has the name.
    pub fn register(&self, name: &str, tree: impl Tree) -> Result<String> {
        self.shared.register(name, Arc::new(tree), None)
    }

    /// Removes the tree registered here (not by a session) as `name`;
    /// whether there was one.
    pub fn unregister(&self, name: &str) -> bool {
        self.shared.unregister(Some(name), None) > 0
    }

    /// The arguments of a `register` event: the name and the tree.
    ///
    /// # Examples
    ///
    /// A component shows its own tree, once, under its name:
    ///
    /// ```
    /// use roe_engine::Session;
    /// use roe_fs::{Dir, ProcAlike};
    ///
    /// let component = Session::new(()).on("_start", |cx, _| {
    ///     let tree = Dir::new().value("connections", 0);
    ///     // POE's `call`; across kernels, `post` (or `call_reply`).
    ///     cx.post(ProcAlike::ALIAS, "register", ProcAlike::registration("My::Component", tree))
    /// });
    /// # let _ = component;
    /// ```
    pub fn registration(name: &str, tree: impl Tree) -> Args {
        let tree: Arc<dyn Tree> = Arc::new(tree);
        Args::from((name, Value::local(tree)))
    }

    /// The directory name ProcAlike gives a module name: lower case, `::`
    /// as `-`.
    ///
    /// # Errors
    ///
    /// [`Error::BadName`] when it cannot be a directory name.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_fs::ProcAlike;
    ///
    /// assert_eq!(ProcAlike::check_module_name("POE::Component::IKC")?, "poe-component-ikc");
    /// assert!(ProcAlike::check_module_name("..").is_err());
    /// # Ok::<(), roe_fs::Error>(())
    /// ```
    pub fn check_module_name(name: &str) -> Result<String> {
        module_name(name)
    }

    /// Unmounts now, and ends the ProcAlike session; dropping the guard
    /// does the same, logging any failure.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the unmount fails (a busy mount is detached
    /// lazily, which is not a failure).
    pub fn unmount(self) -> Result<()> {
        self.close().map_err(Error::from)
    }

    fn close(&self) -> std::io::Result<()> {
        let result = self.mounted.unmount();
        if let (Control::Runtime { handle, .. }, Some(session)) =
            (&self.shared.control, self.shared.session.get())
        {
            let _ = handle.post(*session, "shutdown", ());
        }
        result
    }
}

impl Drop for ProcAlike {
    fn drop(&mut self) {
        if let Err(error) = self.close() {
            tracing::warn!(path = %self.mounted.path().display(), %error, "the fs view could not be unmounted");
        }
    }
}

impl std::fmt::Debug for ProcAlike {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcAlike")
            .field("mountpoint", &self.mountpoint())
            .field("mounted", &self.is_mounted())
            .finish()
    }
}

/// The ProcAlike session's heap.
struct Heap {
    shared: Arc<Shared>,
    mounted: Arc<Mounted>,
    watch_signals: bool,
    done: bool,
}

/// The singleton session: keeps its kernel alive while mounted, and
/// answers `shutdown`, `register` and `unregister`.
fn session(shared: Arc<Shared>, mounted: Arc<Mounted>, watch_signals: bool) -> Session<Heap> {
    Session::new(Heap {
        shared,
        mounted,
        watch_signals,
        done: false,
    })
    .on("_start", |cx, _| -> roe_engine::Result<()> {
        cx.alias_set(ProcAlike::ALIAS)?;
        let me = cx.session();
        let _ = cx.heap.shared.session.set(me);
        cx.refcount_increment(me, KEEP)?;
        let shared = Arc::clone(&cx.heap.shared);
        if let Control::Lone(slot) = &shared.control {
            let postbacks = Postbacks {
                command: cx.postback("procalike_command", ())?,
                closed: cx.postback("shutdown", ())?,
            };
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(postbacks);
        }
        if cx.heap.watch_signals {
            for signal in SIGNALS {
                cx.sig(signal, "procalike_signal", ())?;
            }
        }
        tracing::info!(path = %cx.heap.mounted.path().display(), "the fs view is mounted");
        Ok(())
    })
    .on("shutdown", |cx, _| finish(cx))
    .on("procalike_signal", |cx, args| {
        tracing::info!(signal = %args.get(0), "the fs view unmounts on a signal");
        finish(cx);
        if let Some(runtime) = RuntimeHandle::current() {
            runtime.shutdown();
        }
    })
    .on("register", |cx, args| -> Value {
        let name = args.get(0).as_str().unwrap_or_default();
        let Some(tree) = args.get(1).downcast_ref::<Arc<dyn Tree>>() else {
            tracing::warn!(name, "register needs a name and a tree (ProcAlike::registration)");
            return Value::Bool(false);
        };
        match cx.heap.shared.register(name, Arc::clone(tree), Some(cx.sender())) {
            Ok(_) => Value::Bool(true),
            Err(error) => {
                tracing::warn!(%error, sender = %cx.sender(), "register refused");
                Value::Bool(false)
            }
        }
    })
    .on("unregister", |cx, args| -> Value {
        let name = args.get(0).as_str();
        let removed = cx.heap.shared.unregister(name, Some(cx.sender()));
        if removed == 0 {
            tracing::warn!(name, sender = %cx.sender(), "unregister: nothing registered by that session");
        }
        Value::Bool(removed > 0)
    })
    .on("procalike_command", |cx, args| {
        // A lone kernel's commands come here (ARG1: the postback's list).
        let command = args
            .get(1)
            .as_list()
            .and_then(|list| list.first())
            .and_then(|v| v.downcast_ref::<Command>())
            .cloned();
        if let Some(command) = command {
            apply_here(cx, command);
        }
    })
    .on("_stop", |cx, _| finish(cx))
}

/// Unmounts, lets the session go, and stops watching signals.
fn finish(cx: &mut Context<'_, Heap>) {
    if cx.heap.done {
        return;
    }
    cx.heap.done = true;
    if let Err(error) = cx.heap.mounted.unmount() {
        tracing::warn!(%error, "the fs view could not be unmounted");
    }
    cx.heap.shared.release();
    let me = cx.session();
    let _ = cx.alias_remove(ProcAlike::ALIAS);
    let _ = cx.refcount_decrement(me, KEEP);
    if cx.heap.watch_signals {
        for signal in SIGNALS {
            cx.sig_remove(signal);
        }
    }
}

/// Applies a command on a lone kernel, from its ProcAlike session.
fn apply_here(cx: &mut Context<'_, Heap>, command: Command) {
    let result = match command {
        Command::Post {
            session,
            event,
            arg,
        } => cx.post(session, event, arg.into_iter().collect::<Vec<Value>>()),
        Command::Signal { session, name } => cx.signal(session, name, ()),
        Command::Stop { session } => cx.signal(session, STOP_SIGNAL, ()),
        Command::Shutdown => {
            tracing::info!("shutdown asked through the fs view");
            cx.stop();
            Ok(())
        }
        // A lone kernel publishes at its interval; its owner sets that.
        Command::Snapshot | Command::SnapshotInterval(_) => Ok(()),
    };
    if let Err(error) = result {
        tracing::debug!(%error, "a command from the fs view failed");
    }
}
