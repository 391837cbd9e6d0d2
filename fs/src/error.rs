//! The fs view's errors.

use std::{error, fmt, io, path::PathBuf};

/// What went wrong starting, mounting or unmounting the view, or
/// registering a tree in it.
///
/// # Examples
///
/// ```
/// use roe_fs::{Dir, Error, ProcAlike};
///
/// let error = ProcAlike::check_module_name("a/b").unwrap_err();
/// assert!(matches!(error, Error::BadName(_)));
/// assert_eq!(error.to_string(), "bad module name \"a/b\": empty, \".\", \"..\", or holds '/' or NUL");
/// # let _ = Dir::new();
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// A system call failed: mounting, unmounting, or making or removing
    /// the mountpoint.
    Io(io::Error),
    /// Something is mounted at the mountpoint and answers: another
    /// program's view, or any other file system. It is left alone.
    Busy(PathBuf),
    /// A dead FUSE mount (its server was killed) sits at the mountpoint and
    /// could not be detached; carries the path and why.
    Stale(PathBuf, io::Error),
    /// The mountpoint exists and is not a directory.
    NotADirectory(PathBuf),
    /// The mountpoint is a symbolic link: the view mounts on the directory
    /// named, not on wherever a link leads (which could change between the
    /// check and the mount).
    Symlink(PathBuf),
    /// A ProcAlike session already holds its alias in this kernel or
    /// runtime (it is a singleton, as POE's is).
    AlreadyRunning,
    /// A module name that cannot be a directory name.
    BadName(String),
    /// A module of that name is already registered.
    Registered(String),
    /// The kernel or runtime refused: it has finished, or is shutting down.
    Engine(roe_engine::Error),
}

/// The fs view's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(error) => write!(f, "{error}"),
            Error::Busy(path) => write!(f, "{} is already a mountpoint", path.display()),
            Error::Stale(path, error) => write!(
                f,
                "a dead FUSE mount at {} could not be detached: {error}",
                path.display()
            ),
            Error::NotADirectory(path) => write!(f, "{} is not a directory", path.display()),
            Error::Symlink(path) => write!(
                f,
                "{} is a symbolic link: name the directory itself",
                path.display()
            ),
            Error::AlreadyRunning => f.write_str("a ProcAlike view is already running"),
            Error::BadName(name) => write!(
                f,
                "bad module name {name:?}: empty, \".\", \"..\", or holds '/' or NUL"
            ),
            Error::Registered(name) => write!(f, "module {name:?} is already registered"),
            Error::Engine(error) => write!(f, "{error}"),
        }
    }
}

impl error::Error for Error {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            Error::Io(error) | Error::Stale(_, error) => Some(error),
            Error::Engine(error) => Some(error),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Error {
        Error::Io(error)
    }
}

impl From<roe_engine::Error> for Error {
    fn from(error: roe_engine::Error) -> Error {
        Error::Engine(error)
    }
}

/// Why a write to a file of the view was refused; the FUSE adapter answers
/// it with the errno /proc would use.
///
/// # Examples
///
/// ```
/// use roe_fs::WriteError;
///
/// assert_eq!(WriteError::Invalid("not a number".into()).errno_name(), "EINVAL");
/// assert_eq!(WriteError::ReadOnly.errno_name(), "EACCES");
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The text written is not something the file accepts (EINVAL);
    /// nothing changed.
    Invalid(String),
    /// The file cannot be written (EACCES).
    ReadOnly,
    /// The file, or the session it belongs to, is gone (ENOENT).
    NotFound,
    /// The kernel that would apply it has finished or is shutting down
    /// (ESRCH).
    Gone,
}

impl WriteError {
    /// The name of the errno the adapter answers with.
    pub fn errno_name(&self) -> &'static str {
        match self {
            WriteError::Invalid(_) => "EINVAL",
            WriteError::ReadOnly => "EACCES",
            WriteError::NotFound => "ENOENT",
            WriteError::Gone => "ESRCH",
        }
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Invalid(why) => write!(f, "invalid write: {why}"),
            WriteError::ReadOnly => f.write_str("the file is read-only"),
            WriteError::NotFound => f.write_str("no such file"),
            WriteError::Gone => f.write_str("the kernel is gone"),
        }
    }
}

impl error::Error for WriteError {}
