//! POE's wheels: helpers a session owns that turn watchers into events.
//!
//! A wheel is not a session. It watches descriptors for the session that
//! made it and reports what happens by calling that session's events
//! synchronously, with its [`WheelId`], as POE's wheels do (a session may own
//! many). Wheels here share one internal handler per session, `_roe_wheel`,
//! installed with the first wheel: a watcher's arguments name the wheel, and
//! the kernel keeps a registry from wheel IDs to weak references, so the
//! wheel value the session holds is the only strong one. Dropping it
//! releases its watchers through the kernel's mailbox, which the kernel
//! applies as soon as the running handler returns.
//!
//! - [`ReadWrite`]: buffered, filtered I/O on a stream (POE::Wheel::ReadWrite).
//! - [`ListenAccept`]: accepts connections on a listening socket
//!   (POE::Wheel::ListenAccept).
//! - [`SocketFactory`]: creates, binds, listens on and connects sockets,
//!   without blocking (POE::Wheel::SocketFactory).
//! - [`Run`]: runs a child process with pipes for its standard streams
//!   (POE::Wheel::Run).
//! - [`FollowTail`]: follows a growing file, like `tail -f`
//!   (POE::Wheel::FollowTail).
//!
//! Wheels that need timers (FollowTail's polling, SocketFactory's connect
//! timeout) set them for their session with a second internal event,
//! `_roe_wheel_timer`, whose argument names the wheel. A wheel cannot reach
//! the kernel from `Drop`, so a dropped wheel's pending timer, like its
//! watchers, is released through the kernel's mailbox.

mod accept;
mod readwrite;
mod run;
mod socketfactory;
mod tail;

use std::{
    any::Any,
    fmt, io,
    os::fd::{AsFd, RawFd},
    rc::{Rc, Weak},
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

pub use self::{
    accept::{ListenAccept, Listener},
    readwrite::{Duplex, ReadWrite, ReadWriteBuilder},
    run::{Run, RunBuilder},
    socketfactory::{Domain, SocketFactory, SocketFactoryBuilder},
    tail::{FollowTail, FollowTailBuilder},
};
use crate::{
    error::Result,
    event::Event,
    filter::{Filter, FilterError},
    id::TimerId,
    kernel::{Context, Message},
    reactor::Mode,
    value::{Args, Value},
};

/// Names a wheel; unique in the process, as POE's wheel IDs are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WheelId(u64);

impl WheelId {
    fn next() -> WheelId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        WheelId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The number, as POE passes it in events.
    pub fn number(self) -> u64 {
        self.0
    }
}

impl fmt::Display for WheelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A wheel's reaction to its descriptors, for a session of heap type `H`.
pub(crate) trait WheelIo<H> {
    /// `fd` is ready in `mode`. `self` is the kernel's temporary strong
    /// reference: a count of one means the session dropped the wheel.
    fn ready(self: Rc<Self>, cx: &mut Context<'_, H>, fd: RawFd, mode: Mode) -> Result<()>;

    /// A timer the wheel set with [`set_timer`] is due. Wheels without
    /// timers never see this.
    fn timer(self: Rc<Self>, _cx: &mut Context<'_, H>) -> Result<()> {
        Ok(())
    }
}

/// The internal event every wheel's watchers dispatch.
fn wheel_event() -> Event {
    Event::new("_roe_wheel")
}

/// The internal event of wheel timers: `(wheel ID)` when a timer is due.
fn timer_event() -> Event {
    Event::new("_roe_wheel_timer")
}

/// Registers a wheel for the running session and installs the session's
/// wheel handlers if this is its first wheel.
pub(crate) fn register<H: 'static>(cx: &mut Context<'_, H>, id: WheelId, io: Weak<dyn WheelIo<H>>) {
    if !cx.has_handler(wheel_event()) {
        cx.state_set(wheel_event(), dispatch::<H>);
    }
    if !cx.has_handler(timer_event()) {
        cx.state_set(timer_event(), dispatch_timer::<H>);
    }
    let session = cx.session();
    cx.core().wheels.insert(id.0, (session, Box::new(io)));
}

/// Sets a timer `delay` from now that calls the wheel `id`'s
/// [`WheelIo::timer`]; the wheel keeps the ID to remove it.
pub(crate) fn set_timer<H: 'static>(
    cx: &mut Context<'_, H>,
    id: WheelId,
    delay: Duration,
) -> Result<TimerId> {
    cx.delay_set(timer_event(), delay, (id.0,))
}

/// The live wheel `id` of this session's heap type, if any.
fn lookup<H: 'static>(cx: &mut Context<'_, H>, id: u64) -> Option<Rc<dyn WheelIo<H>>> {
    cx.core()
        .wheels
        .get(&id)
        .and_then(|(_, io)| io.downcast_ref::<Weak<dyn WheelIo<H>>>())
        .and_then(Weak::upgrade)
}

/// Watches `fd` in `mode` for the wheel `id` (arguments `(fd, mode, id)`).
pub(crate) fn watch<H: 'static>(
    cx: &mut Context<'_, H>,
    fd: &impl AsFd,
    mode: Mode,
    id: WheelId,
) -> Result<()> {
    let args = Args::from((id.0,));
    match mode {
        Mode::Read => cx.select_read(fd, wheel_event(), args),
        Mode::Write => cx.select_write(fd, wheel_event(), args),
        Mode::Expedite => cx.select_expedite(fd, wheel_event(), args),
    }
}

/// The `_roe_wheel` handler: finds the wheel named in the event and lets it
/// react. A wheel that is gone has its stray watcher removed.
fn dispatch<H: 'static>(cx: &mut Context<'_, H>, args: Args) -> Result<()> {
    let (Some(fd), Some(mode), Some(id)) = (args[0].as_int(), args[1].as_int(), args[2].as_int())
    else {
        return Ok(());
    };
    let fd = RawFd::try_from(fd).unwrap_or(-1);
    let mode = match mode {
        0 => Mode::Read,
        1 => Mode::Write,
        _ => Mode::Expedite,
    };
    match lookup(cx, id as u64) {
        Some(io) => io.ready(cx, fd, mode),
        None => {
            let session = cx.session();
            cx.core().unwatch_raw(fd, mode, session);
            Ok(())
        }
    }
}

/// The `_roe_wheel_timer` handler: a due timer goes to its wheel (nothing
/// happens if the wheel is gone).
fn dispatch_timer<H: 'static>(cx: &mut Context<'_, H>, args: Args) -> Result<()> {
    let Some(id) = args[0].as_int() else {
        return Ok(());
    };
    match lookup(cx, id as u64) {
        Some(io) => io.timer(cx),
        None => Ok(()),
    }
}

/// Tells the kernel a wheel is gone, from its `Drop`.
pub(crate) struct Release {
    mailbox: crate::kernel::Mailbox,
    session: crate::id::SessionId,
    id: WheelId,
}

impl Release {
    pub fn new<H: 'static>(cx: &mut Context<'_, H>, id: WheelId) -> Release {
        Release {
            mailbox: cx.core().inbox.mailbox(),
            session: cx.session(),
            id,
        }
    }

    /// Asks the kernel to resume or pause watching `fd` in `mode`.
    pub fn set_paused(&self, fd: RawFd, mode: Mode, paused: bool) {
        let _ = self.mailbox.send(Message::Pause {
            session: self.session,
            fd,
            mode,
            paused,
        });
    }

    /// Posts `event` to the wheel's session, from it.
    pub fn post(&self, event: Event, args: Args) {
        let _ = self.mailbox.send(Message::Post {
            target: self.session,
            sender: crate::kernel::Origin::Session(self.session),
            event,
            args,
        });
    }

    /// Removes a timer the wheel set (from `Drop`); nothing happens if it
    /// already fired.
    pub fn cancel_timer(&self, timer: TimerId) {
        let _ = self.mailbox.send(Message::CancelTimer {
            session: self.session,
            timer,
        });
    }

    /// Drops the session's watchers of `fds` (every mode) while the wheel
    /// lives on, for a wheel that closed some of its descriptors outside a
    /// dispatch.
    pub fn unwatch(&self, fds: Vec<RawFd>) {
        let _ = self.mailbox.send(Message::Unwatch {
            session: self.session,
            fds,
        });
    }

    /// The kernel drops the wheel's watchers of `fds`; called from `Drop`.
    pub fn release(&self, fds: Vec<RawFd>) {
        // A kernel that is gone holds nothing.
        let _ = self.mailbox.send(Message::WheelGone {
            session: self.session,
            wheel: self.id.0,
            fds,
        });
    }
}

/// Makes a descriptor non-blocking, as POE's wheels do to their handles.
pub(crate) fn set_nonblocking(fd: &impl AsFd) -> io::Result<()> {
    rustix::io::ioctl_fionbio(fd, true)?;
    Ok(())
}

/// POE's error-event arguments: operation, errno, message, wheel ID.
pub(crate) fn error_args(operation: &str, error: &io::Error, id: WheelId) -> Args {
    Args::from((
        operation,
        error.raw_os_error().unwrap_or(0),
        error.to_string(),
        id.0,
    ))
}

/// An end of file, which POE reports as a `read` error with errno 0.
pub(crate) fn eof_args(id: WheelId) -> Args {
    Args::from(("read", 0, "", id.0))
}

/// A filter's refusal, as error-event arguments: operation `filter`, errno 0.
pub(crate) fn filter_error_args(error: &FilterError, id: WheelId) -> Args {
    Args::from(("filter", 0, error.to_string(), id.0))
}

/// A filter with its record type erased: records come out as event
/// arguments. Wheels that read but never write (FollowTail, Run's output
/// streams) hold their filters this way, so the wheel type does not name
/// them.
pub(crate) trait Decoder {
    fn feed(&mut self, bytes: &[u8]);
    fn next_value(&mut self) -> std::result::Result<Option<Value>, FilterError>;
    fn take_pending(&mut self) -> Vec<u8>;
}

impl<F: Filter> Decoder for F {
    fn feed(&mut self, bytes: &[u8]) {
        Filter::feed(self, bytes);
    }

    fn next_value(&mut self) -> std::result::Result<Option<Value>, FilterError> {
        Ok(self.next_record()?.map(F::record_value))
    }

    fn take_pending(&mut self) -> Vec<u8> {
        Filter::take_pending(self)
    }
}

/// A wheel with output to write once the running dispatch returns.
pub(crate) trait Flush {
    /// Writes what the stream takes; resumes the write watcher for the rest.
    fn flush(&self, core: &mut crate::kernel::Core);
}

/// The wheels that `put` output during the running dispatch. The kernel
/// flushes them when the top-level dispatch returns, so everything a
/// handler (and the calls it made) wrote goes out in one write per stream.
pub(crate) type Dirty = Rc<std::cell::RefCell<Vec<Weak<dyn Flush>>>>;

/// A registry entry: the wheel's `Weak<dyn WheelIo<H>>`, with `H` erased.
pub(crate) type Erased = Box<dyn Any>;
