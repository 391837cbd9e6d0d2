//! The names a handshake carries, and the rules they keep.

use std::fmt;

use crate::native::Published;

/// The most names a kernel may give: its name and up to 63 aliases.
pub const MAX_NAMES: usize = 64;
/// The longest name, kernel id, published session or state, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// The most sessions a kernel may publish in its handshake.
pub const MAX_PUBLISHED_SESSIONS: usize = 1024;
/// The most states of one published session in a handshake.
pub const MAX_PUBLISHED_STATES: usize = 1024;

/// A name that breaks the handshake's rules: every name (kernel id, kernel
/// name, alias, published session and state) is 1 to [`MAX_NAME_LEN`]
/// bytes of ASCII letters, digits, `_`, `-`, `:` and `.` (Perl's
/// `[-:.\w]` under `/a`), which keeps them usable in `poe://` specifiers.
///
/// # Examples
///
/// ```
/// use roe_ikc::native::{HandshakeConfig, NameError};
///
/// assert!(HandshakeConfig::new("host-1", "Worker::One").is_ok());
/// assert_eq!(
///     HandshakeConfig::new("host-1", "a/b").unwrap_err(),
///     NameError::BadChar { what: "kernel name", name: "a/b".into(), ch: '/' }
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// An empty name.
    Empty {
        /// What the name is for.
        what: &'static str,
    },
    /// A name over [`MAX_NAME_LEN`] bytes.
    TooLong {
        /// What the name is for.
        what: &'static str,
        /// Its length in bytes.
        length: usize,
    },
    /// A character outside `[-:.\w]`.
    BadChar {
        /// What the name is for.
        what: &'static str,
        /// The name (its first 64 bytes, when longer).
        name: String,
        /// The first character refused.
        ch: char,
    },
    /// More names than allowed.
    TooMany {
        /// What the names are.
        what: &'static str,
        /// How many there are.
        count: usize,
        /// The most allowed.
        max: usize,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty { what } => write!(f, "empty {what}"),
            NameError::TooLong { what, length } => {
                write!(f, "{what} of {length} bytes is over {MAX_NAME_LEN}")
            }
            NameError::BadChar { what, name, ch } => {
                write!(f, "{what} {name:?} has {ch:?}, outside [-:.\\w]")
            }
            NameError::TooMany { what, count, max } => {
                write!(f, "{count} {what}, more than {max}")
            }
        }
    }
}

impl std::error::Error for NameError {}

/// Checks one name against the handshake's rules; `what` says what it is
/// for, in the error.
///
/// # Errors
///
/// [`NameError::Empty`], [`NameError::TooLong`] or [`NameError::BadChar`].
///
/// # Examples
///
/// ```
/// use roe_ikc::native::check_name;
///
/// assert!(check_name("published session", "echo").is_ok());
/// assert!(check_name("published session", "node/0").is_err());
/// ```
pub fn check_name(what: &'static str, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            what,
            length: name.len(),
        });
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.');
    match name.chars().find(|&c| !allowed(c)) {
        Some(ch) => Err(NameError::BadChar {
            what,
            // A peer's text, cut for errors and logs.
            name: name[..name.floor_char_boundary(64)].to_owned(),
            ch,
        }),
        None => Ok(()),
    }
}

pub(super) fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), NameError> {
    if count > max {
        return Err(NameError::TooMany { what, count, max });
    }
    Ok(())
}

/// Checks a kernel's id, names and published sessions, its own or a
/// peer's.
pub(super) fn check_identity<S: AsRef<str>>(
    kernel_id: &str,
    names: &[S],
    published: &[Published<'_>],
) -> Result<(), NameError> {
    check_name("kernel id", kernel_id)?;
    let Some((name, aliases)) = names.split_first() else {
        return Err(NameError::Empty {
            what: "kernel name",
        });
    };
    check_count("names", names.len(), MAX_NAMES)?;
    check_name("kernel name", name.as_ref())?;
    for alias in aliases {
        check_name("alias", alias.as_ref())?;
    }
    check_count(
        "published sessions",
        published.len(),
        MAX_PUBLISHED_SESSIONS,
    )?;
    for p in published {
        check_name("published session", &p.session)?;
        check_count("published states", p.states.len(), MAX_PUBLISHED_STATES)?;
        for state in &p.states {
            check_name("published state", state)?;
        }
    }
    Ok(())
}
