//! [`ClientError`]: why a registry client's request did not succeed.

use std::time::Duration;
use std::{error, fmt, io};

use crate::error::Error;
use crate::line::Port;

/// Why a request to a registry did not succeed: the registry could not be
/// reached, did not answer in time, refused, or answered with something
/// its port does not carry.
///
/// Everything a registry sends is bounded before it is used: a line
/// longer than [`MAX_LINE`](crate::MAX_LINE), bytes that are not UTF-8, a
/// line that is none of the port's, or an answer past the client's bound
/// are each an error here, never a panic or an unbounded buffer.
///
/// # Examples
///
/// ```
/// use roe_registry::{ClientError, Port};
///
/// let refused = ClientError::Refused { port: Port::New, reason: "duplicate service name".into() };
/// assert_eq!(refused.refusal(), Some("duplicate service name"));
/// assert_eq!(refused.to_string(), "the registry's new port refused: duplicate service name");
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum ClientError {
    /// The port could not be connected to.
    Connect {
        /// Which port.
        port: Port,
        /// The address tried, `host:port`.
        addr: String,
        /// The operating system's error.
        error: io::Error,
    },
    /// Reading from or writing to the connection failed.
    Io {
        /// Which port.
        port: Port,
        /// The operating system's error.
        error: io::Error,
    },
    /// The registry did not answer in time.
    Timeout {
        /// Which port.
        port: Port,
        /// How long the client waited.
        waited: Duration,
    },
    /// The registry refused the request with an `error <reason>` line.
    Refused {
        /// Which port.
        port: Port,
        /// The reason it gave (registry(4)'s words where it has them, see
        /// [`Error::reason`]).
        reason: String,
    },
    /// The registry closed the connection before it answered.
    Closed {
        /// Which port.
        port: Port,
        /// What the client was waiting for.
        waiting_for: &'static str,
    },
    /// A line from the registry that cannot be read: too long, not UTF-8,
    /// or none of the lines the port carries.
    BadAnswer {
        /// Which port.
        port: Port,
        /// What is wrong with it.
        error: Error,
    },
    /// The registry's answer is larger than the client takes.
    TooLarge {
        /// Which port.
        port: Port,
        /// The most the client takes, in bytes.
        max: usize,
    },
    /// What the caller asked for cannot be sent (a service too large to
    /// register, say); nothing was sent.
    Invalid(Error),
}

impl ClientError {
    /// The registry's reason, when it refused.
    pub fn refusal(&self) -> Option<&str> {
        match self {
            ClientError::Refused { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Whether the registry did not answer in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Timeout { .. })
    }

    /// The error for a failed read or write on `port`: a timeout when the
    /// socket's timeout ran out.
    pub(crate) fn io(port: Port, error: io::Error, waited: Duration) -> ClientError {
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                ClientError::Timeout { port, waited }
            }
            _ => ClientError::Io { port, error },
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { port, addr, error } => {
                write!(
                    f,
                    "cannot reach the registry's {port} port at {addr}: {error}"
                )
            }
            ClientError::Io { port, error } => {
                write!(f, "the registry's {port} port: {error}")
            }
            ClientError::Timeout { port, waited } => {
                write!(f, "the registry's {port} port did not answer in {waited:?}")
            }
            ClientError::Refused { port, reason } => {
                write!(f, "the registry's {port} port refused: {reason}")
            }
            ClientError::Closed { port, waiting_for } => write!(
                f,
                "the registry's {port} port closed the connection while the client waited for {waiting_for}"
            ),
            ClientError::BadAnswer { port, error } => {
                write!(f, "the registry's {port} port answered badly: {error}")
            }
            ClientError::TooLarge { port, max } => write!(
                f,
                "the registry's {port} port answered more than the client takes ({max} bytes)"
            ),
            ClientError::Invalid(error) => write!(f, "not sent: {error}"),
        }
    }
}

impl error::Error for ClientError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            ClientError::Connect { error, .. } | ClientError::Io { error, .. } => Some(error),
            ClientError::BadAnswer { error, .. } | ClientError::Invalid(error) => Some(error),
            _ => None,
        }
    }
}

/// A handler that meets a client's error fails with it through `?`, as
/// [`roe_engine::Error::Handler`], which keeps it as its source.
impl From<ClientError> for roe_engine::Error {
    fn from(error: ClientError) -> roe_engine::Error {
        roe_engine::Error::Handler(Box::new(error))
    }
}

/// A handler that meets the registry's error (a service name refused
/// while building a [`Service`](crate::Service), say) fails with it
/// through `?`, as [`roe_engine::Error::Handler`].
///
/// # Examples
///
/// ```
/// use roe_registry::Service;
///
/// fn named(name: &str) -> roe_engine::Result<Service> {
///     Ok(Service::new(name)?)
/// }
/// assert!(named("lp!office").is_ok());
/// assert!(matches!(named("two words"), Err(roe_engine::Error::Handler(_))));
/// ```
impl From<Error> for roe_engine::Error {
    fn from(error: Error) -> roe_engine::Error {
        roe_engine::Error::Handler(Box::new(error))
    }
}
