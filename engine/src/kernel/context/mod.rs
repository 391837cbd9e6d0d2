//! `Context`: what a handler sees — POE's `$_[KERNEL]`, `$_[HEAP]`,
//! `$_[SESSION]`, `$_[SENDER]`, `$_[STATE]` and the caller fields.

mod timers;
mod watch;

use std::{panic::Location, rc::Rc};

use super::{
    answer::Answer,
    core::{Core, Envelope, Frames, Outcome, Scope, shorten},
    dest::Dest,
    frame::Frame,
    postback::{AWAITING_REPLY, Callback, Postback, anon_event_tag},
    router::{Router, Unrouted},
    source::Io,
};
use crate::{
    error::{Error, Result, TryPostError},
    event::Event,
    id::{KernelId, SessionId},
    mailbox::{Message, Origin},
    queue::item::Kind,
    session::{Handlers, Object, Options, Return, object_handler, wrap},
    value::{Args, Str, Value},
};

/// A handler's view of its session and kernel.
///
/// Every POE kernel call a handler makes is a method here, acting for this
/// session: [`post`](Context::post), [`yield_`](Context::yield_),
/// [`call`](Context::call), the timer calls, aliases, signals, children.
/// The session's heap is the public field [`heap`](Context::heap).
///
/// Calls that dispatch at once (`call`, `spawn`, `stop`, `detach_*`) may
/// run handlers of this same session before they return, as POE's do; the
/// borrow checker keeps `heap` from being held across them.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use roe_engine::{Kernel, Session, Value};
///
/// #[derive(Default)]
/// struct Heap { seen: Vec<String> }
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(Heap::default())
///         .on("_start", |cx, _| {
///             cx.alias_set("logger")?;
///             cx.yield_("log", ("queued",));
///             // `call` runs the handler now and returns its value.
///             let n = cx.call(cx.session(), "log", ("called",))?;
///             assert_eq!(n.as_int(), Some(1));
///             cx.delay("log", Duration::from_millis(1), ("later",))?;
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("log", |cx, args| {
///             cx.heap.seen.push(args[0].to_string());
///             Value::from(cx.heap.seen.len())
///         })
///         .on("_stop", |cx, _| assert_eq!(cx.heap.seen, ["called", "queued", "later"])),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub struct Context<'a, H> {
    /// The session's heap (POE's `$_[HEAP]`).
    pub heap: &'a mut H,
    pub(super) handlers: &'a mut Handlers<H>,
    pub(super) options: &'a mut Options,
    pub(super) core: &'a mut Core,
    chain: Option<&'a mut (dyn Frames + 'a)>,
    pub(super) session: SessionId,
    pub(super) sender: SessionId,
    pub(super) state: Event,
    pub(super) caller_state: Option<Event>,
    pub(super) caller: &'static Location<'static>,
}

impl<'a, H: 'static> Context<'a, H> {
    pub(crate) fn new(
        heap: &'a mut H,
        handlers: &'a mut Handlers<H>,
        options: &'a mut Options,
        core: &'a mut Core,
        chain: Option<&'a mut (dyn Frames + 'a)>,
        env: &Envelope,
        state: Event,
    ) -> Context<'a, H> {
        Context {
            heap,
            handlers,
            options,
            core,
            chain,
            session: env.target,
            sender: env.sender,
            state,
            caller_state: env.caller_state,
            caller: env.location,
        }
    }

    pub(crate) fn into_core(self) -> &'a mut Core {
        self.core
    }

    /// Runs `f` with a scope whose chain starts with this handler's frame,
    /// so nested dispatch can reach this session.
    fn scope<R>(&mut self, f: impl FnOnce(&mut Scope<'_>) -> R) -> R {
        let mut parts = Parts {
            heap: &mut *self.heap,
            handlers: &mut *self.handlers,
            options: &mut *self.options,
        };
        let mut frame = Frame {
            id: self.session,
            body: Some(&mut parts),
            prev: shorten(self.chain.as_deref_mut()),
        };
        let mut scope = Scope {
            core: &mut *self.core,
            chain: Some(&mut frame),
        };
        f(&mut scope)
    }

    // ----- who and what ---------------------------------------------------------

    /// This session (POE's `$_[SESSION]`).
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// Who sent the event (POE's `$_[SENDER]`; see docs/porting.md for who
    /// that is per event).
    pub fn sender(&self) -> SessionId {
        self.sender
    }

    /// The event being handled (POE's `$_[STATE]`); `_default` when the
    /// event reached `_default`.
    pub fn state(&self) -> Event {
        self.state
    }

    /// The event that was being handled when this one was sent (POE's
    /// `$_[CALLER_STATE]`).
    pub fn caller_state(&self) -> Option<Event> {
        self.caller_state
    }

    /// Source file the event was sent from (POE's `$_[CALLER_FILE]`).
    pub fn caller_file(&self) -> &'static str {
        self.caller.file()
    }

    /// Source line the event was sent from (POE's `$_[CALLER_LINE]`).
    pub fn caller_line(&self) -> u32 {
        self.caller.line()
    }

    /// This kernel.
    pub fn kernel_id(&self) -> KernelId {
        self.core.id()
    }

    /// The kernel's name (POE's `$kernel->ID`).
    pub fn kernel_name(&self) -> &str {
        self.core.name()
    }

    /// The kernel's own session (POE's `$poe_kernel` as a destination).
    pub fn kernel_session(&self) -> SessionId {
        self.core.root()
    }

    /// The session the kernel considers active (POE's
    /// `get_active_session`): this one, or the kernel after `stop`.
    pub fn active_session(&self) -> SessionId {
        self.core.active()
    }

    /// The event the kernel considers active (POE's `get_active_event`).
    pub fn active_event(&self) -> Option<Event> {
        self.core.active_event()
    }

    /// How many items are queued (POE's `get_event_count`).
    pub fn event_count(&self) -> usize {
        self.core.queued()
    }

    // ----- events ---------------------------------------------------------------

    /// Queues `event` for `dest` (POE's `post`).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when `dest` does not resolve.
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

    /// Queues `event` for this session (POE's `yield`).
    #[track_caller]
    pub fn yield_(&mut self, event: impl Into<Event>, args: impl Into<Args>) {
        let me = self.core.active();
        self.core.enqueue(
            me,
            me,
            event.into(),
            Kind::Post,
            args.into(),
            Location::caller(),
        );
    }

    /// Runs `event`'s handler in `dest` now and returns its value (POE's
    /// `call`). A missing handler gives `undef`.
    ///
    /// A failure in another session's handler is trapped there (it becomes
    /// that session's DIE signal) and `undef` comes back; a call to this
    /// session itself is not trapped, so its error is returned here.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when `dest` does not resolve; the handler's
    /// own error for a call to this session; [`Error::Busy`] when the target
    /// cannot be reached (docs/architecture.md, "Re-entrant dispatch").
    #[track_caller]
    pub fn call(
        &mut self,
        dest: impl Into<Dest>,
        event: impl Into<Event>,
        args: impl Into<Args>,
    ) -> Result<Value> {
        let (dest, event, args, location) =
            (dest.into(), event.into(), args.into(), Location::caller());
        self.scope(|scope| scope.call(&dest, event, args, location))
    }

    /// Runs `event`'s handler in `dest`, on this kernel, now, as
    /// [`call`](Context::call) does, and says how it went: the value it
    /// returned, or that there was no handler, no session, or that it
    /// failed (with the error's text), which `call` folds into `undef`.
    /// For code that answers calls on others' behalf, as IKC answers a
    /// call from another process.
    ///
    /// # Errors
    ///
    /// A call to this session's own failing handler returns its error, as
    /// `call` does.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::{Answer, Error, Kernel, Session, Value};
    ///
    /// let mut kernel = Kernel::new()?;
    /// kernel.spawn(
    ///     Session::new(())
    ///         .on("_start", |cx, _| cx.alias_set("svc"))
    ///         .on("double", |_, args| Value::Int(args[0].as_int().unwrap_or(0) * 2)),
    /// )?;
    /// kernel.spawn(Session::new(()).on("_start", |cx, _| {
    ///     assert_eq!(cx.call_answer("svc", "double", (21,))?, Answer::Returned(Value::Int(42)));
    ///     assert_eq!(cx.call_answer("svc", "missing", ())?, Answer::NoHandler);
    ///     assert!(matches!(cx.call_answer("nobody", "double", ())?, Answer::NoSession(_)));
    ///     Ok::<_, Error>(())
    /// }))?;
    /// kernel.run()?;
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn call_answer(
        &mut self,
        dest: impl Into<Dest>,
        event: impl Into<Event>,
        args: impl Into<Args>,
    ) -> Result<Answer> {
        let location = Location::caller();
        let (dest, event, args) = (dest.into(), event.into(), args.into());
        let Some(target) = self.core.resolve(&dest) else {
            return Ok(Answer::NoSession(
                Error::NoSuchSession(dest.to_string()).to_string(),
            ));
        };
        let me = self.core.active();
        match self.scope(|scope| scope.call_outcome(target, event, args, location)) {
            Outcome::Died(error) if target == me => Err(error),
            outcome => Ok(Answer::of(outcome, target)),
        }
    }

    /// Calls `event` in `dest`, on this kernel or another, and posts the
    /// outcome back to this session as `reply` (IKC's RSVP: a call across
    /// kernels is a post with a reply address, never a wait).
    ///
    /// `reply` gets ARG0 = the handler's value and, when the handler did
    /// not simply return, why in ARG1 and ARG2; [`Answer::from_args`]
    /// reads them, so a missing handler or a gone session is told apart
    /// from a handler that returned `undef`. On this kernel the handler
    /// runs at once, as [`call`](Context::call) runs it, and the reply is
    /// queued. Across kernels this session is kept alive until the reply
    /// arrives.
    ///
    /// [`Answer::from_args`]: crate::Answer::from_args
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when `dest` does not resolve (on this kernel
    /// or in the runtime's directory), [`Error::AmbiguousAlias`],
    /// [`Error::ShuttingDown`]; on this kernel, a call to this session's
    /// own failing handler returns its error, as `call` does.
    #[track_caller]
    pub fn call_reply(
        &mut self,
        dest: impl Into<Dest>,
        event: impl Into<Event>,
        args: impl Into<Args>,
        reply: impl Into<Event>,
    ) -> Result<()> {
        let location = Location::caller();
        let (dest, event, args, reply) = (dest.into(), event.into(), args.into(), reply.into());
        let me = self.core.active();
        let target = match self.core.resolve_anywhere(&dest) {
            Ok(target) => target,
            Err(error) => {
                let (Dest::Name(name), Some(router)) = (&dest, self.core.router.clone()) else {
                    return Err(error);
                };
                return match router.call_reply(name, event, args, me, reply) {
                    Ok(routed) => self.post(routed.session, routed.event, routed.args),
                    Err(Unrouted::Unknown) => Err(error),
                    Err(Unrouted::Refused(refusal)) => Err(refusal),
                };
            }
        };
        if target.kernel() == self.core.id() {
            let outcome = self.scope(|scope| scope.call_outcome(target, event, args, location));
            let answer = match outcome {
                Outcome::Died(error) if target == me => return Err(error),
                outcome => Core::answer(outcome, target),
            };
            // The reply comes from the called session, as one from another
            // kernel does (from the kernel when that session is gone).
            let sender = if self.core.sessions.contains(target) {
                target
            } else {
                self.core.root()
            };
            self.core
                .enqueue(me, sender, reply, Kind::Post, answer, location);
            return Ok(());
        }
        let message = Message::Call {
            target,
            sender: me,
            event,
            args,
            reply,
        };
        // The reply needs this session alive; it lets go when it arrives.
        self.refcount_increment(me, AWAITING_REPLY)?;
        let sent = self.core.send_remote(target, message);
        if sent.is_err() {
            self.refcount_decrement(me, AWAITING_REPLY)?;
        }
        sent
    }

    /// Queues `event` for `dest` as [`post`](Context::post) does, but never
    /// waits in an overflow queue: when `dest` is on another kernel whose
    /// inbox is full, the arguments come back in [`TryPostError::Full`].
    ///
    /// # Errors
    ///
    /// [`TryPostError::Full`] with the arguments when the target's inbox is
    /// full; [`TryPostError::Failed`] with the reason (as `post`'s) and the
    /// arguments otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::{Kernel, Session, TryPostError};
    ///
    /// let mut kernel = Kernel::new()?;
    /// kernel.spawn(Session::new(()).on("_start", |cx, _| {
    ///     match cx.try_post("nobody", "hello", (1,)) {
    ///         Err(TryPostError::Failed(error, args)) => {
    ///             assert_eq!(error.errno(), Some(3));
    ///             assert_eq!(args[0].as_int(), Some(1));
    ///         }
    ///         other => panic!("{other:?}"),
    ///     }
    /// }))?;
    /// kernel.run()?;
    /// # Ok::<(), roe_engine::Error>(())
    /// ```
    #[track_caller]
    #[allow(clippy::result_large_err)] // The arguments come back by value.
    pub fn try_post(
        &mut self,
        dest: impl Into<Dest>,
        event: impl Into<Event>,
        args: impl Into<Args>,
    ) -> std::result::Result<(), TryPostError> {
        let (dest, event, args) = (dest.into(), event.into(), args.into());
        let target = match self.core.resolve_anywhere(&dest) {
            Ok(target) => target,
            Err(error) => return Err(TryPostError::Failed(error, args)),
        };
        let me = self.core.active();
        if target.kernel() == self.core.id() {
            if !self.core.sessions.contains(target) {
                return Err(TryPostError::Failed(
                    Error::NoSuchSession(dest.to_string()),
                    args,
                ));
            }
            self.core
                .enqueue(target, me, event, Kind::Post, args, Location::caller());
            return Ok(());
        }
        let message = Message::Post {
            target,
            sender: Origin::Session(me),
            event,
            args,
        };
        self.core.try_send_remote(target, message)
    }

    /// Queues the signal `name` for `dest` and its descendants (POE's
    /// `signal`). Sent to the kernel it reaches every session.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when `dest` does not resolve.
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

    // ----- sessions -------------------------------------------------------------

    /// Creates a child session and runs its `_start` now (POE's
    /// `POE::Session->create` inside a handler).
    ///
    /// # Errors
    ///
    /// [`Error::MissingStart`] when it has no `_start` handler.
    pub fn spawn<C: 'static>(&mut self, session: crate::session::Session<C>) -> Result<SessionId> {
        self.scope(|scope| scope.spawn(session))
    }

    /// Makes this session a child of the kernel (POE's `detach_myself`).
    ///
    /// # Errors
    ///
    /// [`Error::NotPermitted`] when it already is one.
    pub fn detach_myself(&mut self) -> Result<()> {
        self.scope(|scope| scope.detach_myself())
    }

    /// Makes a child of this session a child of the kernel (POE's
    /// `detach_child`).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when `child` does not resolve,
    /// [`Error::NotPermitted`] when it is not this session's child.
    pub fn detach_child(&mut self, child: impl Into<Dest>) -> Result<()> {
        let child = child.into();
        self.scope(|scope| scope.detach_child(&child))
    }

    /// Stops every session, this one included, deepest first, each getting
    /// `_stop` (POE's `POE::Kernel->stop`). The handler goes on running with
    /// the kernel active; `run` returns once it ends.
    pub fn stop(&mut self) {
        self.scope(|scope| scope.stop_all());
    }

    /// Resolves a destination to a live session (POE's `alias_resolve`):
    /// on this kernel first, then, in a runtime, through the alias
    /// directory; a session of another kernel is returned as given.
    /// `None` when nothing, or more than one kernel, holds the name.
    pub fn resolve(&self, dest: impl Into<Dest>) -> Option<SessionId> {
        self.core.resolve_anywhere(&dest.into()).ok()
    }

    /// The live session numbered `number` (POE's `ID_id_to_session`).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when none is.
    pub fn id_to_session(&self, number: u64) -> Result<SessionId> {
        self.core
            .sessions
            .by_number(number)
            .ok_or_else(|| Error::NoSuchSession(number.to_string()))
    }

    // ----- aliases --------------------------------------------------------------

    /// Gives this session an alias (POE's `alias_set`). Setting an alias it
    /// already holds succeeds. In a runtime, other kernels resolve it too.
    ///
    /// # Errors
    ///
    /// [`Error::AliasInUse`] when another session holds it.
    pub fn alias_set(&mut self, alias: impl Into<Str>) -> Result<()> {
        self.core.alias_set(alias.into())
    }

    /// Removes one of this session's aliases (POE's `alias_remove`).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchAlias`] when nobody holds it, [`Error::NotPermitted`]
    /// when another session does.
    pub fn alias_remove(&mut self, alias: impl AsRef<str>) -> Result<()> {
        self.core.alias_remove(alias.as_ref())
    }

    /// This session's aliases, sorted (POE's `alias_list()`).
    pub fn alias_list(&self) -> Vec<Str> {
        self.core.alias_list(self.core.active())
    }

    /// Another session's aliases, sorted (POE's `alias_list($session)`).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when `dest` does not resolve.
    pub fn alias_list_of(&self, dest: impl Into<Dest>) -> Result<Vec<Str>> {
        let id = self.core.resolve_or_err(&dest.into())?;
        Ok(self.core.alias_list(id))
    }

    // ----- reference counts -----------------------------------------------------

    /// Increments a session's public refcount `tag`; returns its new value
    /// (POE's `refcount_increment`).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when the session is gone.
    pub fn refcount_increment(&mut self, session: SessionId, tag: &str) -> Result<i64> {
        self.core
            .sessions
            .extref_inc(session, tag)
            .ok_or_else(|| Error::NoSuchSession(session.to_string()))
    }

    /// Decrements a session's public refcount `tag`; returns its new value
    /// (POE's `refcount_decrement`).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when the session is gone.
    pub fn refcount_decrement(&mut self, session: SessionId, tag: &str) -> Result<i64> {
        self.core
            .sessions
            .extref_dec(session, tag)
            .ok_or_else(|| Error::NoSuchSession(session.to_string()))
    }

    // ----- handlers at run time ------------------------------------------------

    /// Adds or replaces this session's handler for `event` (POE's `state`).
    /// It takes effect at once.
    pub fn state_set<F, R>(&mut self, event: impl Into<Event>, handler: F)
    where
        F: Fn(&mut Context<'_, H>, Args) -> R + 'static,
        R: Return,
    {
        let event = event.into();
        self.handlers.insert(event, wrap(handler));
        self.handlers_changed(event);
    }

    /// Handles `event` with `method` of `object` (POE's
    /// `state($event, $object, $method)`).
    pub fn state_object<O: Object<H>>(
        &mut self,
        event: impl Into<Event>,
        object: &Rc<O>,
        method: &'static str,
    ) {
        let event = event.into();
        self.handlers.insert(event, object_handler(object, method));
        self.handlers_changed(event);
    }

    /// Removes this session's handler for `event` (POE's `state($event)`).
    pub fn state_remove(&mut self, event: impl Into<Event>) {
        let event = event.into();
        self.handlers.remove(&event);
        self.handlers_changed(event);
    }

    /// A handler came or went: one for `_signal` decides whether the kernel
    /// announces OS signals to this session.
    fn handlers_changed(&mut self, event: Event) {
        if event == Event::SIGNAL {
            let hears = self.handlers.contains_key(&Event::SIGNAL);
            self.core.hear_signals(self.session, hears);
        }
    }

    /// Whether this session handles `event`.
    pub fn has_handler(&self, event: impl Into<Event>) -> bool {
        self.handlers.contains_key(&event.into())
    }

    /// Plugs in (or, with `None`, takes out) this kernel's [`Router`]: where
    /// posts and `call_reply`s go that nothing local resolves (roe-ikc's
    /// remote kernels).
    pub fn set_router(&mut self, router: Option<Rc<dyn Router>>) {
        self.core.router = router;
    }

    // ----- postbacks and callbacks ---------------------------------------------

    /// A [`Postback`] that posts `event` to this session with `context` as
    /// `ARG0` (POE's `$session->postback`). It keeps this session alive
    /// until dropped.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when this session is stopping.
    pub fn postback(
        &mut self,
        event: impl Into<Event>,
        context: impl Into<Args>,
    ) -> Result<Postback> {
        let session = self.session;
        self.refcount_increment(session, anon_event_tag())?;
        Ok(Postback::new(
            self.core.inbox.mailbox(),
            self.session,
            event.into(),
            context.into(),
        ))
    }

    /// A [`Callback`] that calls `event` in this session with `context` as
    /// `ARG0` (POE's `$session->callback`). It keeps this session alive
    /// until dropped.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when this session is stopping.
    pub fn callback(
        &mut self,
        event: impl Into<Event>,
        context: impl Into<Args>,
    ) -> Result<Callback> {
        let session = self.session;
        self.refcount_increment(session, anon_event_tag())?;
        Ok(Callback::new(
            self.core.inbox.mailbox(),
            self.session,
            event.into(),
            context.into(),
        ))
    }

    // ----- options and I/O ---------------------------------------------------------

    /// Changes one of this session's options at run time, as POE's
    /// `$_[SESSION]->option(trace => 1, default => 0)` does; returns the
    /// option's previous value. `trace` logs every event dispatched to the
    /// session; `default` warns about events that have neither a handler
    /// nor `_default`. Values read as POE reads them: `1`/`0`, `on`/`off`,
    /// `yes`/`no`, `true`/`false`, and Perl's truth otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for an option other than `trace` and
    /// `default`.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::{Kernel, Session};
    ///
    /// let mut kernel = Kernel::new()?;
    /// kernel.spawn(Session::new(()).on("_start", |cx, _| {
    ///     assert!(!cx.option("trace", "on")?);
    ///     assert!(cx.option("trace", 0)?);
    ///     Ok::<_, roe_engine::Error>(())
    /// }))?;
    /// kernel.run()?;
    /// # Ok::<(), roe_engine::Error>(())
    /// ```
    pub fn option(&mut self, name: &str, value: impl Into<Value>) -> Result<bool> {
        let on = match value.into() {
            Value::Str(word) => match word.to_ascii_lowercase().as_str() {
                "on" | "yes" | "true" => true,
                "off" | "no" | "false" => false,
                _ => Value::Str(word).is_true(),
            },
            other => other.is_true(),
        };
        let slot = match name.to_ascii_lowercase().as_str() {
            "trace" => &mut self.options.trace,
            "default" => &mut self.options.default,
            _ => return Err(Error::InvalidArgument("the options are trace and default")),
        };
        Ok(std::mem::replace(slot, on))
    }

    /// The kernel's I/O operations for this session: what an I/O
    /// [`Source`](crate::Source) is built and watched with (see
    /// [`Io`]).
    pub fn io(&mut self) -> Io<'_> {
        Io::new(self)
    }
}

/// A session's body as the table stores it.
pub(crate) struct TypedBody<H> {
    pub heap: H,
    pub handlers: Handlers<H>,
    pub options: Options,
}

/// A running session's body, split into the borrows its `Context` holds.
pub(crate) struct Parts<'a, H> {
    pub heap: &'a mut H,
    pub handlers: &'a mut Handlers<H>,
    pub options: &'a mut Options,
}

impl<H> TypedBody<H> {
    pub(super) fn parts(&mut self) -> Parts<'_, H> {
        Parts {
            heap: &mut self.heap,
            handlers: &mut self.handlers,
            options: &mut self.options,
        }
    }
}

impl<H> Parts<'_, H> {
    pub(super) fn reborrow(&mut self) -> Parts<'_, H> {
        Parts {
            heap: &mut *self.heap,
            handlers: &mut *self.handlers,
            options: &mut *self.options,
        }
    }
}
