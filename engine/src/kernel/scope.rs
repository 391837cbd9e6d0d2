//! `Scope`: the kernel plus the handlers on the stack, and every call that
//! dispatches: spawning, calling, stopping, signals, the slice's queue.

use std::panic::Location;

use super::{
    core::{Core, DispatchKind, Envelope, SignalClass},
    dest::Dest,
    frame::{Frames, Outcome, TypedBody, shorten},
};
use crate::{
    error::{Error, Result},
    event::Event,
    id::SessionId,
    queue::{Item, Kind},
    session::{Session, require_start},
    value::{Args, Value},
};

/// The kernel as a dispatching call sees it: its state, and the frames of
/// the handlers currently running (none at the top of a slice).
pub(crate) struct Scope<'a> {
    pub core: &'a mut Core,
    pub chain: Option<&'a mut (dyn Frames + 'a)>,
}

impl Scope<'_> {
    /// Runs the handler for `env` now, wherever the target's body is.
    pub fn dispatch(&mut self, env: &Envelope, args: &mut Args) -> Outcome {
        if env.target.is_kernel() {
            return if env.target == self.core.root() {
                self.core.kernel_event(env, args)
            } else {
                Outcome::Gone
            };
        }
        let Some(record) = self.core.sessions.get_mut(env.target) else {
            return Outcome::Gone;
        };
        record.handled += 1;
        record.last_event = Some(env.event);
        self.core.counters.dispatched += 1;
        if let Some(mut body) = record.body.take() {
            let scope = Scope {
                core: &mut *self.core,
                chain: shorten(self.chain.as_deref_mut()),
            };
            let outcome = body.invoke(scope, env, args);
            // The session may have stopped during its own handler; then the
            // body is dropped here, after the handler returned.
            if let Some(record) = self.core.sessions.get_mut(env.target) {
                record.body = Some(body);
            }
            return outcome;
        }
        let Some(chain) = self.chain.as_deref_mut() else {
            return Outcome::Unreachable;
        };
        let core = &mut *self.core;
        chain
            .lend(env.target, &mut |busy, rest| {
                let scope = Scope {
                    core: &mut *core,
                    chain: shorten(rest),
                };
                busy.invoke(scope, env, args)
            })
            .unwrap_or(Outcome::Unreachable)
    }

    /// Dispatches a queued item at the top of a slice, where no handler runs
    /// and so no session is busy: the body is always in the table. Handler
    /// time is measured here, nested dispatches included.
    #[inline(always)]
    fn dispatch_top(&mut self, env: &Envelope, args: &mut Args) {
        let _ = self.dispatch_top_outcome(env, args);
    }

    /// [`Scope::dispatch_top`], keeping the handler's outcome.
    #[inline(always)]
    fn dispatch_top_outcome(&mut self, env: &Envelope, args: &mut Args) -> Outcome {
        debug_assert!(
            self.chain.is_none(),
            "the queue is dispatched outside handlers"
        );
        let Some(record) = self.core.sessions.get_mut(env.target) else {
            return self.dispatch(env, args);
        };
        record.handled += 1;
        record.last_event = Some(env.event);
        let Some(mut body) = record.body.take() else {
            return Outcome::Unreachable;
        };
        self.core.counters.dispatched += 1;
        let sample = self
            .core
            .sampler
            .pick()
            .map(|weight| (weight, self.core.clock.now()));
        let scope = Scope {
            core: &mut *self.core,
            chain: None,
        };
        let outcome = body.invoke(scope, env, args);
        let elapsed = sample.map(|(weight, began)| (weight, self.core.clock.now() - began));
        if let Some(record) = self.core.sessions.get_mut(env.target) {
            record.body = Some(body);
            if let Some((weight, elapsed)) = elapsed {
                let elapsed = u64::try_from(elapsed).unwrap_or(0);
                record.handler_time += elapsed * weight;
                record.handler_max = record.handler_max.max(elapsed);
            }
        }
        self.core.flush_wheels();
        outcome
    }

    /// A kernel-originated event (`_child`, `_parent`) to `target`.
    fn notify(
        &mut self,
        target: SessionId,
        event: Event,
        kind: DispatchKind,
        mut args: Args,
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
        self.dispatch(&env, &mut args)
    }

    /// POE's `POE::Session->create`: allocate, `_start`, the parent's
    /// `_child(create)`, then the hidden `_garbage_collect` item.
    pub fn spawn<H: 'static>(&mut self, session: Session<H>) -> Result<SessionId> {
        require_start(&session)?;
        self.core.ensure_root();
        let parent = self.core.active();
        let Session {
            heap,
            handlers,
            mut args,
            options,
        } = session;
        let body = Box::new(TypedBody {
            heap,
            handlers,
            options,
        });
        let id = self.core.sessions.insert(parent, body);
        if let Some(record) = self.core.sessions.get_mut(parent) {
            record.children.insert(id.number(), id);
        }
        self.core.refcount_inc(parent);
        self.core.mark(id);

        let start = Envelope {
            target: id,
            sender: parent,
            event: Event::START,
            kind: DispatchKind::Start,
            trap: true,
            caller_state: None,
            location: Location::caller(),
        };
        let returned = self.dispatch(&start, &mut args).value();
        let Some(parent) = self.core.sessions.get(id).and_then(|r| r.parent) else {
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
                Location::caller(),
            );
        }
        Ok(id)
    }

    /// POE's `call`: dispatch now and return the handler's value.
    pub fn call(
        &mut self,
        dest: &Dest,
        event: Event,
        mut args: Args,
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
        match self.dispatch(&env, &mut args) {
            Outcome::Returned(value) => Ok(value),
            Outcome::Unhandled | Outcome::Gone => Ok(Value::Undef),
            Outcome::Died(error) => Err(error),
            Outcome::Unreachable => Err(Error::Busy(target)),
        }
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
        let children: Vec<SessionId> = record.children.values().copied().collect();
        for child in children {
            if let Some(parent) = parent {
                self.notify(
                    parent,
                    Event::CHILD,
                    DispatchKind::Child,
                    Args::from(("gain", child)),
                );
            }
            let old = self.core.sessions.get(child).and_then(|r| r.parent);
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
        let returned = self.dispatch(&stop, &mut Args::new()).value();
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
            let mut order = self.descendants(root);
            order.remove(0);
            for id in order.into_iter().rev() {
                self.stop_session(id);
            }
        }
        self.core.activate_kernel();
        self.gc_sweep();
    }

    /// `id` and its descendants, breadth first, siblings in ascending ID.
    fn descendants(&self, id: SessionId) -> Vec<SessionId> {
        let mut order = vec![id];
        let mut at = 0;
        while at < order.len() {
            if let Some(record) = self.core.sessions.get(order[at]) {
                order.extend(record.children.values().copied());
            }
            at += 1;
        }
        order
    }

    /// Stops the sessions whose refcount dropped to zero (POE's GC sweep).
    pub fn gc_sweep(&mut self) {
        loop {
            self.core.fold_inbox();
            if !self.core.has_marked() {
                break;
            }
            let todo = self.core.take_marked();
            for &id in &todo {
                self.stop_session(id);
            }
            self.core.recycle_sweep(todo);
        }
    }

    /// POE's `detach_myself`.
    pub fn detach_myself(&mut self) -> Result<()> {
        let me = self.core.active();
        let root = self.core.root();
        let parent = self
            .core
            .sessions
            .get(me)
            .filter(|_| !me.is_kernel())
            .ok_or(Error::NoActiveSession)?
            .parent
            .unwrap_or(root);
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
        self.core.move_child(me, root);
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
        if self.core.sessions.get(child).and_then(|r| r.parent) != Some(me) {
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
        self.core.move_child(child, root);
        Ok(())
    }

    /// Step (c) of a timeslice: the watchers the wait found ready, each
    /// dispatched at once (POE's `_data_handle_enqueue_ready`), then a sweep.
    /// Their arguments are the descriptor number, the mode, then the
    /// watcher's own arguments; SENDER is the watching session.
    pub fn dispatch_io(&mut self) {
        let mut ready = std::mem::take(&mut self.core.ready);
        self.core.reactor.take_ready(&mut ready);
        if ready.is_empty() {
            self.core.ready = ready;
            return;
        }
        for entry in &ready {
            let Some(watch) = self.core.reactor.watch_for(entry) else {
                continue;
            };
            let env = Envelope {
                target: watch.session,
                sender: watch.session,
                event: watch.event,
                kind: DispatchKind::Queued,
                trap: true,
                caller_state: None,
                location: Location::caller(),
            };
            let mut args = Args::from((entry.fd, entry.mode as i64));
            args.extend(watch.args.iter().cloned());
            self.dispatch_top(&env, &mut args);
            if self.core.has_exception() {
                self.stop_all();
            }
        }
        ready.clear();
        self.core.ready = ready;
        self.gc_sweep();
    }

    /// Step (d) of a timeslice: the items due when it began, then a sweep.
    pub fn dispatch_due(&mut self) {
        self.core.fold_inbox();
        let cutoff = self.core.last_seq();
        let now = if self.core.timers.is_empty() {
            self.core.clock.cached()
        } else {
            self.core.clock.now()
        };
        while let Some(item) = self.core.next_due(cutoff, now) {
            self.dispatch_item(item);
            if self.core.has_exception() {
                self.stop_all();
            }
        }
        self.gc_sweep();
    }

    #[inline]
    fn dispatch_item(&mut self, item: Item) {
        match item.kind {
            Kind::Gc => {}
            Kind::Stop => self.stop_all(),
            Kind::Call => self.dispatch_remote_call(item),
            Kind::Post | Kind::Timer => {
                let env = Envelope {
                    target: item.target,
                    sender: item.sender,
                    event: item.event,
                    kind: DispatchKind::Queued,
                    trap: true,
                    caller_state: item.caller_state,
                    location: item.location,
                };
                let mut args = self.core.args.take(item.args);
                self.dispatch_top(&env, &mut args);
            }
            Kind::Signal | Kind::Die => self.dispatch_signal(item),
        }
    }

    /// A call from another kernel: the handler runs as `call` runs it, and
    /// its value goes back to the caller's session as `reply` (ARG0 the
    /// value; ARG1 an error when the handler could not run).
    #[cold]
    fn dispatch_remote_call(&mut self, item: Item) {
        let Some(reply) = self.core.replies.remove(&item.seq) else {
            return;
        };
        let env = Envelope {
            target: item.target,
            sender: item.sender,
            event: item.event,
            kind: DispatchKind::Call,
            trap: true,
            caller_state: item.caller_state,
            location: item.location,
        };
        let mut args = self.core.args.take(item.args);
        let answer = match self.dispatch_top_outcome(&env, &mut args) {
            Outcome::Returned(value) => Args::from((value,)),
            Outcome::Unhandled => Args::from((Value::Undef,)),
            Outcome::Died(error) => Args::from((Value::Undef, error.to_string())),
            Outcome::Gone | Outcome::Unreachable => Args::from((
                Value::Undef,
                Error::NoSuchSession(item.target.to_string()).to_string(),
            )),
        };
        // A caller's kernel that finished has nobody to tell.
        let _ = self.core.reply(item.target, item.sender, reply, answer);
    }

    /// POE's `_dispatch_signal_event`: the touched tree, its watchers
    /// deepest first, then the default action.
    fn dispatch_signal(&mut self, item: Item) {
        let signal = item.event;
        let signal_args = self.core.args.take(item.args);
        let mut touched = self.descendants(item.target);
        if signal == Event::DIE {
            let mut ancestors = Vec::new();
            let mut at = self.core.sessions.get(item.target).and_then(|r| r.parent);
            while let Some(id) = at.filter(|id| !id.is_kernel()) {
                ancestors.push(id);
                at = self.core.sessions.get(id).and_then(|r| r.parent);
            }
            ancestors.reverse();
            ancestors.extend(touched);
            touched = ancestors;
        }
        let watchers = self.core.watchers_of(signal);
        let kind = if item.kind == Kind::Die {
            DispatchKind::Die
        } else {
            DispatchKind::Signal
        };
        self.core.begin_signal();
        for &id in touched.iter().rev() {
            let Some(watch) = watchers.get(&id) else {
                continue;
            };
            let mut args = Args::from((signal.as_str(),));
            args.extend(signal_args.iter().cloned());
            args.extend(watch.args.iter().cloned());
            let env = Envelope {
                target: id,
                sender: self.core.root(),
                event: watch.event,
                kind,
                trap: true,
                caller_state: item.caller_state,
                location: item.location,
            };
            self.dispatch(&env, &mut args);
        }
        let handled = self.core.end_signal();
        let class = SignalClass::of(signal);
        if class == SignalClass::NonMaskable || (class == SignalClass::Terminal && handled == 0) {
            for &id in touched.iter().rev() {
                self.stop_session(id);
            }
        }
        if signal == Event::DIE && handled == 0 {
            let error = signal_args
                .get(0)
                .as_map()
                .and_then(|details| details.get("error_str"))
                .map(Value::to_string)
                .unwrap_or_default();
            self.core.unhandled_die(error);
        }
    }
}
