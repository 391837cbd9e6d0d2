//! `Kernel`: one thread's event loop, POE's `POE::Kernel`.

mod accounting;
mod alarm;
mod aliases;
mod answer;
mod child_exit;
pub(crate) mod context;
mod core;
mod dest;
mod dispatch;
mod frame;
mod inbox;
mod introspect;
mod invoke;
mod io;
mod lifecycle;
mod link;
mod names;
mod postback;
mod queueing;
mod router;
mod sessions;
mod signals;
mod source;
mod wait;

use std::panic::Location;

pub use self::{
    alarm::{RemovedTimer, Shift},
    answer::Answer,
    child_exit::ChildExit,
    context::Context,
    dest::Dest,
    postback::{Callback, Postback},
    router::{Routed, Router, Unrouted},
    source::{Io, Readiness, Source, SourceRef},
};
use self::{
    core::{Core, Scope},
    signals::Watch,
};
pub(crate) use self::{
    frame::trap,
    link::{Batch, Delivery, Link, Reaction, SendError, Task},
};
use crate::{
    error::Result,
    event::Event,
    id::{KernelId, SessionId},
    mailbox::Mailbox,
    session::Session,
    value::{Args, Str, Value},
};

/// One thread's event loop: sessions, their queue, timers and signals.
///
/// This is POE's `POE::Kernel`. Spawn sessions, then [`run`](Kernel::run)
/// until none is left. Handlers reach the kernel through their
/// [`Context`]; the methods here are for the code around the loop (POE's
/// main program, where the active session is the kernel itself).
///
/// A kernel belongs to the thread that made it: sessions hold their
/// handlers and heaps without locks, so `Kernel` is neither `Send` nor
/// `Sync`. Other threads reach it through [`Postback`]s.
///
/// # Examples
///
/// ```
/// use roe_engine::{Kernel, Session};
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(0u32)
///         .on("_start", |cx, _| cx.alias_set("counter"))
///         .on("add", |cx, args| {
///             *cx.heap += args[0].as_int().unwrap_or(0) as u32;
///             Ok::<_, roe_engine::Error>(*cx.heap)
///         }),
/// )?;
/// assert_eq!(kernel.call("counter", "add", (2,))?.as_int(), Some(2));
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub struct Kernel {
    core: Core,
    /// The runtime's batch, kept between slices to reuse its buffers.
    batch: Batch,
}

impl Kernel {
    /// A kernel numbered 0, the usual single kernel of a process.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when the operating system refuses the
    /// kernel's poller or wake-up descriptor.
    pub fn new() -> Result<Kernel> {
        Kernel::with_id(KernelId(0))
    }

    /// A kernel with the given number (a runtime numbers its kernels).
    ///
    /// # Errors
    ///
    /// As [`Kernel::new`].
    pub fn with_id(id: KernelId) -> Result<Kernel> {
        Ok(Kernel {
            core: Core::new(id, kernel_name(id))?,
            batch: Batch::default(),
        })
    }

    fn scope(&mut self) -> Scope<'_> {
        Scope {
            core: &mut self.core,
            chain: None,
        }
    }

    /// This kernel's number.
    pub fn id(&self) -> KernelId {
        self.core.id()
    }

    /// This kernel's name, unique across hosts and processes, as POE's
    /// `$kernel->ID` is (host, start time, pid, number); it resolves to the
    /// kernel as a destination.
    pub fn name(&self) -> &str {
        self.core.name()
    }

    /// The kernel's own session, as a destination.
    pub fn session(&self) -> SessionId {
        self.core.root()
    }

    /// Creates a session as a child of the kernel and runs its `_start`
    /// (POE's `POE::Session->create` outside any handler).
    ///
    /// # Errors
    ///
    /// [`Error::MissingStart`](crate::Error::MissingStart) when it has no `_start` handler.
    #[track_caller]
    pub fn spawn<H: 'static>(&mut self, session: Session<H>) -> Result<SessionId> {
        self.scope().spawn(session)
    }

    /// Queues `event` for `dest`, from the kernel (POE's `post` from the main
    /// program).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`](crate::Error::NoSuchSession) when `dest` does not resolve.
    #[track_caller]
    pub fn post(
        &mut self,
        dest: impl Into<Dest>,
        event: impl Into<Event>,
        args: impl Into<Args>,
    ) -> Result<()> {
        self.core
            .post(&dest.into(), event.into(), args.into(), Location::caller())
    }

    /// Runs `event`'s handler in `dest` now and returns its value (POE's
    /// `call` from the main program; SENDER is the kernel).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`](crate::Error::NoSuchSession) when `dest` does not resolve.
    #[track_caller]
    pub fn call(
        &mut self,
        dest: impl Into<Dest>,
        event: impl Into<Event>,
        args: impl Into<Args>,
    ) -> Result<Value> {
        let (dest, event, args) = (dest.into(), event.into(), args.into());
        self.scope().call(&dest, event, args, Location::caller())
    }

    /// Queues the signal `name` for `dest` (POE's `signal`); sent to
    /// [`Kernel::session`] it reaches every session.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`](crate::Error::NoSuchSession) when `dest` does not resolve.
    #[track_caller]
    pub fn signal(
        &mut self,
        dest: impl Into<Dest>,
        name: impl Into<Event>,
        args: impl Into<Args>,
    ) -> Result<()> {
        self.core
            .signal(&dest.into(), name.into(), args.into(), Location::caller())
    }

    /// Resolves a destination to a live session (POE's `alias_resolve`):
    /// on this kernel first, then, in a runtime, through the alias
    /// directory; a session of another kernel is returned as given.
    /// `None` when nothing, or more than one kernel, holds the name.
    pub fn resolve(&self, dest: impl Into<Dest>) -> Option<SessionId> {
        self.core.resolve_anywhere(&dest.into()).ok()
    }

    /// A session's aliases, sorted (POE's `alias_list`).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`](crate::Error::NoSuchSession) when `dest` does not resolve.
    pub fn alias_list(&self, dest: impl Into<Dest>) -> Result<Vec<Str>> {
        let id = self.core.resolve_or_err(&dest.into())?;
        Ok(self.core.alias_list(id))
    }

    /// The session POE considers active: the kernel, outside handlers.
    pub fn active_session(&self) -> SessionId {
        self.core.active()
    }

    /// The event POE considers active; `None` before the first dispatch.
    pub fn active_event(&self) -> Option<Event> {
        self.core.active_event()
    }

    /// Live sessions, not counting the kernel's own.
    pub fn session_count(&self) -> usize {
        let root = usize::from(self.core.sessions.contains(self.core.root()));
        self.core.sessions.len() - root
    }

    /// How many items are queued (POE's `get_event_count`).
    pub fn event_count(&self) -> usize {
        self.core.queued()
    }

    /// Stops every session, deepest first, each getting `_stop` (POE's
    /// `stop`). Queued events and timers are dropped.
    pub fn stop(&mut self) {
        self.scope().stop_all();
    }

    /// Runs timeslices until no session is left (POE's `run`).
    ///
    /// The kernel can run again afterwards with new sessions; session
    /// numbers continue.
    ///
    /// # Errors
    ///
    /// [`Error::Died`](crate::Error::Died) when a handler failed and no session handled the DIE
    /// signal (every session was stopped first), or when a `_stop` handler
    /// failed.
    pub fn run(&mut self) -> Result<()> {
        if !self.core.sessions.is_empty() {
            self.watch_idle();
            while !self.core.sessions.is_empty() {
                self.timeslice();
                // An unhandled DIE stopped every session. A lone kernel then
                // finishes through IDLE, as POE's does; one in a runtime
                // finishes now rather than wait for the others to idle.
                if self.core.has_failed() && self.core.link.is_some() {
                    break;
                }
            }
            self.finalize();
        }
        self.core.take_failure()
    }

    /// Runs one timeslice (POE's `run_one_timeslice`). Returns `false`, and
    /// finishes the kernel, once no session is left.
    ///
    /// # Errors
    ///
    /// As [`Kernel::run`].
    pub fn run_one_timeslice(&mut self) -> Result<bool> {
        if self.core.sessions.is_empty() {
            self.finalize();
            self.core.take_failure()?;
            return Ok(false);
        }
        self.timeslice();
        self.core.take_failure()?;
        Ok(true)
    }

    /// `run` makes the kernel watch IDLE, so it can follow up with ZOMBIE.
    fn watch_idle(&mut self) {
        let root = self.core.root();
        let watch = Watch {
            event: Event::SIGNAL,
            args: Args::new(),
        };
        self.core.signals.watch(Event::IDLE, root, watch);
    }

    /// After the last session: drops what is left (POE's `_finalize_kernel`).
    fn finalize(&mut self) {
        let core = &mut self.core;
        crate::signal::forget(core.signals.instance());
        let root = core.root();
        core.signals.unwatch(Event::IDLE, root);
        core.queue.clear();
        core.sessions.clear_marks();
        core.fold();
        // Observers see the kernel as it ended.
        core.publish_snapshot();
    }

    // ----- for the runtime ------------------------------------------------------

    /// The kernel's mailbox, for the runtime's peer table.
    pub(crate) fn mailbox(&self) -> Mailbox {
        self.core.inbox.mailbox()
    }

    /// Joins a runtime.
    pub(crate) fn attach(&mut self, link: Box<dyn Link>) {
        self.core.link = Some(link);
    }

    /// Leaves the runtime, once finished (`failed`: with an error).
    /// Observers see a last snapshot.
    pub(crate) fn detach(&mut self, failed: bool) {
        self.core.publish_snapshot();
        if let Some(link) = self.core.link.take() {
            let inbox = &self.core.inbox;
            link.finish(failed, &mut || inbox.try_recv());
        }
    }
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("id", &self.core.id())
            .field("name", &self.core.name())
            .field("sessions", &self.session_count())
            .field("queued", &self.core.queue.len())
            .finish()
    }
}

/// POE's kernel ID: host, then start time, process and kernel number in hex.
fn kernel_name(id: KernelId) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{host}-{started:08x}-{:08x}-{:04x}",
        std::process::id(),
        id.0
    )
}
