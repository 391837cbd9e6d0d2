//! Sessions' lives: spawning, `call`, stopping, garbage collection and
//! detaching, the kernel calls that dispatch at once (POE's `_start`,
//! `_stop`, `_child` and `_parent`).

use std::panic::Location;

use super::{
    context::TypedBody,
    core::{Core, DispatchKind, Envelope, Outcome, Scope},
    dest::Dest,
};
use crate::{
    error::{Error, Result},
    event::Event,
    id::SessionId,
    queue::item::Kind,
    session::Session,
    value::{Args, Value},
};

impl Scope<'_> {
    /// A kernel-originated event (`_child`, `_parent`) to `target`.
    fn notify(
        &mut self,
        target: SessionId,
        event: Event,
        kind: DispatchKind,
        args: Args,
    ) -> Outcome {
        let env = Envelope {
            target,
            sender: self.core.root(),
            event,
            kind,
            trap: true,
            caller_state: None,
            location: Location::caller(),
        };
        self.dispatch(&env, args)
    }

    /// POE's `POE::Session->create`: allocate, `_start`, the parent's
    /// `_child(create)`, then the hidden `_garbage_collect` item.
    #[track_caller]
    pub fn spawn<H: 'static>(&mut self, session: Session<H>) -> Result<SessionId> {
        session.require_start()?;
        let location = Location::caller();
        let root = self.core.root();
        if self.core.sessions.ensure_root(root) {
            self.core.active = super::core::Active {
                session: root,
                event: None,
                kind: None,
            };
        }
        let parent = self.core.active();
        let Session {
            heap,
            handlers,
            args,
            options,
        } = session;
        let hears_signals = handlers.contains_key(&Event::SIGNAL);
        let body = Box::new(TypedBody {
            heap,
            handlers,
            options,
        });
        let id = self.core.sessions.insert(parent, body);
        if hears_signals {
            self.core.hear_signals(id, true);
        }
        let start = Envelope {
            target: id,
            sender: parent,
            event: Event::START,
            kind: DispatchKind::Start,
            trap: true,
            caller_state: None,
            location,
        };
        let returned = self.dispatch(&start, args).value();
        let Some(parent) = self.core.sessions.parent(id) else {
            return Ok(id);
        };
        self.notify(
            parent,
            Event::CHILD,
            DispatchKind::Child,
            Args::from(("create", id, returned)),
        );
        if self.core.sessions.contains(id) {
            self.core.enqueue(
                id,
                id,
                Event::new("_garbage_collect"),
                Kind::Gc,
                Args::new(),
                location,
            );
        }
        Ok(id)
    }

    /// POE's `call`: dispatch now and return the handler's value.
    pub fn call(
        &mut self,
        dest: &Dest,
        event: Event,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<Value> {
        let target = self.core.resolve_anywhere(dest)?;
        if target.kernel() != self.core.id() {
            return Err(Error::NotPermitted(
                "call is synchronous only within a kernel; use call_reply across kernels",
            ));
        }
        let me = self.core.active();
        let env = Envelope {
            target,
            sender: me,
            event,
            kind: DispatchKind::Call,
            trap: target != me,
            caller_state: self.core.active_event(),
            location,
        };
        match self.dispatch(&env, args) {
            Outcome::Returned(value) => Ok(value),
            Outcome::Unhandled | Outcome::Gone | Outcome::Trapped(_) => Ok(Value::Undef),
            Outcome::Died(error) => Err(error),
            Outcome::Unreachable => Err(Error::Busy(target)),
        }
    }

    /// `call` of a resolved session on this kernel, for `call_reply`: the
    /// dispatch's outcome itself, so a missing handler is told apart.
    pub fn call_outcome(
        &mut self,
        target: SessionId,
        event: Event,
        args: Args,
        location: &'static Location<'static>,
    ) -> Outcome {
        let me = self.core.active();
        let env = Envelope {
            target,
            sender: me,
            event,
            kind: DispatchKind::Call,
            trap: target != me,
            caller_state: self.core.active_event(),
            location,
        };
        self.dispatch(&env, args)
    }

    /// Stops one session (POE's `_data_ses_stop`): children to the parent,
    /// `_stop`, the parent's `_child(lose)`, then free everything it held.
    pub fn stop_session(&mut self, id: SessionId) {
        let Some(record) = self.core.sessions.get_mut(id) else {
            return;
        };
        if record.stopping {
            return;
        }
        record.stopping = true;
        let parent = record.parent;
        for child in self.core.sessions.children(id) {
            if let Some(parent) = parent {
                self.notify(
                    parent,
                    Event::CHILD,
                    DispatchKind::Child,
                    Args::from(("gain", child)),
                );
            }
            let old = self.core.sessions.parent(child);
            self.notify(
                child,
                Event::PARENT,
                DispatchKind::Parent,
                Args::from((Value::from(old), Value::from(parent))),
            );
        }
        let stop = Envelope {
            target: id,
            sender: self.core.active(),
            event: Event::STOP,
            kind: DispatchKind::Stop,
            trap: true,
            caller_state: None,
            location: Location::caller(),
        };
        let returned = self.dispatch(&stop, Args::new()).value();
        if let Some(parent) = parent {
            self.notify(
                parent,
                Event::CHILD,
                DispatchKind::Child,
                Args::from(("lose", id, returned)),
            );
        }
        self.core.free_session(id);
    }

    /// POE's `stop()`: every session, deepest first, then the kernel is
    /// active and garbage is swept.
    pub fn stop_all(&mut self) {
        let root = self.core.root();
        if self.core.sessions.contains(root) {
            let mut order = self.core.sessions.descendants(root);
            order.remove(0);
            for id in order.into_iter().rev() {
                self.stop_session(id);
            }
        }
        self.core.activate_kernel();
        self.gc_sweep();
    }

    /// Stops the sessions whose refcount dropped to zero (POE's GC sweep).
    #[inline]
    pub fn gc_sweep(&mut self) {
        self.core.fold();
        if self.core.sessions.has_marked() {
            self.sweep_marked();
        }
    }

    #[cold]
    fn sweep_marked(&mut self) {
        loop {
            let todo = self.core.sessions.take_marked();
            for &id in &todo {
                self.stop_session(id);
            }
            self.core.sessions.recycle_sweep(todo);
            self.core.fold();
            if !self.core.sessions.has_marked() {
                break;
            }
        }
    }

    /// POE's `detach_myself`.
    pub fn detach_myself(&mut self) -> Result<()> {
        let me = self.core.active();
        let root = self.core.root();
        if me.is_kernel() || !self.core.sessions.contains(me) {
            return Err(Error::NoActiveSession);
        }
        let parent = self.core.sessions.parent(me).unwrap_or(root);
        if parent == root {
            return Err(Error::NotPermitted(
                "the session is already a child of the kernel",
            ));
        }
        if self.core.active_kind() != Some(DispatchKind::Start) {
            self.notify(
                parent,
                Event::CHILD,
                DispatchKind::Child,
                Args::from(("lose", me, Value::Undef)),
            );
        }
        self.notify(
            me,
            Event::PARENT,
            DispatchKind::Parent,
            Args::from((parent, root)),
        );
        self.core.sessions.move_child(me, root);
        Ok(())
    }

    /// POE's `detach_child`.
    pub fn detach_child(&mut self, dest: &Dest) -> Result<()> {
        let child = self.core.resolve_or_err(dest)?;
        let me = self.core.active();
        let root = self.core.root();
        if me.is_kernel() {
            return Err(Error::NotPermitted("the kernel cannot detach its children"));
        }
        if self.core.sessions.parent(child) != Some(me) {
            return Err(Error::NotPermitted(
                "the session is not a child of the caller",
            ));
        }
        self.notify(
            me,
            Event::CHILD,
            DispatchKind::Child,
            Args::from(("lose", child, Value::Undef)),
        );
        self.notify(
            child,
            Event::PARENT,
            DispatchKind::Parent,
            Args::from((me, root)),
        );
        self.core.sessions.move_child(child, root);
        Ok(())
    }
}

impl Core {
    /// Frees a stopped session's resources (POE's `_data_ses_free`): its
    /// children go to its parent, then its aliases, public refcounts,
    /// signal, I/O and child watchers, and every queued item to or from it.
    pub fn free_session(&mut self, id: SessionId) {
        if !self.sessions.contains(id) {
            return;
        }
        self.sessions.unlink(id);
        let Some(record) = self.sessions.get_mut(id) else {
            return;
        };
        let signals = std::mem::take(&mut record.signals);
        let aliases = std::mem::take(&mut record.aliases);
        let hears_signals = record.hears_signals;
        for signal in signals {
            if self.signals.unwatch(signal, id) {
                self.release_os_signal(signal);
            }
        }
        if hears_signals {
            self.hear_signals(id, false);
        }
        // The session is going: what its watchers held goes with it.
        self.forget_io_of(id);
        for alias in aliases {
            self.drop_alias(&alias, id);
        }
        self.purge_session(id);
        // Its body (heap and handlers) drops here, with whatever sources
        // its heap held; they ask for their release as they go.
        self.sessions.remove(id);
    }
}
