//! The kernel's I/O: POE's `select_*` watchers, the I/O sources of the
//! public boundary, child-process watchers and OS signals, for the active
//! session.

use std::{
    os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd},
    panic::Location,
    rc::{Rc, Weak},
    sync::Arc,
    time::Duration,
};

use rustc_hash::FxHashMap;
use rustix::process::{Pid, WaitOptions, waitpid};
use signal_hook::consts::SIGCHLD;
use smallvec::SmallVec;

use super::{
    core::{Bare, Core},
    source::{Io, Request, Requests, Source, SourceKey, SourceRef},
};
use crate::{
    error::{Error, Result},
    event::Event,
    id::{SessionId, TimerId},
    mailbox::Waker,
    queue::item::Kind,
    reactor::{Descriptor, Holding, Mode, Reactor, Ready, Route, WatchError, Watched},
    value::{Args, Value},
};

/// A `sig_child` registration.
pub(crate) struct PidWatch {
    pub session: SessionId,
    pub event: Event,
    pub args: Args,
}

/// One I/O source's place.
struct Slot {
    generation: u32,
    session: SessionId,
    /// Where it was added: what a failure in it reports as the place its
    /// event came from.
    added_at: &'static Location<'static>,
    source: Option<Weak<dyn Source>>,
    /// What it watches, so its watchers go with it.
    watching: SmallVec<[(RawFd, Mode); 2]>,
    /// Its pending timers, so they go with it.
    timers: SmallVec<[TimerId; 1]>,
}

/// A source found alive for a dispatch, held strongly meanwhile.
pub(crate) struct LiveSource {
    pub session: SessionId,
    pub key: SourceKey,
    pub source: Rc<dyn Source>,
    pub added_at: &'static Location<'static>,
}

/// Dispatches a busy kernel makes between two looks at its descriptors
/// and its clock (tokio polls its driver every 61 tasks).
pub(crate) const POLL_EVERY: u64 = 61;

/// The reactor and everything watched through it.
pub(crate) struct IoState {
    pub reactor: Reactor,
    /// `sig_child` watchers by process ID.
    pids: FxHashMap<i32, Vec<PidWatch>>,
    /// The ready watchers of the slice, kept to avoid reallocating.
    pub ready: Vec<Ready>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// What sources ask for between looks.
    pub requests: Rc<Requests>,
    /// Whether a wait found a descriptor ready since the kernel last
    /// blocked.
    pub since_block: bool,
    /// The dispatch count at which a busy kernel next looks at its
    /// descriptors and its clock.
    pub poll_at: u64,
    /// The dispatch count at which output deferred to the slice's end goes
    /// out anyway, in a long slice.
    pub deferred_at: u64,
    /// A session that watches descriptors ran since the kernel last looked
    /// at them: the next slice looks again, as POE's does.
    pub poll_next: bool,
}

impl IoState {
    pub fn new(waker: &Arc<Waker>) -> std::io::Result<IoState> {
        Ok(IoState {
            reactor: Reactor::new(waker)?,
            pids: FxHashMap::default(),
            ready: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            requests: Rc::default(),
            since_block: false,
            poll_at: 0,
            deferred_at: 0,
            poll_next: false,
        })
    }

    /// Whether anything is watched: descriptors, or child processes (POE's
    /// idle test counts both).
    pub fn is_watching(&self) -> bool {
        self.reactor.has_watchers() || !self.pids.is_empty()
    }

    /// Whether a child process is watched.
    pub fn has_pids(&self) -> bool {
        !self.pids.is_empty()
    }

    /// The live source in `slot`, for a dispatch.
    pub fn source(&self, slot: u32) -> Option<LiveSource> {
        let entry = self.slots.get(slot as usize)?;
        let source = entry.source.as_ref()?.upgrade()?;
        Some(LiveSource {
            session: entry.session,
            key: SourceKey {
                slot,
                generation: entry.generation,
            },
            source,
            added_at: entry.added_at,
        })
    }

    fn slot(&mut self, key: SourceKey) -> Option<&mut Slot> {
        self.slots
            .get_mut(key.slot as usize)
            .filter(|slot| slot.generation == key.generation)
    }
}

impl Core {
    // ----- POE's select_* ---------------------------------------------------

    /// POE's `select_read` / `select_write` / `select_expedite` with an
    /// event: watch (or resume watching) `fd` in `mode`.
    pub fn select(
        &mut self,
        fd: BorrowedFd<'_>,
        mode: Mode,
        event: Event,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<()> {
        let me = self.active();
        let route = Route::Event {
            event,
            args,
            location,
        };
        self.watch(Watched::Borrowed(fd), mode, me, route)
    }

    /// Watches `fd` in `mode` for `session`, taking a hold on it when this
    /// is its first watcher of the descriptor.
    fn watch(
        &mut self,
        fd: Watched<'_>,
        mode: Mode,
        session: SessionId,
        route: Route,
    ) -> Result<()> {
        if session.is_kernel() || !self.sessions.contains(session) {
            return Err(Error::NoActiveSession);
        }
        // A source dropped in this handler may still hold this descriptor
        // number; its release is among the requests.
        self.apply_requests();
        match self.io.reactor.watch(fd, mode, session, route) {
            Ok(Holding::Took) => self.sessions.watching(session, 1),
            Ok(_) => {}
            Err(WatchError::Taken) => {
                return Err(Error::NotPermitted(
                    "another session watches this descriptor in this mode",
                ));
            }
            Err(WatchError::Reused) => {
                return Err(Error::InvalidArgument(
                    "the descriptor was closed and its number reused while it was still watched",
                ));
            }
            Err(WatchError::Io(e)) => return Err(Error::Io(e)),
        }
        Ok(())
    }

    /// Stops `session` watching the descriptor numbered `fd` in `mode`
    /// (only for its source `source`, when given).
    pub fn unwatch(&mut self, fd: RawFd, mode: Mode, session: SessionId, source: Option<u32>) {
        if self.io.reactor.unwatch(fd, mode, session, source) == Holding::Released {
            self.sessions.watching(session, -1);
        }
    }

    /// POE's `select_read($fh)` without an event: stop watching.
    pub fn select_remove(&mut self, fd: BorrowedFd<'_>, mode: Mode) {
        let me = self.active();
        self.unwatch(fd.as_raw_fd(), mode, me, None);
    }

    /// POE's `select_pause_*` / `select_resume_*`: `false` when this session
    /// does not watch `fd` in `mode`.
    pub fn select_pause(&mut self, fd: BorrowedFd<'_>, mode: Mode, paused: bool) -> bool {
        let me = self.active();
        self.io
            .reactor
            .set_paused(fd.as_raw_fd(), mode, me, None, paused)
    }

    // ----- I/O sources --------------------------------------------------------

    /// A new source slot for `session`, to be attached once the source
    /// exists.
    pub fn reserve_source(
        &mut self,
        session: SessionId,
        added_at: &'static Location<'static>,
    ) -> SourceRef {
        let io = &mut self.io;
        let slot = match io.free.pop() {
            Some(slot) => {
                let entry = &mut io.slots[slot as usize];
                entry.generation = entry.generation.wrapping_add(1);
                entry.session = session;
                entry.added_at = added_at;
                slot
            }
            None => {
                io.slots.push(Slot {
                    generation: 0,
                    session,
                    added_at,
                    source: None,
                    watching: SmallVec::new(),
                    timers: SmallVec::new(),
                });
                u32::try_from(io.slots.len() - 1).expect("fewer than 2^32 sources")
            }
        };
        SourceRef {
            key: SourceKey {
                slot,
                generation: io.slots[slot as usize].generation,
            },
            session,
            requests: Rc::clone(&io.requests),
        }
    }

    pub fn attach_source(&mut self, source: &SourceRef, it: Weak<dyn Source>) {
        if let Some(slot) = self.io.slot(source.key) {
            slot.source = Some(it);
        }
    }

    pub fn watch_source(
        &mut self,
        source: &SourceRef,
        fd: Rc<dyn Descriptor>,
        mode: Mode,
    ) -> Result<()> {
        let route = Route::Source(source.key.slot);
        let number = fd.as_fd().as_raw_fd();
        self.watch(Watched::Shared(fd), mode, source.session, route)?;
        if let Some(slot) = self.io.slot(source.key) {
            let entry = (number, mode);
            if !slot.watching.contains(&entry) {
                slot.watching.push(entry);
            }
        }
        Ok(())
    }

    pub fn unwatch_source(&mut self, source: &SourceRef, fd: RawFd, mode: Mode) {
        if let Some(slot) = self.io.slot(source.key) {
            slot.watching.retain(|entry| *entry != (fd, mode));
            self.unwatch(fd, mode, source.session, Some(source.key.slot));
        }
    }

    pub fn pause_source(
        &mut self,
        source: &SourceRef,
        fd: RawFd,
        mode: Mode,
        paused: bool,
    ) -> bool {
        self.io.slot(source.key).is_some()
            && self
                .io
                .reactor
                .set_paused(fd, mode, source.session, Some(source.key.slot), paused)
    }

    pub fn delay_source(
        &mut self,
        source: &SourceRef,
        delay: Duration,
        location: &'static Location<'static>,
    ) -> Result<TimerId> {
        let due = self
            .clock
            .after(delay)
            .ok_or(Error::InvalidArgument("the time is out of range"))?;
        let key = source.key;
        let args = Args::from((i64::from(key.slot), i64::from(key.generation)));
        let event = Event::new("_roe_source_timer");
        let id = self.enqueue_timer(
            source.session,
            event,
            Kind::SourceTimer,
            args,
            due,
            location,
        );
        if let Some(slot) = self.io.slot(key) {
            slot.timers.push(id);
        }
        Ok(id)
    }

    pub fn cancel_source_timer(&mut self, source: &SourceRef, timer: TimerId) {
        if let Some(slot) = self.io.slot(source.key) {
            slot.timers.retain(|id| *id != timer);
        }
        self.cancel_timer(source.session, timer);
    }

    /// A source's timer is due: the source it names, if still there.
    pub fn source_timer_fired(
        &mut self,
        args: &Args,
        timer: TimerId,
    ) -> Option<(SourceKey, Rc<dyn Source>)> {
        let key = SourceKey {
            slot: u32::try_from(args[0].as_int()?).ok()?,
            generation: u32::try_from(args[1].as_int()?).ok()?,
        };
        let slot = self.io.slot(key)?;
        slot.timers.retain(|id| *id != timer);
        let source = slot.source.as_ref()?.upgrade()?;
        Some((key, source))
    }

    /// Drops a source: its watchers, its timers, its slot.
    fn remove_source(&mut self, key: SourceKey) {
        let Some(slot) = self.io.slot(key) else {
            return;
        };
        slot.source = None;
        let watching = std::mem::take(&mut slot.watching);
        let timers = std::mem::take(&mut slot.timers);
        let session = slot.session;
        // The next reservation bumps the generation, so stale requests and
        // timers of this source find nothing.
        self.io.free.push(key.slot);
        for (fd, mode) in watching {
            self.unwatch(fd, mode, session, Some(key.slot));
        }
        for timer in timers {
            self.cancel_timer(session, timer);
        }
    }

    /// Applies what sources asked for since the kernel last looked.
    #[inline]
    pub fn apply_requests(&mut self) {
        if self.io.requests.is_pending() {
            self.apply_pending_requests();
        }
    }

    #[cold]
    fn apply_pending_requests(&mut self) {
        // A request's effects (a dropped body) may make more requests; they
        // are taken in the next round.
        while self.io.requests.is_pending() {
            for request in self.io.requests.take() {
                self.apply_request(request);
            }
        }
    }

    fn apply_request(&mut self, request: Request) {
        match request {
            Request::Pause {
                key,
                fd,
                mode,
                paused,
            } => {
                if let Some(slot) = self.io.slot(key) {
                    let session = slot.session;
                    self.io
                        .reactor
                        .set_paused(fd, mode, session, Some(key.slot), paused);
                }
            }
            Request::Unwatch { key, fd } => {
                if let Some(slot) = self.io.slot(key) {
                    slot.watching.retain(|(watched, _)| *watched != fd);
                    let session = slot.session;
                    for mode in [Mode::Read, Mode::Write, Mode::Expedite] {
                        self.unwatch(fd, mode, session, Some(key.slot));
                    }
                }
            }
            Request::Post {
                key,
                session,
                event,
                args,
            } => {
                if self.io.slot(key).is_some() {
                    self.post_self(session, event, args, Location::caller());
                }
            }
            Request::Remove(key) => self.remove_source(key),
        }
    }

    /// Runs the `flush` of every source that asked, once the dispatch that
    /// asked has returned.
    #[inline]
    pub fn flush_sources(&mut self) {
        if self.io.requests.has_flush() {
            self.flush_pending_sources();
        }
    }

    /// Runs the `flush` of every source that asked, deferred ones too: at
    /// a slice's start, and every so many dispatches in a long one.
    #[inline]
    pub fn flush_all_sources(&mut self) {
        if self.io.requests.has_deferred() {
            self.io.requests.promote_deferred();
        }
        if self.io.requests.has_flush() {
            self.flush_pending_sources();
            // What the flushes asked (a watcher resumed, say) applies
            // before the kernel next waits.
            self.apply_requests();
        }
    }

    #[cold]
    fn flush_pending_sources(&mut self) {
        while self.io.requests.has_flush() {
            for key in self.io.requests.take_flush() {
                let Some(live) = self.io.source(key.slot) else {
                    continue;
                };
                if live.key != key {
                    continue;
                }
                let mut bare = Bare {
                    core: self,
                    session: live.session,
                };
                live.source.flush(&mut Io::new(&mut bare));
            }
        }
    }

    // ----- child processes and OS signals -------------------------------------

    /// POE's `sig_child`: a one-shot watcher for a child process's exit.
    pub fn sig_child(&mut self, pid: i32, event: Event, args: Args) -> Result<()> {
        let me = self.active();
        if me.is_kernel() || !self.sessions.contains(me) {
            return Err(Error::NoActiveSession);
        }
        if pid <= 0 {
            return Err(Error::InvalidArgument("a process ID is positive"));
        }
        crate::signal::subscribe(self.signals.instance(), &self.inbox.mailbox(), SIGCHLD)?;
        let watches = self.io.pids.entry(pid).or_default();
        match watches.iter_mut().find(|w| w.session == me) {
            Some(watch) => {
                watch.event = event;
                watch.args = args;
            }
            None => {
                watches.push(PidWatch {
                    session: me,
                    event,
                    args,
                });
                self.sessions.inc(me);
            }
        }
        // The child may have exited before anyone watched it.
        self.reap(pid);
        Ok(())
    }

    /// POE's `sig_child($pid)`: stop watching (safe when nothing watches).
    pub fn sig_child_remove(&mut self, pid: i32) {
        let me = self.active();
        let Some(watches) = self.io.pids.get_mut(&pid) else {
            return;
        };
        let before = watches.len();
        watches.retain(|w| w.session != me);
        let removed = before != watches.len();
        if watches.is_empty() {
            self.io.pids.remove(&pid);
        }
        if removed {
            self.sessions.dec(me);
            self.release_os_signal(Event::new("CHLD"));
        }
    }

    /// Drops what a stopping session watched: descriptors, child
    /// processes. (Its sources go when its heap drops them.)
    pub fn forget_io_of(&mut self, session: SessionId) {
        self.io.reactor.unwatch_session(session);
        let mut removed = false;
        self.io.pids.retain(|_, watches| {
            let before = watches.len();
            watches.retain(|w| w.session != session);
            removed |= watches.len() != before;
            !watches.is_empty()
        });
        // Only a session that watched a child can release CHLD: any other
        // stop must not reach the process-wide signal owner (starting its
        // thread, or taking its lock, on every session's stop).
        if removed {
            self.release_os_signal(Event::new("CHLD"));
        }
    }

    /// Stops receiving an OS signal nobody here needs any more.
    pub fn release_os_signal(&mut self, signal: Event) {
        let Some(number) = crate::signal::number(signal.as_str()) else {
            return;
        };
        let still_needed = self.signals.is_watched(signal)
            || (number == SIGCHLD && self.io.has_pids())
            || (self.signals.has_listeners() && crate::signal::ANNOUNCED.contains(&number));
        if !still_needed {
            crate::signal::unsubscribe(self.signals.instance(), number);
        }
    }

    /// `session` now does (or no longer does) define `_signal`. While any
    /// live session does, the kernel receives the OS signals POE's older
    /// kernel announced to it (see `signal::ANNOUNCED`), watched or not.
    pub fn hear_signals(&mut self, session: SessionId, hears: bool) {
        let Some(record) = self.sessions.get_mut(session) else {
            return;
        };
        if record.hears_signals == hears {
            return;
        }
        record.hears_signals = hears;
        if !self.signals.listener(hears) {
            return;
        }
        for number in crate::signal::ANNOUNCED {
            if hears {
                let mailbox = self.inbox.mailbox();
                if let Err(error) =
                    crate::signal::subscribe(self.signals.instance(), &mailbox, number)
                {
                    tracing::warn!(
                        kernel = %self.id,
                        signal = number,
                        %error,
                        "cannot catch an OS signal for _signal"
                    );
                }
            } else if let Some(name) = crate::signal::name(number) {
                self.release_os_signal(Event::new(name));
            }
        }
    }

    /// An OS signal arrived: reap watched children on CHLD, and broadcast
    /// the others to every session, as POE queues them to the kernel.
    pub fn os_signal(&mut self, number: i32) {
        if number == SIGCHLD {
            let pids: Vec<i32> = self.io.pids.keys().copied().collect();
            for pid in pids {
                self.reap(pid);
            }
            return;
        }
        let Some(signal) = crate::signal::event(number) else {
            return;
        };
        let kind = if signal.as_str() == "PIPE" {
            // POE's older documents deliver SIGPIPE's `_signal` to the
            // session running when it arrived (docs/porting.md).
            let active = self.active();
            self.signals.pipe_arrived(active);
            Kind::Pipe
        } else {
            Kind::Signal
        };
        let root = self.root();
        self.push_now(root, root, signal, kind, Args::new(), Location::caller());
    }

    /// Reaps `pid` if it has exited, delivering `(CHLD, pid, status)` to its
    /// watchers and, as POE does, broadcasting `CHLD` with the same details.
    /// Only watched children are reaped: another library's stay its own.
    fn reap(&mut self, pid: i32) {
        let Some(process) = Pid::from_raw(pid) else {
            return;
        };
        let status = match waitpid(Some(process), WaitOptions::NOHANG) {
            Ok(Some((_, status))) => i64::from(status.as_raw()),
            Ok(None) => return,
            // Not a child of this process (or reaped elsewhere): it will
            // never be reaped here, so its watchers hear of it now, with -1.
            Err(_) => -1,
        };
        let Some(watches) = self.io.pids.remove(&pid) else {
            return;
        };
        let root = self.root();
        let chld = Event::new("CHLD");
        for watch in watches {
            let mut args = Args::from(("CHLD", pid, status));
            args.extend(watch.args);
            self.push_now(
                watch.session,
                root,
                watch.event,
                Kind::Post,
                args,
                Location::caller(),
            );
            self.sessions.dec(watch.session);
        }
        let args = Args::from((Value::from(pid), Value::from(status)));
        self.push_now(root, root, chld, Kind::Signal, args, Location::caller());
        self.release_os_signal(chld);
    }
}

#[cfg(test)]
mod tests {
    use crate::{Kernel, Session, signal};

    /// The kernel catches the announced OS signals exactly while a live
    /// session defines `_signal`: from its spawn, or from the moment it
    /// adds the handler, until it removes it or stops.
    #[test]
    fn os_signals_are_caught_while_a_session_defines_signal() {
        let mut kernel = Kernel::new().unwrap();
        let instance = kernel.core.signals.instance();
        let listening = |kernel: &Kernel| {
            let mut caught = signal::subscribed(kernel.core.signals.instance());
            caught.sort_unstable();
            let mut announced = signal::ANNOUNCED.to_vec();
            announced.sort_unstable();
            caught == announced
        };
        let quiet = kernel
            .spawn(
                Session::new(())
                    .on("_start", |cx, _| cx.alias_set("quiet"))
                    .on("listen", |cx, _| cx.state_set("_signal", |_, _| {}))
                    .on("stop", |cx, _| cx.state_remove("_signal")),
            )
            .unwrap();
        assert!(signal::subscribed(instance).is_empty());
        kernel.call(quiet, "listen", ()).unwrap();
        assert!(listening(&kernel));
        kernel.call(quiet, "stop", ()).unwrap();
        assert!(signal::subscribed(instance).is_empty());
        let loud = kernel
            .spawn(
                Session::new(())
                    .on("_start", |cx, _| cx.alias_set("loud"))
                    .on("_signal", |_, _| {})
                    .on("bye", |cx, _| cx.alias_remove("loud")),
            )
            .unwrap();
        assert!(listening(&kernel));
        kernel.call(loud, "bye", ()).unwrap();
        // Idle: IDLE stops both sessions.
        kernel.run().unwrap();
        assert!(signal::subscribed(instance).is_empty());
    }
}
