//! `Core`: one kernel's state, and the calls that need no dispatch.
//!
//! Everything here queues, counts or looks up; nothing runs a handler.
//! Dispatching calls live in [`super::scope`], which adds the frames of
//! the handlers on the stack.

use std::{
    collections::BTreeMap,
    panic::Location,
    time::{Duration, Instant},
};

use rustc_hash::FxHashMap;

use super::{
    clock::Clock,
    dest::Dest,
    remote::{Inbox, Message, Origin},
    runtime::{Attached, Publisher, SPIN},
};
use crate::{
    error::{Error, Result},
    event::Event,
    id::{KernelId, SessionId, TimerId},
    queue::{ArgsPool, Fifo, Item, Kind},
    session::{Record, Table},
    snapshot::Counters,
    timer::Timers,
    value::{Args, Map, Str, Value},
};
use crate::{
    reactor::{Reactor, Ready},
    signal::Instance,
    wheel::{Dirty, Erased},
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
    /// A posted event or a timer.
    Queued,
    /// A `sig()` watcher's handler.
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

/// A `sig()` registration.
#[derive(Clone)]
pub(crate) struct Watch {
    pub event: Event,
    pub args: Args,
}

/// Signal classes (POE's `SIGTYPE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SignalClass {
    Benign,
    Terminal,
    NonMaskable,
}

impl SignalClass {
    pub fn of(signal: Event) -> SignalClass {
        match signal {
            Event::INT
            | Event::TERM
            | Event::HUP
            | Event::QUIT
            | Event::KILL
            | Event::IDLE
            | Event::DIE => SignalClass::Terminal,
            Event::ZOMBIE | Event::UIDESTROY => SignalClass::NonMaskable,
            _ => SignalClass::Benign,
        }
    }
}

/// Which of a session's queued-item counts an item holds.
#[derive(Clone, Copy)]
enum Side {
    /// Items addressed to it.
    To,
    /// Items it sent to others.
    From,
}

/// Applies a refcount change: a count above zero unmarks the session, a
/// drop below one marks it for the next sweep (the kernel's own session is
/// never collected). POE's `_data_ses_refcount_inc` / `_dec`.
#[inline]
fn bump(record: &mut Record, marked: &mut Vec<SessionId>, delta: i64) {
    record.refcount += delta;
    if record.refcount > 0 {
        record.marked = false;
    } else if delta < 0 && !record.id.is_kernel() {
        record.marked = true;
        marked.push(record.id);
    }
}

/// One kernel's state.
pub(crate) struct Core {
    id: KernelId,
    name: String,
    pub sessions: Table,
    pub fifo: Fifo,
    pub timers: Timers,
    /// Arguments of queued items and timers.
    pub args: ArgsPool,
    /// The one counter for queued items and timer IDs.
    seq: u64,
    pub clock: Clock,
    aliases: FxHashMap<Str, SessionId>,
    /// `sig()` watchers by signal, then session.
    watchers: FxHashMap<Event, BTreeMap<SessionId, Watch>>,
    active: Active,
    /// Sessions whose refcount dropped to zero, in order, for the next sweep.
    marked: Vec<SessionId>,
    /// The buffer one sweep pass works from, kept to avoid reallocating.
    sweep: Vec<SessionId>,
    /// An exception nobody handled, rethrown by `run`.
    exception: Option<String>,
    /// `sig_handled()` counts of the signals being dispatched, innermost last.
    handled: Vec<u32>,
    /// Sessions holding public refcount tags (POE's idle test counts them).
    extref_sessions: usize,
    pub inbox: Inbox,
    /// I/O watchers and the wait.
    pub reactor: Reactor,
    /// `sig_child` watchers by process ID.
    pub pids: FxHashMap<i32, Vec<PidWatch>>,
    /// The ready watchers of the slice, kept to avoid reallocating.
    pub ready: Vec<Ready>,
    /// This kernel among the process's, for the signal owner.
    pub instance: Instance,
    /// Live wheels by ID: their session and a weak reference to them.
    pub wheels: FxHashMap<u64, (SessionId, Erased)>,
    /// Wheels with output to write when the top-level dispatch returns.
    pub dirty: Dirty,
    /// The runtime this kernel belongs to, if any.
    pub runtime: Option<Attached>,
    /// Publishes snapshots, once asked to.
    pub publisher: Option<Publisher>,
    /// The kernel's accounting (docs/architecture.md, "Accounting").
    pub counters: Counters,
    /// Which dispatches are timed.
    pub sampler: Sampler,
    /// Whether a wait found a descriptor ready since the kernel last
    /// blocked (see [`Core::spin_for_io`]).
    io_since_block: bool,
    /// The reply event of each queued call from another kernel, by item
    /// number.
    pub replies: FxHashMap<u64, Event>,
}

/// Picks the dispatches whose handler time is measured: all of them in a
/// slice that followed a real wait, where a clock read is cheap beside the
/// system call, and one in [`Sampler::ONE_IN`] on average otherwise,
/// counted that many times over, so accounting stays within a few percent
/// of a saturated dispatch loop (docs/architecture.md, "Accounting").
pub(crate) struct Sampler {
    /// Time every dispatch of this slice.
    every: bool,
    /// Dispatches to skip before the next measured one.
    countdown: u32,
    /// xorshift state for the gaps: random gaps do not alias with periodic
    /// event patterns as a fixed stride would.
    state: u32,
}

impl Sampler {
    pub const ONE_IN: u64 = 32;

    pub fn new() -> Sampler {
        Sampler {
            every: true,
            countdown: 0,
            state: 0x9e37_79b9,
        }
    }

    /// The weight of this dispatch's measurement, or `None` to skip it.
    /// (While `every` is set, `countdown` stays zero.)
    #[inline]
    pub fn pick(&mut self) -> Option<u64> {
        if self.countdown > 0 {
            self.countdown -= 1;
            return None;
        }
        Some(self.measure())
    }

    /// This dispatch is measured: its weight, and the gap to the next, of
    /// 0 to `2 * ONE_IN - 2` skipped dispatches, uniformly: one measured
    /// dispatch in `ONE_IN` on average.
    #[inline(never)]
    fn measure(&mut self) -> u64 {
        if self.every {
            return 1;
        }
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        self.countdown = x % (2 * Sampler::ONE_IN as u32 - 1);
        Sampler::ONE_IN
    }

    /// Whether to time every dispatch from now on (after a real wait) or to
    /// sample (in a busy loop).
    #[inline]
    pub fn time_every(&mut self, every: bool) {
        self.every = every;
        if every {
            self.countdown = 0;
        }
    }
}

/// A `sig_child` registration.
pub(crate) struct PidWatch {
    pub session: SessionId,
    pub event: Event,
    pub args: Args,
}

impl Core {
    pub fn new(id: KernelId, name: String) -> std::io::Result<Core> {
        let reactor = Reactor::new()?;
        Ok(Core {
            id,
            name,
            sessions: Table::new(id),
            fifo: Fifo::default(),
            timers: Timers::default(),
            args: ArgsPool::default(),
            seq: 0,
            clock: Clock::new(),
            aliases: FxHashMap::default(),
            watchers: FxHashMap::default(),
            active: Active {
                session: SessionId::kernel_root(id),
                event: None,
                kind: None,
            },
            marked: Vec::new(),
            sweep: Vec::new(),
            exception: None,
            handled: Vec::new(),
            extref_sessions: 0,
            inbox: Inbox::new(reactor.waker()),
            reactor,
            pids: FxHashMap::default(),
            ready: Vec::new(),
            instance: Instance::next(),
            wheels: FxHashMap::default(),
            dirty: Dirty::default(),
            runtime: None,
            publisher: None,
            counters: Counters::default(),
            sampler: Sampler::new(),
            io_since_block: false,
            replies: FxHashMap::default(),
        })
    }

    pub fn id(&self) -> KernelId {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn root(&self) -> SessionId {
        SessionId::kernel_root(self.id)
    }

    // ----- the active session -------------------------------------------------

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

    pub fn leave(&mut self, saved: Active) {
        self.active = saved;
    }

    /// POE's `stop()` leaves the kernel active for the rest of the handler.
    pub fn activate_kernel(&mut self) {
        self.active.session = self.root();
    }

    // ----- exceptions ---------------------------------------------------------

    /// A trapped handler failure (POE's `_dispatch_event` catch block).
    pub fn exception_in(&mut self, env: &Envelope, error: Error, after_stop: bool) {
        let text = error.to_string();
        if matches!(env.kind, DispatchKind::Stop | DispatchKind::Die) || after_stop {
            self.exception = Some(text);
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
        details.insert("error_str".into(), text.into());
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

    /// DIE went unhandled: remember the error for `run` (POE appends to one
    /// already pending).
    pub fn unhandled_die(&mut self, error_str: String) {
        self.exception = Some(match self.exception.take() {
            Some(previous) => format!(
                "{error_str}Additional error thrown in handler for previous error:\n{previous}"
            ),
            None => error_str,
        });
    }

    pub fn has_exception(&self) -> bool {
        self.exception.is_some()
    }

    pub fn take_exception(&mut self) -> Result<()> {
        match self.exception.take() {
            Some(text) => Err(Error::Died(text)),
            None => Ok(()),
        }
    }

    // ----- resolution ---------------------------------------------------------

    /// POE's `_resolve_session`: a session, then an ID (a session number or
    /// the kernel's name, both in POE's ID table), then an alias.
    pub fn resolve(&self, dest: &Dest) -> Option<SessionId> {
        match dest {
            // An ID made from a number alone comes back with its slot.
            Dest::Session(id) => self.sessions.find(*id).filter(|_| id.kernel() == self.id),
            Dest::Name(name) => name
                .parse::<u64>()
                .ok()
                .and_then(|number| self.sessions.by_number(number))
                .or_else(|| {
                    (name.as_str() == self.name && self.sessions.contains(self.root()))
                        .then(|| self.root())
                })
                .or_else(|| self.aliases.get(name).copied()),
        }
    }

    pub fn resolve_or_err(&self, dest: &Dest) -> Result<SessionId> {
        self.resolve(dest)
            .ok_or_else(|| Error::NoSuchSession(dest.to_string()))
    }

    /// Resolves on this kernel first, then, in a runtime, anywhere: a
    /// session of another kernel is taken as named (its kernel says whether
    /// it lives), a name goes to the runtime's alias directory.
    pub fn resolve_anywhere(&self, dest: &Dest) -> Result<SessionId> {
        if let Dest::Session(id) = dest
            && id.kernel() != self.id
            && self.runtime.is_some()
        {
            return Ok(*id);
        }
        match (self.resolve(dest), &self.runtime) {
            (Some(id), _) => Ok(id),
            (None, Some(runtime)) => runtime.shared.resolve(dest),
            (None, None) => Err(Error::NoSuchSession(dest.to_string())),
        }
    }

    // ----- the queue ----------------------------------------------------------

    /// Queues an item due now for a target known to exist.
    pub fn enqueue(
        &mut self,
        target: SessionId,
        sender: SessionId,
        event: Event,
        kind: Kind,
        args: Args,
        location: &'static Location<'static>,
    ) {
        self.fold_inbox();
        self.push_fifo(target, sender, event, kind, args, location);
    }

    /// Counts and queues an item due now; `false` when the target is gone.
    #[inline]
    fn push_fifo(
        &mut self,
        target: SessionId,
        sender: SessionId,
        event: Event,
        kind: Kind,
        args: Args,
        location: &'static Location<'static>,
    ) -> bool {
        if !self.count_side(target, 1, Side::To) {
            return false;
        }
        if sender != target {
            self.count_side(sender, 1, Side::From);
        }
        self.seq += 1;
        let args = self.args.store(args);
        self.fifo.push(Item {
            seq: self.seq,
            due: self.clock.cached(),
            target,
            sender,
            event,
            kind,
            args,
            caller_state: self.active.event,
            location,
        });
        true
    }

    /// Queues a timer for `target`, due at `due`.
    pub fn enqueue_timer(
        &mut self,
        target: SessionId,
        event: Event,
        args: Args,
        due: i64,
        location: &'static Location<'static>,
    ) -> TimerId {
        self.fold_inbox();
        self.count_side(target, 1, Side::To);
        self.seq += 1;
        let args = self.args.store(args);
        let slot = self.timers.insert(Item {
            seq: self.seq,
            due,
            target,
            sender: target,
            event,
            kind: Kind::Timer,
            args,
            caller_state: self.active.event,
            location,
        });
        TimerId::new(self.id, slot, self.seq)
    }

    /// `post`: resolve, then queue from the active session.
    #[inline]
    pub fn post(
        &mut self,
        dest: &Dest,
        event: Event,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<()> {
        self.fold_inbox();
        let target = match dest {
            Dest::Session(id) if id.known_slot().is_some() || id.kernel() != self.id => *id,
            _ => self.resolve_anywhere(dest)?,
        };
        let sender = self.active.session;
        if target.kernel() != self.id {
            return self.post_remote(target, sender, event, args);
        }
        if self.push_fifo(target, sender, event, Kind::Post, args, location) {
            Ok(())
        } else {
            Err(Error::NoSuchSession(dest.to_string()))
        }
    }

    /// `signal`: queue a signal item for `dest`.
    pub fn signal(
        &mut self,
        dest: &Dest,
        signal: Event,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<()> {
        let target = self.resolve_or_err(dest)?;
        let sender = self.active.session;
        self.enqueue(target, sender, signal, Kind::Signal, args, location);
        Ok(())
    }

    /// The number of the last item queued: a slice dispatches the FIFO only
    /// up to here, so what its handlers post waits for the next slice.
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// The next item due in this slice: FIFO items numbered up to `cutoff`
    /// and timers due by `now`, merged on `(due, seq)`.
    #[inline]
    pub fn next_due(&mut self, cutoff: u64, now: i64) -> Option<Item> {
        let item = if self.timers.is_empty() {
            self.fifo.front_key(cutoff)?;
            self.fifo.pop()?
        } else {
            let posted = self.fifo.front_key(cutoff);
            let timer = self.timers.peek_due(now);
            match (posted, timer) {
                (Some(p), Some(t)) if t < p => self.timers.pop(),
                (Some(_), _) => self.fifo.pop(),
                (None, Some(_)) => self.timers.pop(),
                (None, None) => None,
            }?
        };
        self.dequeued(&item);
        Some(item)
    }

    /// Releases what a queued item held, once it leaves the queue.
    #[inline]
    pub fn dequeued(&mut self, item: &Item) {
        self.count_queued(item.target, item.sender, -1);
    }

    /// Queued items in all (POE's `get_event_count`).
    pub fn queued(&self) -> usize {
        self.fifo.len() + self.timers.len()
    }

    /// When the earliest timer is due.
    pub fn next_timer(&mut self) -> Option<i64> {
        self.timers.next_wakeup()
    }

    /// Adjusts the "to" and "from" counts an item holds (POE's
    /// `_data_ev_enqueue` / `_data_ev_refcount_dec`).
    #[inline]
    fn count_queued(&mut self, target: SessionId, sender: SessionId, delta: i32) {
        self.count_side(target, delta, Side::To);
        if sender != target {
            self.count_side(sender, delta, Side::From);
        }
    }

    /// Adds `delta` to one of a session's queued-item counts; a count leaving
    /// or reaching zero takes or releases one refcount. `false` when no such
    /// session lives on this kernel.
    #[inline(always)]
    fn count_side(&mut self, id: SessionId, delta: i32, side: Side) -> bool {
        if id.kernel() != self.id {
            return false;
        }
        if id.is_kernel() {
            return self.sessions.contains(id);
        }
        let Core {
            sessions, marked, ..
        } = self;
        let Some(record) = sessions.get_mut(id) else {
            return false;
        };
        let count = match side {
            Side::To => &mut record.events_to,
            Side::From => &mut record.events_from,
        };
        let before = *count;
        debug_assert!(
            before > 0 || delta > 0,
            "queued-item counts never go below zero"
        );
        *count = before.wrapping_add_signed(delta);
        if before == 0 {
            bump(record, marked, 1);
        } else if *count == 0 {
            bump(record, marked, -1);
        }
        true
    }

    /// Removes every queued item to or from `id` (a stopping session), and
    /// releases what those items held on the other side.
    pub fn purge_session(&mut self, id: SessionId) {
        let Some(record) = self.sessions.get(id) else {
            return;
        };
        if record.events_to == 0 && record.events_from == 0 {
            return;
        }
        let mut purged = self.timers.remove_session(id);
        purged.extend(
            self.fifo
                .remove_where(|item| item.target == id || item.sender == id),
        );
        for item in purged {
            self.dequeued(&item);
            self.args.take(item.args);
            if item.kind == Kind::Call
                && let Some(reply) = self.replies.remove(&item.seq)
            {
                let error = Error::NoSuchSession(item.target.to_string()).to_string();
                let _ = self.reply(
                    item.target,
                    item.sender,
                    reply,
                    Args::from((Value::Undef, error)),
                );
            }
        }
    }

    // ----- reference counts and garbage collection ---------------------------

    pub fn refcount_inc(&mut self, id: SessionId) {
        let Core {
            sessions, marked, ..
        } = self;
        if let Some(record) = sessions.get_mut(id) {
            bump(record, marked, 1);
        }
    }

    pub fn refcount_dec(&mut self, id: SessionId) {
        let Core {
            sessions, marked, ..
        } = self;
        if let Some(record) = sessions.get_mut(id) {
            bump(record, marked, -1);
        }
    }

    /// Marks a new session, which POE collects at the next sweep unless
    /// something (at least its `_garbage_collect` item) holds it.
    pub fn mark(&mut self, id: SessionId) {
        if let Some(record) = self.sessions.get_mut(id) {
            record.marked = true;
            self.marked.push(id);
        }
    }

    /// The sessions to stop in one sweep pass, most recently marked first
    /// (POE's `_data_ses_gc_sweep`). Hand the buffer back with
    /// [`Core::recycle_sweep`].
    pub fn take_marked(&mut self) -> Vec<SessionId> {
        let mut todo = std::mem::take(&mut self.sweep);
        todo.clear();
        while let Some(id) = self.marked.pop() {
            if let Some(record) = self.sessions.get_mut(id).filter(|record| record.marked) {
                record.marked = false;
                todo.push(id);
            }
        }
        todo
    }

    pub fn recycle_sweep(&mut self, todo: Vec<SessionId>) {
        self.sweep = todo;
    }

    /// Whether a sweep has work: drops the marks of sessions that came
    /// back to life since (the common case, cheaply) and looks at the rest.
    #[inline]
    pub fn has_marked(&mut self) -> bool {
        while let Some(&id) = self.marked.last() {
            if self.sessions.get(id).is_some_and(|record| record.marked) {
                return true;
            }
            self.marked.pop();
        }
        false
    }

    /// Moves `child` under `parent` (POE's `_data_ses_move_child`).
    pub fn move_child(&mut self, child: SessionId, parent: SessionId) {
        let Some(old) = self.sessions.get(child).and_then(|record| record.parent) else {
            return;
        };
        if let Some(record) = self.sessions.get_mut(old) {
            record.children.remove(&child.number());
        }
        self.refcount_dec(old);
        if let Some(record) = self.sessions.get_mut(child) {
            record.parent = Some(parent);
        }
        if let Some(record) = self.sessions.get_mut(parent) {
            record.children.insert(child.number(), child);
        }
        self.refcount_inc(parent);
    }

    /// Frees a stopped session's resources (POE's `_data_ses_free`).
    pub fn free_session(&mut self, id: SessionId) {
        let Some(record) = self.sessions.get(id) else {
            return;
        };
        let parent = record.parent;
        let children: Vec<SessionId> = record.children.values().copied().collect();
        if let Some(parent) = parent {
            if let Some(record) = self.sessions.get_mut(parent) {
                record.children.remove(&id.number());
            }
            if let Some(record) = self.sessions.get_mut(id) {
                record.parent = None;
            }
            self.refcount_dec(parent);
            for child in children {
                self.move_child(child, parent);
            }
        }
        let record = self
            .sessions
            .get_mut(id)
            .expect("the session is still allocated");
        let signals = std::mem::take(&mut record.signals);
        let aliases = std::mem::take(&mut record.aliases);
        let had_extrefs = !std::mem::take(&mut record.extrefs).is_empty();
        for signal in signals {
            self.unwatch(signal, id);
        }
        // The session is going: what its watchers held goes with it.
        self.reactor.unwatch_session(id);
        self.forget_pids_of(id);
        for alias in aliases {
            self.aliases.remove(&alias);
            if let Some(runtime) = &self.runtime {
                runtime.shared.directory.remove(&alias, id);
            }
        }
        if had_extrefs {
            self.extref_sessions -= 1;
        }
        self.purge_session(id);
        self.sessions.remove(id);
    }

    // ----- aliases ------------------------------------------------------------

    pub fn alias_set(&mut self, name: &str) -> Result<()> {
        let me = self.active.session;
        match self.aliases.get(name) {
            Some(&owner) if owner == me => Ok(()),
            Some(&owner) => Err(Error::AliasInUse {
                alias: name.to_owned(),
                owner,
            }),
            None => {
                let name = Str::new(name);
                let record = self.sessions.get_mut(me).ok_or(Error::NoActiveSession)?;
                let at = record.aliases.binary_search(&name).unwrap_or_else(|at| at);
                record.aliases.insert(at, name.clone());
                if let Some(runtime) = &self.runtime {
                    runtime.shared.directory.insert(&name, me);
                }
                self.aliases.insert(name, me);
                self.refcount_inc(me);
                Ok(())
            }
        }
    }

    pub fn alias_remove(&mut self, name: &str) -> Result<()> {
        let me = self.active.session;
        match self.aliases.get(name) {
            None => Err(Error::NoSuchAlias(name.to_owned())),
            Some(&owner) if owner != me => {
                Err(Error::NotPermitted("the alias belongs to another session"))
            }
            Some(_) => {
                self.aliases.remove(name);
                if let Some(runtime) = &self.runtime {
                    runtime.shared.directory.remove(name, me);
                }
                if let Some(record) = self.sessions.get_mut(me) {
                    record.aliases.retain(|alias| alias != name);
                }
                self.refcount_dec(me);
                Ok(())
            }
        }
    }

    pub fn alias_list(&self, id: SessionId) -> Vec<Str> {
        self.sessions
            .get(id)
            .map(|record| record.aliases.clone())
            .unwrap_or_default()
    }

    // ----- public reference counts -------------------------------------------

    pub fn refcount_increment(&mut self, id: SessionId, tag: &str) -> Result<i64> {
        let record = self
            .sessions
            .get_mut(id)
            .filter(|_| !id.is_kernel())
            .ok_or_else(|| Error::NoSuchSession(id.to_string()))?;
        let was_empty = record.extrefs.is_empty();
        let count = record.extrefs.entry(Str::new(tag)).or_insert(0);
        *count += 1;
        let count = *count;
        if count == 0 {
            // A tag decremented below zero never held the session.
            record.extrefs.remove(tag);
        }
        let is_empty = record.extrefs.is_empty();
        if count == 1 {
            self.refcount_inc(id);
        }
        self.count_extref_session(was_empty, is_empty);
        Ok(count)
    }

    pub fn refcount_decrement(&mut self, id: SessionId, tag: &str) -> Result<i64> {
        let record = self
            .sessions
            .get_mut(id)
            .filter(|_| !id.is_kernel())
            .ok_or_else(|| Error::NoSuchSession(id.to_string()))?;
        let was_empty = record.extrefs.is_empty();
        let count = record.extrefs.entry(Str::new(tag)).or_insert(0);
        *count -= 1;
        let count = *count;
        if count == 0 {
            record.extrefs.remove(tag);
        }
        let is_empty = record.extrefs.is_empty();
        if count == 0 {
            self.refcount_dec(id);
        }
        self.count_extref_session(was_empty, is_empty);
        Ok(count)
    }

    fn count_extref_session(&mut self, was_empty: bool, is_empty: bool) {
        match (was_empty, is_empty) {
            (true, false) => self.extref_sessions += 1,
            (false, true) => self.extref_sessions -= 1,
            _ => {}
        }
    }

    // ----- signal watchers ----------------------------------------------------

    pub fn sig(&mut self, signal: Event, event: Event, args: Args) -> Result<()> {
        let me = self.active.session;
        let record = self.sessions.get_mut(me).ok_or(Error::NoActiveSession)?;
        if !record.signals.contains(&signal) {
            record.signals.push(signal);
        }
        self.watchers
            .entry(signal)
            .or_default()
            .insert(me, Watch { event, args });
        if let Some(number) = crate::signal::number(signal.as_str()) {
            crate::signal::subscribe(self.instance, &self.inbox.mailbox(), number)?;
        }
        Ok(())
    }

    pub fn sig_remove(&mut self, signal: Event) {
        let me = self.active.session;
        if let Some(record) = self.sessions.get_mut(me) {
            record.signals.retain(|&s| s != signal);
        }
        self.unwatch(signal, me);
    }

    fn unwatch(&mut self, signal: Event, id: SessionId) {
        if let Some(watchers) = self.watchers.get_mut(&signal) {
            watchers.remove(&id);
            if watchers.is_empty() {
                self.watchers.remove(&signal);
                self.release_os_signal(signal);
            }
        }
    }

    /// Stops receiving an OS signal nobody here needs any more.
    pub fn release_os_signal(&mut self, signal: Event) {
        let Some(number) = crate::signal::number(signal.as_str()) else {
            return;
        };
        let still_needed = self.watchers.contains_key(&signal)
            || (number == signal_hook::consts::SIGCHLD && !self.pids.is_empty());
        if !still_needed {
            crate::signal::unsubscribe(self.instance, number);
        }
    }

    /// The watchers of `signal` as they are now (dispatch works on a copy,
    /// as POE's does, so handlers may change them).
    pub fn watchers_of(&self, signal: Event) -> BTreeMap<SessionId, Watch> {
        self.watchers.get(&signal).cloned().unwrap_or_default()
    }

    pub fn begin_signal(&mut self) {
        self.handled.push(0);
    }

    pub fn end_signal(&mut self) -> u32 {
        self.handled.pop().unwrap_or(0)
    }

    pub fn sig_handled(&mut self) {
        if let Some(count) = self.handled.last_mut() {
            *count += 1;
        }
    }

    /// `run` makes the kernel watch IDLE, so it can follow up with ZOMBIE.
    pub fn watch_idle(&mut self) {
        let root = self.root();
        self.watchers.entry(Event::IDLE).or_default().insert(
            root,
            Watch {
                event: Event::SIGNAL,
                args: Args::new(),
            },
        );
    }

    // ----- idleness -----------------------------------------------------------

    /// POE's `_test_if_kernel_is_idle`: nothing queued, watched or held
    /// means IDLE. In a runtime the kernel reports to the runtime instead,
    /// which sends IDLE once every kernel is idle.
    pub fn idle_check(&mut self) {
        self.fold_inbox();
        let idle = self.is_idle();
        if self.idle_alone(idle) {
            let root = self.root();
            self.push_fifo(
                root,
                root,
                Event::IDLE,
                Kind::Signal,
                Args::new(),
                Location::caller(),
            );
        }
    }

    /// Nothing queued, watched or held, nothing waiting to go to another
    /// kernel, and sessions to tell.
    pub fn is_idle(&self) -> bool {
        self.queued() == 0
            && self.extref_sessions == 0
            && !self.reactor.has_watchers()
            && self.pids.is_empty()
            && !self.has_overflow()
            && !self.sessions.is_empty()
    }

    /// After IDLE's watchers ran: still nothing to do means ZOMBIE. In a
    /// runtime, what IDLE's handlers sent to other kernels may still bring
    /// work back, so ZOMBIE waits for the runtime to be idle once more.
    pub fn zombie_if_still_idle(&mut self) {
        if self.queued() == 0 && !self.reactor.has_watchers() && self.zombie_now() {
            let root = self.root();
            self.enqueue(
                root,
                root,
                Event::ZOMBIE,
                Kind::Signal,
                Args::new(),
                Location::caller(),
            );
        }
    }

    // ----- the inbox ----------------------------------------------------------

    /// Applies messages from postbacks and other threads, in arrival order.
    #[inline]
    pub fn fold_inbox(&mut self) {
        if self.inbox.has_pending() {
            self.fold_pending();
        }
    }

    /// Applies the messages waiting now, not those that arrive meanwhile:
    /// a thread posting faster than the kernel applies cannot hold it
    /// here. The rest wait for the next fold (the kernel does not block
    /// while any do).
    #[cold]
    fn fold_pending(&mut self) {
        for _ in 0..self.inbox.pending() {
            let Some(message) = self.inbox.try_recv() else {
                break;
            };
            self.woke();
            self.apply(message);
        }
    }

    /// Writes the output wheels buffered during the dispatch that just ended.
    #[inline]
    pub fn flush_wheels(&mut self) {
        if !self.dirty.borrow().is_empty() {
            self.flush_dirty();
        }
    }

    #[cold]
    fn flush_dirty(&mut self) {
        let wheels = std::mem::take(&mut *self.dirty.borrow_mut());
        for wheel in wheels.iter().filter_map(std::rc::Weak::upgrade) {
            wheel.flush(self);
        }
    }

    /// Whether the next slice's idle check and wait can be skipped: work is
    /// queued, so neither IDLE nor a wait can happen, and nothing outside the
    /// queue (timers, descriptors, the inbox) needs looking at.
    #[inline]
    pub fn is_busy(&self) -> bool {
        !self.fifo.is_empty()
            && self.timers.is_empty()
            && !self.reactor.has_watchers()
            && !self.inbox.has_pending()
    }

    /// Applies a message from another thread or kernel.
    pub fn apply(&mut self, message: Message) {
        match message {
            Message::Post {
                target,
                sender,
                event,
                args,
            } => {
                if let Some(target) = self.sessions.find(target) {
                    let sender = self.sender_of(sender);
                    self.push_fifo(target, sender, event, Kind::Post, args, Location::caller());
                } else {
                    self.counters.undeliverable += 1;
                }
            }
            Message::Call {
                target,
                sender,
                event,
                args,
                reply,
            } => {
                if let Some(target) = self.sessions.find(target) {
                    self.push_fifo(target, sender, event, Kind::Call, args, Location::caller());
                    self.replies.insert(self.seq, reply);
                } else {
                    let error = Error::NoSuchSession(target.to_string()).to_string();
                    let _ = self.reply(target, sender, reply, Args::from((Value::Undef, error)));
                }
            }
            Message::Reply {
                target,
                sender,
                event,
                args,
            } => {
                if let Some(target) = self.sessions.find(target) {
                    self.push_fifo(target, sender, event, Kind::Post, args, Location::caller());
                    let _ = self.refcount_decrement(target, super::remote::AWAITING_REPLY);
                } else {
                    self.counters.undeliverable += 1;
                }
            }
            Message::RuntimeIdle => self.runtime_idle(),
            Message::Shutdown => self.begin_shutdown(),
            Message::Snapshot => {
                if let Some(runtime) = &self.runtime {
                    runtime.shared.snapshot_answered(self.id);
                }
                self.publish_snapshot();
            }
            Message::Release { session, tag } => {
                // The session may be gone already; nothing is held then.
                let _ = self.refcount_decrement(session, &tag);
            }
            Message::Signal(number) => self.os_signal(number),
            Message::Pause {
                session,
                fd,
                mode,
                paused,
            } => {
                self.reactor.set_paused(fd, mode, session, paused);
            }
            Message::Unwatch { session, fds } => self.unwatch_all(session, &fds),
            Message::CancelTimer { session, timer } => self.cancel_timer(session, timer),
            Message::WheelGone {
                session,
                wheel,
                fds,
            } => {
                self.wheels.remove(&wheel);
                self.unwatch_all(session, &fds);
            }
        }
    }

    /// SENDER for a message's event: a session of another kernel stays
    /// itself (a reply goes back to it); one of this kernel that is gone
    /// becomes the kernel.
    fn sender_of(&self, origin: Origin) -> SessionId {
        match origin {
            Origin::Active => self.active.session,
            Origin::Session(id) if id.kernel() != self.id || self.sessions.contains(id) => id,
            Origin::Session(_) => self.root(),
        }
    }

    /// Waits for I/O, a message or `timeout` (`None`: until something
    /// happens). With nothing watched and nothing to wait for, it returns at
    /// once, without a system call.
    pub fn wait(&mut self, timeout: Option<Duration>) {
        let zero = timeout.is_some_and(|t| t.is_zero());
        self.sampler.time_every(!zero);
        if zero && !self.reactor.has_watchers() {
            return;
        }
        let waker = self.reactor.waker();
        let timeout = if zero {
            timeout
        } else if self.spin_for_messages(timeout) {
            // No system call: sample handler times as in a busy slice.
            self.sampler.time_every(false);
            if !self.reactor.has_watchers() {
                self.fold_inbox();
                return;
            }
            Some(Duration::ZERO)
        } else if self.spin_for_io(timeout) {
            // The readiness (or message) found is the wait's result.
            self.sampler.time_every(false);
            self.fold_inbox();
            self.clock.now();
            return;
        } else {
            self.report_idle();
            // Park, then look once more: a sender either sees us parked and
            // wakes us, or we see its message (docs/architecture.md).
            waker.park();
            if self.inbox.has_any() {
                Some(Duration::ZERO)
            } else {
                timeout
            }
        };
        let blocking = !timeout.is_some_and(|t| t.is_zero());
        let waited = self.reactor.wait(timeout);
        waker.unpark();
        let found = self.reactor.found_ready();
        self.io_since_block = found || (self.io_since_block && !blocking);
        if let Err(error) = waited {
            // The reactor cannot fail on valid descriptors; if it does, the
            // slice goes on and the next wait tries again.
            eprintln!("roe: waiting for I/O failed: {error}");
        }
        self.fold_inbox();
        self.clock.now();
    }

    /// A kernel that found a descriptor ready since it last blocked is in a
    /// conversation over it, and the next readiness usually comes sooner
    /// than a blocked thread can be woken (as with messages, see
    /// [`Core::spin_for_messages`]). So it polls its descriptors without
    /// blocking, for up to [`SPIN`] or `limit`, before it blocks; `true` when
    /// readiness or a message came, the readiness then being the reactor's
    /// current result. A kernel that found nothing ready never spins.
    fn spin_for_io(&mut self, limit: Option<Duration>) -> bool {
        if !self.io_since_block {
            return false;
        }
        let budget = limit.map_or(SPIN, |limit| limit.min(SPIN));
        let started = Instant::now();
        loop {
            // A failed poll is left to the blocking wait that follows.
            let polled = self.reactor.wait(Some(Duration::ZERO));
            if polled.is_err() {
                return false;
            }
            if self.reactor.found_ready() || self.inbox.has_any() {
                return true;
            }
            if started.elapsed() >= budget {
                return false;
            }
            std::hint::spin_loop();
        }
    }

    /// The wait before the next slice: none if something is due, until the
    /// next timer otherwise, and without limit when only outside events can
    /// bring work.
    pub fn wait_timeout(&mut self) -> Option<Duration> {
        if !self.fifo.is_empty() {
            return Some(Duration::ZERO);
        }
        let until_timer = self.next_timer().map(|due| self.clock.until(due));
        [
            until_timer,
            self.runtime_wait_cap(),
            self.publish_wait_cap(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// After the last session: drops what is left (POE's `_finalize_kernel`).
    pub fn finalize(&mut self) {
        crate::signal::forget(self.instance);
        let root = self.root();
        self.unwatch(Event::IDLE, root);
        self.fifo.clear();
        self.timers.clear();
        self.args.clear();
        self.replies.clear();
        self.marked.clear();
        self.fold_inbox();
    }

    /// Recreates the kernel's session when a session is spawned after `run`
    /// finished (POE's `session_alloc` after `KR_RUN_DONE`).
    pub fn ensure_root(&mut self) {
        if !self.sessions.contains(self.root()) {
            self.sessions.insert_root();
            self.active = Active {
                session: self.root(),
                event: None,
                kind: None,
            };
        }
    }
}
