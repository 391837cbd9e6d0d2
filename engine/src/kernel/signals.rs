//! `Signals`: the `sig()` watchers of one kernel, and the counts of
//! `sig_handled()` calls while signals are being dispatched.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap;

use crate::{event::Event, id::SessionId, signal::Instance, value::Args};

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

/// Watchers by signal, then by session (so a signal's watchers are visited
/// in ascending session order).
pub(crate) struct Signals {
    watchers: FxHashMap<Event, BTreeMap<SessionId, Watch>>,
    /// `sig_handled()` counts of the signals being dispatched, innermost last.
    handled: Vec<u32>,
    /// This kernel among the process's, for the OS signal owner.
    instance: Instance,
    /// For each OS SIGPIPE queued, the session running when it arrived
    /// (the kernel's own when none was).
    pipes: VecDeque<SessionId>,
    /// Live sessions that define `_signal`: while there are any, the
    /// kernel receives the OS signals announced to them.
    listeners: usize,
}

impl Signals {
    pub fn new() -> Signals {
        Signals {
            watchers: FxHashMap::default(),
            handled: Vec::new(),
            instance: Instance::next(),
            pipes: VecDeque::new(),
            listeners: 0,
        }
    }

    /// This kernel, for the process's OS signal owner.
    pub fn instance(&self) -> Instance {
        self.instance
    }

    /// `session` watches `signal` (a new registration replaces the old).
    pub fn watch(&mut self, signal: Event, session: SessionId, watch: Watch) {
        self.watchers
            .entry(signal)
            .or_default()
            .insert(session, watch);
    }

    /// `session` stops watching `signal`; `true` when nobody here watches
    /// it any more.
    pub fn unwatch(&mut self, signal: Event, session: SessionId) -> bool {
        let Some(watchers) = self.watchers.get_mut(&signal) else {
            return false;
        };
        watchers.remove(&session);
        if watchers.is_empty() {
            self.watchers.remove(&signal);
            return true;
        }
        false
    }

    /// Whether anybody here watches `signal`.
    pub fn is_watched(&self, signal: Event) -> bool {
        self.watchers.contains_key(&signal)
    }

    /// The watchers of `signal` as they are now (dispatch works on a copy,
    /// as POE's does, so handlers may change them).
    pub fn watchers_of(&self, signal: Event) -> BTreeMap<SessionId, Watch> {
        self.watchers.get(&signal).cloned().unwrap_or_default()
    }

    /// A session that defines `_signal` came (`true`) or went; `true`
    /// when it was the first to come or the last to go.
    pub fn listener(&mut self, came: bool) -> bool {
        if came {
            self.listeners += 1;
            self.listeners == 1
        } else {
            self.listeners = self.listeners.saturating_sub(1);
            self.listeners == 0
        }
    }

    /// Whether a live session defines `_signal`.
    pub fn has_listeners(&self) -> bool {
        self.listeners > 0
    }

    /// An OS SIGPIPE arrived while `active` ran.
    pub fn pipe_arrived(&mut self, active: SessionId) {
        self.pipes.push_back(active);
    }

    /// The session the OS SIGPIPE being dispatched arrived in (they are
    /// dispatched in the order they arrived).
    pub fn pipe_target(&mut self) -> Option<SessionId> {
        self.pipes.pop_front()
    }

    /// A signal's dispatch begins: its handled count starts at zero.
    pub fn begin(&mut self) {
        self.handled.push(0);
    }

    /// The signal's dispatch ends: how many handlers marked it handled.
    pub fn end(&mut self) -> u32 {
        self.handled.pop().unwrap_or(0)
    }

    /// `sig_handled()`: counts for the innermost signal being dispatched.
    pub fn handled(&mut self) {
        if let Some(count) = self.handled.last_mut() {
            *count += 1;
        }
    }
}
