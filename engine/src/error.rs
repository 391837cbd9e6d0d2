//! The engine's error type.

use std::{error, fmt, io};

use crate::id::{SessionId, TimerId};

/// What went wrong in a kernel call.
///
/// POE reports failures through return codes and `$!`; roe returns them as
/// values. [`Error::errno`] gives the POSIX number POE would have used, so a
/// port can keep its checks (see docs/porting.md).
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// A destination did not resolve: no live session has that ID or alias
    /// (POE's `ESRCH`). Carries the destination as given.
    NoSuchSession(String),
    /// `alias_remove` of an alias nobody holds (`ESRCH`).
    NoSuchAlias(String),
    /// A timer ID that names no pending timer (`ESRCH`).
    NoSuchTimer(TimerId),
    /// The alias is held by another session (`EEXIST`).
    AliasInUse {
        /// The alias asked for.
        alias: String,
        /// The session that holds it.
        owner: SessionId,
    },
    /// The operation is not allowed for the calling session (`EPERM`), with
    /// the reason.
    NotPermitted(&'static str),
    /// An argument cannot be used (`EINVAL`), with the reason.
    InvalidArgument(&'static str),
    /// The call needs a running session, and none is active (POE's `ESRCH`
    /// for `state()` outside a handler).
    NoActiveSession,
    /// A session was built without a `_start` handler; POE discards it.
    MissingStart,
    /// The target session's handler is already running further up the stack,
    /// beyond the frames the current dispatch can reach (see
    /// docs/architecture.md, "Re-entrant dispatch").
    Busy(SessionId),
    /// A handler failed: it returned an error or panicked. Inside the kernel
    /// this becomes POE's `DIE` signal; out of `run` it means nobody handled
    /// that signal.
    Died(String),
    /// An operating-system error.
    Io(io::Error),
    /// Another kernel's inbox is full and the call does not wait (the
    /// arguments come back).
    InboxFull(crate::value::Args),
    /// The runtime is shutting down: no new cross-kernel posts.
    ShuttingDown,
    /// Sessions on several kernels hold this alias.
    AmbiguousAlias {
        /// The alias.
        alias: String,
        /// The sessions that hold it.
        sessions: Vec<SessionId>,
    },
}

/// `Result` with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A handler error with a message, for handlers that fail without an
    /// underlying error value.
    pub fn handler(message: impl fmt::Display) -> Error {
        Error::Died(message.to_string())
    }

    /// The `errno` POE would set or return for this failure, if it has one.
    pub fn errno(&self) -> Option<i32> {
        const EPERM: i32 = 1;
        const ESRCH: i32 = 3;
        const EEXIST: i32 = 17;
        const EINVAL: i32 = 22;
        match self {
            Error::NoSuchSession(_)
            | Error::NoSuchAlias(_)
            | Error::NoSuchTimer(_)
            | Error::NoActiveSession => Some(ESRCH),
            Error::AliasInUse { .. } => Some(EEXIST),
            Error::NotPermitted(_) => Some(EPERM),
            Error::InvalidArgument(_) => Some(EINVAL),
            Error::Io(e) => e.raw_os_error(),
            Error::InboxFull(_) => Some(11),
            Error::MissingStart
            | Error::Busy(_)
            | Error::Died(_)
            | Error::ShuttingDown
            | Error::AmbiguousAlias { .. } => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoSuchSession(dest) => write!(f, "no session resolves from {dest:?}"),
            Error::NoSuchAlias(alias) => write!(f, "no session holds the alias {alias:?}"),
            Error::NoSuchTimer(id) => write!(f, "timer {id} is not pending"),
            Error::AliasInUse { alias, owner } => {
                write!(f, "alias {alias:?} is held by session {owner}")
            }
            Error::NotPermitted(why) => write!(f, "not permitted: {why}"),
            Error::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
            Error::NoActiveSession => f.write_str("no session is active"),
            Error::MissingStart => f.write_str("discarding session: it has no '_start' handler"),
            Error::Busy(id) => write!(
                f,
                "session {id} is busy in a handler this dispatch cannot reach"
            ),
            Error::Died(message) => f.write_str(message),
            Error::Io(e) => e.fmt(f),
            Error::InboxFull(_) => f.write_str("the target kernel's inbox is full"),
            Error::ShuttingDown => f.write_str("the runtime is shutting down"),
            Error::AmbiguousAlias { alias, sessions } => {
                write!(f, "alias {alias:?} is held on several kernels:")?;
                for id in sessions {
                    write!(f, " {id}")?;
                }
                Ok(())
            }
        }
    }
}

impl error::Error for Error {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}
