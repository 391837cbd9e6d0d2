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

mod accept;
mod readwrite;

use std::{
    any::Any,
    fmt, io,
    os::fd::{AsFd, RawFd},
    rc::Weak,
    sync::atomic::{AtomicU64, Ordering},
};

pub use self::{
    accept::{ListenAccept, Listener},
    readwrite::{Duplex, ReadWrite, ReadWriteBuilder},
};
use crate::{
    error::Result,
    event::Event,
    kernel::{Context, Message},
    reactor::Mode,
    value::Args,
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
    fn ready(self: std::rc::Rc<Self>, cx: &mut Context<'_, H>, fd: RawFd, mode: Mode)
    -> Result<()>;
}

/// The internal event every wheel's watchers dispatch.
fn wheel_event() -> Event {
    Event::new("_roe_wheel")
}

/// Registers a wheel for the running session and installs the session's
/// wheel handler if this is its first wheel.
pub(crate) fn register<H: 'static>(cx: &mut Context<'_, H>, id: WheelId, io: Weak<dyn WheelIo<H>>) {
    if !cx.has_handler(wheel_event()) {
        cx.state_set(wheel_event(), dispatch::<H>);
    }
    let session = cx.session();
    cx.core().wheels.insert(id.0, (session, Box::new(io)));
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
    let io = cx
        .core()
        .wheels
        .get(&(id as u64))
        .and_then(|(_, io)| io.downcast_ref::<Weak<dyn WheelIo<H>>>())
        .and_then(Weak::upgrade);
    match io {
        Some(io) => io.ready(cx, fd, mode),
        None => {
            let session = cx.session();
            cx.core().unwatch_raw(fd, mode, session);
            Ok(())
        }
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

/// A registry entry: the wheel's `Weak<dyn WheelIo<H>>`, with `H` erased.
pub(crate) type Erased = Box<dyn Any>;
