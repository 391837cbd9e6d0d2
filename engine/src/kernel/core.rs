//! `Core`: one kernel's state, made of the parts that own its invariants,
//! and the types every dispatch passes around.
//!
//! Each part keeps its fields private and its invariants to itself:
//! [`Sessions`] (the table, reference counts and garbage marks),
//! [`Aliases`], the [`Queue`] (posted events and timers), [`Signals`]
//! (`sig()` watchers), [`IoState`] (the reactor, I/O sources and child
//! watchers), the runtime's [`Link`] and the [`Accounting`]. What needs two
//! of them at once is glue in the kernel's other files, as `impl Core`
//! blocks; what runs handlers goes through a [`Scope`].

use std::panic::Location;

use super::{
    accounting::Accounting, aliases::Aliases, introspect::Publisher, io::IoState, link::Link,
    sessions::Sessions, signals::Signals,
};
use crate::{
    clock::Clock,
    error::{Error, Result},
    event::Event,
    id::{KernelId, SessionId},
    mailbox::Inbox,
    queue::Queue,
    value::{Args, Value},
};

/// Why a handler is running, as far as the kernel's rules care (POE's
/// event types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DispatchKind {
    Start,
    Stop,
    Child,
    Parent,
    Call,
    /// A posted event, a timer or an I/O readiness.
    Queued,
    /// A `sig()` watcher's handler (or `_signal`).
    Signal,
    /// A `sig()` watcher's handler for DIE (exceptions in it are fatal).
    Die,
}

/// One dispatch: who, what, why, and from where.
pub(crate) struct Envelope {
    pub target: SessionId,
    pub sender: SessionId,
    pub event: Event,
    pub kind: DispatchKind,
    /// Trap exceptions and make the target the active session. Only a `call`
    /// from a session to itself does neither.
    pub trap: bool,
    pub caller_state: Option<Event>,
    pub location: &'static Location<'static>,
}

/// The active session and event, saved around each dispatch.
#[derive(Clone, Copy)]
pub(crate) struct Active {
    pub session: SessionId,
    pub event: Option<Event>,
    pub kind: Option<DispatchKind>,
}

/// How a dispatch ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The handler returned (an exception it threw was already turned into
    /// `DIE`, and this is `undef`).
    Returned(Value),
    /// Neither a handler nor `_default` exists for the event.
    Unhandled,
    /// The handler failed and the dispatch does not trap (a `call` to the
    /// session itself): the error goes back to the caller.
    Died(Error),
    /// The handler failed and the dispatch trapped it: its DIE signal is
    /// queued, a `call` returns `undef` (as POE's does), and a
    /// `call_reply`'s answer says it died, with the error's text.
    Trapped(String),
    /// The session no longer exists.
    Gone,
    /// The session is busy in a frame this dispatch cannot reach.
    Unreachable,
}

impl Outcome {
    /// The handler's value, `undef` when there was none.
    pub fn value(self) -> Value {
        match self {
            Outcome::Returned(value) => value,
            _ => Value::Undef,
        }
    }
}

/// A session that can handle an event: its heap, handlers and options,
/// held for the length of one dispatch. The table owns each session's
/// body while none of its handlers runs; dispatch lends it out.
pub(crate) trait Body {
    /// Runs the handler for `env.event` (or `_default`), which takes the
    /// arguments. (Borrowed, so they move once: into the handler.)
    fn invoke(&mut self, scope: Scope<'_>, env: &Envelope, args: &mut Args) -> Outcome;

    /// Runs `f` as the session's handler for `env`, with the handler's
    /// context seen through [`Port`] (an I/O source reacting for it).
    fn run(&mut self, scope: Scope<'_>, env: &Envelope, f: &mut RunWith<'_>) -> Outcome;

    /// The events it has handlers for, sorted by name (for snapshots).
    fn handler_names(&self) -> Vec<Event>;

    /// Its heap's Rust type (for snapshots).
    fn heap_type(&self) -> &'static str;

    /// Whether it has a handler for `event` (not counting `_default`).
    fn handles(&self, event: Event) -> bool;
}

/// What [`Body::run`] runs.
pub(crate) type RunWith<'f> = dyn FnMut(&mut dyn Port) -> Result<()> + 'f;

/// A running handler's context, without its heap type: what an I/O source
/// acting for the session reaches through its [`Io`](super::Io) handle.
pub(crate) trait Port {
    fn core(&mut self) -> &mut Core;
    fn session(&self) -> SessionId;
    /// Runs this session's handler for `event` now, as a `call` from the
    /// session to itself does; queues it when no handler of the session is
    /// running (a source flushed after its dispatch).
    fn emit(
        &mut self,
        event: Event,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<Value>;
}

/// The kernel outside any handler, as a [`Port`] for one session: what a
/// source's `flush` gets once the dispatch that asked for it has returned.
pub(crate) struct Bare<'a> {
    pub core: &'a mut Core,
    pub session: SessionId,
}

impl Port for Bare<'_> {
    fn core(&mut self) -> &mut Core {
        self.core
    }

    fn session(&self) -> SessionId {
        self.session
    }

    fn emit(
        &mut self,
        event: Event,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<Value> {
        let session = self.session;
        self.core.post_self(session, event, args, location);
        Ok(Value::Undef)
    }
}

/// What [`Frames::lend`] runs: a nested dispatch given the busy session's
/// body and the rest of the chain.
pub(crate) type Lent<'f> = dyn FnMut(&mut dyn Body, Option<&mut dyn Frames>) -> Outcome + 'f;

/// The sessions whose handlers are on the stack, newest first.
pub(crate) trait Frames {
    /// Finds the busy session `id` and runs `f` with its body and the rest
    /// of the chain (that frame's body hidden, so it is never lent twice).
    /// `None` when no frame holds it.
    fn lend(&mut self, id: SessionId, f: &mut Lent<'_>) -> Option<Outcome>;
}

/// Reborrows a chain for a shorter lifetime. `Option` blocks the coercion
/// that shortens a trait object's lifetime bound, so it is spelled out here.
pub(crate) fn shorten<'s>(
    chain: Option<&'s mut (dyn Frames + '_)>,
) -> Option<&'s mut (dyn Frames + 's)> {
    match chain {
        Some(frames) => Some(frames),
        None => None,
    }
}

/// The kernel as a dispatching call sees it: its state, and the frames of
/// the handlers currently running (none at the top of a slice).
pub(crate) struct Scope<'a> {
    pub core: &'a mut Core,
    pub chain: Option<&'a mut (dyn Frames + 'a)>,
}

impl Scope<'_> {
    /// The same scope, reborrowed.
    pub fn reborrow(&mut self) -> Scope<'_> {
        Scope {
            core: &mut *self.core,
            chain: shorten(self.chain.as_deref_mut()),
        }
    }
}

/// One kernel's state.
pub(crate) struct Core {
    pub(super) id: KernelId,
    pub(super) name: String,
    pub(super) sessions: Sessions,
    pub(super) aliases: Aliases,
    pub(super) queue: Queue,
    pub(super) clock: Clock,
    pub(super) signals: Signals,
    pub(super) io: IoState,
    /// The runtime this kernel belongs to, if any.
    pub(super) link: Option<Box<dyn Link>>,
    pub(super) acct: Accounting,
    pub(super) active: Active,
    /// An exception nobody handled, returned by `run`.
    pub(super) failure: Option<Error>,
    pub(super) inbox: Inbox,
    /// Publishes snapshots, once asked to.
    pub(super) publisher: Option<Publisher>,
    /// Where names nothing local resolves may still go (IKC).
    pub(super) router: Option<std::rc::Rc<dyn super::router::Router>>,
}

impl Core {
    pub fn new(id: KernelId, name: String) -> std::io::Result<Core> {
        let waker = std::sync::Arc::new(crate::mailbox::Waker::new()?);
        let io = IoState::new(&waker)?;
        Ok(Core {
            id,
            name,
            sessions: Sessions::new(id),
            aliases: Aliases::default(),
            queue: Queue::default(),
            clock: Clock::new(),
            signals: Signals::new(),
            io,
            link: None,
            acct: Accounting::new(),
            active: Active {
                session: SessionId::kernel_root(id),
                event: None,
                kind: None,
            },
            failure: None,
            inbox: Inbox::new(waker),
            publisher: None,
            router: None,
        })
    }

    #[inline]
    pub fn id(&self) -> KernelId {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    #[inline]
    pub fn root(&self) -> SessionId {
        SessionId::kernel_root(self.id)
    }

    // ----- the active session -------------------------------------------------

    #[inline]
    pub fn active(&self) -> SessionId {
        self.active.session
    }

    pub fn active_event(&self) -> Option<Event> {
        self.active.event
    }

    pub fn active_kind(&self) -> Option<DispatchKind> {
        self.active.kind
    }

    /// Makes `session` active for a dispatch; returns what to restore.
    #[inline]
    pub fn enter(&mut self, session: SessionId, event: Event, kind: DispatchKind) -> Active {
        std::mem::replace(
            &mut self.active,
            Active {
                session,
                event: Some(event),
                kind: Some(kind),
            },
        )
    }

    #[inline]
    pub fn leave(&mut self, saved: Active) {
        self.active = saved;
    }

    /// POE's `stop()` leaves the kernel active for the rest of the handler.
    pub fn activate_kernel(&mut self) {
        self.active.session = self.root();
    }

    // ----- exceptions ---------------------------------------------------------

    #[inline]
    pub fn has_failed(&self) -> bool {
        self.failure.is_some()
    }

    /// The unhandled failure, for `run` to return.
    pub fn take_failure(&mut self) -> Result<()> {
        match self.failure.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}
