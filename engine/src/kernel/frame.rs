//! Re-entrant dispatch: how a handler's session stays reachable while its
//! handler runs.
//!
//! POE dispatches synchronously inside handlers: `call`, `_start`,
//! `_child`, `_parent`, `_stop` and signal handlers all run before the API
//! call that caused them returns, and they may target a session whose
//! handler is already on the stack (a parent hears `_child` while it is
//! still inside the handler that spawned the child; `stop()` stops the
//! caller itself).
//!
//! A session's heap and handlers (its [`Body`]) live in the session table
//! while idle. Dispatch moves the body out of the table, lends it to the
//! handler through the [`Context`](super::Context), and puts it back after.
//! Whenever a handler makes a dispatching call, its `Context` pushes a
//! [`Frame`] that lends the running session's body to the nested dispatch;
//! frames link to the frames of the handlers further up the stack. A
//! dispatch to a busy session finds its body in that chain and borrows it
//! for the nested handler, with the rest of the chain (minus that frame)
//! still reachable. All of it is ordinary borrowing: no `unsafe`, no
//! `RefCell`.

use std::{any::Any, panic, rc::Rc};

use super::{
    Context,
    core::{Core, Envelope},
    scope::Scope,
};
use crate::{
    error::Error,
    event::Event,
    session::{Handlers, Options},
    value::{Args, Value},
};

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

/// A session that can handle an event: something holding its heap and
/// handlers for the length of one dispatch.
pub(crate) trait Busy {
    /// Runs the handler for `env.event` (or `_default`).
    fn invoke(&mut self, scope: Scope<'_>, env: &Envelope, args: &mut Args) -> Outcome;

    /// The events it has handlers for, sorted by name (for snapshots).
    fn handler_names(&self) -> Vec<Event>;
}

/// A session's heap, handlers and options, owned by the session table while
/// no handler of the session runs.
pub(crate) type Body = dyn Busy;

/// A session's body as the table stores it.
pub(crate) struct TypedBody<H> {
    pub heap: H,
    pub handlers: Handlers<H>,
    pub options: Options,
}

impl<H: 'static> Busy for TypedBody<H> {
    fn invoke(&mut self, scope: Scope<'_>, env: &Envelope, args: &mut Args) -> Outcome {
        let TypedBody {
            heap,
            handlers,
            options,
        } = self;
        invoke(
            Parts {
                heap,
                handlers,
                options,
            },
            scope,
            env,
            args,
        )
    }

    fn handler_names(&self) -> Vec<Event> {
        sorted_names(&self.handlers)
    }
}

fn sorted_names<H>(handlers: &Handlers<H>) -> Vec<Event> {
    let mut names: Vec<Event> = handlers.keys().copied().collect();
    names.sort_by_key(|event| event.as_str());
    names
}

/// A running session's body, split into the borrows its `Context` holds.
pub(crate) struct Parts<'a, H> {
    pub heap: &'a mut H,
    pub handlers: &'a mut Handlers<H>,
    pub options: &'a Options,
}

impl<H: 'static> Busy for Parts<'_, H> {
    fn invoke(&mut self, scope: Scope<'_>, env: &Envelope, args: &mut Args) -> Outcome {
        let parts = Parts {
            heap: &mut *self.heap,
            handlers: &mut *self.handlers,
            options: self.options,
        };
        invoke(parts, scope, env, args)
    }

    fn handler_names(&self) -> Vec<Event> {
        sorted_names(self.handlers)
    }
}

/// What `Frames::lend` runs: a nested dispatch given the busy session's body
/// and the rest of the chain.
pub(crate) type Lent<'f> = dyn FnMut(&mut dyn Busy, Option<&mut dyn Frames>) -> Outcome + 'f;

/// The sessions whose handlers are on the stack, newest first.
pub(crate) trait Frames {
    /// Finds the busy session `id` and runs `f` with its body and the rest
    /// of the chain (that frame's body hidden, so it is never lent twice).
    /// `None` when no frame holds it.
    fn lend(&mut self, id: crate::id::SessionId, f: &mut Lent<'_>) -> Option<Outcome>;
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

/// One handler on the stack: its session's body, lent for nested dispatch.
pub(crate) struct Frame<'a> {
    pub id: crate::id::SessionId,
    pub busy: Option<&'a mut (dyn Busy + 'a)>,
    pub prev: Option<&'a mut (dyn Frames + 'a)>,
}

impl Frames for Frame<'_> {
    fn lend(&mut self, id: crate::id::SessionId, f: &mut Lent<'_>) -> Option<Outcome> {
        if self.id == id
            && let Some(busy) = self.busy.take()
        {
            let outcome = f(&mut *busy, Some(&mut *self));
            self.busy = Some(busy);
            return Some(outcome);
        }
        self.prev.as_deref_mut()?.lend(id, f)
    }
}

/// Dispatches one event to a session's handler: finds the handler (or
/// `_default`), makes the `Context`, runs it, and traps what it throws.
fn invoke<H: 'static>(
    parts: Parts<'_, H>,
    scope: Scope<'_>,
    env: &Envelope,
    args: &mut Args,
) -> Outcome {
    let Parts {
        heap,
        handlers,
        options,
    } = parts;
    let Scope { core, chain } = scope;
    let (handler, state, args) = match handlers.get(&env.event) {
        Some(handler) if !options.trace => (Rc::clone(handler), env.event, std::mem::take(args)),
        _ => match redirect(handlers, options, env, args) {
            Some(found) => found,
            None => return Outcome::Unhandled,
        },
    };
    // Postbacks called so far name the session active until now as SENDER.
    core.fold_inbox();
    let saved = env.trap.then(|| core.enter(env.target, state, env.kind));
    let mut cx = Context::new(heap, handlers, options, core, shorten(chain), env, state);
    let result = if env.trap {
        trap(|| handler(&mut cx, args))
    } else {
        // POE's `call` to the current session bypasses the dispatcher: no
        // trap, so a failure propagates into the calling handler.
        handler(&mut cx, args)
    };
    let core = cx.into_core();
    // Postbacks this handler called name it as SENDER while it is active.
    core.fold_inbox();
    let after_stop = core.active().is_kernel();
    if let Some(saved) = saved {
        core.leave(saved);
    }
    match result {
        Ok(value) => Outcome::Returned(value),
        Err(error) if env.trap => {
            core.exception_in(env, error, after_stop);
            Outcome::Returned(Value::Undef)
        }
        Err(error) => Outcome::Died(error),
    }
}

/// The handler for an event when the fast path does not apply: tracing is
/// on, or the event goes to `_default` (POE's `_invoke_state`).
#[cold]
fn redirect<H>(
    handlers: &Handlers<H>,
    options: &Options,
    env: &Envelope,
    args: &mut Args,
) -> Option<(super::super::session::Handler<H>, Event, Args)> {
    if options.trace {
        eprintln!(
            "{} -> {} (from {} at {})",
            env.target,
            env.event,
            env.location.file(),
            env.location.line()
        );
    }
    if let Some(handler) = handlers.get(&env.event) {
        return Some((Rc::clone(handler), env.event, std::mem::take(args)));
    }
    let Some(handler) = handlers.get(&Event::DEFAULT) else {
        if options.default && env.event != Event::SIGNAL {
            eprintln!(
                "a '{}' event was sent from {} at {} to session {} but session {} \
                 has neither a handler for it nor one for _default",
                env.event,
                env.location.file(),
                env.location.line(),
                env.target,
                env.target
            );
        }
        return None;
    };
    if options.trace {
        eprintln!("{} -> {} redirected to _default", env.target, env.event);
    }
    let original = Args::from((
        env.event.as_str(),
        Value::List(std::mem::take(args).into_vec()),
    ));
    Some((Rc::clone(handler), Event::DEFAULT, original))
}

/// Runs `f`, turning a panic into [`Error::Died`] with the panic's text, as
/// POE's `eval` turns a `die`.
pub(crate) fn trap<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    panic::catch_unwind(panic::AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(Error::Died(panic_message(payload.as_ref()))))
}

/// The text of a panic, as `die`'s message.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a handler panicked".to_owned()
    }
}

impl Core {
    /// Dispatches to the kernel's own session, which handles only its IDLE
    /// watcher (POE's `POE::Kernel::_invoke_state`).
    pub(crate) fn kernel_event(&mut self, env: &Envelope, args: &Args) -> Outcome {
        if env.event == Event::SIGNAL && args.get(0).as_str() == Some("IDLE") {
            self.zombie_if_still_idle();
        }
        Outcome::Returned(Value::Int(0))
    }
}
