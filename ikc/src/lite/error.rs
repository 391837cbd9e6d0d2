//! [`LiteError`]: why a lite client's request failed, with the server's
//! own words when it gave any.

use std::{fmt, io, time::Duration};

use crate::{
    SpecifierError,
    native::{FrameError, HandshakeError, NameError},
};

/// Why a [`LiteClient`](super::LiteClient) request failed.
///
/// IKC's ClientLite keeps one error string (`$client->error`); a lite
/// client returns each request's error, typed, and a remote failure keeps
/// the server's words ([`Remote`](LiteError::Remote),
/// [`RemoteError`](LiteError::RemoteError)).
///
/// # Examples
///
/// ```
/// use roe_ikc::lite::{LiteError, RemoteFailure};
///
/// let error = LiteError::Remote {
///     target: "poe:/echo/secret".into(),
///     failure: RemoteFailure::Refused("Session 'echo' has not published state 'secret'".into()),
/// };
/// assert_eq!(
///     error.to_string(),
///     "poe:/echo/secret: refused by the server: Session 'echo' has not published state 'secret'"
/// );
/// assert!(!error.is_timeout());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum LiteError {
    /// The server could not be reached.
    Connect {
        /// Where the client tried to connect.
        endpoint: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The handshake failed: no common version, a key on one side only or
    /// not the same key, a server that refused, or one that is not a roe
    /// native IKC server.
    Handshake(HandshakeError),
    /// The client's name breaks the native wire's rules for names.
    Config(NameError),
    /// Reading or writing the connection failed.
    Io(io::Error),
    /// Nothing came in time.
    Timeout {
        /// What was waited for.
        waiting_for: String,
        /// How long.
        after: Duration,
    },
    /// The server closed the connection (after a `Goodbye`, with its
    /// reason) while the client waited.
    Closed {
        /// The server's reason, or when it closed.
        reason: Option<String>,
    },
    /// A call came back without a value: the server's outcome, in its
    /// words.
    Remote {
        /// The specifier called, as given.
        target: String,
        /// What the server said.
        failure: RemoteFailure,
    },
    /// The server refused a post or could not deliver it (IKC's remote
    /// error): `op` is `check` (the state is not published), `resolve`
    /// (no such session), `invocation` or `request`. A post has no answer
    /// to wait for, so these are kept as they arrive and handed out by
    /// [`LiteClient::take_errors`](super::LiteClient::take_errors).
    RemoteError {
        /// What failed, as IKC names it.
        op: String,
        /// The server's message.
        message: String,
    },
    /// The specifier does not name a session and a state.
    BadSpecifier {
        /// The specifier, as given.
        spec: String,
        /// What is wrong with it.
        problem: SpecProblem,
    },
    /// The specifier's kernel is not the server (the lite client talks to
    /// one kernel: its name, an alias, its kernel ID, or the address
    /// connected to; `*` and no kernel also mean it).
    UnknownKernel {
        /// The kernel named.
        kernel: String,
        /// The server's name.
        server: String,
    },
    /// The argument holds a value that cannot leave this process (a
    /// [`Local`](roe_engine::Local)).
    NotPortable,
    /// The request cannot be written as a frame: over the frame limit, or
    /// nested too deep.
    Encode(FrameError),
    /// The server sent bytes that are not a frame within the limit, and
    /// the connection was closed.
    BadFrame(FrameError),
    /// The server sent a handshake frame after the handshake, and the
    /// connection was closed.
    Protocol {
        /// The frame's kind.
        got: &'static str,
    },
}

impl LiteError {
    /// Whether this is a [`Timeout`](LiteError::Timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self, LiteError::Timeout { .. })
    }

    /// Whether the server answered, and the answer is a failure
    /// ([`Remote`](LiteError::Remote) or
    /// [`RemoteError`](LiteError::RemoteError)): the connection is fine.
    pub fn is_remote(&self) -> bool {
        matches!(
            self,
            LiteError::Remote { .. } | LiteError::RemoteError { .. }
        )
    }
}

impl fmt::Display for LiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LiteError::Connect { endpoint, source } => {
                write!(f, "cannot connect to {endpoint}: {source}")
            }
            LiteError::Handshake(e) => write!(f, "handshake with the server failed: {e}"),
            LiteError::Config(e) => write!(f, "bad client name: {e}"),
            LiteError::Io(e) => write!(f, "connection to the server failed: {e}"),
            LiteError::Timeout { waiting_for, after } => {
                write!(f, "timed out after {after:?} waiting for {waiting_for}")
            }
            LiteError::Closed { reason: None } => f.write_str("the server closed the connection"),
            LiteError::Closed {
                reason: Some(reason),
            } => write!(f, "the server closed the connection: {reason}"),
            LiteError::Remote { target, failure } => write!(f, "{target}: {failure}"),
            LiteError::RemoteError { op, message } => {
                write!(f, "remote error ({op}): {message}")
            }
            LiteError::BadSpecifier { spec, problem } => {
                write!(f, "{spec:?} does not name a state: {problem}")
            }
            LiteError::UnknownKernel { kernel, server } => write!(
                f,
                "kernel {kernel:?} is not the server this client is connected to ({server})"
            ),
            LiteError::NotPortable => {
                f.write_str("the argument holds a value local to this process")
            }
            LiteError::Encode(e) => write!(f, "cannot send the request: {e}"),
            LiteError::BadFrame(e) => write!(f, "the server sent a bad frame: {e}"),
            LiteError::Protocol { got } => {
                write!(f, "the server sent a {got} frame after the handshake")
            }
        }
    }
}

impl std::error::Error for LiteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LiteError::Connect { source, .. } | LiteError::Io(source) => Some(source),
            LiteError::Handshake(e) => Some(e),
            LiteError::Config(e) => Some(e),
            LiteError::BadSpecifier {
                problem: SpecProblem::Syntax(e),
                ..
            } => Some(e),
            LiteError::Encode(e) | LiteError::BadFrame(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for LiteError {
    fn from(error: io::Error) -> LiteError {
        LiteError::Io(error)
    }
}

impl From<HandshakeError> for LiteError {
    fn from(error: HandshakeError) -> LiteError {
        LiteError::Handshake(error)
    }
}

/// Why a call returned no value, as the server said: a
/// [`Reply`](crate::native::Frame::Reply)'s outcome other than `Returned`.
///
/// # Examples
///
/// ```
/// use roe_ikc::lite::RemoteFailure;
///
/// let died = RemoteFailure::Died("division by zero".into());
/// assert_eq!(died.kind(), "died");
/// assert_eq!(died.text(), Some("division by zero"));
/// assert_eq!(RemoteFailure::NoHandler.text(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteFailure {
    /// The session has no handler for the state.
    NoHandler,
    /// No such session (or it is not published).
    NoSession,
    /// The handler failed, with this message.
    Died(String),
    /// The server would not run the call (the state is not published,
    /// say), for this reason.
    Refused(String),
}

impl RemoteFailure {
    /// The outcome's name: `no_handler`, `no_session`, `died` or
    /// `refused`.
    pub fn kind(&self) -> &'static str {
        match self {
            RemoteFailure::NoHandler => "no_handler",
            RemoteFailure::NoSession => "no_session",
            RemoteFailure::Died(_) => "died",
            RemoteFailure::Refused(_) => "refused",
        }
    }

    /// The server's words, when it gave any.
    pub fn text(&self) -> Option<&str> {
        match self {
            RemoteFailure::Died(text) | RemoteFailure::Refused(text) => Some(text),
            RemoteFailure::NoHandler | RemoteFailure::NoSession => None,
        }
    }
}

impl fmt::Display for RemoteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteFailure::NoHandler => f.write_str("the session has no handler for the state"),
            RemoteFailure::NoSession => {
                f.write_str("no such session on the server (or it is not published)")
            }
            RemoteFailure::Died(text) => write!(f, "the handler died: {text}"),
            RemoteFailure::Refused(text) => write!(f, "refused by the server: {text}"),
        }
    }
}

/// What is wrong with a specifier given to a lite client.
///
/// # Examples
///
/// ```
/// use roe_ikc::lite::SpecProblem;
///
/// assert_eq!(SpecProblem::NoState.to_string(), "it names no state");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpecProblem {
    /// It is not a specifier.
    Syntax(SpecifierError),
    /// It names no session.
    NoSession,
    /// It names no state.
    NoState,
}

impl fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecProblem::Syntax(e) => e.fmt(f),
            SpecProblem::NoSession => f.write_str("it names no session"),
            SpecProblem::NoState => f.write_str("it names no state"),
        }
    }
}
