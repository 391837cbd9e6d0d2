//! The registry's errors.

use std::path::PathBuf;
use std::{error, fmt, io};

use crate::revision::Revision;

/// What went wrong: a refused line or request, or a state file that cannot
/// be read or written.
///
/// [`Display`](fmt::Display) says what happened with the details needed to
/// debug it; [`Error::reason`] gives the short, stable words a server puts
/// in its `error <reason>` reply, which are registry(4)'s own where
/// registry(4) has the error.
///
/// # Examples
///
/// ```
/// use roe_registry::{Error, Service};
///
/// let error = Service::new("my printer").unwrap_err();
/// assert!(matches!(error, Error::BadCharacter { at: 2, character: ' ', .. }));
/// assert_eq!(error.reason(), "bad character in service name");
/// assert_eq!(error.to_string(), "bad character in service name \"my printer\": ' ' at byte 2");
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// A line without words where a registration needs some.
    BadSyntax,
    /// An odd number of words where attribute/value pairs were expected;
    /// carries how many words there were.
    OddPairs(usize),
    /// A service name holds a character registry(4) refuses: one up to and
    /// including the space, `/`, or DEL.
    BadCharacter {
        /// The name.
        name: String,
        /// The byte offset of the character in the name.
        at: usize,
        /// The character.
        character: char,
    },
    /// The service name is empty or one of the names registry(4) reserves
    /// for its own files (`new`, `event`, `find`, `index`).
    BadName(String),
    /// A service of that name is already registered.
    Duplicate(String),
    /// The caller may not update or remove that service.
    PermissionDenied(String),
    /// No service has that name.
    NoSuchService(String),
    /// The service, written as a line, would be longer than the registry
    /// keeps.
    TooLarge {
        /// Its length as a line, in bytes.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// A service with more attributes than the registry keeps.
    TooManyAttrs {
        /// How many it has.
        len: usize,
        /// The most allowed ([`MAX_ATTRS`](crate::MAX_ATTRS)).
        max: usize,
    },
    /// A query read from a line with more distinct attribute/value pairs
    /// than the registry matches.
    TooManyPairs {
        /// How many distinct pairs it has.
        len: usize,
        /// The most allowed ([`MAX_PAIRS`](crate::MAX_PAIRS)).
        max: usize,
    },
    /// The store holds as many services as it is allowed to.
    Full(usize),
    /// An answer (a find's services, a watch's first listing) larger than
    /// the server holds for one connection.
    AnswerTooLarge {
        /// Its size in bytes, at least.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// A line is longer than allowed (at least `len` bytes, without its
    /// newline).
    LineTooLong {
        /// How long it was found to be, at least.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// A line is not UTF-8 text; carries the offset of the first byte that
    /// is not.
    NotUtf8(usize),
    /// An owner token that cannot be used, and why.
    BadToken(&'static str),
    /// A watch line's `since` that is not one decimal revision.
    BadRevision(String),
    /// A watcher asked to resume from a revision whose following changes the
    /// store no longer holds.
    RevisionTooOld {
        /// The revision asked for.
        asked: Revision,
        /// The oldest revision the store can resume from.
        oldest: Revision,
    },
    /// A watcher asked to resume from a revision the store has not reached
    /// (a revision from before a restart, typically).
    RevisionAhead {
        /// The revision asked for.
        asked: Revision,
        /// The store's revision.
        current: Revision,
    },
    /// A line from a server that is none of the lines the port carries.
    Unexpected {
        /// What the port carries.
        expected: &'static str,
        /// The line, or its start.
        found: String,
    },
    /// A state file that cannot be read back.
    Corrupt {
        /// The file, when reading one.
        path: Option<PathBuf>,
        /// The line (counted from 1) at which reading stopped.
        line: usize,
        /// What is wrong there.
        why: String,
    },
    /// An operating-system error.
    Io(io::Error),
    /// The shared store behind the server (etcd) failed or let a
    /// registration go: what it said.
    Backend(String),
}

impl Error {
    /// The short words for an `error <reason>` reply: registry(4)'s own for
    /// the errors it has, fixed words for roe's.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_registry::Error;
    ///
    /// assert_eq!(Error::OddPairs(3).reason(), "odd attribute/value pairs");
    /// assert_eq!(Error::Duplicate("svc".into()).reason(), "duplicate service name");
    /// ```
    pub fn reason(&self) -> &'static str {
        match self {
            Error::BadSyntax => "bad syntax",
            Error::OddPairs(_) => "odd attribute/value pairs",
            Error::BadCharacter { .. } => "bad character in service name",
            Error::BadName(_) => "bad service name",
            Error::Duplicate(_) => "duplicate service name",
            Error::PermissionDenied(_) => "permission denied",
            Error::NoSuchService(_) => "no such service",
            Error::TooLarge { .. } => "service too large",
            Error::TooManyAttrs { .. } => "too many attributes",
            Error::TooManyPairs { .. } => "too many attribute/value pairs",
            Error::Full(_) => "too many services",
            Error::AnswerTooLarge { .. } => "answer too large",
            Error::LineTooLong { .. } => "line too long",
            Error::NotUtf8(_) => "not UTF-8",
            Error::BadToken(_) => "bad token",
            Error::BadRevision(_) => "bad revision",
            Error::RevisionTooOld { .. } => "revision too old",
            Error::RevisionAhead { .. } => "revision not reached",
            Error::Unexpected { .. } => "unexpected line",
            Error::Corrupt { .. } => "corrupt state file",
            Error::Io(_) => "i/o error",
            Error::Backend(_) => "registry store failed",
        }
    }

    /// An [`Error::Unexpected`] for `line`, keeping at most its first 80
    /// characters.
    pub(crate) fn unexpected(expected: &'static str, line: &str) -> Error {
        let found = match line.char_indices().nth(80) {
            Some((at, _)) => format!("{}...", &line[..at]),
            None => line.to_owned(),
        };
        Error::Unexpected { expected, found }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = self.reason();
        match self {
            Error::BadSyntax => f.write_str("bad syntax: the line has no words"),
            Error::OddPairs(n) => write!(f, "{reason}: {n} words after the name"),
            Error::BadCharacter {
                name,
                at,
                character,
            } => {
                write!(f, "{reason} {name:?}: {character:?} at byte {at}")
            }
            Error::BadName(name) => write!(f, "{reason} {name:?}: reserved"),
            Error::Duplicate(name) | Error::PermissionDenied(name) | Error::NoSuchService(name) => {
                write!(f, "{reason}: {name:?}")
            }
            Error::TooLarge { len, max } => {
                write!(f, "{reason}: {len} bytes as a line, at most {max}")
            }
            Error::TooManyAttrs { len, max } => {
                write!(f, "{reason}: the service has {len}, at most {max}")
            }
            Error::TooManyPairs { len, max } => {
                write!(
                    f,
                    "{reason}: the query has {len} distinct ones, at most {max}"
                )
            }
            Error::Full(max) => write!(f, "{reason}: the store holds its most, {max}"),
            Error::AnswerTooLarge { len, max } => {
                write!(f, "{reason}: at least {len} bytes, at most {max}")
            }
            Error::LineTooLong { len, max } => {
                write!(f, "{reason}: at least {len} bytes, at most {max}")
            }
            Error::NotUtf8(at) => write!(f, "{reason}: bad byte at offset {at}"),
            Error::BadToken(why) => write!(f, "{reason}: {why}"),
            Error::BadRevision(text) => write!(f, "{reason}: {text:?}"),
            Error::RevisionTooOld { asked, oldest } => {
                write!(f, "{reason}: asked {asked}, the oldest held is {oldest}")
            }
            Error::RevisionAhead { asked, current } => {
                write!(f, "{reason}: asked {asked}, the registry is at {current}")
            }
            Error::Unexpected { expected, found } => {
                write!(f, "{reason}: expected {expected}, got {found:?}")
            }
            Error::Corrupt {
                path: Some(path),
                line,
                why,
            } => {
                write!(f, "{reason} {}, line {line}: {why}", path.display())
            }
            Error::Corrupt {
                path: None,
                line,
                why,
            } => write!(f, "{reason}, line {line}: {why}"),
            Error::Io(error) => write!(f, "{reason}: {error}"),
            Error::Backend(why) => write!(f, "{reason}: {why}"),
        }
    }
}

impl error::Error for Error {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            Error::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Error {
        Error::Io(error)
    }
}

/// `Result` with the registry's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
