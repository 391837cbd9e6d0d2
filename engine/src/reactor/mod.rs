//! The reactor: POE's `select` watchers on the `polling` crate.
//!
//! The reactor is the only owner of the kernel's [`Poller`]. Watched
//! descriptors are registered level-triggered, as POE's watchers are, and
//! each registration keeps its descriptor open until it is removed
//! ([`sys::Registration`]): POE's `select_*` watchers hold a duplicate of
//! the caller's descriptor (the caller may close its own at any time); I/O
//! sources share theirs, a [`Descriptor`] in an `Rc`, so a connection costs
//! one descriptor. A regular file, which epoll refuses, is always ready, as
//! POE's `select` reports it: the reactor reports it ready itself.
//!
//! Registration goes through `polling`; waiting does not. `Poller::wait`
//! makes five system calls on Linux (arm a timerfd, re-arm it, wait, read
//! the notifier, re-arm it), so the reactor waits with one `epoll_pwait2` on
//! the poller's epoll descriptor, and wakes itself with its own eventfd,
//! registered edge-triggered and never read (netty's and libevent's trick):
//! one system call per wait, plus one write per wake-up. See
//! docs/benchmarks.md for what that saves.
//!
//! Waiting on the poller's descriptor ourselves rests on three facts of
//! `polling` 3.11.0's Linux backend, which is why the workspace pins that
//! exact version: `Poller::as_fd` is its epoll descriptor; the keys it is
//! given come back as the events' data; and its own descriptors in that
//! epoll set (a notifier eventfd and a timerfd, both under the key
//! `usize::MAX`) stay silent as long as nobody calls `Poller::notify` or
//! `Poller::wait`, which roe never does. The test
//! `polling_keeps_the_promises_the_reactor_relies_on` fails if an upgrade
//! breaks any of them.

mod descriptor;
mod sys;

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd},
    panic::Location,
    rc::Rc,
    time::Duration,
};

use polling::{PollMode, Poller};
use rustc_hash::FxHashMap;
use rustix::event::{Timespec, epoll, epoll::EventFlags};

pub use self::descriptor::Descriptor;
use self::sys::Registration;
use crate::{event::Event, id::SessionId, mailbox::Waker, value::Args};

/// Which kind of readiness a watcher waits for (POE's `MODE_RD`, `MODE_WR`,
/// `MODE_EX`; the number is the mode's `ARG1`).
///
/// # Examples
///
/// ```
/// use roe_engine::{Kernel, Mode, Session};
///
/// let (_reader, writer) = std::io::pipe()?;
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(Some(writer))
///         .on("_start", |cx, _| {
///             let writer = cx.heap.take().expect("given at spawn");
///             cx.select_write(&writer, "writable", ())?;
///             *cx.heap = Some(writer);
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("writable", |cx, args| {
///             assert_eq!(args[1].as_int(), Some(Mode::Write as i64)); // ARG1
///             if let Some(writer) = cx.heap.take() {
///                 cx.select_remove(&writer, Mode::Write);
///             }
///         }),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Readable (`select_read`).
    Read = 0,
    /// Writable (`select_write`).
    Write = 1,
    /// Exceptional / out-of-band data (`select_expedite`).
    Expedite = 2,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Read, Mode::Write, Mode::Expedite];

    fn index(self) -> usize {
        self as usize
    }
}

/// The epoll key of the wake-up eventfd.
const WAKE_KEY: u64 = u64::MAX - 1;

/// Events read per wait; more stay ready for the next (level-triggered).
const WAIT_BATCH: usize = 1024;

/// Where a watcher's readiness goes.
#[derive(Clone)]
pub(crate) enum Route {
    /// A session's event (POE's `select_*`), with its arguments after the
    /// descriptor and mode.
    Event {
        event: Event,
        args: Args,
        /// Where the watcher was set: what a failure in its handler
        /// reports as the place its event came from.
        location: &'static Location<'static>,
    },
    /// One of the session's I/O sources, by its number in the kernel.
    Source(u32),
}

/// One watch: a session's route for one mode of one descriptor.
#[derive(Clone)]
pub(crate) struct Watch {
    pub session: SessionId,
    pub route: Route,
    pub paused: bool,
}

impl Watch {
    /// Whether this is `session`'s watch (its source `source`'s, when
    /// given): a source never touches another source's watchers of a
    /// descriptor number it gave away.
    fn is(&self, session: SessionId, source: Option<u32>) -> bool {
        self.session == session
            && source.is_none_or(|source| matches!(self.route, Route::Source(s) if s == source))
    }
}

/// A watched descriptor.
struct Handle {
    registration: Registration,
    /// The caller's descriptor number: the watcher's identity and `ARG0`.
    fd: RawFd,
    generation: u32,
    watches: [Option<Watch>; 3],
}

impl Handle {
    fn interest(&self, key: usize) -> polling::Event {
        let on = |mode: Mode| {
            self.watches[mode.index()]
                .as_ref()
                .is_some_and(|watch| !watch.paused)
        };
        let mut interest = polling::Event::new(key, on(Mode::Read), on(Mode::Write));
        interest.set_priority(on(Mode::Expedite));
        interest
    }

    fn sessions(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.watches.iter().flatten().map(|watch| watch.session)
    }
}

/// What a change of watchers means for a session's reference count.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Holding {
    /// The session now watches a descriptor it did not watch before.
    Took,
    /// The session no longer watches the descriptor.
    Released,
    /// Nothing changed for the session's count.
    Same,
}

/// Why a watcher could not be added.
#[derive(Debug)]
pub(crate) enum WatchError {
    /// Another session watches this descriptor in this mode (POE: fatal).
    Taken,
    /// The descriptor number now names a different file than the one
    /// watched: it was closed and reused without unwatching (POE: fatal).
    Reused,
    /// The operating system refused.
    Io(io::Error),
}

/// A descriptor to watch, as the caller has it.
pub(crate) enum Watched<'a> {
    /// POE's `select_*`: the reactor keeps a duplicate.
    Borrowed(BorrowedFd<'a>),
    /// An I/O source's: the reactor keeps a reference to its owner.
    Shared(Rc<dyn Descriptor>),
}

impl Watched<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Watched::Borrowed(fd) => *fd,
            Watched::Shared(owner) => owner.as_fd(),
        }
    }
}

/// A ready watcher, found by [`Reactor::take_ready`].
pub(crate) struct Ready {
    pub fd: RawFd,
    pub mode: Mode,
    key: u64,
}

/// The kernel's poller, its watchers and its wake-up.
pub(crate) struct Reactor {
    poller: Rc<Poller>,
    _wake_registration: Registration,
    handles: Vec<Option<Handle>>,
    free: Vec<u32>,
    by_fd: FxHashMap<RawFd, u32>,
    /// Slots of watched descriptors the poller refused as always ready
    /// (regular files).
    files: Vec<u32>,
    generation: u32,
    events: Vec<epoll::Event>,
    ready: Vec<(u64, EventFlags)>,
}

impl Reactor {
    /// A reactor woken by `waker`.
    pub fn new(waker: &Waker) -> io::Result<Reactor> {
        let poller = Rc::new(Poller::new()?);
        let registration = Registration::duplicate(
            &poller,
            waker.as_fd(),
            WAKE_KEY as usize,
            polling::Event::readable(WAKE_KEY as usize),
            PollMode::Edge,
        )?;
        Ok(Reactor {
            poller,
            _wake_registration: registration,
            handles: Vec::new(),
            free: Vec::new(),
            by_fd: FxHashMap::default(),
            files: Vec::new(),
            generation: 0,
            events: Vec::with_capacity(WAIT_BATCH),
            ready: Vec::new(),
        })
    }

    /// Whether any descriptor is watched (POE's idle test counts them).
    pub fn has_watchers(&self) -> bool {
        !self.by_fd.is_empty()
    }

    /// Whether the last wait found a watched descriptor ready.
    pub fn found_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// How many descriptors are watched.
    pub fn watched(&self) -> usize {
        self.by_fd.len()
    }

    /// How many watchers (descriptor and mode) `session` has.
    /// The session of every watcher (descriptor and mode), one entry each.
    pub fn watcher_sessions(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.handles
            .iter()
            .flatten()
            .flat_map(|handle| handle.watches.iter().flatten())
            .map(|watch| watch.session)
    }

    /// Watches `fd` in `mode` for `session`. Watching again in the same mode
    /// only resumes the watcher and keeps its event (POE's rule).
    pub fn watch(
        &mut self,
        fd: Watched<'_>,
        mode: Mode,
        session: SessionId,
        route: Route,
    ) -> Result<Holding, WatchError> {
        let number = fd.as_fd().as_raw_fd();
        let slot = match self.by_fd.get(&number) {
            Some(&slot) => {
                if !same_file(self.handle(slot).registration.as_fd(), fd.as_fd()) {
                    return Err(WatchError::Reused);
                }
                slot
            }
            None => self.register(fd)?,
        };
        let handle = self.handles[slot as usize]
            .as_mut()
            .expect("indexed handles exist");
        let held = handle.sessions().any(|s| s == session);
        match &mut handle.watches[mode.index()] {
            Some(watch) if watch.session != session => return Err(WatchError::Taken),
            Some(watch) => watch.paused = false,
            empty => {
                *empty = Some(Watch {
                    session,
                    route,
                    paused: false,
                });
            }
        }
        self.update(slot).map_err(WatchError::Io)?;
        Ok(if held { Holding::Same } else { Holding::Took })
    }

    /// Stops watching `fd` in `mode` for `session` (only for its source
    /// `source`, when given).
    pub fn unwatch(
        &mut self,
        fd: RawFd,
        mode: Mode,
        session: SessionId,
        source: Option<u32>,
    ) -> Holding {
        let Some(&slot) = self.by_fd.get(&fd) else {
            return Holding::Same;
        };
        let handle = self.handle_mut(slot);
        if handle.watches[mode.index()]
            .as_ref()
            .is_none_or(|watch| !watch.is(session, source))
        {
            return Holding::Same;
        }
        handle.watches[mode.index()] = None;
        let still = handle.sessions().any(|s| s == session);
        self.settle(slot);
        if still {
            Holding::Same
        } else {
            Holding::Released
        }
    }

    /// Pauses or resumes `session`'s watcher (its source `source`'s, when
    /// given); `false` if there is none (POE's 0).
    pub fn set_paused(
        &mut self,
        fd: RawFd,
        mode: Mode,
        session: SessionId,
        source: Option<u32>,
        paused: bool,
    ) -> bool {
        let Some(&slot) = self.by_fd.get(&fd) else {
            return false;
        };
        match &mut self.handle_mut(slot).watches[mode.index()] {
            // Already so: no system call (a source pauses its write
            // watcher after every flush that emptied its buffer).
            Some(watch) if watch.is(session, source) && watch.paused == paused => return true,
            Some(watch) if watch.is(session, source) => watch.paused = paused,
            _ => return false,
        }
        // A failure to modify leaves the old interest: the flag goes back to
        // it, so that asking again tries again rather than taking the
        // early return above.
        if self.update(slot).is_err()
            && let Some(watch) = &mut self.handle_mut(slot).watches[mode.index()]
        {
            watch.paused = !paused;
        }
        true
    }

    /// Removes every watcher of `session`; returns how many descriptors it
    /// no longer watches.
    pub fn unwatch_session(&mut self, session: SessionId) -> usize {
        let slots: Vec<u32> = self.by_fd.values().copied().collect();
        let mut released = 0;
        for slot in slots {
            let handle = self.handle_mut(slot);
            if handle.sessions().all(|s| s != session) {
                continue;
            }
            for watch in &mut handle.watches {
                if watch.as_ref().is_some_and(|w| w.session == session) {
                    *watch = None;
                }
            }
            released += 1;
            self.settle(slot);
        }
        released
    }

    /// Waits for readiness or `timeout` (`None`: until something happens).
    /// A watched regular file is always ready, so the wait does not block
    /// while one is watched and not paused.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.events.clear();
        self.ready.clear();
        let files_ready = self.ready_files();
        let timeout = if files_ready.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        self.ready.extend(files_ready);
        let timeout = timeout.map(|t| Timespec {
            tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        let events = rustix::buffer::spare_capacity(&mut self.events);
        match epoll::wait(self.poller.as_fd(), events, timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        for event in &self.events {
            let key = event.data.u64();
            if key != WAKE_KEY {
                self.ready.push((key, event.flags));
            }
        }
        Ok(())
    }

    /// The always-ready files with an unpaused watcher, as readiness.
    fn ready_files(&self) -> Vec<(u64, EventFlags)> {
        self.files
            .iter()
            .filter_map(|&slot| {
                let handle = self.handle(slot);
                let on = |mode: Mode| {
                    handle.watches[mode.index()]
                        .as_ref()
                        .is_some_and(|watch| !watch.paused)
                };
                let mut flags = EventFlags::empty();
                if on(Mode::Read) {
                    flags |= EventFlags::IN;
                }
                if on(Mode::Write) {
                    flags |= EventFlags::OUT;
                }
                (!flags.is_empty()).then(|| (key_of(slot, handle.generation), flags))
            })
            .collect()
    }

    /// Appends the watchers made ready by the last wait to `ready`, in
    /// POE's order: per descriptor, read before write before expedite. The
    /// kernel dispatches them one by one, looking each up again with
    /// [`Reactor::watch_for`], since a handler may change the watchers of
    /// those after it.
    pub fn take_ready(&mut self, ready: &mut Vec<Ready>) {
        for &(key, flags) in &self.ready {
            let Some(handle) = self.by_key(key) else {
                continue;
            };
            for mode in Mode::ALL {
                if is_ready(flags, mode) && handle.watches[mode.index()].is_some() {
                    ready.push(Ready {
                        fd: handle.fd,
                        mode,
                        key,
                    });
                }
            }
        }
        self.ready.clear();
    }

    /// The watch behind a ready entry, if it is still there and not paused.
    pub fn watch_for(&self, ready: &Ready) -> Option<&Watch> {
        self.by_key(ready.key)?.watches[ready.mode.index()]
            .as_ref()
            .filter(|watch| !watch.paused)
    }

    fn register(&mut self, fd: Watched<'_>) -> Result<u32, WatchError> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.handles.push(None);
                u32::try_from(self.handles.len() - 1).expect("fewer than 2^32 watched descriptors")
            }
        };
        self.generation = self.generation.wrapping_add(1);
        let key = key_of(slot, self.generation);
        let number = fd.as_fd().as_raw_fd();
        let interest = polling::Event::none(key as usize);
        let registered = match fd {
            Watched::Borrowed(fd) => {
                Registration::duplicate(&self.poller, fd, key as usize, interest, PollMode::Level)
            }
            Watched::Shared(owner) => {
                Registration::shared(&self.poller, owner, key as usize, interest, PollMode::Level)
            }
        };
        let registration = registered.map_err(|e| {
            self.free.push(slot);
            WatchError::Io(e)
        })?;
        if !registration.is_polled() {
            self.files.push(slot);
        }
        self.handles[slot as usize] = Some(Handle {
            registration,
            fd: number,
            generation: self.generation,
            watches: [None, None, None],
        });
        self.by_fd.insert(number, slot);
        Ok(slot)
    }

    /// Re-registers a handle's interest, or drops it when nothing watches it.
    fn settle(&mut self, slot: u32) {
        if self.handle(slot).watches.iter().all(Option::is_none) {
            let handle = self.handles[slot as usize]
                .take()
                .expect("indexed handles exist");
            self.by_fd.remove(&handle.fd);
            self.files.retain(|&file| file != slot);
            self.free.push(slot);
        } else {
            let _ = self.update(slot);
        }
    }

    fn update(&mut self, slot: u32) -> io::Result<()> {
        let handle = self.handle(slot);
        let key = key_of(slot, handle.generation) as usize;
        let interest = handle.interest(key);
        // epoll reports hang-ups and errors even with no interest, and with
        // every watcher paused nobody takes them: level-triggered, the
        // kernel would wake for them forever. One-shot, they come once;
        // a watcher that resumes re-arms the descriptor and sees them.
        let mode = if interest.readable || interest.writable || interest.is_priority() {
            PollMode::Level
        } else {
            PollMode::Oneshot
        };
        handle.registration.modify(key, interest, mode)
    }

    fn handle(&self, slot: u32) -> &Handle {
        self.handles[slot as usize]
            .as_ref()
            .expect("indexed handles exist")
    }

    fn handle_mut(&mut self, slot: u32) -> &mut Handle {
        self.handles[slot as usize]
            .as_mut()
            .expect("indexed handles exist")
    }

    fn by_key(&self, key: u64) -> Option<&Handle> {
        let slot = (key & u64::from(u32::MAX)) as usize;
        let generation = (key >> 32) as u32;
        self.handles
            .get(slot)?
            .as_ref()
            .filter(|handle| handle.generation == generation)
    }
}

fn key_of(slot: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(slot)
}

fn is_ready(flags: EventFlags, mode: Mode) -> bool {
    let wanted = match mode {
        Mode::Read => EventFlags::IN | EventFlags::HUP | EventFlags::ERR | EventFlags::RDHUP,
        Mode::Write => EventFlags::OUT | EventFlags::HUP | EventFlags::ERR,
        Mode::Expedite => EventFlags::PRI,
    };
    flags.intersects(wanted)
}

/// Whether two descriptors name the same open file (device and inode).
fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
    match (rustix::fs::fstat(a), rustix::fs::fstat(b)) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// The reactor waits on `polling`'s epoll descriptor itself (see the
    /// module's docs). This fails if a new `polling` stops keeping what
    /// that relies on: the descriptor is an epoll set, keys come back as
    /// given, and nothing of `polling`'s own ever shows up.
    #[test]
    fn polling_keeps_the_promises_the_reactor_relies_on() {
        let waker = Waker::new().unwrap();
        let mut reactor = Reactor::new(&waker).unwrap();
        reactor.wait(Some(Duration::ZERO)).unwrap();
        assert!(!reactor.found_ready(), "an idle poller reports nothing");

        let (reader, mut writer) = std::io::pipe().unwrap();
        let session = SessionId::kernel_root(crate::id::KernelId(0));
        let route = Route::Source(7);
        reactor
            .watch(
                Watched::Borrowed(reader.as_fd()),
                Mode::Read,
                session,
                route,
            )
            .unwrap();
        reactor.wait(Some(Duration::ZERO)).unwrap();
        assert!(!reactor.found_ready());

        writer.write_all(b"x").unwrap();
        waker.wake();
        reactor.wait(Some(Duration::from_secs(5))).unwrap();
        // Nothing of `polling`'s own (under `usize::MAX`) shows up.
        assert_eq!(reactor.ready.len(), 1);
        let mut ready = Vec::new();
        reactor.take_ready(&mut ready);
        assert_eq!(
            ready.len(),
            1,
            "only the pipe, not the waker or polling's own"
        );
        assert_eq!(ready[0].fd, reader.as_raw_fd());
        assert_eq!(ready[0].mode, Mode::Read);
        assert!(matches!(
            reactor.watch_for(&ready[0]).map(|w| &w.route),
            Some(Route::Source(7))
        ));
    }
}
