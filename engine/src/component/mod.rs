//! POE's TCP components: ready-made servers and clients built on the
//! wheels.
//!
//! - [`TcpServer`]: POE::Component::Server::TCP. A listener session that
//!   owns a [`SocketFactory`](crate::SocketFactory), and one session per
//!   connection whose heap, a [`Connection`], holds the connection's
//!   [`ReadWrite`](crate::ReadWrite) wheel.
//! - [`TcpClient`]: POE::Component::Client::TCP. One session per outgoing
//!   connection, whose heap is a [`ClientConnection`]; it can reconnect by
//!   itself with a [`Backoff`].
//!
//! Both take their callbacks as closures that receive the session's
//! [`Context`](crate::Context), so a callback reaches its connection through
//! `cx.heap` and the kernel through `cx`, as POE's callbacks do through
//! `@_`. Per-connection state of your own lives in the heap's `state`
//! field.

mod client;
mod server;

use std::{fmt, rc::Rc};

pub use self::{
    client::{Backoff, ClientConnection, Retries, TcpClient},
    server::{Connection, Listening, ServerInfo, ServerStats, TcpServer},
};
use crate::{
    error::Result,
    event::Event,
    id::SessionId,
    kernel::{Context, Kernel},
    session::{Return, Session},
    value::{Args, Value},
};

/// Where a component's session is created: a [`Kernel`] (the session is a
/// child of the kernel) or a handler's [`Context`] (a child of the running
/// session), as POE's `POE::Session->create` inside or outside a handler.
///
/// # Examples
///
/// One function that starts a component from the main program or from a
/// handler:
///
/// ```
/// use roe_engine::{Kernel, Result, Session, SessionId, Spawner};
///
/// /// A session that says hello to its parent, and ends.
/// fn greeter(spawner: &mut impl Spawner) -> Result<SessionId> {
///     spawner.spawn_session(Session::new(()).on_start(|cx, _| {
///         // In `_start`, SENDER is the parent.
///         let parent = cx.sender();
///         cx.post(parent, "hello", ())
///     }))
/// }
///
/// let mut kernel = Kernel::new()?;
/// greeter(&mut kernel)?; // a child of the kernel, which ignores the hello
/// kernel.spawn(
///     Session::new(0)
///         .on_start(|cx, _| greeter(cx).map(drop)) // a child of this session
///         .on("hello", |cx, _| *cx.heap += 1)
///         .on("_stop", |cx, _| assert_eq!(*cx.heap, 1)),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub trait Spawner {
    /// Creates `session` and runs its `_start`.
    ///
    /// # Errors
    ///
    /// As [`Kernel::spawn`].
    fn spawn_session<H: 'static>(&mut self, session: Session<H>) -> Result<SessionId>;
}

impl Spawner for Kernel {
    fn spawn_session<H: 'static>(&mut self, session: Session<H>) -> Result<SessionId> {
        self.spawn(session)
    }
}

impl<C: 'static> Spawner for Context<'_, C> {
    fn spawn_session<H: 'static>(&mut self, session: Session<H>) -> Result<SessionId> {
        self.spawn(session)
    }
}

/// An I/O failure as a component's error callbacks get it: POE's `(ARG0,
/// ARG1, ARG2)` of an error event.
///
/// # Examples
///
/// ```
/// use roe_engine::{Args, Failure};
///
/// // A wheel's error event: operation, errno, message, wheel ID.
/// let refused = Failure::from_args(&Args::from(("connect", 111, "Connection refused", 1)));
/// assert_eq!(refused.to_string(), "connect error 111 (Connection refused)");
/// assert!(!refused.is_eof());
/// // The peer closing is a `read` "error" with errno 0, as in POE.
/// assert!(Failure::from_args(&Args::from(("read", 0, "", 1))).is_eof());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The operation that failed: `read`, `write`, `connect`, `bind`, ...
    pub operation: String,
    /// The operating system's error number; 0 for an end of file (a `read`
    /// "error") or a filter's refusal.
    pub errno: i32,
    /// The error's description.
    pub message: String,
}

impl Failure {
    /// The failure in a wheel's error-event arguments `(operation, errno,
    /// message, ...)`.
    pub fn from_args(args: &Args) -> Failure {
        Failure {
            operation: args[0].as_str().unwrap_or_default().to_owned(),
            errno: args[1]
                .as_int()
                .and_then(|n| i32::try_from(n).ok())
                .unwrap_or(0),
            message: match &args[2] {
                Value::Str(s) => s.to_string(),
                Value::Undef => String::new(),
                other => other.to_string(),
            },
        }
    }

    /// Whether this is the end of the stream: a `read` with errno 0, which
    /// is how POE's wheels report that the peer closed.
    pub fn is_eof(&self) -> bool {
        self.operation == "read" && self.errno == 0
    }

    /// Whether POE's default error callbacks would stay quiet about it: an
    /// end of file or a connection reset while reading.
    fn is_quiet(&self) -> bool {
        let reset = rustix::io::Errno::CONNRESET.raw_os_error();
        self.operation == "read" && (self.errno == 0 || self.errno == reset)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error {}", self.operation, self.errno)?;
        if !self.message.is_empty() {
            write!(f, " ({})", self.message)?;
        }
        Ok(())
    }
}

/// A stored callback: the session's context and one value (a record, a
/// failure, the arguments of an event added with `on`).
type Callback<H, T> = Rc<dyn Fn(&mut Context<'_, H>, T) -> Result<Value>>;
/// The handlers added to a component's sessions with `on`.
type Handlers<H> = Vec<(Event, Callback<H, Args>)>;

/// A stored callback that gets only the context.
type Callback0<H> = Rc<dyn Fn(&mut Context<'_, H>) -> Result<Value>>;

/// Stores a callback of any return type: the one shape of every setter.
fn store<H, T, C, R>(callback: C) -> Callback<H, T>
where
    C: Fn(&mut Context<'_, H>, T) -> R + 'static,
    R: Return,
{
    Rc::new(move |cx: &mut Context<'_, H>, value: T| callback(cx, value).into_result())
}

/// Stores a callback of any return type that gets only the context.
fn store0<H, C, R>(callback: C) -> Callback0<H>
where
    C: Fn(&mut Context<'_, H>) -> R + 'static,
    R: Return,
{
    Rc::new(move |cx: &mut Context<'_, H>| callback(cx).into_result())
}

/// Runs an optional stored callback.
fn run0<H: 'static>(callback: &Option<Callback0<H>>, cx: &mut Context<'_, H>) -> Result<()> {
    match callback {
        Some(callback) => callback(cx).map(drop),
        None => Ok(()),
    }
}
