//! What a handler watches through its [`Context`]: signals (`sig`,
//! `sig_child`, `signal`) and descriptors (POE's `select_*`).

use std::{os::fd::AsFd, panic::Location};

use super::Context;
use crate::{
    error::{Error, Result},
    event::Event,
    kernel::signals::Watch,
    reactor::Mode,
    value::Args,
};

impl<H: 'static> Context<'_, H> {
    /// Watches the signal `name`: its handler is `event`, with `args` after
    /// the signal's own (POE's `sig`). Watching does not keep the session
    /// alive. Registering again replaces the watcher.
    ///
    /// # Errors
    ///
    /// [`Error::NoActiveSession`] after `stop` left the kernel active.
    pub fn sig(
        &mut self,
        name: impl Into<Event>,
        event: impl Into<Event>,
        args: impl Into<Args>,
    ) -> Result<()> {
        let (signal, event, args) = (name.into(), event.into(), args.into());
        let me = self.core.active();
        let record = self
            .core
            .sessions
            .get_mut(me)
            .ok_or(Error::NoActiveSession)?;
        if !record.signals.contains(&signal) {
            record.signals.push(signal);
        }
        self.core.signals.watch(signal, me, Watch { event, args });
        if let Some(number) = crate::signal::number(signal.as_str()) {
            let mailbox = self.core.inbox.mailbox();
            crate::signal::subscribe(self.core.signals.instance(), &mailbox, number)?;
        }
        Ok(())
    }

    /// Stops watching the signal `name` (POE's `sig($name)`).
    pub fn sig_remove(&mut self, name: impl Into<Event>) {
        let signal = name.into();
        let me = self.core.active();
        if let Some(record) = self.core.sessions.get_mut(me) {
            record.signals.retain(|&s| s != signal);
        }
        if self.core.signals.unwatch(signal, me) {
            self.core.release_os_signal(signal);
        }
    }

    /// Marks the signal being dispatched as handled, so a terminal signal
    /// stops nobody (POE's `sig_handled`). Handler return values do not
    /// count.
    pub fn sig_handled(&mut self) {
        self.core.signals.handled();
    }

    /// Watches for a child process to exit (POE's `sig_child`): once it
    /// has, `event` gets `("CHLD", pid, status)` then `args`
    /// ([`ChildExit::from_args`](crate::ChildExit::from_args) reads them
    /// typed), and the watcher is gone. Until then it keeps this session alive. Only watched
    /// children are reaped (with `waitpid` on their ID), so children of
    /// other code stay theirs; a process that is not a child of this one
    /// reports status -1 at once.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a process ID that is not positive;
    /// [`Error::Io`] when `SIGCHLD` cannot be watched.
    pub fn sig_child(
        &mut self,
        pid: u32,
        event: impl Into<Event>,
        args: impl Into<Args>,
    ) -> Result<()> {
        let pid = i32::try_from(pid)
            .map_err(|_| Error::InvalidArgument("the process ID is out of range"))?;
        self.core.sig_child(pid, event.into(), args.into())
    }

    /// Stops watching a child process (POE's `sig_child($pid)`); nothing
    /// happens if nothing watched it.
    pub fn sig_child_remove(&mut self, pid: u32) {
        if let Ok(pid) = i32::try_from(pid) {
            self.core.sig_child_remove(pid);
        }
    }

    // ----- I/O watchers ---------------------------------------------------------

    /// Watches `fd` for reading (POE's `select_read`): while it is readable,
    /// `event` is dispatched every timeslice, before the queue, with `ARG0`
    /// the descriptor number, `ARG1` the mode (0) and then `args`. SENDER is
    /// this session. The watcher keeps the session alive. Watching again
    /// only resumes it and keeps the first event, as in POE.
    ///
    /// # Errors
    ///
    /// [`Error::NotPermitted`] when another session watches `fd` for
    /// reading; [`Error::InvalidArgument`] when the descriptor number was
    /// reused without unwatching the old one; [`Error::Io`] when the
    /// operating system refuses it.
    #[track_caller]
    pub fn select_read(
        &mut self,
        fd: &impl AsFd,
        event: impl Into<Event>,
        args: impl Into<Args>,
    ) -> Result<()> {
        let at = Location::caller();
        self.core
            .select(fd.as_fd(), Mode::Read, event.into(), args.into(), at)
    }

    /// Watches `fd` for writing (POE's `select_write`); as
    /// [`Context::select_read`], mode 1.
    ///
    /// # Errors
    ///
    /// As [`Context::select_read`].
    #[track_caller]
    pub fn select_write(
        &mut self,
        fd: &impl AsFd,
        event: impl Into<Event>,
        args: impl Into<Args>,
    ) -> Result<()> {
        let at = Location::caller();
        self.core
            .select(fd.as_fd(), Mode::Write, event.into(), args.into(), at)
    }

    /// Watches `fd` for exceptional conditions such as out-of-band data
    /// (POE's `select_expedite`); as [`Context::select_read`], mode 2.
    ///
    /// # Errors
    ///
    /// As [`Context::select_read`].
    #[track_caller]
    pub fn select_expedite(
        &mut self,
        fd: &impl AsFd,
        event: impl Into<Event>,
        args: impl Into<Args>,
    ) -> Result<()> {
        let at = Location::caller();
        self.core
            .select(fd.as_fd(), Mode::Expedite, event.into(), args.into(), at)
    }

    /// Stops watching `fd` in `mode` (POE's `select_read($fh)` and kin
    /// without an event). The session's hold on it goes when no mode is
    /// watched.
    pub fn select_remove(&mut self, fd: &impl AsFd, mode: Mode) {
        self.core.select_remove(fd.as_fd(), mode);
    }

    /// Pauses reading `fd` without giving up the watcher (POE's
    /// `select_pause_read`); `false` if this session does not watch it.
    pub fn select_pause_read(&mut self, fd: &impl AsFd) -> bool {
        self.core.select_pause(fd.as_fd(), Mode::Read, true)
    }

    /// Resumes reading `fd` (POE's `select_resume_read`).
    pub fn select_resume_read(&mut self, fd: &impl AsFd) -> bool {
        self.core.select_pause(fd.as_fd(), Mode::Read, false)
    }

    /// Pauses writing `fd` (POE's `select_pause_write`).
    pub fn select_pause_write(&mut self, fd: &impl AsFd) -> bool {
        self.core.select_pause(fd.as_fd(), Mode::Write, true)
    }

    /// Resumes writing `fd` (POE's `select_resume_write`).
    pub fn select_resume_write(&mut self, fd: &impl AsFd) -> bool {
        self.core.select_pause(fd.as_fd(), Mode::Write, false)
    }
}
