//! The dispatch path, in one place: a timeslice, its ready I/O and its due
//! items, and how each reaches its handler.
//!
//! ```text
//! Kernel::timeslice
//!   ├─ busy? ── no ──> idle test, wait (kernel/wait.rs) ──> Scope::dispatch_io ─┐
//!   │                                                         (watcher or source)│
//!   ├─ the runtime's batch, if one waits (Kernel::take_link)                    │
//!   └─ Scope::dispatch_due: items queued before the slice, timers due by now     │
//!        └─ dispatch_item ─> dispatch_top ─┬─> Body::invoke ─> the handler  <────┘
//!                                          └─> Body::run    ─> a Source, which
//!                                                              emits to handlers
//!        then a garbage-collection sweep
//! ```
//!
//! A dispatch at the top of a slice finds the target's body in the table
//! (no handler runs); [`Scope::dispatch`] is the general form, which also
//! finds a body lent down the stack of running handlers (kernel/frame.rs).

use std::{mem, panic::Location};

use super::{
    Kernel,
    core::{Body, Core, DispatchKind, Envelope, Outcome, RunWith, Scope, shorten},
    frame::trap,
    signals::SignalClass,
    source::{Io, Readiness},
};
use crate::{
    error::{Died, Error},
    event::Event,
    id::{SessionId, TimerId},
    queue::item::{Item, Kind},
    reactor::Route,
    value::{Args, Map, Value},
};

/// Dispatches after which output deferred to the slice's end goes out
/// anyway, so a long slice does not hold it (see `SourceRef::flush_soon`).
const DEFERRED_FLUSH_EVERY: u64 = 64;

/// Messages from other kernels a kernel applies per slice, so one busy
/// sender cannot hold another kernel's slices.
const REMOTE_BATCH: usize = 1024;

impl Kernel {
    /// POE's timeslice: the idle test and the wait (skipped while busy),
    /// ready I/O, what other kernels sent, then everything due when the
    /// slice began, then a garbage-collection sweep.
    pub(super) fn timeslice(&mut self) {
        let core = &mut self.core;
        core.acct.counters.slices += 1;
        // Output put outside any handler (the main program), and output
        // sources deferred to the slice's end, goes out now.
        core.flush_all_sources();
        if core.link.as_ref().is_some_and(|link| link.is_throttled()) {
            // Too much waits to go to other kernels: hold the queue until
            // they make room (see `Link::is_throttled`).
            core.wait_for_room();
            self.scope().dispatch_io();
            self.take_link();
            return;
        }
        if core.is_busy() {
            core.acct.sampler.time_every(false);
        } else {
            core.idle_check();
            let timeout = core.wait_timeout();
            core.wait(timeout);
            self.scope().dispatch_io();
        }
        self.take_link();
        self.scope().dispatch_due();
        self.core.maybe_publish();
    }

    /// The runtime's part of a slice. One atomic load when there is nothing
    /// to do.
    #[inline]
    fn take_link(&mut self) {
        if let Some(link) = &self.core.link
            && (self.core.inbox.has_remote() || link.is_busy())
        {
            self.link_work();
        }
    }

    #[cold]
    fn link_work(&mut self) {
        let received = self.receive_remote();
        let mut batch = mem::take(&mut self.batch);
        batch.received = received;
        if let Some(link) = &mut self.core.link {
            link.take(&mut batch);
        }
        let taken = received + batch.messages.len() + batch.tasks.len();
        if taken == 0 && !batch.stop && batch.sent == 0 && batch.undeliverable == 0 {
            self.batch = batch;
            return;
        }
        if let Some(link) = &mut self.core.link {
            link.woke();
        }
        let counters = &mut self.core.acct.counters;
        counters.inbox_high_water = counters.inbox_high_water.max(received + batch.waiting);
        counters.received_remote += (received + batch.messages.len()) as u64;
        counters.sent_remote += mem::take(&mut batch.sent);
        counters.undeliverable += mem::take(&mut batch.undeliverable);
        for message in batch.messages.drain(..) {
            self.core.apply(message);
        }
        for task in batch.tasks.drain(..) {
            // A panicking task fails the kernel as an unhandled DIE does:
            // its error ends the runtime and reaches `join`.
            if let Err(error) = trap(|| {
                task(self);
                Ok(())
            }) {
                self.core.failure = Some(error);
                self.stop();
            }
        }
        self.core.inbox.taken_remote(taken);
        if mem::take(&mut batch.stop) {
            let root = self.core.root();
            self.core.push_now(
                root,
                root,
                Event::new("_roe_stop"),
                Kind::Stop,
                Args::new(),
                Location::caller(),
            );
        }
        self.batch = batch;
    }
}

impl Kernel {
    /// Applies messages from other kernels as they are received, up to
    /// [`REMOTE_BATCH`]. Busy first: the messages stop counting as in
    /// flight only once applied (`taken_remote`, after `take`), so the
    /// runtime never looks idle in between.
    fn receive_remote(&mut self) -> usize {
        let mut received = 0;
        while received < REMOTE_BATCH {
            let Some(link) = &mut self.core.link else {
                break;
            };
            let Some(message) = link.receive() else {
                break;
            };
            if received == 0 {
                link.woke();
            }
            received += 1;
            self.core.apply(message);
        }
        received
    }
}

impl Scope<'_> {
    /// Step (c) of a timeslice: the watchers the wait found ready, each
    /// dispatched at once (POE's `_data_handle_enqueue_ready`), then a sweep.
    /// A `select_*` watcher's event gets the descriptor number, the mode,
    /// then the watcher's own arguments, and SENDER is the watching session;
    /// an I/O source runs for its session.
    pub fn dispatch_io(&mut self) {
        let mut ready = mem::take(&mut self.core.io.ready);
        self.core.io.reactor.take_ready(&mut ready);
        if ready.is_empty() {
            self.core.io.ready = ready;
            return;
        }
        for entry in &ready {
            let Some(watch) = self.core.io.reactor.watch_for(entry) else {
                continue;
            };
            let session = watch.session;
            match &watch.route {
                Route::Event {
                    event,
                    args,
                    location,
                } => {
                    let env = io_envelope(session, *event, location);
                    let mut all = Args::from((entry.fd, entry.mode as i64));
                    all.extend(args.iter().cloned());
                    self.dispatch_top(&env, &mut all);
                }
                &Route::Source(slot) => match self.core.io.source(slot) {
                    Some(live) => {
                        let ready = Readiness {
                            fd: entry.fd,
                            mode: entry.mode,
                        };
                        let owner = live.session;
                        let env = io_envelope(owner, Event::IO, live.added_at);
                        self.dispatch_source(&env, &mut |port| {
                            live.source.clone().ready(&mut Io::new(port), ready)
                        });
                    }
                    // The source was dropped in this slice; its release is
                    // on its way. Nothing more of it runs.
                    None => self.core.unwatch(entry.fd, entry.mode, session, Some(slot)),
                },
            }
            if self.core.has_failed() {
                self.stop_all();
            }
        }
        ready.clear();
        self.core.io.ready = ready;
        self.gc_sweep();
    }

    /// Step (d) of a timeslice: the items due when it began, then a sweep.
    pub fn dispatch_due(&mut self) {
        self.core.fold();
        let cutoff = self.core.queue.last_seq();
        let now = self.core.clock.cached();
        // One buffer for every item's arguments: they move once out of
        // the queue, and once into the handler.
        let mut args = Args::new();
        while let Some(item) = self.core.queue.next_due(cutoff, now, &mut args) {
            self.core.dequeued(&item);
            self.dispatch_item(item, &mut args);
            // What the handler left of its arguments (nothing, usually).
            if !args.is_empty() {
                args.clear();
            }
            if self.core.has_failed() {
                self.stop_all();
            }
        }
        self.gc_sweep();
    }

    #[inline]
    fn dispatch_item(&mut self, item: Item, args: &mut Args) {
        match item.kind {
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
                discard(self.dispatch_top(&env, args));
            }
            Kind::Gc => {}
            Kind::Purged => self.core.queue.purged_left(),
            Kind::Stop => self.stop_all(),
            Kind::Call => self.dispatch_remote_call(item, std::mem::take(args)),
            Kind::Signal | Kind::Pipe | Kind::Die => {
                self.dispatch_signal(item, std::mem::take(args));
            }
            Kind::SourceTimer => self.dispatch_source_timer(item, std::mem::take(args)),
        }
    }

    /// Runs the handler for `env` now, wherever the target's body is: in
    /// the table, or lent down the stack of running handlers.
    pub fn dispatch(&mut self, env: &Envelope, args: Args) -> Outcome {
        if env.target.is_kernel() {
            return if env.target == self.core.root() {
                self.core.kernel_event(env, &args)
            } else {
                Outcome::Gone
            };
        }
        let Some(record) = self.core.sessions.get_mut(env.target) else {
            return Outcome::Gone;
        };
        record.handled += 1;
        record.last_event = Some(env.event);
        self.core.acct.counters.dispatched += 1;
        if let Some(mut body) = record.body.take() {
            let mut args = args;
            let outcome = body.invoke(self.reborrow(), env, &mut args);
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
        let mut args = args;
        chain
            .lend(env.target, &mut |body, rest| {
                body.invoke(
                    Scope {
                        core: &mut *core,
                        chain: shorten(rest),
                    },
                    env,
                    &mut args,
                )
            })
            .unwrap_or(Outcome::Unreachable)
    }

    /// Dispatches a queued item at the top of a slice, where no handler
    /// runs and so no session is busy: the body is always in the table.
    #[inline(always)]
    fn dispatch_top(&mut self, env: &Envelope, args: &mut Args) -> Outcome {
        self.top(env, |body, scope| body.invoke(scope, env, args))
            .unwrap_or(Outcome::Gone)
    }

    /// Runs an I/O source for its session, at the top of a slice.
    fn dispatch_source(&mut self, env: &Envelope, run: &mut RunWith<'_>) -> Outcome {
        self.top(env, |body, scope| body.run(scope, env, run))
            .unwrap_or(Outcome::Gone)
    }

    /// The top-level dispatch of `env` through `call`, with the session's
    /// accounting: `None` when the target is not a session in the table.
    /// Handler time is measured here, nested dispatches included; the
    /// output sources buffered meanwhile is written after.
    #[inline(always)]
    fn top(
        &mut self,
        env: &Envelope,
        call: impl FnOnce(&mut dyn Body, Scope<'_>) -> Outcome,
    ) -> Option<Outcome> {
        debug_assert!(
            self.chain.is_none(),
            "the queue is dispatched outside handlers"
        );
        let core = &mut *self.core;
        let record = core.sessions.get_mut(env.target)?;
        record.handled += 1;
        record.last_event = Some(env.event);
        // What a session that watches descriptors does may make them ready
        // (a pipe it writes and reads): the next slice looks, as POE's does.
        core.io.poll_next |= record.watching != 0;
        let Some(mut body) = record.body.take() else {
            return Some(Outcome::Unreachable);
        };
        core.acct.counters.dispatched += 1;
        let sample = core
            .acct
            .sampler
            .pick()
            .map(|weight| (weight, core.clock.now()));
        let outcome = call(&mut *body, Scope { core, chain: None });
        let core = &mut *self.core;
        let elapsed = sample.map(|(weight, began)| (weight, core.clock.now() - began));
        if let Some(record) = core.sessions.get_mut(env.target) {
            record.body = Some(body);
            if let Some((weight, elapsed)) = elapsed {
                let elapsed = u64::try_from(elapsed).unwrap_or(0);
                record.handler_time += elapsed * weight;
                record.handler_max = record.handler_max.max(elapsed);
            }
        }
        core.flush_sources();
        // Nested dispatches count too, so a multiple of the period could be
        // stepped over: a threshold, as for polling (see `wait.rs`).
        if core.io.requests.has_deferred() && core.acct.counters.dispatched >= core.io.deferred_at {
            core.io.deferred_at = core.acct.counters.dispatched + DEFERRED_FLUSH_EVERY;
            core.flush_all_sources();
        }
        Some(outcome)
    }

    /// A timer an I/O source set is due: the source runs, if it still
    /// exists.
    #[inline(never)]
    fn dispatch_source_timer(&mut self, item: Item, args: Args) {
        let timer = TimerId::new(self.core.id(), 0, item.seq);
        let Some((_, source)) = self.core.source_timer_fired(&args, timer) else {
            return;
        };
        let env = Envelope {
            target: item.target,
            sender: item.target,
            event: Event::IO,
            kind: DispatchKind::Queued,
            trap: true,
            caller_state: item.caller_state,
            location: item.location,
        };
        self.dispatch_source(&env, &mut |port| {
            source.clone().timer(&mut Io::new(port), timer)
        });
    }

    /// A call from another kernel: the handler runs as `call` runs it, and
    /// its outcome goes back to the caller's session as `reply` (see
    /// [`Answer`](super::Answer)).
    #[inline(never)]
    fn dispatch_remote_call(&mut self, item: Item, args: Args) {
        let Some(reply) = self.core.queue.take_call(item.seq) else {
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
        let mut args = args;
        let outcome = self.dispatch_top(&env, &mut args);
        let answer = Core::answer(outcome, item.target);
        self.core.reply(item.target, item.sender, reply, answer);
    }

    /// POE's `_dispatch_signal_event`: the touched tree, its watchers
    /// deepest first, then the default action. Sessions that define
    /// `_signal` hear of it too, as POE's older documents describe
    /// (docs/porting.md).
    #[inline(never)]
    fn dispatch_signal(&mut self, item: Item, signal_args: Args) {
        let signal = item.event;
        let mut touched = self.core.sessions.descendants(item.target);
        if signal == Event::DIE {
            let mut ancestors = Vec::new();
            let mut at = self.core.sessions.parent(item.target);
            while let Some(id) = at.filter(|id| !id.is_kernel()) {
                ancestors.push(id);
                at = self.core.sessions.parent(id);
            }
            ancestors.reverse();
            ancestors.extend(touched);
            touched = ancestors;
        }
        let watchers = self.core.signals.watchers_of(signal);
        let kind = if item.kind == Kind::Die {
            DispatchKind::Die
        } else {
            DispatchKind::Signal
        };
        let pipe_to = (item.kind == Kind::Pipe)
            .then(|| self.core.signals.pipe_target())
            .flatten();
        self.core.signals.begin();
        let root = self.core.root();
        for &id in touched.iter().rev() {
            let env = |event| Envelope {
                target: id,
                sender: root,
                event,
                kind,
                trap: true,
                caller_state: item.caller_state,
                location: item.location,
            };
            if let Some(watch) = watchers.get(&id) {
                let mut args = Args::from((signal.as_str(),));
                args.extend(signal_args.iter().cloned());
                args.extend(watch.args.iter().cloned());
                let env = env(watch.event);
                self.dispatch(&env, args);
            }
            let hears = pipe_to.is_none_or(|to| to == id)
                && self
                    .core
                    .sessions
                    .get(id)
                    .and_then(|record| record.body.as_ref())
                    .is_some_and(|body| body.handles(Event::SIGNAL));
            if hears && kind == DispatchKind::Signal {
                let mut args = Args::from((signal.as_str(),));
                args.extend(signal_args.iter().cloned());
                let env = env(Event::SIGNAL);
                if self.dispatch(&env, args).value().is_true() {
                    self.core.signals.handled();
                }
            }
        }
        let handled = self.core.signals.end();
        let class = SignalClass::of(signal);
        if class == SignalClass::NonMaskable || (class == SignalClass::Terminal && handled == 0) {
            for &id in touched.iter().rev() {
                self.stop_session(id);
            }
        }
        if signal == Event::DIE && handled == 0 {
            self.core.die_unhandled(signal_args);
        }
    }
}

/// Drops a queued dispatch's outcome; nobody takes it. (The usual `undef`
/// of a handler that returned nothing needs no drop call.)
#[inline(always)]
fn discard(outcome: Outcome) {
    if !matches!(outcome, Outcome::Returned(Value::Undef)) {
        drop(outcome);
    }
}

/// An I/O dispatch of `event` to `target` (its own SENDER, as POE's
/// select events are), from the watcher or source set at `location`.
fn io_envelope(target: SessionId, event: Event, location: &'static Location<'static>) -> Envelope {
    Envelope {
        target,
        sender: target,
        event,
        kind: DispatchKind::Queued,
        trap: true,
        caller_state: None,
        location,
    }
}

impl Core {
    /// Dispatches to the kernel's own session, which handles only its IDLE
    /// watcher (POE's `POE::Kernel::_invoke_state`).
    fn kernel_event(&mut self, env: &Envelope, args: &Args) -> Outcome {
        if env.event == Event::SIGNAL && args.get(0).as_str() == Some("IDLE") {
            self.zombie_if_still_idle();
        }
        Outcome::Returned(Value::Int(0))
    }

    /// A trapped handler failure (POE's `_dispatch_event` catch block): it
    /// becomes the DIE signal, or, in `_stop`, in a DIE handler or after
    /// `stop()`, ends the kernel at once.
    pub fn exception_in(&mut self, env: &Envelope, error: Error, after_stop: bool) {
        if matches!(env.kind, DispatchKind::Stop | DispatchKind::Die) || after_stop {
            let died = self.died(env.target, env.event, env.location, error);
            self.failure = Some(Error::Died(Box::new(died)));
            return;
        }
        let mut details = Map::new();
        details.insert("source_session".into(), env.sender.into());
        details.insert("dest_session".into(), env.target.into());
        details.insert("event".into(), env.event.as_str().into());
        details.insert("file".into(), env.location.file().into());
        details.insert("line".into(), env.location.line().into());
        details.insert(
            "from_state".into(),
            env.caller_state.map(Event::as_str).into(),
        );
        details.insert("error_str".into(), error.to_string().into());
        // The error itself, for `run` to return should nobody handle it.
        details.insert("error".into(), Value::local(ErrorCell(error)));
        let root = self.root();
        self.enqueue(
            env.target,
            root,
            Event::DIE,
            Kind::Die,
            Args::from((Value::Map(details),)),
            Location::caller(),
        );
    }

    /// DIE went unhandled: keep the failure for `run` (POE appends the
    /// error of a previous unhandled DIE to it).
    fn die_unhandled(&mut self, mut signal_args: Args) {
        let Value::Map(mut details) = signal_args.take(0) else {
            return;
        };
        let mut take = |key: &str| details.remove(key).unwrap_or_default();
        let text = take("error_str").to_string();
        let error = match take("error").take_local::<ErrorCell>() {
            Ok(ErrorCell(error)) => error,
            // A handler kept a copy of the details: the text is all there is.
            Err(_) => Error::handler(text),
        };
        let session = take("dest_session").as_session().unwrap_or(self.root());
        let event = Event::new(&take("event").to_string());
        let file = take("file").as_str().unwrap_or_default().to_owned();
        let line = take("line").as_int().unwrap_or(0) as u32;
        let mut died = Died {
            error,
            session,
            event,
            kernel: self.name().to_owned(),
            file,
            line,
            also: Vec::new(),
        };
        if let Some(Error::Died(previous)) = self.failure.take() {
            died.also.push(previous.message());
        }
        self.failure = Some(Error::Died(Box::new(died)));
    }

    /// A failure of `session`'s handler for `event`.
    fn died(
        &self,
        session: SessionId,
        event: Event,
        location: &'static Location<'static>,
        error: Error,
    ) -> Died {
        Died {
            error,
            session,
            event,
            kernel: self.name().to_owned(),
            file: location.file().to_owned(),
            line: location.line(),
            also: Vec::new(),
        }
    }
}

/// A handler's error, carried in the DIE signal's details.
struct ErrorCell(Error);
