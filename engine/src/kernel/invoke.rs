//! Invoking a handler: how a dispatch reaches a session's handler, with its
//! `Context` made, what it throws trapped, and the session active
//! meanwhile; and how an I/O source reaches the session's handlers.

use std::{panic::Location, rc::Rc};

use super::{
    context::{Context, Parts, TypedBody},
    core::{Body, Core, DispatchKind, Envelope, Outcome, Port, RunWith, Scope, shorten},
    frame::trap,
};
use crate::{
    error::Result,
    event::Event,
    id::SessionId,
    session::{Handler, Handlers, Options},
    value::{Args, Value},
};

impl<H: 'static> Port for Context<'_, H> {
    fn core(&mut self) -> &mut Core {
        self.core
    }

    fn session(&self) -> SessionId {
        self.session
    }

    /// Runs this session's handler for `event` directly, as a `call` from
    /// the session to itself: no trap, the session stays active.
    fn emit(
        &mut self,
        event: Event,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<Value> {
        if let Some(record) = self.core.sessions.get_mut(self.session) {
            record.handled += 1;
            record.last_event = Some(event);
        }
        self.core.acct.counters.dispatched += 1;
        let env = Envelope {
            target: self.session,
            sender: self.session,
            event,
            kind: DispatchKind::Call,
            trap: false,
            caller_state: Some(self.state),
            location,
        };
        let Some((handler, state)) = lookup(self.handlers, self.options, &env) else {
            return Ok(Value::Undef);
        };
        let args = if state == event {
            args
        } else {
            default_args(event, args)
        };
        let saved = (self.sender, self.state, self.caller_state, self.caller);
        (self.sender, self.state, self.caller_state, self.caller) =
            (self.session, state, env.caller_state, location);
        let mut args = args;
        let result = handler(self, &mut args);
        (self.sender, self.state, self.caller_state, self.caller) = saved;
        result
    }
}

impl<H: 'static> Body for TypedBody<H> {
    #[inline]
    fn invoke(&mut self, scope: Scope<'_>, env: &Envelope, args: &mut Args) -> Outcome {
        invoke(self.parts(), scope, env, args)
    }

    fn run(&mut self, scope: Scope<'_>, env: &Envelope, f: &mut RunWith<'_>) -> Outcome {
        run(self.parts(), scope, env, f)
    }

    fn handler_names(&self) -> Vec<Event> {
        sorted_names(&self.handlers)
    }

    fn heap_type(&self) -> &'static str {
        std::any::type_name::<H>()
    }

    fn handles(&self, event: Event) -> bool {
        self.handlers.contains_key(&event)
    }
}

impl<H: 'static> Body for Parts<'_, H> {
    fn invoke(&mut self, scope: Scope<'_>, env: &Envelope, args: &mut Args) -> Outcome {
        invoke(self.reborrow(), scope, env, args)
    }

    fn run(&mut self, scope: Scope<'_>, env: &Envelope, f: &mut RunWith<'_>) -> Outcome {
        run(self.reborrow(), scope, env, f)
    }

    fn handler_names(&self) -> Vec<Event> {
        sorted_names(self.handlers)
    }

    fn heap_type(&self) -> &'static str {
        std::any::type_name::<H>()
    }

    fn handles(&self, event: Event) -> bool {
        self.handlers.contains_key(&event)
    }
}

fn sorted_names<H>(handlers: &Handlers<H>) -> Vec<Event> {
    let mut names: Vec<Event> = handlers.keys().copied().collect();
    names.sort_by_key(|event| event.as_str());
    names
}

/// Dispatches one event to a session's handler: finds the handler (or
/// `_default`), makes the `Context`, runs it, and traps what it throws.
#[inline]
fn invoke<H: 'static>(
    parts: Parts<'_, H>,
    scope: Scope<'_>,
    env: &Envelope,
    args: &mut Args,
) -> Outcome {
    let Some((handler, state)) = lookup(parts.handlers, parts.options, env) else {
        return Outcome::Unhandled;
    };
    if state != env.event {
        *args = default_args(env.event, std::mem::take(args));
    }
    // The closures below borrow the arguments rather than capture them:
    // each capture would copy them (they are a hundred bytes) once more.
    enter(parts, scope, env, state, |cx| handler(cx, args))
}

/// Runs an I/O source as the session's handler for `env`.
fn run<H: 'static>(
    parts: Parts<'_, H>,
    scope: Scope<'_>,
    env: &Envelope,
    f: &mut RunWith<'_>,
) -> Outcome {
    enter(parts, scope, env, env.event, |cx| {
        f(cx).map(|()| Value::Undef)
    })
}

/// Makes the `Context` for `env` and runs `body` in it: the session is
/// active meanwhile (unless the dispatch does not trap), what it throws is
/// trapped and becomes DIE, and what postbacks sent around it is applied
/// with the right SENDER.
#[inline(always)]
fn enter<H: 'static>(
    parts: Parts<'_, H>,
    scope: Scope<'_>,
    env: &Envelope,
    state: Event,
    body: impl FnOnce(&mut Context<'_, H>) -> Result<Value>,
) -> Outcome {
    let Parts {
        heap,
        handlers,
        options,
    } = parts;
    let Scope { core, chain } = scope;
    // Postbacks called so far name the session active until now as SENDER.
    core.fold();
    let saved = env.trap.then(|| core.enter(env.target, state, env.kind));
    let mut cx = Context::new(heap, handlers, options, core, shorten(chain), env, state);
    let result = if env.trap {
        trap(|| body(&mut cx))
    } else {
        // POE's `call` to the current session bypasses the dispatcher: no
        // trap, so a failure propagates into the calling handler.
        body(&mut cx)
    };
    let core = cx.into_core();
    // Postbacks this handler called name it as SENDER while it is active.
    core.fold();
    let after_stop = core.active().is_kernel();
    if let Some(saved) = saved {
        core.leave(saved);
    }
    match result {
        Ok(value) => Outcome::Returned(value),
        Err(error) if env.trap => {
            let message = error.to_string();
            core.exception_in(env, error, after_stop);
            Outcome::Trapped(message)
        }
        Err(error) => Outcome::Died(error),
    }
}

/// The handler for `env.event` and the state it runs as: its own
/// handler, or `_default` (POE's `_invoke_state`; see [`default_args`]).
#[inline]
fn lookup<H>(
    handlers: &Handlers<H>,
    options: &Options,
    env: &Envelope,
) -> Option<(Handler<H>, Event)> {
    match handlers.get(&env.event) {
        Some(handler) if !options.trace => Some((Rc::clone(handler), env.event)),
        _ => redirect(handlers, options, env),
    }
}

/// What `_default` gets: the event's name and a list of its arguments.
#[cold]
fn default_args(event: Event, args: Args) -> Args {
    Args::from((event.as_str(), Value::List(args.into_vec())))
}

/// [`lookup`] when the fast path does not apply: tracing is on, or the
/// event goes to `_default`.
#[cold]
fn redirect<H>(
    handlers: &Handlers<H>,
    options: &Options,
    env: &Envelope,
) -> Option<(Handler<H>, Event)> {
    if options.trace {
        tracing::info!(
            target: "roe::trace",
            "{} -> {} (from {} at {})",
            env.target,
            env.event,
            env.location.file(),
            env.location.line()
        );
    }
    if let Some(handler) = handlers.get(&env.event) {
        return Some((Rc::clone(handler), env.event));
    }
    let Some(handler) = handlers.get(&Event::DEFAULT) else {
        if options.default && env.event != Event::SIGNAL {
            tracing::warn!(
                target: "roe::default",
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
        tracing::info!(
            target: "roe::trace",
            "{} -> {} redirected to _default",
            env.target,
            env.event
        );
    }
    Some((Rc::clone(handler), Event::DEFAULT))
}
