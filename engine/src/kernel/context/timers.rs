//! POE's timer calls on a handler's [`Context`]: `alarm`, `delay` and
//! their `_add`, `_set`, `_adjust` and `_remove` kin.

use std::{
    panic::Location,
    time::{Duration, SystemTime},
};

use super::Context;
use crate::{
    error::Result,
    event::Event,
    id::TimerId,
    kernel::alarm::{RemovedTimer, Shift},
    value::Args,
};

impl<H: 'static> Context<'_, H> {
    /// Clears this session's timers named `event` and sets one at `at`
    /// (POE's `alarm`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for an empty name or a time beyond the
    /// clock's range.
    #[track_caller]
    pub fn alarm(
        &mut self,
        event: impl Into<Event>,
        at: SystemTime,
        args: impl Into<Args>,
    ) -> Result<()> {
        self.core
            .alarm(event.into(), at, args.into(), Location::caller())
    }

    /// Clears this session's timers named `event`, whoever set them (POE's
    /// `alarm($name)` or `delay($name)` without a time).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for an empty name.
    pub fn alarm_clear(&mut self, event: impl Into<Event>) -> Result<()> {
        self.core.alarm_clear(event.into())
    }

    /// Adds a timer at `at` without clearing others (POE's `alarm_add`).
    ///
    /// # Errors
    ///
    /// As [`Context::alarm`].
    #[track_caller]
    pub fn alarm_add(
        &mut self,
        event: impl Into<Event>,
        at: SystemTime,
        args: impl Into<Args>,
    ) -> Result<()> {
        self.core
            .alarm_add(event.into(), at, args.into(), Location::caller())
    }

    /// Adds a timer at `at` and returns its ID (POE's `alarm_set`).
    ///
    /// # Errors
    ///
    /// As [`Context::alarm`].
    #[track_caller]
    pub fn alarm_set(
        &mut self,
        event: impl Into<Event>,
        at: SystemTime,
        args: impl Into<Args>,
    ) -> Result<TimerId> {
        self.core
            .alarm_set(event.into(), at, args.into(), Location::caller())
    }

    /// Clears this session's timers named `event` and sets one `delay` from
    /// now (POE's `delay`).
    ///
    /// # Errors
    ///
    /// As [`Context::alarm`].
    #[track_caller]
    pub fn delay(
        &mut self,
        event: impl Into<Event>,
        delay: Duration,
        args: impl Into<Args>,
    ) -> Result<()> {
        self.core
            .delay(event.into(), delay, args.into(), Location::caller())
    }

    /// Adds a timer `delay` from now (POE's `delay_add`).
    ///
    /// # Errors
    ///
    /// As [`Context::alarm`].
    #[track_caller]
    pub fn delay_add(
        &mut self,
        event: impl Into<Event>,
        delay: Duration,
        args: impl Into<Args>,
    ) -> Result<()> {
        self.core
            .delay_add(event.into(), delay, args.into(), Location::caller())
    }

    /// Adds a timer `delay` from now and returns its ID (POE's `delay_set`).
    ///
    /// # Errors
    ///
    /// As [`Context::alarm`].
    #[track_caller]
    pub fn delay_set(
        &mut self,
        event: impl Into<Event>,
        delay: Duration,
        args: impl Into<Args>,
    ) -> Result<TimerId> {
        self.core
            .delay_set(event.into(), delay, args.into(), Location::caller())
    }

    /// Moves a timer of this session by `shift`; returns its new due time
    /// (POE's `alarm_adjust`).
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchTimer`](crate::Error::NoSuchTimer) when it is not pending, [`Error::NotPermitted`](crate::Error::NotPermitted)
    /// when it is another session's, [`Error::InvalidArgument`](crate::Error::InvalidArgument) when the ID
    /// is another kernel's or the time leaves the clock's range.
    pub fn alarm_adjust(&mut self, timer: TimerId, shift: impl Into<Shift>) -> Result<SystemTime> {
        self.core.alarm_adjust(timer, shift.into())
    }

    /// Re-bases a timer of this session to `delay` from now; returns its new
    /// due time (POE's `delay_adjust`).
    ///
    /// # Errors
    ///
    /// As [`Context::alarm_adjust`].
    pub fn delay_adjust(&mut self, timer: TimerId, delay: Duration) -> Result<SystemTime> {
        self.core.delay_adjust(timer, delay)
    }

    /// Removes a timer of this session (POE's `alarm_remove`).
    ///
    /// # Errors
    ///
    /// As [`Context::alarm_adjust`].
    pub fn alarm_remove(&mut self, timer: TimerId) -> Result<RemovedTimer> {
        self.core.alarm_remove(timer)
    }

    /// Removes every timer of this session, earliest first (POE's
    /// `alarm_remove_all`). Posted events stay queued.
    pub fn alarm_remove_all(&mut self) -> Vec<RemovedTimer> {
        self.core.alarm_remove_all()
    }
}
