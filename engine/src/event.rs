//! Event names, interned once per process and readable from any thread
//! without a lock.

use std::{
    cell::RefCell,
    fmt,
    num::NonZeroU32,
    sync::{Mutex, MutexGuard, OnceLock},
};

use rustc_hash::FxHashMap;

/// An interned event name.
///
/// Names are interned once per process, so an `Event` is a small number that
/// compares, hashes and crosses kernels for free. Build one with
/// [`Event::new`] (or `From<&str>`) ahead of a hot loop; API calls that take
/// `impl Into<Event>` also accept a `&str`, at the cost of one hash lookup.
/// Reading a name back ([`Event::as_str`], comparing with a `&str`) takes no
/// lock, so kernels on different cores never contend on it.
///
/// Interned names are never freed, so code that takes event names from
/// outside the process must check them first (with [`Event::lookup`], which
/// never interns).
///
/// The number is the name's index plus one, so `Option<Event>` is as small
/// as an `Event` (queued items carry one).
///
/// # Examples
///
/// ```
/// use roe_engine::Event;
///
/// let tick = Event::new("tick");
/// assert_eq!(tick, Event::from("tick"));
/// assert_eq!(tick.as_str(), "tick");
/// assert!(tick == "tick");
/// assert_eq!(Event::lookup("never interned anywhere"), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Event(NonZeroU32);

/// Names interned before any other, in this order, so the constants below
/// hold without a lookup.
const PREDEFINED: [&str; 17] = [
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
    "_io",
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
    /// `_signal`: the signal event of POE's older documents, which roe
    /// still delivers to sessions that define it (docs/porting.md).
    pub const SIGNAL: Event = Event::nth(5);
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
    /// What a session is handling while one of its I/O sources runs.
    pub(crate) const IO: Event = Event::nth(16);

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
            let event = names().intern(name);
            local.borrow_mut().insert(event.as_str(), event);
            event
        })
    }

    /// The event named `name`, if that name was ever interned; never
    /// interns (for names that come from outside the process).
    pub fn lookup(name: &str) -> Option<Event> {
        if let Some(event) = LOCAL.with(|local| local.borrow().get(name).copied()) {
            return Some(event);
        }
        names().writers().index.get(name).copied()
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        names().get(self.index())
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

/// Slots in the first chunk; chunk `c` has `FIRST << c` slots, so a few
/// dozen chunks cover every index an `Event` can have.
const FIRST_BITS: u32 = 6;
const CHUNKS: usize = 27;

/// Where the name of index `index` lives: its chunk, and its slot there.
fn place(index: usize) -> (usize, usize) {
    let k = index + (1 << FIRST_BITS);
    let chunk = (usize::BITS - 1 - k.leading_zeros() - FIRST_BITS) as usize;
    (chunk, k - (1 << (chunk as u32 + FIRST_BITS)))
}

/// Every interned name, by index, in chunks that never move once made: a
/// reader finds a name with two acquire loads and no lock. Writers (rare:
/// a name's first use in the process) serialise on a mutex that also holds
/// the name-to-event index.
struct Names {
    chunks: [OnceLock<Box<[OnceLock<&'static str>]>>; CHUNKS],
    writers: Mutex<Index>,
}

#[derive(Default)]
struct Index {
    index: FxHashMap<&'static str, Event>,
    /// Names in index order, for readers that find a slot not yet visible
    /// (an `Event` that reached them without a happens-before edge).
    all: Vec<&'static str>,
}

impl Names {
    fn writers(&self) -> MutexGuard<'_, Index> {
        self.writers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, index: usize) -> &'static str {
        let (chunk, slot) = place(index);
        if let Some(name) = self.chunks[chunk].get().and_then(|slots| slots[slot].get()) {
            return name;
        }
        self.writers().all[index]
    }

    fn intern(&self, name: &str) -> Event {
        let mut writers = self.writers();
        if let Some(&event) = writers.index.get(name) {
            return event;
        }
        let index = u32::try_from(writers.all.len()).expect("fewer than 2^32 event names");
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        self.publish(index as usize, name);
        writers.all.push(name);
        writers.index.insert(name, Event::nth(index));
        Event::nth(index)
    }

    /// Makes `name` readable at `index`; called with the writers' lock held.
    fn publish(&self, index: usize, name: &'static str) {
        let (chunk, slot) = place(index);
        let slots = self.chunks[chunk].get_or_init(|| {
            (0..(1usize << (chunk as u32 + FIRST_BITS)))
                .map(|_| OnceLock::new())
                .collect()
        });
        let _ = slots[slot].set(name);
    }
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| {
        let names = Names {
            chunks: std::array::from_fn(|_| OnceLock::new()),
            writers: Mutex::new(Index::default()),
        };
        {
            let mut writers = names.writers();
            for (index, name) in (0..).zip(PREDEFINED) {
                names.publish(index as usize, name);
                writers.all.push(name);
                writers.index.insert(name, Event::nth(index));
            }
        }
        names
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
        assert_eq!(Event::EMPTY.as_str(), "");
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

    #[test]
    fn chunks_tile_the_index_space() {
        assert_eq!(place(0), (0, 0));
        assert_eq!(place(63), (0, 63));
        assert_eq!(place(64), (1, 0));
        assert_eq!(place(191), (1, 127));
        assert_eq!(place(192), (2, 0));
        let (chunk, slot) = place(u32::MAX as usize - 1);
        assert!(chunk < CHUNKS);
        assert!(slot < 1 << (chunk as u32 + FIRST_BITS));
    }

    /// Reading a name took a process-wide lock, which kernels on different
    /// cores would contend on. Now a reader gets through while a writer
    /// holds the interner's lock.
    #[test]
    fn names_are_read_without_the_interners_lock() {
        let tick = Event::new("roe-test-read-while-locked");
        let held = names().writers();
        let reader =
            std::thread::spawn(move || (tick.as_str(), tick == "roe-test-read-while-locked"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(reader.join().unwrap()));
        let read = rx.recv_timeout(std::time::Duration::from_secs(10));
        drop(held);
        assert_eq!(read, Ok(("roe-test-read-while-locked", true)));
    }

    #[test]
    fn many_names_read_back_from_many_threads() {
        let events: Vec<Event> = (0..2000)
            .map(|i| Event::new(&format!("roe-test-many-{i}")))
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let events = events.clone();
                std::thread::spawn(move || {
                    for (i, event) in events.iter().enumerate() {
                        assert_eq!(event.as_str(), format!("roe-test-many-{i}"));
                    }
                })
            })
            .collect();
        for reader in readers {
            reader.join().unwrap();
        }
    }
}
