//! [`SpecifierError`] and the parts of it: [`Part`], [`Expected`] and
//! [`Reason`].

use std::fmt;

/// A part of a specifier, as an error names it.
///
/// # Examples
///
/// ```
/// use roe_ikc::Part;
///
/// assert_eq!(Part::Arg.key(), "args");
/// assert_eq!(Part::Arg.to_string(), "argument");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// The kernel.
    Kernel,
    /// The session.
    Session,
    /// The state.
    State,
    /// The argument (`?arg`).
    Arg,
}

impl Part {
    /// The part's key in IKC's hash form.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::Part;
    ///
    /// assert_eq!(Part::Session.key(), "session");
    /// ```
    pub fn key(self) -> &'static str {
        match self {
            Part::Kernel => "kernel",
            Part::Session => "session",
            Part::State => "state",
            Part::Arg => "args",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Kernel => "kernel",
            Part::Session => "session",
            Part::State => "state",
            Part::Arg => "argument",
        })
    }
}

/// What the string form allows where reading stopped.
///
/// # Examples
///
/// ```
/// use roe_ikc::{Expected, Reason, Specifier};
///
/// let error = "poe:timeserver/connect".parse::<Specifier>().unwrap_err();
/// assert_eq!(error.reason(), &Reason::Syntax { expected: Expected::ArgOrEnd, found: Some('/') });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expected {
    /// At the start of text without `poe:`: `//` and a kernel, a session
    /// or state name, or `?` and an argument.
    Start,
    /// After `poe:`: `//` and a kernel, `/` and a session, a state, `?` and
    /// an argument, or the end.
    AfterScheme,
    /// After `//`: a kernel (`*`, a name, `host:port`, `unix:path`).
    Kernel,
    /// After the kernel of `//kernel/...` (without `poe:`): `/`.
    Slash,
    /// After a kernel or a session: `/` and the next part, `?` and an
    /// argument, or the end.
    NextPart,
    /// Where a session or a state may start: a name, `?` and an argument,
    /// or the end.
    Name,
    /// After a state: `?` and an argument, or the end.
    ArgOrEnd,
    /// After `?`: the argument (ASCII letters, digits, `_`).
    Arg,
    /// After the argument: nothing.
    End,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expected::Start => {
                "`poe:`, `//` and a kernel, a session or state name, or `?` and an argument"
            }
            Expected::AfterScheme => {
                "`//` and a kernel, `/` and a session, a state, `?` and an argument, or the end"
            }
            Expected::Kernel => "a kernel: `*`, a name, `host:port` or `unix:path`",
            Expected::Slash => "`/` after the kernel",
            Expected::NextPart => "`/` and the next part, `?` and an argument, or the end",
            Expected::Name => "a session or state name, `?` and an argument, or the end",
            Expected::ArgOrEnd => "`?` and an argument, or the end",
            Expected::Arg => "an argument (ASCII letters, digits, `_`)",
            Expected::End => "the end",
        })
    }
}

/// Why a text or a value is not a specifier.
///
/// # Examples
///
/// ```
/// use roe_ikc::{Reason, Specifier};
///
/// assert_eq!("".parse::<Specifier>().unwrap_err().reason(), &Reason::Empty);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The text is empty (`poe:` is the empty specifier).
    Empty,
    /// The string form does not allow this here.
    Syntax {
        /// What it allows.
        expected: Expected,
        /// What was there instead; `None` at the end of the text.
        found: Option<char>,
    },
    /// A part of the hash form holds something other than text, an integer
    /// or UTF-8 bytes.
    NotText {
        /// The part.
        part: Part,
        /// What it holds, as "a list", "a float"...
        found: &'static str,
    },
    /// The value is neither a map (the hash form) nor text (the string
    /// form).
    NotASpecifier {
        /// What it is, as "a list", "a float"...
        found: &'static str,
    },
    /// The part cannot be written in the string form (only the hash form
    /// carries it).
    Unwritable {
        /// The part.
        part: Part,
        /// Its text.
        text: String,
        /// The first character the string form never allows in that part;
        /// `None` when the text is empty or only its shape is wrong.
        found: Option<char>,
    },
}

/// A text or a value that is not a specifier, or a specifier that cannot be
/// written in the string form: the [`Reason`], and for a text, where.
///
/// # Examples
///
/// ```
/// use roe_ikc::{Expected, Reason, Specifier};
///
/// let error = "poe://Pulse/time server/connect!".parse::<Specifier>().unwrap_err();
/// assert_eq!(error.position(), Some(31));
/// assert_eq!(error.reason(), &Reason::Syntax { expected: Expected::ArgOrEnd, found: Some('!') });
/// assert_eq!(
///     error.to_string(),
///     "not an IKC specifier: at byte 31, expected `?` and an argument, or the end, found `!`"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecifierError {
    pub(super) reason: Reason,
    pub(super) position: Option<usize>,
}

impl SpecifierError {
    /// Why.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::{Expected, Reason, Specifier};
    ///
    /// let error = "poe:tick?".parse::<Specifier>().unwrap_err();
    /// assert_eq!(error.reason(), &Reason::Syntax { expected: Expected::Arg, found: None });
    /// ```
    pub fn reason(&self) -> &Reason {
        &self.reason
    }

    /// For a text, the byte offset in it where reading stopped (the
    /// furthest any reading IKC allows got); `None` for a value or a
    /// specifier.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_ikc::Specifier;
    ///
    /// assert_eq!("a/b/c".parse::<Specifier>().unwrap_err().position(), Some(3));
    /// let proxy = Specifier::default().with_state("IKC:proxy");
    /// assert_eq!(proxy.check_string_form().unwrap_err().position(), None);
    /// ```
    pub fn position(&self) -> Option<usize> {
        self.position
    }
}

impl fmt::Display for SpecifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an IKC specifier: ")?;
        match &self.reason {
            Reason::Empty => f.write_str("the text is empty (`poe:` is the empty specifier)"),
            Reason::Syntax { expected, found } => {
                if let Some(position) = self.position {
                    write!(f, "at byte {position}, ")?;
                }
                write!(f, "expected {expected}, found ")?;
                match found {
                    Some(c) => write!(f, "`{}`", c.escape_debug()),
                    None => f.write_str("the end"),
                }
            }
            Reason::NotText { part, found } => {
                write!(f, "the {part} is {found}, where text is expected")
            }
            Reason::NotASpecifier { found } => {
                write!(f, "{found} is neither a specifier's text nor its hash")
            }
            Reason::Unwritable { part, text, found } => {
                write!(
                    f,
                    "the {part} {text:?} cannot be written in a string specifier"
                )?;
                match found {
                    Some(c) => write!(f, " (`{}` is not allowed there)", c.escape_debug())?,
                    None if text.is_empty() => f.write_str(" (it is empty: leave it out)")?,
                    None => f.write_str(" (it does not have a shape the string form reads)")?,
                }
                f.write_str("; the hash form carries it")
            }
        }
    }
}

impl std::error::Error for SpecifierError {}
