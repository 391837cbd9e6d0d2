//! [`ServerError`]: why a registry server did not start.

use std::{error, fmt, io};

use crate::error::Error;
use crate::line::Port;

/// Why a registry server did not start: a port it could not listen on, a
/// state file it could not read or write, or the kernel's refusal.
///
/// Once started, a server never fails as a whole: a client's bad input
/// ends that client's connection, and a state file that cannot be written
/// is logged and tried again.
///
/// # Examples
///
/// ```
/// use std::net::TcpListener;
/// use roe_engine::Kernel;
/// use roe_registry::{Port, RegistryServer, ServerConfig, ServerError};
///
/// let taken = TcpListener::bind("127.0.0.1:0")?;
/// let port = taken.local_addr()?.port();
/// let config = ServerConfig::default().addr(format!("127.0.0.1:0,{port},0").parse()?);
/// let mut kernel = Kernel::new()?;
/// let error = RegistryServer::new(config).spawn(&mut kernel).unwrap_err();
/// assert!(matches!(error, ServerError::Bind { port: Port::Find, .. }));
/// assert!(error.to_string().starts_with("cannot listen on 127.0.0.1:"), "{error}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum ServerError {
    /// A port could not be listened on (in use, not allowed, an address
    /// that is not this machine's).
    Bind {
        /// Which of the three.
        port: Port,
        /// The address asked for, `host:port`.
        addr: String,
        /// The operating system's error.
        error: io::Error,
    },
    /// The state file could not be read back (unreadable or corrupt:
    /// [`Error::Corrupt`] names the file and the line), its services did
    /// not fit the store, or it could not be written at start.
    State(Error),
    /// The kernel refused the server's session.
    Engine(roe_engine::Error),
    /// The etcd backend could not be started: etcd could not be reached
    /// or read, or a state file was asked for too.
    Etcd {
        /// The endpoint.
        endpoint: String,
        /// Why.
        error: io::Error,
    },
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Bind { port, addr, error } => {
                write!(
                    f,
                    "cannot listen on {addr} for the registry's {port} port: {error}"
                )
            }
            ServerError::State(error) => write!(f, "the registry's state file: {error}"),
            ServerError::Engine(error) => write!(f, "the registry's session: {error}"),
            ServerError::Etcd { endpoint, error } => {
                write!(f, "the registry's etcd backend at {endpoint}: {error}")
            }
        }
    }
}

impl error::Error for ServerError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            ServerError::Bind { error, .. } => Some(error),
            ServerError::State(error) => Some(error),
            ServerError::Engine(error) => Some(error),
            ServerError::Etcd { error, .. } => Some(error),
        }
    }
}

impl From<roe_engine::Error> for ServerError {
    fn from(error: roe_engine::Error) -> ServerError {
        ServerError::Engine(error)
    }
}
