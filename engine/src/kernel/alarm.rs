//! POE's timer calls: `alarm`, `delay` and their `_add`, `_set`, `_adjust`
//! and `_remove` forms, for the active session.

use std::{
    panic::Location,
    time::{Duration, SystemTime},
};

use super::core::Core;
use crate::{
    error::{Error, Result},
    event::Event,
    id::TimerId,
    queue::item::{Item, Kind},
    value::Args,
};

/// A signed change to a timer's due time, for `alarm_adjust` (POE's deltas
/// may be negative).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use roe_engine::{Kernel, Session, Shift};
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(Session::new(()).on("_start", |cx, _| {
///     let id = cx.delay_set("ring", Duration::from_secs(60), ())?;
///     let later = cx.alarm_adjust(id, Shift::Later(Duration::from_secs(10)))?;
///     let earlier = cx.alarm_adjust(id, Shift::Earlier(Duration::from_secs(70)))?;
///     assert_eq!(later.duration_since(earlier).unwrap(), Duration::from_secs(70));
///     cx.alarm_remove(id)?;
///     Ok::<_, roe_engine::Error>(())
/// }))?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shift {
    /// Move the timer later.
    Later(Duration),
    /// Move the timer earlier.
    Earlier(Duration),
}

impl From<Duration> for Shift {
    fn from(delay: Duration) -> Shift {
        Shift::Later(delay)
    }
}

impl Shift {
    fn nanos(self) -> Option<i64> {
        match self {
            Shift::Later(d) => i64::try_from(d.as_nanos()).ok(),
            Shift::Earlier(d) => i64::try_from(d.as_nanos()).ok().map(|n| -n),
        }
    }
}

/// A timer taken off the queue by `alarm_remove` or `alarm_remove_all`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use roe_engine::{Event, Kernel, Session};
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(Session::new(()).on("_start", |cx, _| {
///     let id = cx.delay_set("ring", Duration::from_secs(60), ("for you",))?;
///     let removed = cx.alarm_remove(id)?;
///     assert_eq!(removed.event, Event::new("ring"));
///     assert_eq!(removed.args[0].as_str(), Some("for you"));
///     Ok::<_, roe_engine::Error>(())
/// }))?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Debug, PartialEq)]
pub struct RemovedTimer {
    /// Its event.
    pub event: Event,
    /// When it was due.
    pub due: SystemTime,
    /// Its arguments.
    pub args: Args,
}

const EMPTY_NAME: Error = Error::InvalidArgument("the event name is empty");
const OUT_OF_RANGE: Error = Error::InvalidArgument("the time is out of range");

fn named(event: Event) -> Result<Event> {
    if event == Event::EMPTY {
        Err(EMPTY_NAME)
    } else {
        Ok(event)
    }
}

impl Core {
    fn add_timer(
        &mut self,
        event: Event,
        due: i64,
        args: Args,
        location: &'static Location<'static>,
    ) -> TimerId {
        let me = self.active();
        self.enqueue_timer(me, event, Kind::Timer, args, due, location)
    }

    fn clear_named(&mut self, event: Event) {
        let me = self.active();
        for (item, _) in self.queue.remove_timers(me, Some(event)) {
            self.dequeued(&item);
        }
    }

    pub fn alarm(
        &mut self,
        event: Event,
        at: SystemTime,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<()> {
        let event = named(event)?;
        let due = self.clock.to_kernel_time(at).ok_or(OUT_OF_RANGE)?;
        self.clear_named(event);
        self.add_timer(event, due, args, location);
        Ok(())
    }

    pub fn alarm_clear(&mut self, event: Event) -> Result<()> {
        self.clear_named(named(event)?);
        Ok(())
    }

    pub fn alarm_add(
        &mut self,
        event: Event,
        at: SystemTime,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<()> {
        self.alarm_set(event, at, args, location).map(drop)
    }

    pub fn alarm_set(
        &mut self,
        event: Event,
        at: SystemTime,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<TimerId> {
        let event = named(event)?;
        let due = self.clock.to_kernel_time(at).ok_or(OUT_OF_RANGE)?;
        Ok(self.add_timer(event, due, args, location))
    }

    pub fn delay(
        &mut self,
        event: Event,
        delay: Duration,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<()> {
        let event = named(event)?;
        let due = self.clock.after(delay).ok_or(OUT_OF_RANGE)?;
        self.clear_named(event);
        self.add_timer(event, due, args, location);
        Ok(())
    }

    pub fn delay_add(
        &mut self,
        event: Event,
        delay: Duration,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<()> {
        self.delay_set(event, delay, args, location).map(drop)
    }

    pub fn delay_set(
        &mut self,
        event: Event,
        delay: Duration,
        args: Args,
        location: &'static Location<'static>,
    ) -> Result<TimerId> {
        let event = named(event)?;
        let due = self.clock.after(delay).ok_or(OUT_OF_RANGE)?;
        Ok(self.add_timer(event, due, args, location))
    }

    /// Checks that `id` names a timer of the active session; returns its due
    /// time.
    fn own_timer(&self, id: TimerId) -> Result<i64> {
        if id.kernel() != self.id() {
            return Err(Error::InvalidArgument(
                "the timer ID was issued by another kernel",
            ));
        }
        let item = self
            .queue
            .timer(id.slot(), id.number())
            .ok_or(Error::NoSuchTimer(id))?;
        if item.target != self.active() {
            return Err(Error::NotPermitted("the timer belongs to another session"));
        }
        Ok(item.due)
    }

    pub fn alarm_adjust(&mut self, id: TimerId, shift: Shift) -> Result<SystemTime> {
        let due = self.own_timer(id)?;
        let due = shift
            .nanos()
            .and_then(|n| due.checked_add(n))
            .ok_or(OUT_OF_RANGE)?;
        self.queue.set_due(id.slot(), id.number(), due);
        Ok(self.clock.to_wall_time(due))
    }

    pub fn delay_adjust(&mut self, id: TimerId, delay: Duration) -> Result<SystemTime> {
        self.own_timer(id)?;
        let due = self.clock.after(delay).ok_or(OUT_OF_RANGE)?;
        self.queue.set_due(id.slot(), id.number(), due);
        Ok(self.clock.to_wall_time(due))
    }

    pub fn alarm_remove(&mut self, id: TimerId) -> Result<RemovedTimer> {
        self.own_timer(id)?;
        let (item, args) = self
            .queue
            .remove_timer(id.slot(), id.number())
            .ok_or(Error::NoSuchTimer(id))?;
        Ok(self.removed(item, args))
    }

    pub fn alarm_remove_all(&mut self) -> Vec<RemovedTimer> {
        let me = self.active();
        self.queue
            .remove_timers(me, None)
            .into_iter()
            .map(|(item, args)| self.removed(item, args))
            .collect()
    }

    fn removed(&mut self, item: Item, args: Args) -> RemovedTimer {
        self.dequeued(&item);
        RemovedTimer {
            event: item.event,
            due: self.clock.to_wall_time(item.due),
            args,
        }
    }
}
