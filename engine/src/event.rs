//! Event names, interned once per process.

use std::{
    cell::RefCell,
    fmt,
    num::NonZeroU32,
    sync::{Mutex, OnceLock, RwLock},
};

use rustc_hash::FxHashMap;

/// An interned event name.
///
/// Names are interned once per process, so an `Event` is a small number that
/// compares, hashes and crosses kernels for free. Build one with
/// [`Event::new`] (or `From<&str>`) ahead of a hot loop; API calls that take
/// `impl Into<Event>` also accept a `&str`, at the cost of one hash lookup.
///
/// Interned names are never freed, so code that takes event names from
/// outside the process must check them first (IKC does, against the events
/// a kernel publishes).
///
/// The number is the name's index plus one, so `Option<Event>` is as small
/// as an `Event` (queued items carry one).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Event(NonZeroU32);

/// Names interned before any other, in this order, so the constants below
/// hold without a lookup.
const PREDEFINED: [&str; 16] = [
    "_start",
    "_stop",
    "_child",
    "_parent",
    "_default",
    "_signal",
    "DIE",
    "IDLE",
    "ZOMBIE",
    "UIDESTROY",
    "INT",
    "TERM",
    "HUP",
    "QUIT",
    "KILL",
    "",
];

impl Event {
    /// `_start`: a session's first event, dispatched by `spawn`.
    pub const START: Event = Event::nth(0);
    /// `_stop`: a session's last event.
    pub const STOP: Event = Event::nth(1);
    /// `_child`: a child was created, gained or lost.
    pub const CHILD: Event = Event::nth(2);
    /// `_parent`: the session's parent changed.
    pub const PARENT: Event = Event::nth(3);
    /// `_default`: receives events that have no handler.
    pub const DEFAULT: Event = Event::nth(4);
    /// `_signal`: the kernel's own signal hook (never a user handler).
    pub(crate) const SIGNAL: Event = Event::nth(5);
    /// `DIE`: the signal an exception in a handler becomes.
    pub const DIE: Event = Event::nth(6);
    pub(crate) const IDLE: Event = Event::nth(7);
    pub(crate) const ZOMBIE: Event = Event::nth(8);
    pub(crate) const UIDESTROY: Event = Event::nth(9);
    pub(crate) const INT: Event = Event::nth(10);
    pub(crate) const TERM: Event = Event::nth(11);
    pub(crate) const HUP: Event = Event::nth(12);
    pub(crate) const QUIT: Event = Event::nth(13);
    pub(crate) const KILL: Event = Event::nth(14);
    /// The empty name, which no API accepts (POE's undefined event name).
    pub(crate) const EMPTY: Event = Event::nth(15);

    /// The `index`th name interned.
    const fn nth(index: u32) -> Event {
        match NonZeroU32::new(index + 1) {
            Some(number) => Event(number),
            None => panic!("fewer than 2^32 - 1 event names"),
        }
    }

    fn index(self) -> usize {
        self.0.get() as usize - 1
    }

    /// Interns `name`.
    pub fn new(name: &str) -> Event {
        LOCAL.with(|local| {
            if let Some(&event) = local.borrow().get(name) {
                return event;
            }
            let event = interner().intern(name);
            local.borrow_mut().insert(event.as_str(), event);
            event
        })
    }

    /// The event named `name`, if that name was ever interned.
    pub fn lookup(name: &str) -> Option<Event> {
        let table = interner().names.read().unwrap_or_else(|e| e.into_inner());
        table.index.get(name).copied()
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        let table = interner().names.read().unwrap_or_else(|e| e.into_inner());
        table.names[self.index()]
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event({:?})", self.as_str())
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Event {
    fn from(name: &str) -> Event {
        Event::new(name)
    }
}

impl From<&String> for Event {
    fn from(name: &String) -> Event {
        Event::new(name)
    }
}

impl From<String> for Event {
    fn from(name: String) -> Event {
        Event::new(&name)
    }
}

impl PartialEq<str> for Event {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Event {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

struct Interner {
    /// Serialises writers so one name never gets two numbers.
    write: Mutex<()>,
    names: RwLock<Table>,
}

#[derive(Default)]
struct Table {
    names: Vec<&'static str>,
    index: FxHashMap<&'static str, Event>,
}

impl Interner {
    fn intern(&self, name: &str) -> Event {
        let _writer = self.write.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(event) = self
            .names
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .index
            .get(name)
        {
            return *event;
        }
        let mut table = self.names.write().unwrap_or_else(|e| e.into_inner());
        let index = u32::try_from(table.names.len()).expect("fewer than 2^32 event names");
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        table.names.push(name);
        table.index.insert(name, Event::nth(index));
        Event::nth(index)
    }
}

fn interner() -> &'static Interner {
    static INTERNER: OnceLock<Interner> = OnceLock::new();
    INTERNER.get_or_init(|| {
        let mut table = Table::default();
        for (index, name) in (0..).zip(PREDEFINED) {
            table.names.push(name);
            table.index.insert(name, Event::nth(index));
        }
        Interner {
            write: Mutex::new(()),
            names: RwLock::new(table),
        }
    })
}

thread_local! {
    /// Per-thread cache of name lookups, so interning a known name takes no lock.
    static LOCAL: RefCell<FxHashMap<&'static str, Event>> = RefCell::new(FxHashMap::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_names_have_fixed_numbers() {
        assert_eq!(Event::new("_start"), Event::START);
        assert_eq!(Event::new("_default"), Event::DEFAULT);
        assert_eq!(Event::DIE.as_str(), "DIE");
    }

    #[test]
    fn interning_is_stable_across_threads() {
        let here = Event::new("roe-test-cross-thread");
        let there = std::thread::spawn(|| Event::new("roe-test-cross-thread"))
            .join()
            .unwrap();
        assert_eq!(here, there);
        assert_eq!(there.as_str(), "roe-test-cross-thread");
        assert_eq!(Event::lookup("roe-test-never-interned"), None);
    }
}
