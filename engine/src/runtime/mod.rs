//! `Runtime`: one kernel per thread, pinned to cores, posting to each other.
//!
//! Each kernel owns its sessions outright; nothing is shared mutably
//! between kernels. A post to a session on another kernel goes through that
//! kernel's bounded inbox (a crossbeam channel) and wakes it only if it is
//! parked; the receiving kernel takes a bounded batch per slice, so a busy
//! sender cannot starve it. Posts from one sender to one receiver arrive in
//! the order sent. Aliases resolve on the local kernel first, then in a
//! runtime-wide directory. See docs/architecture.md, "Runtime".

mod directory;
mod idle;
mod link;

use std::{
    cell::RefCell,
    sync::{
        Arc, Barrier, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use crossbeam_channel::{Sender, TrySendError};

use self::{
    directory::{Directory, Found},
    idle::{Idleness, Seen},
    link::Attached,
};
use crate::{
    error::{Error, Result, TryPostError},
    event::Event,
    id::{KernelId, SessionId},
    kernel::{Kernel, SendError, Task, trap},
    mailbox::{Control, Mailbox, Message, Origin},
    snapshot::{Detail, Snapshot, SnapshotReader},
    value::{Args, Str},
};

thread_local! {
    /// The runtime of the kernel running on this thread, if any.
    static CURRENT: RefCell<Option<RuntimeHandle>> = const { RefCell::new(None) };
}

/// Builds a [`Runtime`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use roe_engine::{KernelId, Runtime, Session};
///
/// let runtime = Runtime::builder()
///     .kernels(2) // default: one per CPU
///     .pin(false) // default: kernel i pinned to CPU i
///     .inbox_capacity(1024) // messages from other kernels waiting at most
///     .snapshot_interval(Duration::from_millis(50))
///     .start(|kernel| {
///         // Runs on each kernel's thread in turn, before any runs its loop.
///         if kernel.id() == KernelId(1) {
///             kernel.spawn(Session::new(()).on("_start", |cx, _| {
///                 cx.alias_set("worker")?;
///                 // Waits for work from outside: stay alive until shutdown.
///                 cx.refcount_increment(cx.session(), "serving")?;
///                 Ok::<_, roe_engine::Error>(())
///             }))?;
///         }
///         Ok(())
///     })?;
/// assert!(runtime.handle().resolve("worker").is_ok());
/// runtime.handle().shutdown();
/// runtime.join()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RuntimeBuilder {
    kernels: usize,
    pin: bool,
    inbox_capacity: usize,
    snapshot_interval: Duration,
}

impl Default for RuntimeBuilder {
    fn default() -> RuntimeBuilder {
        RuntimeBuilder {
            kernels: thread::available_parallelism().map_or(1, usize::from),
            pin: true,
            inbox_capacity: 4096,
            snapshot_interval: Duration::from_millis(100),
        }
    }
}

impl RuntimeBuilder {
    /// How many kernels (threads); the default is one per available core.
    pub fn kernels(mut self, n: usize) -> RuntimeBuilder {
        self.kernels = n.max(1);
        self
    }

    /// Whether to pin kernel `i` to core `i` (modulo the cores there are);
    /// on by default.
    pub fn pin(mut self, on: bool) -> RuntimeBuilder {
        self.pin = on;
        self
    }

    /// How many posts from other kernels an inbox holds (default 4096);
    /// beyond that, posts wait in order in the sender's overflow queue.
    pub fn inbox_capacity(mut self, n: usize) -> RuntimeBuilder {
        self.inbox_capacity = n.max(1);
        self
    }

    /// How often each kernel publishes its snapshot (default 100 ms).
    pub fn snapshot_interval(mut self, interval: Duration) -> RuntimeBuilder {
        self.snapshot_interval = interval;
        self
    }

    /// Starts the kernels and runs `init` on each kernel's thread, to spawn
    /// its sessions: on kernel 0 first, then 1, and so on, so aliases set by
    /// an earlier kernel's `init` resolve in a later one's. The kernels run,
    /// and this returns, once every `init` has returned.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a kernel cannot be created or its thread cannot
    /// start, [`Error::InvalidArgument`] for more than 65536 kernels. An
    /// `init` that fails shuts the runtime down; [`Runtime::join`] returns
    /// its error.
    pub fn start<F>(self, init: F) -> Result<Runtime>
    where
        F: Fn(&mut Kernel) -> Result<()> + Send + Sync + 'static,
    {
        if self.kernels > usize::from(u16::MAX) + 1 {
            return Err(Error::InvalidArgument(
                "a runtime has at most 65536 kernels",
            ));
        }
        let init = Arc::new(init);
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        // Every kernel and the starting thread meet here once every `init`
        // has run.
        let running = Arc::new(Barrier::new(self.kernels + 1));
        let (ready_tx, ready_rx) = crossbeam_channel::unbounded();
        // Kernel i's turn to run `init` comes on turns[i]; it passes the
        // turn on to kernel i + 1. `None` means: the runtime did not start.
        let (turn_txs, turn_rxs): (Vec<_>, Vec<_>) = (0..self.kernels)
            .map(|_| crossbeam_channel::bounded::<Option<Arc<Shared>>>(1))
            .unzip();
        let mut threads = Vec::new();
        for (index, turn) in turn_rxs.into_iter().enumerate() {
            let id = KernelId(u16::try_from(index).expect("checked above"));
            let (remote_tx, remote_rx) = crossbeam_channel::bounded(self.inbox_capacity);
            let (tasks_tx, tasks_rx) = crossbeam_channel::unbounded();
            let core = self
                .pin
                .then(|| cores.get(index % cores.len().max(1)).copied())
                .flatten();
            let next_turn = turn_txs.get(index + 1).cloned();
            let ready = ready_tx.clone();
            let init = Arc::clone(&init);
            let running = Arc::clone(&running);
            let interval = self.snapshot_interval;
            let thread = thread::Builder::new()
                .name(format!("roe-kernel-{index}"))
                .spawn(move || -> Result<()> {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    let mut kernel = match Kernel::with_id(id) {
                        Ok(kernel) => kernel,
                        Err(error) => {
                            let _ = ready.send(Err(error.to_string()));
                            return Err(error);
                        }
                    };
                    let peer = Peer {
                        remote: remote_tx,
                        tasks: tasks_tx,
                        mailbox: kernel.mailbox(),
                        reader: kernel.snapshots(interval),
                        overflow_waiters: AtomicU64::new(0),
                        finished: Mutex::new(false),
                    };
                    if ready.send(Ok((index, peer))).is_err() {
                        return Ok(());
                    }
                    let Ok(Some(shared)) = turn.recv() else {
                        return Ok(());
                    };
                    CURRENT.with(|current| {
                        *current.borrow_mut() = Some(RuntimeHandle {
                            shared: Arc::clone(&shared),
                        });
                    });
                    kernel.attach(Box::new(Attached::new(
                        Arc::clone(&shared),
                        id,
                        remote_rx,
                        tasks_rx,
                    )));
                    // A panicking `init` fails like one that returns an
                    // error, rather than leave the others waiting for it.
                    let started = trap(|| init(&mut kernel));
                    if started.is_err() {
                        shared.shutdown();
                    }
                    if let Some(next) = next_turn {
                        let _ = next.send(Some(shared));
                    }
                    running.wait();
                    let result = match started {
                        Ok(()) => kernel.run(),
                        Err(error) => {
                            kernel.stop();
                            Err(error)
                        }
                    };
                    kernel.detach(result.is_err());
                    CURRENT.with(|current| current.borrow_mut().take());
                    result
                })
                .map_err(Error::Io)?;
            threads.push(thread);
        }
        drop(ready_tx);
        let mut peers: Vec<Option<Peer>> = (0..self.kernels).map(|_| None).collect();
        let mut failure = None;
        for _ in 0..self.kernels {
            match ready_rx.recv() {
                Ok(Ok((index, peer))) => peers[index] = Some(peer),
                Ok(Err(message)) => failure = Some(message),
                Err(_) => failure = Some("a kernel thread ended while starting".to_owned()),
            }
        }
        if let Some(message) = failure {
            for turn in &turn_txs {
                let _ = turn.send(None);
            }
            for thread in threads {
                let _ = thread.join();
            }
            return Err(Error::Io(std::io::Error::other(message)));
        }
        let shared = Arc::new(Shared {
            peers: peers
                .into_iter()
                .map(|p| p.expect("every kernel reported"))
                .collect(),
            directory: Directory::default(),
            closing: AtomicBool::new(false),
            sending: AtomicUsize::new(0),
            idle: Idleness::new(self.kernels),
            draining: AtomicUsize::new(self.kernels),
        });
        let _ = turn_txs[0].send(Some(Arc::clone(&shared)));
        running.wait();
        Ok(Runtime { shared, threads })
    }
}

/// Kernels on threads, one per core, running until every kernel has
/// finished or [`shutdown`](RuntimeHandle::shutdown) is asked.
///
/// # Examples
///
/// ```
/// use roe_engine::{Runtime, Session, Value};
///
/// // Kernel 0 runs `init` first, so the alias exists when kernel 1's
/// // session uses it.
/// let runtime = Runtime::builder().kernels(2).pin(false).start(|kernel| {
///     if kernel.id().0 == 0 {
///         kernel.spawn(
///             Session::new(())
///                 .on("_start", |cx, _| cx.alias_set("doubler"))
///                 .on("double", |_, args| Value::from(args[0].as_int().unwrap_or(0) * 2)),
///         )?;
///     } else {
///         kernel.spawn(
///             Session::new(())
///                 // Across kernels a call is a post with a reply event; the
///                 // caller stays alive until the reply arrives.
///                 .on("_start", |cx, _| cx.call_reply("doubler", "double", (21,), "doubled"))
///                 .on("doubled", |_, args| assert_eq!(args[0].as_int(), Some(42))),
///         )?;
///     }
///     Ok(())
/// })?;
/// // Once every kernel is idle, IDLE ends the sessions, and the kernels.
/// runtime.join()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<Result<()>>>,
}

impl Runtime {
    /// A builder with the defaults: one pinned kernel per core.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// A handle for other threads: posts, shutdown, snapshots.
    pub fn handle(&self) -> RuntimeHandle {
        RuntimeHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// How many kernels run.
    pub fn kernels(&self) -> usize {
        self.shared.peers.len()
    }

    /// Waits for every kernel to finish.
    ///
    /// # Errors
    ///
    /// The first kernel's failure: an unhandled DIE ([`Error::Died`]), an
    /// `init` error, or [`Error::Panicked`] for a kernel thread that
    /// panicked outside any handler.
    pub fn join(self) -> Result<()> {
        let mut first = Ok(());
        for thread in self.threads {
            let result = thread
                .join()
                .unwrap_or_else(|_| Err(Error::Panicked("a kernel thread panicked".to_owned())));
            if first.is_ok() {
                first = result;
            }
        }
        first
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("kernels", &self.kernels())
            .finish()
    }
}

/// Reaches a running runtime from any thread.
///
/// # Examples
///
/// ```
/// use roe_engine::{KernelId, Runtime, Session};
///
/// let runtime = Runtime::builder().kernels(2).pin(false).start(|kernel| {
///     if kernel.id() == KernelId(0) {
///         kernel.spawn(
///             Session::new(())
///                 .on("_start", |cx, _| {
///                     cx.alias_set("inbox")?;
///                     // Mail comes from outside: stay alive until it does.
///                     cx.refcount_increment(cx.session(), "mail")?;
///                     Ok::<_, roe_engine::Error>(())
///                 })
///                 .on("mail", |cx, args| {
///                     assert_eq!(args[0].as_str(), Some("hello"));
///                     // Nothing left to wait for: the runtime ends.
///                     cx.refcount_decrement(cx.session(), "mail")?;
///                     Ok::<_, roe_engine::Error>(())
///                 }),
///         )?;
///     }
///     Ok(())
/// })?;
/// let handle = runtime.handle();
/// let inbox = handle.resolve("inbox")?;
/// // From a thread outside the runtime, as from anywhere.
/// let posted = std::thread::spawn(move || handle.post(inbox, "mail", ("hello",)).is_ok());
/// assert!(posted.join().expect("no panic"));
/// runtime.join()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone)]
pub struct RuntimeHandle {
    shared: Arc<Shared>,
}

impl RuntimeHandle {
    /// The runtime of the kernel running on this thread: inside a handler
    /// or an `init`, the runtime the kernel belongs to; `None` on other
    /// threads and for a lone [`Kernel`].
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::{Runtime, RuntimeHandle, Session};
    ///
    /// assert!(RuntimeHandle::current().is_none());
    /// let runtime = Runtime::builder().kernels(1).pin(false).start(|kernel| {
    ///     kernel.spawn(Session::new(()).on("_start", |_, _| {
    ///         // Stop the whole runtime from a handler.
    ///         RuntimeHandle::current().expect("on a kernel's thread").shutdown();
    ///     }))?;
    ///     Ok(())
    /// })?;
    /// runtime.join()?;
    /// # Ok::<(), roe_engine::Error>(())
    /// ```
    pub fn current() -> Option<RuntimeHandle> {
        CURRENT.with(|current| current.borrow().clone())
    }

    /// Posts `event` to a session of any kernel (SENDER is that kernel).
    ///
    /// # Errors
    ///
    /// [`TryPostError::Full`] when the target's inbox is full (this thread
    /// has no overflow queue); [`TryPostError::Failed`] with
    /// [`Error::NoSuchSession`] for a kernel the runtime does not have or
    /// that has finished, or [`Error::ShuttingDown`] once shutdown was
    /// asked. The arguments come back in every case.
    #[allow(clippy::result_large_err)] // The arguments come back by value.
    pub fn post(
        &self,
        target: SessionId,
        event: impl Into<Event>,
        args: impl Into<Args>,
    ) -> std::result::Result<(), TryPostError> {
        let message = Message::Post {
            target,
            sender: Origin::Session(SessionId::kernel_root(target.kernel())),
            event: event.into(),
            args: args.into(),
        };
        self.shared
            .send_external(target.kernel(), message)
            .map_err(|error| error.into_try(target))
    }

    /// Resolves an alias set on any kernel.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when no session holds it,
    /// [`Error::AmbiguousAlias`] when sessions on several kernels do.
    pub fn resolve(&self, alias: &str) -> Result<SessionId> {
        self.shared.resolve(&Str::new(alias))
    }

    /// Runs `task` on kernel `kernel`'s thread at its next slice, with the
    /// kernel in hand (to spawn sessions there, say).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when that kernel does not exist or has
    /// finished.
    pub fn spawn_on(
        &self,
        kernel: KernelId,
        task: impl FnOnce(&mut Kernel) + Send + 'static,
    ) -> Result<()> {
        let gone = || Error::NoSuchSession(format!("kernel {kernel}"));
        let peer = self
            .shared
            .peers
            .get(usize::from(kernel.0))
            .ok_or_else(gone)?;
        let task: Task = Box::new(task);
        let sent = self.shared.outside(task, |task| {
            peer.mailbox.announce_remote();
            let sent = peer.tasks.send(task).is_ok();
            if sent {
                peer.mailbox.wake_if_parked();
            } else {
                peer.mailbox.withdraw_remote();
            }
            sent
        });
        match sent {
            Ok(true) => Ok(()),
            Ok(false) => Err(gone()),
            Err(_) => Err(Error::ShuttingDown),
        }
    }

    /// Asks every kernel to finish: posts already accepted are delivered,
    /// new cross-kernel posts fail with [`Error::ShuttingDown`], then every
    /// session is stopped (with `_stop`), and [`Runtime::join`] returns.
    pub fn shutdown(&self) {
        self.shared.shutdown();
    }

    /// The latest snapshot kernel `kernel` published: its counters and
    /// queue at most one snapshot interval old, and about sessions what
    /// readers asked for (see [`Detail`]).
    pub fn snapshot(&self, kernel: KernelId) -> Option<Arc<Snapshot>> {
        self.shared
            .peers
            .get(usize::from(kernel.0))
            .map(|peer| peer.reader.load())
    }

    /// A reader of kernel `kernel`'s snapshots, for observers that keep
    /// one, and ask for sessions ([`SnapshotReader::ask`]).
    pub fn snapshots(&self, kernel: KernelId) -> Option<SnapshotReader> {
        self.shared
            .peers
            .get(usize::from(kernel.0))
            .map(|peer| peer.reader.clone())
    }

    /// Asks every kernel to publish a snapshot of everything, every
    /// session in full, soon (before its next wait; within its budget: see
    /// [`Snapshot::BUDGET`]). While one is pending, more requests add
    /// nothing.
    pub fn request_snapshots(&self) {
        for peer in &self.shared.peers {
            peer.reader.ask(&Detail::all(), Duration::ZERO);
        }
    }

    /// How many kernels the runtime has.
    pub fn kernels(&self) -> usize {
        self.shared.peers.len()
    }
}

impl std::fmt::Debug for RuntimeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeHandle")
            .field("kernels", &self.kernels())
            .finish()
    }
}

/// One kernel as the others see it.
pub(crate) struct Peer {
    remote: Sender<Message>,
    tasks: Sender<Task>,
    mailbox: Mailbox,
    reader: SnapshotReader,
    /// Kernels with posts to this one waiting in overflow, as bits (kernel
    /// `k` is bit `k % 64`: a spare wake-up is harmless).
    overflow_waiters: AtomicU64,
    /// The kernel has finished. A lock, not a flag: a `RuntimeIdle` sent
    /// under it is either refused or in the mailbox the kernel drains when
    /// it finishes, so its count is never lost.
    finished: Mutex<bool>,
}

/// What every kernel of a runtime shares.
pub(crate) struct Shared {
    peers: Vec<Peer>,
    pub directory: Directory,
    closing: AtomicBool,
    /// Threads outside the runtime between their `closing` check and their
    /// send: shutdown waits for them, so every post accepted before it is
    /// in an inbox before any kernel drains. (A kernel's own sends need no
    /// such count: it learns of the shutdown on its own thread, after them.)
    sending: AtomicUsize,
    /// Busy parties; the `leave` that leaves none looks for messages in
    /// flight and broadcasts IDLE (runtime/idle.rs).
    pub idle: Idleness,
    /// Kernels still emptying their overflow queues after shutdown.
    draining: AtomicUsize,
}

impl Shared {
    /// Sends a new cross-kernel message from a kernel, unless shutdown was
    /// asked.
    #[allow(clippy::result_large_err)]
    pub fn send(&self, kernel: KernelId, message: Message) -> Result<(), SendError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(SendError::Closing(message));
        }
        self.deliver(kernel, message)
    }

    /// Sends a new cross-kernel message from a thread outside the runtime,
    /// unless shutdown was asked.
    #[allow(clippy::result_large_err)]
    pub fn send_external(&self, kernel: KernelId, message: Message) -> Result<(), SendError> {
        self.outside(message, |message| self.deliver(kernel, message))
            .unwrap_or_else(|message| Err(SendError::Closing(message)))
    }

    /// Runs `send` with `payload`, a send from a thread outside the
    /// runtime, unless shutdown was asked (then the payload comes back):
    /// the thread is a busy party meanwhile (see runtime/idle.rs), and
    /// counted in `sending`, so a shutdown waits for it and everything it
    /// sent is delivered.
    fn outside<P, T>(&self, payload: P, send: impl FnOnce(P) -> T) -> Result<T, P> {
        // Refused at once, so that posting threads cannot hold a shutdown
        // up; checked again once counted, where the refusal is exact.
        if self.is_closing() {
            return Err(payload);
        }
        self.idle.enter();
        self.sending.fetch_add(1, Ordering::SeqCst);
        let result = if self.is_closing() {
            Err(payload)
        } else {
            Ok(send(payload))
        };
        self.sending.fetch_sub(1, Ordering::SeqCst);
        self.leave(1);
        result
    }

    /// Puts a message in `kernel`'s inbox if it has room, counting it as in
    /// flight and waking the kernel if it is parked (docs/architecture.md,
    /// "Wake-ups").
    #[allow(clippy::result_large_err)]
    pub fn deliver(&self, kernel: KernelId, message: Message) -> Result<(), SendError> {
        let Some(peer) = self.peers.get(usize::from(kernel.0)) else {
            return Err(SendError::Gone(message));
        };
        peer.mailbox.announce_remote();
        match peer.remote.try_send(message) {
            Ok(()) => {
                peer.mailbox.wake_if_parked();
                Ok(())
            }
            Err(error) => {
                peer.mailbox.withdraw_remote();
                Err(match error {
                    TrySendError::Full(message) => SendError::Full(message),
                    TrySendError::Disconnected(message) => SendError::Gone(message),
                })
            }
        }
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// `n` busy parties stop; if none is left and nothing is in flight,
    /// every kernel is told the runtime is idle (each then runs POE's IDLE).
    pub fn leave(&self, n: usize) {
        if let Some(seen) = self.idle.leave(n) {
            self.broadcast_if_idle(seen);
        }
    }

    fn broadcast_if_idle(&self, seen: Seen) {
        let in_flight = self.peers.iter().any(|peer| {
            peer.mailbox.remote_waiting()
                && !*peer.finished.lock().unwrap_or_else(|e| e.into_inner())
        });
        if in_flight || !self.idle.claim(seen, self.peers.len()) {
            return;
        }
        // Each message counts as a busy party until its kernel takes it;
        // finished kernels get none.
        let mut skipped = 0;
        for peer in &self.peers {
            let finished = peer.finished.lock().unwrap_or_else(|e| e.into_inner());
            if *finished || peer.mailbox.send(Message::Control(Control::Idle)).is_err() {
                skipped += 1;
            }
        }
        if skipped > 0 {
            // Reaching zero here means every kernel has finished.
            let _ = self.idle.leave(skipped);
        }
    }

    /// Whether `kernel`'s inbox has room now (a resend of overflow checks
    /// before it takes a message out of its queue).
    pub fn has_room(&self, kernel: KernelId) -> bool {
        self.peers
            .get(usize::from(kernel.0))
            .is_some_and(|peer| !peer.remote.is_full())
    }

    /// Kernel `waiter` has posts for `target` waiting in overflow: wake it
    /// when `target` makes room.
    pub fn await_room(&self, target: KernelId, waiter: KernelId) {
        if let Some(peer) = self.peers.get(usize::from(target.0)) {
            peer.overflow_waiters
                .fetch_or(1 << (waiter.0 % 64), Ordering::SeqCst);
        }
    }

    /// Kernel `target` took messages from its inbox: the kernels waiting
    /// for room resend their overflow now, not at their next retry.
    pub fn room_made(&self, target: KernelId) {
        let Some(peer) = self.peers.get(usize::from(target.0)) else {
            return;
        };
        if peer.overflow_waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        let waiters = peer.overflow_waiters.swap(0, Ordering::SeqCst);
        for (index, waiter) in self.peers.iter().enumerate() {
            if waiters & (1 << (index % 64)) != 0 {
                waiter.mailbox.wake_if_parked();
            }
        }
    }

    /// Kernel `kernel` has finished: it takes no more `RuntimeIdle`.
    pub fn finish(&self, kernel: KernelId) {
        if let Some(peer) = self.peers.get(usize::from(kernel.0)) {
            *peer.finished.lock().unwrap_or_else(|e| e.into_inner()) = true;
        }
    }

    /// Closes the runtime to new cross-kernel posts and tells every kernel.
    pub fn shutdown(&self) {
        if self.closing.swap(true, Ordering::SeqCst) {
            return;
        }
        while self.sending.load(Ordering::SeqCst) != 0 {
            thread::yield_now();
        }
        for peer in &self.peers {
            let _ = peer.mailbox.send(Message::Control(Control::Shutdown));
        }
    }

    /// A draining kernel has emptied its overflow queues. The last one
    /// tells every kernel, so none has to poll for the moment (with a
    /// thousand kernels on two cores, polling alone took seconds).
    pub fn drained(&self) {
        if self.draining.fetch_sub(1, Ordering::SeqCst) == 1 {
            for peer in &self.peers {
                let _ = peer.mailbox.send(Message::Control(Control::Drained));
            }
        }
    }

    /// Whether every kernel has emptied its overflow queues since shutdown.
    pub fn all_drained(&self) -> bool {
        self.draining.load(Ordering::SeqCst) == 0
    }

    /// Resolves a name through the directory.
    pub fn resolve(&self, name: &Str) -> Result<SessionId> {
        match self.directory.resolve(name) {
            Found::One(id) => Ok(id),
            Found::None => Err(Error::NoSuchSession(name.to_string())),
            Found::Many(sessions) => Err(Error::AmbiguousAlias {
                alias: name.to_string(),
                sessions,
            }),
        }
    }

    pub fn kernels(&self) -> usize {
        self.peers.len()
    }
}
