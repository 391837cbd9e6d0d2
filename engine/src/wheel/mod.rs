//! POE's wheels: helpers a session owns that turn descriptors into events.
//!
//! A wheel is not a session. It is an I/O [`Source`](crate::Source) the
//! session holds in its heap, built on the kernel's public I/O boundary
//! ([`Io`](crate::Io)) like any other source. It reports what happens by
//! running the session's handlers at once, with its [`WheelId`] as the last
//! argument, as POE's wheels `call` their session (a session may own many
//! wheels). Dropping the wheel stops it: it tells the kernel through its
//! [`SourceRef`](crate::SourceRef), and its watchers and timers go.
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

mod accept;
mod accepting;
mod keepalive;
mod readwrite;
mod run;
mod socketfactory;
pub(crate) mod stream;
mod tail;

use std::{
    fmt, io,
    os::fd::AsFd,
    sync::atomic::{AtomicU64, Ordering},
};

pub use self::keepalive::Keepalive;
pub use self::{
    accept::{ListenAccept, ListenAcceptBuilder, Listener},
    readwrite::{ReadWrite, ReadWriteBuilder},
    run::{Run, RunBuilder},
    socketfactory::{Domain, SocketFactory, SocketFactoryBuilder},
    stream::Duplex,
    tail::{FollowTail, FollowTailBuilder},
};
use crate::{
    error::Result,
    event::Event,
    filter::{Filter, FilterError},
    kernel::Io,
    value::{Args, Value},
};

/// Names a wheel; unique in the process, as POE's wheel IDs are. Every
/// wheel event carries it as a number (see [`WheelId::from_value`]).
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use roe_engine::{Kernel, Line, ReadWrite, Session};
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(Session::new(()).on_start(|cx, _| {
///     let (a, b) = UnixStream::pair()?;
///     let one = ReadWrite::builder(a, Line::new()).start(cx)?;
///     let two = ReadWrite::builder(b, Line::new()).start(cx)?;
///     assert_ne!(one.id(), two.id());
///     assert!(two.id().number() > one.id().number());
///     Ok::<_, roe_engine::Error>(())
/// }))?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
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

    /// The wheel ID an event argument carries (wheels pass it as a number:
    /// `ARG1` of an input event, `ARG3` of an error event, `ARG0` of a
    /// flushed event).
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::{Value, WheelId};
    ///
    /// assert_eq!(WheelId::from_value(&Value::from(7)).map(WheelId::number), Some(7));
    /// assert_eq!(WheelId::from_value(&Value::from("seven")), None);
    /// ```
    pub fn from_value(value: &Value) -> Option<WheelId> {
        value
            .as_int()
            .and_then(|n| u64::try_from(n).ok())
            .filter(|&n| n > 0)
            .map(WheelId)
    }
}

impl fmt::Display for WheelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
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

/// Hands each record a filter holds to the session, as `(record, wheel
/// ID)`, and each refusal to the error event, as `error_args` makes it:
/// the one record-emitting loop of every wheel. `next` takes the next
/// record with the events to call, afresh each time, since a handler may
/// switch filters or rename events in between; the loop stops when the
/// filter has no whole record left or the session drops the wheel
/// (`alive` turns false).
pub(crate) fn emit_records(
    io: &mut Io<'_>,
    id: WheelId,
    alive: impl Fn() -> bool,
    mut next: impl FnMut() -> Next,
    error_args: impl Fn(&FilterError) -> Args,
) -> Result<()> {
    while alive() {
        let Next {
            record,
            on_record,
            on_error,
        } = next();
        match record {
            Ok(Some(record)) => {
                if let Some(event) = on_record {
                    io.emit(event, (record, id.number()))?;
                }
            }
            Ok(None) => break,
            Err(error) => {
                if let Some(event) = on_error {
                    io.emit(event, error_args(&error))?;
                }
            }
        }
    }
    Ok(())
}

/// What [`emit_records`] gets each time round: the filter's next record,
/// as an event argument, and the events to call.
pub(crate) struct Next {
    pub record: std::result::Result<Option<Value>, FilterError>,
    pub on_record: Option<Event>,
    pub on_error: Option<Event>,
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
