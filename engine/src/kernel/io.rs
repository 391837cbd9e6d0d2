//! POE's I/O watchers, OS signals and child processes, for the active
//! session.

use std::{os::fd::BorrowedFd, panic::Location};

use rustix::process::{Pid, WaitOptions, waitpid};
use signal_hook::consts::SIGCHLD;

use super::core::{Core, PidWatch};
use crate::{
    error::{Error, Result},
    event::Event,
    queue::Kind,
    reactor::{Holding, Mode, WatchError},
    value::{Args, Value},
};

impl Core {
    /// POE's `select_read` / `select_write` / `select_expedite` with an
    /// event: watch (or resume watching) `fd` in `mode`.
    pub fn select(
        &mut self,
        fd: BorrowedFd<'_>,
        mode: Mode,
        event: Event,
        args: Args,
    ) -> Result<()> {
        let me = self.active();
        if me.is_kernel() || !self.sessions.contains(me) {
            return Err(Error::NoActiveSession);
        }
        // A wheel dropped in this handler may still hold this descriptor
        // number; its release is in the inbox.
        self.fold_inbox();
        match self.reactor.watch(fd, mode, me, event, args) {
            Ok(Holding::Took) => self.refcount_inc(me),
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

    /// POE's `select_read($fh)` without an event: stop watching.
    pub fn select_remove(&mut self, fd: BorrowedFd<'_>, mode: Mode) {
        use std::os::fd::AsRawFd;
        let me = self.active();
        if self.reactor.unwatch(fd.as_raw_fd(), mode, me) == Holding::Released {
            self.refcount_dec(me);
        }
    }

    /// Stops `session` watching the descriptor numbered `fd` in `mode`
    /// (for wheels, which may have closed their handle already).
    pub fn unwatch_raw(
        &mut self,
        fd: std::os::fd::RawFd,
        mode: Mode,
        session: crate::id::SessionId,
    ) {
        if self.reactor.unwatch(fd, mode, session) == Holding::Released {
            self.refcount_dec(session);
        }
    }

    /// Stops `session` watching the descriptors numbered `fds`, every mode.
    pub fn unwatch_all(&mut self, session: crate::id::SessionId, fds: &[std::os::fd::RawFd]) {
        for &fd in fds {
            for mode in [Mode::Read, Mode::Write, Mode::Expedite] {
                self.unwatch_raw(fd, mode, session);
            }
        }
    }

    /// Removes `session`'s timer `timer` if it is still pending.
    pub fn cancel_timer(&mut self, session: crate::id::SessionId, timer: crate::id::TimerId) {
        let owned = self
            .timers
            .get(timer.slot(), timer.number())
            .is_some_and(|item| item.target == session);
        if owned && let Some(item) = self.timers.remove(timer.slot(), timer.number()) {
            self.dequeued(&item);
            self.args.take(item.args);
        }
    }

    /// Pauses or resumes `session`'s watcher of the descriptor numbered `fd`.
    pub fn select_pause_raw(
        &mut self,
        fd: std::os::fd::RawFd,
        mode: Mode,
        session: crate::id::SessionId,
        paused: bool,
    ) -> bool {
        self.reactor.set_paused(fd, mode, session, paused)
    }

    /// POE's `select_pause_*` / `select_resume_*`: `false` when this session
    /// does not watch `fd` in `mode`.
    pub fn select_pause(&mut self, fd: BorrowedFd<'_>, mode: Mode, paused: bool) -> bool {
        use std::os::fd::AsRawFd;
        let me = self.active();
        self.reactor.set_paused(fd.as_raw_fd(), mode, me, paused)
    }

    /// POE's `sig_child`: a one-shot watcher for a child process's exit.
    pub fn sig_child(&mut self, pid: i32, event: Event, args: Args) -> Result<()> {
        let me = self.active();
        if me.is_kernel() || !self.sessions.contains(me) {
            return Err(Error::NoActiveSession);
        }
        if pid <= 0 {
            return Err(Error::InvalidArgument("a process ID is positive"));
        }
        crate::signal::subscribe(self.instance, &self.inbox.mailbox(), SIGCHLD)?;
        let watches = self.pids.entry(pid).or_default();
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
                self.refcount_inc(me);
            }
        }
        // The child may have exited before anyone watched it.
        self.reap(pid);
        Ok(())
    }

    /// POE's `sig_child($pid)`: stop watching (safe when nothing watches).
    pub fn sig_child_remove(&mut self, pid: i32) {
        let me = self.active();
        let Some(watches) = self.pids.get_mut(&pid) else {
            return;
        };
        let before = watches.len();
        watches.retain(|w| w.session != me);
        let removed = before != watches.len();
        if watches.is_empty() {
            self.pids.remove(&pid);
        }
        if removed {
            self.refcount_dec(me);
            self.release_os_signal(Event::new("CHLD"));
        }
    }

    /// Drops a stopping session's `sig_child` watchers.
    pub fn forget_pids_of(&mut self, session: crate::id::SessionId) {
        let mut removed = false;
        self.pids.retain(|_, watches| {
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

    /// An OS signal arrived: reap watched children on CHLD, and broadcast
    /// the others to every session, as POE queues them to the kernel.
    pub fn os_signal(&mut self, number: i32) {
        if number == SIGCHLD {
            let pids: Vec<i32> = self.pids.keys().copied().collect();
            for pid in pids {
                self.reap(pid);
            }
            return;
        }
        let Some(signal) = crate::signal::event(number) else {
            return;
        };
        let root = self.root();
        self.enqueue(
            root,
            root,
            signal,
            Kind::Signal,
            Args::new(),
            Location::caller(),
        );
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
        let Some(watches) = self.pids.remove(&pid) else {
            return;
        };
        let root = self.root();
        let chld = Event::new("CHLD");
        for watch in watches {
            let mut args = Args::from(("CHLD", pid, status));
            args.extend(watch.args);
            self.enqueue(
                watch.session,
                root,
                watch.event,
                Kind::Post,
                args,
                Location::caller(),
            );
            self.refcount_dec(watch.session);
        }
        let args = Args::from((Value::from(pid), Value::from(status)));
        self.enqueue(root, root, chld, Kind::Signal, args, Location::caller());
        self.release_os_signal(chld);
    }
}
