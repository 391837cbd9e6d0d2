//! The engine's errors.

use std::{error, fmt, io};

use crate::{
    event::Event,
    id::{SessionId, TimerId},
    value::{Args, NotLocal},
};

/// What went wrong in a kernel call, or in a handler.
///
/// POE reports failures through return codes and `$!`; roe returns them as
/// values. [`Error::errno`] gives the POSIX number POE would have used, so a
/// port can keep its checks (see docs/porting.md).
///
/// A handler that can fail returns [`Result<T>`](crate::Result), and `?`
/// brings any error that converts into `Error` along: the kernel's own,
/// [`std::io::Error`], a boxed error of any kind (which becomes
/// [`Error::Handler`] and keeps it as its [`source`](error::Error::source)),
/// or a message (`Err("why".into())`). A crate's own error type converts
/// with `.map_err(Error::other)?`, or once and for all with an
/// `impl From<MyError> for roe_engine::Error` in that crate. (The error
/// type is fixed rather than generic so that a closure ending in `Ok(())`
/// needs no annotation.) An error out of a handler becomes POE's `DIE`
/// signal; if no session handles it, [`Kernel::run`](crate::Kernel::run)
/// returns [`Error::Died`] with where it happened.
///
/// # Examples
///
/// ```
/// use roe_engine::{Error, Kernel, Session};
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(Session::new(()).on("_start", |cx, _| {
///     // No session holds this alias: the post fails, and `?` makes the
///     // failure the handler's, which becomes the DIE signal.
///     cx.post("nobody", "hello", ())?;
///     Ok::<_, Error>(())
/// }))?;
/// let Err(Error::Died(died)) = kernel.run() else { panic!("the DIE went unhandled") };
/// assert_eq!(died.event().as_str(), "_start");
/// assert!(matches!(died.error(), Error::NoSuchSession(name) if name == "nobody"));
/// assert_eq!(died.error().errno(), Some(3)); // ESRCH
/// # Ok::<(), Error>(())
/// ```
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
    /// A handler failed with an error of its own (anything boxed, or a
    /// message from [`Error::handler`]).
    Handler(Box<dyn error::Error + Send + Sync>),
    /// A handler panicked; the panic's message.
    Panicked(String),
    /// A handler's failure became POE's `DIE` signal and no session handled
    /// it: what [`Kernel::run`](crate::Kernel::run) and
    /// [`Runtime::join`](crate::Runtime::join) return then.
    Died(Box<Died>),
    /// An operating-system error.
    Io(io::Error),
    /// Another kernel's inbox is full and the call does not wait.
    InboxFull,
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
///
/// # Examples
///
/// ```
/// use roe_engine::{Kernel, Result, Session};
///
/// fn start() -> Result<Kernel> {
///     let mut kernel = Kernel::new()?;
///     kernel.spawn(Session::new(()).on("_start", |_, _| {}))?;
///     Ok(kernel)
/// }
/// start()?.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A handler failure nobody handled: the error, and where it happened, as
/// POE's DIE signal describes it (`dest_session`, `event`, `file`, `line`).
///
/// The file and line are the caller's: where the event being handled was
/// posted, called or set from (POE's `CALLER_FILE` and `CALLER_LINE`).
///
/// # Examples
///
/// ```
/// use roe_engine::{Error, Kernel, Session};
///
/// let mut kernel = Kernel::new()?;
/// let worker = kernel.spawn(
///     Session::new(())
///         .on("_start", |cx, _| cx.yield_("work", ()))
///         .on("work", |_, _| -> roe_engine::Result<()> { Err("out of paper".into()) }),
/// )?;
/// let Err(Error::Died(died)) = kernel.run() else { panic!("nobody handled the DIE") };
/// assert_eq!(died.session(), worker);
/// assert_eq!(died.event().as_str(), "work");
/// assert_eq!(died.message(), "out of paper");
/// assert!(died.file().ends_with(".rs") && died.line() > 0);
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Debug)]
pub struct Died {
    pub(crate) error: Error,
    pub(crate) session: SessionId,
    pub(crate) event: Event,
    pub(crate) kernel: String,
    pub(crate) file: String,
    pub(crate) line: u32,
    /// Failures of DIE's own handlers while it was being handled, earliest
    /// first (POE appends them to the message).
    pub(crate) also: Vec<String>,
}

impl Died {
    /// What the handler failed with.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// Takes the handler's error.
    pub fn into_error(self) -> Error {
        self.error
    }

    /// The session whose handler failed.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// The event it was handling.
    pub fn event(&self) -> Event {
        self.event
    }

    /// The kernel's name (POE's `$kernel->ID`).
    pub fn kernel(&self) -> &str {
        &self.kernel
    }

    /// The source file the event was sent from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The source line the event was sent from.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The handler error's text, followed by what failed while the DIE was
    /// being handled, as POE's rethrown message reads.
    pub fn message(&self) -> String {
        let mut text = self.error.to_string();
        for more in &self.also {
            text.push_str("Additional error thrown in handler for previous error:\n");
            text.push_str(more);
        }
        text
    }
}

impl fmt::Display for Died {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "session {} died handling {:?} on kernel {} (sent at {} line {}): {}",
            self.session,
            self.event.as_str(),
            self.kernel,
            self.file,
            self.line,
            self.message()
        )
    }
}

impl Error {
    /// A handler error wrapping another crate's error, which stays
    /// reachable through [`source`](error::Error::source) (as
    /// [`io::Error::other`] does).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::error::Error as _;
    /// use roe_engine::Error;
    ///
    /// let parsed: Result<u8, Error> = "300".parse::<u8>().map_err(Error::other);
    /// let err = parsed.unwrap_err();
    /// assert!(matches!(err, Error::Handler(_)));
    /// assert!(err.source().is_some());
    /// ```
    pub fn other(error: impl error::Error + Send + Sync + 'static) -> Error {
        Error::Handler(Box::new(error))
    }

    /// A handler error with a message, for handlers that fail without an
    /// underlying error value (Perl's `die "message"`).
    pub fn handler(message: impl fmt::Display) -> Error {
        Error::Handler(message.to_string().into())
    }

    /// The `errno` POE would set or return for this failure, if it has one.
    pub fn errno(&self) -> Option<i32> {
        const EPERM: i32 = 1;
        const ESRCH: i32 = 3;
        const EAGAIN: i32 = 11;
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
            Error::InboxFull => Some(EAGAIN),
            Error::MissingStart
            | Error::Busy(_)
            | Error::Handler(_)
            | Error::Panicked(_)
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
            Error::Handler(error) => error.fmt(f),
            Error::Panicked(message) => f.write_str(message),
            Error::Died(died) => died.fmt(f),
            Error::Io(e) => e.fmt(f),
            Error::InboxFull => f.write_str("the target kernel's inbox is full"),
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
            Error::Handler(e) => Some(e.as_ref()),
            Error::Died(died) => Some(&died.error),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

impl From<Box<dyn error::Error + Send + Sync>> for Error {
    fn from(e: Box<dyn error::Error + Send + Sync>) -> Error {
        Error::Handler(e)
    }
}

impl From<String> for Error {
    /// A handler's failure with this message (Perl's `die $message`).
    fn from(message: String) -> Error {
        Error::Handler(message.into())
    }
}

impl From<&str> for Error {
    /// A handler's failure with this message (Perl's `die $message`).
    fn from(message: &str) -> Error {
        Error::Handler(message.into())
    }
}

impl From<NotLocal> for Error {
    fn from(e: NotLocal) -> Error {
        Error::Handler(Box::new(e))
    }
}

/// Why [`try_post`](crate::Context::try_post) did not queue an event; the
/// arguments come back in every case (crossbeam's `TrySendError`).
///
/// # Examples
///
/// ```
/// use roe_engine::{Args, Error, TryPostError};
///
/// fn retry_later(error: TryPostError) -> Option<Args> {
///     match error {
///         TryPostError::Full(args) => Some(args),
///         TryPostError::Failed(_, _) => None,
///     }
/// }
/// let error: Error = TryPostError::Full(Args::from((1,))).into();
/// assert!(matches!(error, Error::InboxFull));
/// ```
#[derive(Debug)]
pub enum TryPostError<T = Args> {
    /// The target kernel's inbox is full.
    Full(T),
    /// The post failed for another reason: the destination does not
    /// resolve, or the runtime is shutting down.
    Failed(Error, T),
}

impl<T> TryPostError<T> {
    /// The arguments that were not sent.
    pub fn into_inner(self) -> T {
        match self {
            TryPostError::Full(args) | TryPostError::Failed(_, args) => args,
        }
    }

    /// Whether the target's inbox was full (trying again later may work).
    pub fn is_full(&self) -> bool {
        matches!(self, TryPostError::Full(_))
    }
}

impl<T> fmt::Display for TryPostError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPostError::Full(_) => Error::InboxFull.fmt(f),
            TryPostError::Failed(error, _) => error.fmt(f),
        }
    }
}

impl<T: fmt::Debug> error::Error for TryPostError<T> {}

impl<T> From<TryPostError<T>> for Error {
    fn from(e: TryPostError<T>) -> Error {
        match e {
            TryPostError::Full(_) => Error::InboxFull,
            TryPostError::Failed(error, _) => error,
        }
    }
}
